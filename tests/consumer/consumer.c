/*
 * A program outside the tree, built against the installed package: a check
 * that never returns must still get /ready answered 503 "timed out" within
 * its timeout plus 100 ms, while /live answers at once.  Exits 0 on
 * success; prints what went wrong otherwise.
 */
#include <health/health.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 300

static health_status_t never_returns(health_result_t *result, void *userdata)
{
    (void)result;
    (void)userdata;
    for (;;)
        pause();
    return HEALTH_PASS;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET @path over a fresh connection; returns the status code, or -1.  The
 * response (NUL-terminated) goes to @buf. */
static int get(int port, const char *path, char *buf, size_t size)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char req[128];
    size_t got = 0;
    ssize_t n;
    int code = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto out;
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 path);
    if (write(fd, req, (size_t)n) != n)
        goto out;
    while (got + 1 < size) {
        n = read(fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
        code = -1;
out:
    if (fd >= 0)
        close(fd);
    return code;
}

int main(void)
{
    static const struct health_check hung = {
        .name = "hung",
        .flags = HEALTH_CHECK_READY,
        .timeout_ms = TIMEOUT_MS,
        .run = never_returns,
    };
    struct health_options opts = { .port = HEALTH_PORT_EPHEMERAL,
                                   .bind_address = "127.0.0.1" };
    char buf[4096];
    long long t0;
    long long t;
    health_t *h;
    int code;
    int port;

    if (health_version() != HEALTH_VERSION_HEX ||
        health_create(&h, &opts) < 0 || health_start(h) < 0)
        return 1;
    port = health_port(h);
    t0 = now_ms();
    if (health_register_check(h, &hung, NULL) < 0)
        return 1;
    for (;;) {
        code = get(port, "/ready", buf, sizeof(buf));
        t = now_ms() - t0;
        if (code == 503 && strstr(buf, "timed out after 300 ms"))
            break;
        if (t > TIMEOUT_MS + 100) {
            fprintf(stderr, "no timeout after %lld ms: %d %s\n", t, code, buf);
            return 1;
        }
        (void)poll(NULL, 0, 5);
    }
    printf("/ready: 503 timed out, %lld ms after registering\n", t);
    t0 = now_ms();
    code = get(port, "/live", buf, sizeof(buf));
    t = now_ms() - t0;
    if (code != 200 || t > 100) {
        fprintf(stderr, "/live: %d after %lld ms\n", code, t);
        return 1;
    }
    printf("/live: 200 in %lld ms\n", t);
    health_destroy(h);
    return 0;
}
