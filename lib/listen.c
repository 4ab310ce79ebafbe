/* SPDX-License-Identifier: MIT */
/* The listening socket, created here rather than by libmicrohttpd so that
 * a taken port is exactly -EADDRINUSE and the default listens on IPv4 and
 * IPv6 alike. */
#include "health-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_listen(const struct sockaddr *sa, socklen_t len, bool dual,
                       int *fd_out)
{
    int one = 1;
    int zero = 0;
    int fd;
    int r;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dual)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    /* Accepted sockets inherit it.  The front thread writes each answer
     * whole in one call and libmicrohttpd corks its own, so Nagle's
     * algorithm only ever held back the answers to pipelined requests,
     * each until the client's delayed ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    *fd_out = fd;
    return 0;
}

/* Binds the configured address; "any" is [::] for IPv4 and IPv6 alike,
 * or 0.0.0.0 where the host has no IPv6. */
int health__listen(const struct health__config *cfg, int *fd)
{
    struct sockaddr_in6 any6;
    struct sockaddr_in any4;
    struct sockaddr_storage ss;
    int r;

    if (!cfg->bind_any) {
        ss = cfg->bind_addr;
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cfg->port);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port =
                htons((uint16_t)cfg->port);
        return bind_listen((struct sockaddr *)&ss, cfg->bind_addr_len, false,
                           fd);
    }
    memset(&any6, 0, sizeof(any6));
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons((uint16_t)cfg->port);
    r = bind_listen((struct sockaddr *)&any6, sizeof(any6), true, fd);
    if (r != -EAFNOSUPPORT && r != -EADDRNOTAVAIL)
        return r;
    memset(&any4, 0, sizeof(any4));
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = htons((uint16_t)cfg->port);
    return bind_listen((struct sockaddr *)&any4, sizeof(any4), false, fd);
}

int health__bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
