/* SPDX-License-Identifier: MIT */
/*
 * test_probe.c - health-probe and health_probe_main() over real loopback
 * sockets.
 *
 * Usage: test_probe GROUP PROBE_BINARY
 *   args     argument handling, no server
 *   fake     scripted fake server: statuses, refused, hang, garbage, split
 *            writes, IPv6, HEALTH_PORT, interim 1xx, verbose/quiet
 *   library  a real health_t on an ephemeral port: /live, /ready, 404
 *   static   the binary has no NEEDED and no INTERP, and runs alone in an
 *            empty root as uid 65532 (root only; else exit 77, skipped)
 * Every case runs both in-process and through the binary, except static.
 */
#include "probe-harness.h"

#include <health/health.h>

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "MAJOR.MINOR.PATCH" of the header built against. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION            \
 STR(HEALTH_VERSION_MAJOR) \
 "." STR(HEALTH_VERSION_MINOR) "." STR(HEALTH_VERSION_PATCH)

#define OUT_MAX 4096
#define SKIP 77

static const char *probe_binary;

/* The two ways to run the probe: NULL is in-process. */
static const char *mode(int i)
{
    return i == 0 ? NULL : probe_binary;
}

static void url_for(char *buf, size_t cap, const char *host, int port,
                    const char *path)
{
    (void)snprintf(buf, cap, "http://%s:%d%s", host, port, path);
}

/* Serves @response once per connection; probes /live; checks the exit
 * status and that the line is exactly "URL: @text", or starts with it
 * when @text ends in '*' (for output that depends on how many bytes had
 * arrived). */
static void expect_response(const char *response, size_t chunk, int exit_code,
                            const char *text)
{
    struct fake_server s = { .mode = FAKE_RESPOND,
                             .response = response,
                             .chunk = chunk };
    char url[128];
    char want[256];
    char out[OUT_MAX];
    int i;

    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/live");
    (void)snprintf(want, sizeof(want), "%s: %s\n", url, text);
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), exit_code);
        assert_one_line(out);
        if (want[strlen(want) - 2] == '*')
            ASSERT_EQ(strncmp(out, want, strlen(want) - 2), 0);
        else
            ASSERT_STR_EQ(out, want);
    }
    fake_stop(&s);
}

/* The request line and headers the probe sends. */
static void test_request_format(void)
{
    struct fake_server s = { .mode = FAKE_RESPOND,
                             .response = "HTTP/1.1 200 OK\r\n"
                                         "Content-Length: 2\r\n\r\nok" };
    char url[128];
    char want[256];
    char out[OUT_MAX];
    char req[2048];
    int i;

    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/live?verbose#frag");
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 0);
        fake_last_request(&s, req, sizeof(req));
        ASSERT_EQ(strncmp(req, "GET /live?verbose HTTP/1.1\r\n", 28), 0);
        (void)snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n",
                       s.port);
        ASSERT_CONTAINS(req, want);
        ASSERT_CONTAINS(req, "\r\nUser-Agent: health-probe/" VERSION "\r\n");
        ASSERT_CONTAINS(req, "\r\nAccept: */*\r\n");
        ASSERT_CONTAINS(req, "\r\nConnection: close\r\n\r\n");
        ASSERT_STR_EQ(req + strlen(req) - 4, "\r\n\r\n");
    }
    fake_stop(&s);
}

/* 2xx and 3xx pass (as the kubelet), everything else fails with 1. */
static void test_statuses(void)
{
    expect_response("HTTP/1.1 200 OK\r\n\r\n", 0, 0, "200 OK");
    expect_response("HTTP/1.1 204 No Content\r\n\r\n", 0, 0, "204 No Content");
    expect_response("HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n"
                    "Content-Length: 0\r\n\r\n",
                    0, 0, "301 Moved Permanently");
    expect_response("HTTP/1.0 399 Odd\r\n\r\n", 0, 0, "399 Odd");
    expect_response("HTTP/1.1 200\r\n\r\n", 0, 0, "200");
    expect_response("HTTP/1.1 400 Bad Request\r\n\r\n", 0, 1,
                    "400 Bad Request");
    expect_response("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n"
                    "not found",
                    0, 1, "404 Not Found");
    expect_response("HTTP/1.1 500 Internal Server Error\r\n\r\n", 0, 1,
                    "500 Internal Server Error");
    expect_response("HTTP/1.1 503 Service Unavailable\r\n\r\n", 0, 1,
                    "503 Service Unavailable");
    /* Bare LF line ends are tolerated, as RFC 9112 allows. */
    expect_response("HTTP/1.1 200 OK\nServer: x\n\n", 0, 0, "200 OK");
    /* Interim answers are skipped; the final one decides. */
    expect_response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Down\r\n\r\n", 0,
                    1, "503 Down");
    expect_response("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
                    0, 0, "200 OK");
    /* Control bytes in the reason never reach the log line. */
    expect_response("HTTP/1.1 200 O\x1b[2JK\r\n\r\n", 0, 1,
                    "malformed response \"HTTP/1.1 200 O?[2JK*");
}

