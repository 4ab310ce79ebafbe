/* A client that probes as the kubelet does (probe-clients.md 5a): a new
 * connection per probe with SO_LINGER {1, 1}, the kubelet's exact request
 * bytes, one deadline over the whole exchange, success on 200..399, and
 * at most 10 KiB of body read. */
#ifndef HEALTH_KUBEPROBE_H
#define HEALTH_KUBEPROBE_H

#include <stdbool.h>

enum kube_result {
    KUBE_SUCCESS,
    KUBE_FAILURE, /* a status outside 200..399, or refused */
    KUBE_ERROR    /* timeout, reset or malformed: the kubelet retries */
};

struct kube_probe {
    const char *host; /* connect address, IPv4 or IPv6 literal */
    int port;
    const char *path;
    const char *host_header; /* NULL: host:port */
    const char *user_agent;  /* NULL: kube-probe/1.31 */
    int timeout_ms;          /* 0: 1000, the kubelet's default */
};

struct kube_outcome {
    enum kube_result result;
    int status;    /* HTTP status, 0 if none */
    long body_len; /* body bytes read (at most 10240) */
    bool closed;   /* the server closed after the response */
    long elapsed_ms;
    char error[96];
    char body[10241];
};

enum kube_result kube_probe(const struct kube_probe *p,
                            struct kube_outcome *out);

#endif
