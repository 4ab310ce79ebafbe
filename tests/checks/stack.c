/* The stack each ready-made check needs, and libpq's PQping and a hiredis
 * PING next to them: every run happens on a thread whose stack was filled
 * with a pattern, and the untouched bytes are counted afterwards.  The
 * checks' sources are compiled in; registration and results are minimal
 * stand-ins here, so nothing but the check itself runs on the measured stack.
 *
 *   check-stack [--max KIB] [PG_CONNINFO REDIS_HOST REDIS_PORT]
 *
 * Prints one line per kind; exits 1 when one needs more than --max KiB
 * (default 128: a quarter of the runner's default stack). */
#include "health-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HEALTH_STACK_LIBPQ
# include <libpq-fe.h>
#endif
#ifdef HEALTH_STACK_HIREDIS
# include <hiredis/hiredis.h>
#endif

#define STACK_SIZE (2u * 1024 * 1024)
#define PATTERN 0xa5

/* ---- Stand-ins for the library around the checks ---------------------- */

static health_check_fn *captured_run;
static health_free_fn *captured_free;
static void *captured_data;

int health_register_check(health_t *h, const struct health_check *check,
                          void *userdata)
{
    (void)h;
    captured_run = check->run;
    captured_free = check->free_data;
    captured_data = userdata;
    return 0;
}

void health_result_setf(health_result_t *result, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(result->output, sizeof(result->output), fmt, ap);
    va_end(ap);
}

void health_result_set_observed(health_result_t *result, double value,
                                const char *unit)
{
    result->observed = value;
    result->has_observed = true;
    (void)snprintf(result->unit, sizeof(result->unit), "%s", unit);
}

int health__cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int r;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    r = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return -r;
}

void health__block_signals(sigset_t *old)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

void health__restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- Measuring -------------------------------------------------------- */

struct job {
    void (*fn)(void *arg);
    void *arg;
};

static void *trampoline(void *arg)
{
    struct job *j = arg;

    j->fn(j->arg);
    return NULL;
}

/* Bytes of stack @fn(@arg) touched, thread start-up and TLS included. */
static size_t measure(void (*fn)(void *), void *arg)
{
    unsigned char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct job j = { fn, arg };
    pthread_attr_t attr;
    pthread_t t;
    size_t i;

    if (stack == MAP_FAILED)
        abort();
    memset(stack, PATTERN, STACK_SIZE);
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, STACK_SIZE);
    if (pthread_create(&t, &attr, trampoline, &j) != 0)
        abort();
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    for (i = 0; i < STACK_SIZE && stack[i] == PATTERN; i++)
        ;
    munmap(stack, STACK_SIZE);
    return STACK_SIZE - i;
}

static void nothing(void *arg)
{
    (void)arg;
}

static health_result_t last;

static void run_captured(void *arg)
{
    (void)arg;
    memset(&last, 0, sizeof(last));
    (void)captured_run(&last, captured_data);
}

/* ---- Targets ---------------------------------------------------------- */

static int listener(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&a, &len))
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

static void *http_answer(void *arg)
{
    int lfd = *(int *)arg;
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    char buf[2048];
    int c;

    for (;;) {
        c = accept(lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        (void)recv(c, buf, sizeof(buf), 0);
        (void)send(c, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
        close(c);
    }
}

static void gai(void *arg)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;

    if (getaddrinfo(arg, NULL, &hints, &res) == 0)
        freeaddrinfo(res);
}

#ifdef HEALTH_STACK_LIBPQ
static void pq_ping(void *arg)
{
    last.has_observed = PQping(arg) == PQPING_OK;
}
#endif

#ifdef HEALTH_STACK_HIREDIS
struct redis_target {
    const char *host;
    int port;
};

static void redis_ping(void *arg)
{
    struct redis_target *t = arg;
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout(t->host, t->port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;

    last.has_observed = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redisFree(c);
}
#endif

/* ---- Main ------------------------------------------------------------- */

static size_t base;
static size_t worst;

static void report(const char *what, size_t used, const char *note)
{
    size_t net = used > base ? used - base : 0;

    printf("%-28s %7.1f KiB  %s\n", what, net / 1024.0, note);
    if (net > worst)
        worst = net;
}

static void kind(const char *what, int r)
{
    if (r != 0) {
        fprintf(stderr, "%s: registration failed: %d\n", what, r);
        exit(1);
    }
    report(what, measure(run_captured, NULL), last.output);
    captured_free(captured_data);
}

int main(int argc, char **argv)
{
    struct health h;
    struct health_check c = { .name = "x", .timeout_ms = 2000 };
    struct health_disk_limits dl = { .fail_free = 0.01 };
    unsigned long max_kib = 128;
    char url[64];
    pthread_t t;
    int hport;
    int tport;
    int hfd;
    int tfd;

    if (argc > 2 && strcmp(argv[1], "--max") == 0) {
        max_kib = strtoul(argv[2], NULL, 10);
        argc -= 2;
        argv += 2;
    }
    memset(&h, 0, sizeof(h));
    h.cfg.timeout_ms = 1000;
    tfd = listener(&tport);
    hfd = listener(&hport);
    pthread_create(&t, NULL, http_answer, &hfd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ready", hport);

    base = measure(nothing, NULL);
    printf("thread start-up and TLS      %7.1f KiB  (subtracted below)\n",
           base / 1024.0);
    kind("tcp (numeric)",
         health_check_tcp(&h, &c, "127.0.0.1", (unsigned)tport));
    kind("tcp (name, waits on helper)",
         health_check_tcp(&h, &c, "localhost", (unsigned)tport));
    kind("http", health_check_http(&h, &c, url, NULL));
    kind("dns", health_check_dns(&h, &c, "localhost"));
    kind("disk", health_check_disk(&h, &c, "/", &dl));
    kind("memory", health_check_memory(&h, &c, 0.9, 0.95));
    kind("fds", health_check_fds(&h, &c, 0.9, 0.95));
    kind("file", health_check_file(&h, &c, "/etc/hostname", 0));
    report("getaddrinfo(localhost)", measure(gai, "localhost"),
           "(the resolver helper thread)");
    report("getaddrinfo(DNS name)", measure(gai, "health-test.invalid"),
           "(the resolver helper thread)");
#ifdef HEALTH_STACK_LIBPQ
    if (argc > 1) {
        report("libpq PQping", measure(pq_ping, argv[1]),
               last.has_observed ? "PQPING_OK" : "no server");
    }
#endif
#ifdef HEALTH_STACK_HIREDIS
    if (argc > 3) {
        struct redis_target rt = { argv[2], atoi(argv[3]) };
        report("hiredis PING", measure(redis_ping, &rt),
               last.has_observed ? "PONG" : "no server");
    }
#endif
    close(tfd);
    if (worst > max_kib * 1024) {
        fprintf(stderr, "check-stack: %zu bytes needed, more than %lu KiB\n",
                worst, max_kib);
        return 1;
    }
    return 0;
}