/* A response that trickles in one byte per write is still parsed. */
static void test_split_writes(void)
{
    expect_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: 5\r\n\r\nhello",
                    1, 0, "200 OK");
    expect_response("HTTP/1.1 503 Service Unavailable\r\n"
                    "Content-Length: 4\r\n\r\nfail",
                    1, 1, "503 Service Unavailable");
    expect_response("HTTP/1.1 204 No Content\r\n\r\n", 3, 0, "204 No Content");
}

/* Garbage and truncated answers fail with 1 and say so. */
static void test_garbage(void)
{
    expect_response("garbage\r\n\r\n", 0, 1, "malformed response \"g*");
    expect_response("SSH-2.0-OpenSSH_9.2\r\n", 1, 1, "malformed response \"S*");
    expect_response("HTTP/1.1 2x0 OK\r\n\r\n", 0, 1,
                    "malformed response \"HTTP/1.1 2x0 OK*");
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 0, 1,
                    "connection closed before the response headers ended");
    expect_response("HTTP/1.1 100 Continue\r\n\r\n", 0, 1,
                    "connection closed before the response headers ended");
}

static void test_closed_without_response(void)
{
    struct fake_server s = { .mode = FAKE_CLOSE };
    char url[128];
    char want[256];
    char out[OUT_MAX];
    int i;

    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/live");
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 1);
        assert_one_line(out);
        /* The server may close before or after the request arrives. */
        (void)snprintf(want, sizeof(want), "%s: connection ", url);
        ASSERT_EQ(strncmp(out, want, strlen(want)), 0);
    }
    fake_stop(&s);
}

static void test_refused(void)
{
    char url[128];
    char want[256];
    char out[OUT_MAX];
    int i;

    url_for(url, sizeof(url), "127.0.0.1", unused_port(), "/live");
    (void)snprintf(want, sizeof(want), "%s: connection refused\n", url);
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 1);
        ASSERT_STR_EQ(out, want);
    }
}

/* A server that accepts and never answers: exit 1 at the probe's own
 * deadline, well before Docker would SIGKILL it. */
static void test_timeout(void)
{
    struct fake_server s = { .mode = FAKE_SILENT };
    char url[128];
    char want[256];
    char out[OUT_MAX];
    int64_t t0;
    int64_t ms;
    int i;

    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/live");
    (void)snprintf(want, sizeof(want), "%s: timed out after 500 ms\n", url);
    for (i = 0; i < 2; i++) {
        const char *args[] = { "--timeout", "0.5", url, NULL };
        t0 = mono_ms();
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 1);
        ms = mono_ms() - t0;
        ASSERT_STR_EQ(out, want);
        ASSERT_GE(ms, 490);
        ASSERT_LT(ms, 2000);
    }
    fake_stop(&s);
}

static void test_ipv6(void)
{
    struct fake_server s = { .mode = FAKE_RESPOND,
                             .response = "HTTP/1.1 200 OK\r\n\r\n" };
    char url[128];
    char want[256];
    char out[OUT_MAX];
    char req[2048];
    int r = fake_start(&s, "::1");
    int i;

    if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
        fprintf(stderr, "  IPv6 loopback unavailable: case skipped\n");
        return;
    }
    ASSERT_OK(r);
    url_for(url, sizeof(url), "[::1]", s.port, "/ready");
    (void)snprintf(want, sizeof(want), "%s: 200 OK\n", url);
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 0);
        ASSERT_STR_EQ(out, want);
        fake_last_request(&s, req, sizeof(req));
        (void)snprintf(want, sizeof(want), "\r\nHost: [::1]:%d\r\n", s.port);
        ASSERT_CONTAINS(req, want);
        (void)snprintf(want, sizeof(want), "%s: 200 OK\n", url);
    }
    fake_stop(&s);
}

/* No argument and a bare PATH use 127.0.0.1:$HEALTH_PORT; localhost in a
 * URL means 127.0.0.1 without any lookup. */
static void test_health_port_env(void)
{
    struct fake_server s = { .mode = FAKE_RESPOND,
                             .response = "HTTP/1.1 200 OK\r\n\r\n" };
    char port[16];
    char want[256];
    char out[OUT_MAX];
    char req[2048];
    char url[128];
    int i;

    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    (void)snprintf(port, sizeof(port), "%d", s.port);
    ASSERT_OK(setenv("HEALTH_PORT", port, 1));
    for (i = 0; i < 2; i++) {
        const char *none[] = { NULL };
        const char *path[] = { "-t", "2", "/ready", NULL };
        ASSERT_EQ(run_probe(mode(i), none, out, sizeof(out)), 0);
        (void)snprintf(want, sizeof(want), "http://127.0.0.1:%d/live: 200 OK\n",
                       s.port);
        ASSERT_STR_EQ(out, want);
        fake_last_request(&s, req, sizeof(req));
        ASSERT_EQ(strncmp(req, "GET /live HTTP/1.1\r\n", 20), 0);
        ASSERT_EQ(run_probe(mode(i), path, out, sizeof(out)), 0);
        fake_last_request(&s, req, sizeof(req));
        ASSERT_EQ(strncmp(req, "GET /ready HTTP/1.1\r\n", 21), 0);
    }
    ASSERT_OK(unsetenv("HEALTH_PORT"));
    url_for(url, sizeof(url), "localhost", s.port, "");
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 0);
        fake_last_request(&s, req, sizeof(req));
        ASSERT_EQ(strncmp(req, "GET / HTTP/1.1\r\n", 16), 0);
    }
    fake_stop(&s);
}

/* -v adds the time and the start of the body, still one short line; -q
 * prints nothing and keeps the exit status. */
static void test_verbose_quiet(void)
{
    static char response[4096];
    struct fake_server s = { .mode = FAKE_RESPOND, .response = response };
    char url[128];
    char out[OUT_MAX];
    size_t n;
    int i;

    n = (size_t)snprintf(response, sizeof(response),
                         "HTTP/1.1 503 Service Unavailable\r\n\r\n"
                         "{\"status\":\"fail\"}\n");
    memset(response + n, 'x', sizeof(response) - 1 - n);
    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/ready");
    for (i = 0; i < 2; i++) {
        const char *verbose[] = { "-v", url, NULL };
        const char *quiet[] = { url, "--quiet", NULL };
        ASSERT_EQ(run_probe(mode(i), verbose, out, sizeof(out)), 1);
        assert_one_line(out);
        ASSERT_CONTAINS(out, ": 503 Service Unavailable (");
        ASSERT_CONTAINS(out, " ms): {\"status\":\"fail\"} xxx");
        ASSERT_CONTAINS(out, "xxx...\n");
        ASSERT_EQ(run_probe(mode(i), quiet, out, sizeof(out)), 1);
        ASSERT_STR_EQ(out, "");
    }
    fake_stop(&s);
}

static void run_fake_group(void)
{
    test_request_format();
    test_statuses();
    test_split_writes();
    test_garbage();
    test_closed_without_response();
    test_refused();
    test_timeout();
    test_ipv6();
    test_health_port_env();
    test_verbose_quiet();
}

/* Bad arguments exit 1 (never 2) with one line; --help exits 0. */
static void expect_usage_error(const char *const *args, const char *text)
{
    char out[OUT_MAX];
    int i;

    for (i = 0; i < 2; i++) {
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), 1);
        assert_one_line(out);
        ASSERT_CONTAINS(out, text);
    }
}

static void run_args_group(void)
{
    static char long_url[700];
    const char *help[] = { "--help", NULL };
    const char *h[] = { "-v", "-h", "http://127.0.0.1:1/", NULL };
    char out[OUT_MAX];
    int i;

    for (i = 0; i < 2; i++) {
        ASSERT_EQ(run_probe(mode(i), help, out, sizeof(out)), 0);
        ASSERT_EQ(
            strncmp(out, "Usage: health-probe [options] [URL | PATH]", 42), 0);
        ASSERT_CONTAINS(out, "--timeout");
        ASSERT_EQ(run_probe(mode(i), h, out, sizeof(out)), 0);
        ASSERT_CONTAINS(out, "Usage:");
    }
    expect_usage_error((const char *[]){ "--bogus", NULL }, "unknown option");
    expect_usage_error((const char *[]){ "-t", NULL }, "missing value");
    expect_usage_error((const char *[]){ "-t", "abc", "/", NULL },
                       "invalid timeout");
    expect_usage_error((const char *[]){ "--timeout=0", NULL },
                       "invalid timeout");
    expect_usage_error((const char *[]){ "-t-1", NULL }, "invalid timeout");
    expect_usage_error((const char *[]){ "/a", "/b", NULL },
                       "unexpected argument");
    expect_usage_error((const char *[]){ "http://example.com/", NULL },
                       "no DNS lookups");
    expect_usage_error((const char *[]){ "https://127.0.0.1/", NULL },
                       "only http://");
    expect_usage_error((const char *[]){ "ready", NULL }, "not an http://");
    expect_usage_error((const char *[]){ "http://127.0.0.1:99999/", NULL },
                       "invalid port");
    expect_usage_error((const char *[]){ "http://[::1/", NULL },
                       "invalid IPv6");
    expect_usage_error((const char *[]){ "http://[zz]:80/", NULL },
                       "invalid IPv6");
    expect_usage_error((const char *[]){ "/a b", NULL }, "invalid character");
    memset(long_url, 'a', sizeof(long_url) - 1);
    memcpy(long_url, "http://127.0.0.1/", 17);
    expect_usage_error((const char *[]){ long_url, NULL }, "URL too long");
    ASSERT_OK(setenv("HEALTH_PORT", "99999", 1));
    expect_usage_error((const char *[]){ "/live", NULL },
                       "invalid HEALTH_PORT");
    ASSERT_OK(unsetenv("HEALTH_PORT"));
}

static atomic_int dependency_failing;

/* The READY check: fails while dependency_failing is set. */
static health_status_t check_dependency(health_result_t *result, void *userdata)
{
    (void)userdata;
    if (atomic_load(&dependency_failing)) {
        health_result_setf(result, "dependency down");
        return HEALTH_FAIL;
    }
    return HEALTH_PASS;
}

/* Probes @path until it exits @want or 10 s pass. */
static void wait_for_probe(const char *binary, int port, const char *path,
                           int want)
{
    int64_t deadline = mono_ms() + 10000;
    char url[128];
    char out[OUT_MAX];
    const char *args[] = { "-q", "-t", "1", url, NULL };

    url_for(url, sizeof(url), "127.0.0.1", port, path);
    while (run_probe(binary, args, out, sizeof(out)) != want) {
        ASSERT_LT(mono_ms(), deadline);
        (void)nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
    }
}

static void expect_library(int port, const char *path, int code,
                           const char *status)
{
    char url[128];
    char want[256];
    char out[OUT_MAX];
    int i;

    url_for(url, sizeof(url), "127.0.0.1", port, path);
    (void)snprintf(want, sizeof(want), "%s: %s", url, status);
    for (i = 0; i < 2; i++) {
        const char *args[] = { url, NULL };
        ASSERT_EQ(run_probe(mode(i), args, out, sizeof(out)), code);
        assert_one_line(out);
        ASSERT_EQ(strncmp(out, want, strlen(want)), 0);
    }
}

static void run_library_group(void)
{
    static const struct health_check dependency = {
        .name = "dependency",
        .flags = HEALTH_CHECK_READY,
        .interval_ms = 50,
        .run = check_dependency,
    };
    struct health_options opts = { .port = HEALTH_PORT_EPHEMERAL,
                                   .bind_address = "127.0.0.1" };
    health_t *h = NULL;
    char port_text[16];
    char out[OUT_MAX];
    int port;

    atomic_store(&dependency_failing, 1);
    ASSERT_OK(health_create(&h, &opts));
    ASSERT_OK(health_register_check(h, &dependency, NULL));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    ASSERT_GE(port, 1);
    expect_library(port, "/live", 0, "200 ");
    expect_library(port, "/ready", 1, "503 ");
    expect_library(port, "/health", 1, "503 ");
    expect_library(port, "/no-such-endpoint", 1, "404 ");
    /* The dependency recovers: /ready turns 200 on the check's schedule. */
    atomic_store(&dependency_failing, 0);
    wait_for_probe(NULL, port, "/ready", 0);
    expect_library(port, "/ready", 0, "200 ");
    wait_for_probe(probe_binary, port, "/health", 0);
    /* The binary finds the port through HEALTH_PORT, as in a container. */
    (void)snprintf(port_text, sizeof(port_text), "%d", port);
    ASSERT_OK(setenv("HEALTH_PORT", port_text, 1));
    ASSERT_EQ(run_probe(probe_binary, (const char *[]){ "/ready", NULL }, out,
                        sizeof(out)),
              0);
    ASSERT_OK(health_stop(h));
    ASSERT_EQ(
        run_probe(probe_binary, (const char *[]){ NULL }, out, sizeof(out)), 1);
    ASSERT_CONTAINS(out, ": connection refused\n");
    ASSERT_OK(unsetenv("HEALTH_PORT"));
    health_destroy(h);
}

/* readelf shows neither a NEEDED entry nor an INTERP program header. */
static void assert_static(void)
{
    char out[65536];
    char *argv[] = { "readelf", "-d", "-l", "-W", (char *)probe_binary, NULL };

    ASSERT_EQ(run_command(argv, out, sizeof(out), 10000), 0);
    ASSERT_CONTAINS(out, "Program Headers:");
    if (strstr(out, "(NEEDED)") || strstr(out, "INTERP")) {
        fprintf(stderr, "%s is not static:\n%s\n", probe_binary, out);
        abort();
    }
}

/* Copies the probe into a fresh directory that holds nothing else. */
static void make_empty_root(char *dir, char *copy, size_t cap)
{
    char *argv[] = { "cp", (char *)probe_binary, copy, NULL };
    char out[1024];

    ASSERT_EQ(dir == mkdtemp(dir), 1);
    ASSERT_OK(chmod(dir, 0755));
    (void)snprintf(copy, cap, "%s/health-probe", dir);
    ASSERT_EQ(run_command(argv, out, sizeof(out), 10000), 0);
    ASSERT_OK(chmod(copy, 0755));
}

/* chroot into the empty root as 65532:65532 (distroless nonroot); the
 * network namespace is shared, so 127.0.0.1 reaches the fake server. */
static int run_chrooted(const char *dir, const char *url, char *out, size_t cap)
{
    char *argv[] = { "chroot",    "--userspec=65532:65532",
                     (char *)dir, "/health-probe",
                     (char *)url, NULL };
    int r = run_command(argv, out, cap, 15000);

    fprintf(stderr, "  chroot %s /health-probe %s -> %d: %s", dir, url, r, out);
    return r;
}

static int run_static_group(void)
{
    struct fake_server s = { .mode = FAKE_RESPOND,
                             .response = "HTTP/1.1 200 OK\r\n\r\n" };
    char dir[] = "/tmp/health-probe-root.XXXXXX";
    char copy[256];
    char url[128];
    char want[256];
    char out[OUT_MAX];

    assert_static();
    if (geteuid() != 0) {
        fprintf(stderr, "not root: cannot chroot, skipped\n");
        return SKIP;
    }
    make_empty_root(dir, copy, sizeof(copy));
    ASSERT_OK(fake_start(&s, "127.0.0.1"));
    url_for(url, sizeof(url), "127.0.0.1", s.port, "/live");
    (void)snprintf(want, sizeof(want), "%s: 200 OK\n", url);
    ASSERT_EQ(run_chrooted(dir, url, out, sizeof(out)), 0);
    ASSERT_STR_EQ(out, want);
    fake_stop(&s);
    ASSERT_EQ(run_chrooted(dir, url, out, sizeof(out)), 1);
    (void)snprintf(want, sizeof(want), "%s: connection refused\n", url);
    ASSERT_STR_EQ(out, want);
    ASSERT_OK(unlink(copy));
    ASSERT_OK(rmdir(dir));
    return 0;
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "";
    int r = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s args|fake|library|static PROBE\n", argv[0]);
        return 2;
    }
    probe_binary = argv[2];
    if (!strcmp(group, "args"))
        run_args_group();
    else if (!strcmp(group, "fake"))
        run_fake_group();
    else if (!strcmp(group, "library"))
        run_library_group();
    else if (!strcmp(group, "static"))
        r = run_static_group();
    else
        return 2;
    if (r == 0)
        printf("test_probe %s: ok\n", group);
    return r;
}
