/* The HTTP contract over real loopback connections: paths, methods, status
 * codes, headers, the JSON body, details gating and connection handling. */
#include "test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int db_status = HEALTH_PASS;

static health_status_t check_db(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "db says \"%s\"\n", "hi");
    health_result_set_observed(r, 12.5, "ms");
    return (health_status_t)atomic_load(&db_status);
}

static health_status_t check_cache(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "cache down");
    return HEALTH_FAIL;
}

static health_status_t check_self(health_result_t *r, void *ud)
{
    (void)r;
    (void)ud;
    return HEALTH_PASS;
}

static const struct health_check db = { .name = "db",
                                        .flags = HEALTH_CHECK_READY,
                                        .interval_ms = 20,
                                        .run = check_db };
static const struct health_check cache = {
    .name = "cache",
    .flags = HEALTH_CHECK_READY | HEALTH_CHECK_NONCRITICAL,
    .interval_ms = 20,
    .run = check_cache,
};
static const struct health_check self = { .name = "self",
                                          .flags = HEALTH_CHECK_LIVE,
                                          .run = check_self };

static health_t *server(enum health_details details)
{
    struct health_options o = { .details = details,
                                .version = "1.2.3",
                                .service_id = "svc",
                                .description = "test \"service\"" };
    health_t *h = test_server(&o);

    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_register_check(h, &cache, NULL));
    ASSERT_OK(health_register_check(h, &self, NULL));
    return h;
}

static bool ready_is(int port, long status)
{
    struct resp r;
    bool ok;

    http_get(port, "/ready", &r);
    ok = r.status == status && json_has(&r, "checks.db");
    resp_free(&r);
    return ok;
}

/* /ready passes on db alone: cache may still be pending a moment later. */
static bool cache_output_is(int port, const char *output)
{
    struct resp r;
    const char *o;
    bool ok;

    http_get(port, "/health", &r);
    o = json_str(&r, "checks.cache.0.output");
    ok = o && strcmp(o, output) == 0;
    resp_free(&r);
    return ok;
}

static void test_endpoints_and_headers(void)
{
    static const char *const paths[] = { "/live",    "/ready",  "/started",
                                         "/health",  "/livez",  "/readyz",
                                         "/healthz", "/ready/", NULL };
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    struct resp r;
    int i;

    WAIT_UNTIL(ready_is(port, 200), 2000);
    for (i = 0; paths[i]; i++) {
        http_get(port, paths[i], &r);
        ASSERT_EQ(r.status, 200);
        ASSERT_STR_EQ(r.content_type, "application/health+json");
        ASSERT_STR_EQ(r.cache_control, "no-store");
        ASSERT_TRUE(json_str(&r, "status") != NULL);
        resp_free(&r);
    }
    /* HEAD: the same status and headers, no body. */
    http_do(port, "/ready", &(struct req){ .method = "HEAD" }, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, 0);
    ASSERT_STR_EQ(r.content_type, "application/health+json");
    resp_free(&r);
    /* The failing noncritical check makes /ready warn, still 200. */
    http_get(port, "/ready", &r);
    ASSERT_STR_EQ(json_str(&r, "status"), "warn");
    ASSERT_STR_EQ(json_str(&r, "checks.cache.0.status"), "fail");
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.status"), "pass");
    ASSERT_FALSE(json_has(&r, "checks.self"));
    resp_free(&r);
    http_get(port, "/live", &r);
    ASSERT_STR_EQ(json_str(&r, "status"), "pass");
    ASSERT_TRUE(json_has(&r, "checks.self"));
    ASSERT_FALSE(json_has(&r, "checks.db"));
    resp_free(&r);
    health_destroy(h);
}

static void test_fail_is_503(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    struct resp r;

    WAIT_UNTIL(ready_is(port, 200), 2000);
    atomic_store(&db_status, HEALTH_FAIL);
    WAIT_UNTIL(ready_is(port, 503), 2000);
    http_get(port, "/ready", &r);
    ASSERT_STR_EQ(json_str(&r, "status"), "fail");
    ASSERT_STR_EQ(r.content_type, "application/health+json");
    resp_free(&r);
    http_do(port, "/ready", &(struct req){ .method = "HEAD" }, &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_EQ(r.len, 0);
    resp_free(&r);
    /* /live does not depend on a READY check. */
    http_get(port, "/live", &r);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
    http_get(port, "/health", &r);
    ASSERT_EQ(r.status, 503);
    resp_free(&r);
    atomic_store(&db_status, HEALTH_WARN);
    WAIT_UNTIL(ready_is(port, 200), 2000);
    http_get(port, "/ready", &r);
    ASSERT_STR_EQ(json_str(&r, "status"), "warn");
    resp_free(&r);
    atomic_store(&db_status, HEALTH_PASS);
    health_destroy(h);
}

static void test_json_shape(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    const char *t;
    struct resp r;
    cJSON *v;

    WAIT_UNTIL(ready_is(port, 200), 2000);
    http_get(port, "/health", &r);
    ASSERT_STR_EQ(json_str(&r, "version"), "1.2.3");
    ASSERT_STR_EQ(json_str(&r, "serviceId"), "svc");
    ASSERT_STR_EQ(json_str(&r, "description"), "test \"service\"");
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.status"), "pass");
    /* Control characters in outputs are replaced, quotes kept. */
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.output"), "db says \"hi\" ");
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.observedUnit"), "ms");
    v = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "checks"), "db"),
            0),
        "observedValue");
    ASSERT_TRUE(cJSON_IsNumber(v));
    ASSERT_EQ((int64_t)(v->valuedouble * 10), 125);
    ASSERT_TRUE(json_has(&r, "checks.db.0.durationMs"));
    t = json_str(&r, "checks.db.0.time");
    ASSERT_TRUE(t != NULL);
    /* RFC 3339, UTC, milliseconds: 2026-11-28T02:11:30.123Z */
    ASSERT_EQ(strlen(t), 24);
    ASSERT_EQ(t[4], '-');
    ASSERT_EQ(t[10], 'T');
    ASSERT_EQ(t[19], '.');
    ASSERT_EQ(t[23], 'Z');
    ASSERT_TRUE(json_has(&r, "checks.self"));
    ASSERT_TRUE(json_has(&r, "checks.cache"));
    resp_free(&r);
    health_destroy(h);
}

static void test_details_gating(void)
{
    health_t *h = server(HEALTH_DETAILS_NEVER);
    int port = health_port(h);
    struct resp r;

    WAIT_UNTIL(ready_is(port, 200), 2000);
    http_get(port, "/health", &r);
    ASSERT_STR_EQ(json_str(&r, "checks.db.0.status"), "pass");
    ASSERT_FALSE(json_has(&r, "checks.db.0.output"));
    ASSERT_FALSE(json_has(&r, "checks.db.0.observedValue"));
    ASSERT_FALSE(json_has(&r, "checks.cache.0.output"));
    resp_free(&r);
    health_destroy(h);

    /* local (the default): a loopback peer sees details. */
    h = server(HEALTH_DETAILS_LOCAL);
    port = health_port(h);
    WAIT_UNTIL(cache_output_is(port, "cache down"), 2000);
    health_destroy(h);
}

static void test_errors(void)
{
    static const char *const methods[] = { "POST",    "PUT",   "DELETE",
                                           "OPTIONS", "PATCH", "TRACE",
                                           NULL };
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    struct resp r;
    int i;

    http_get(port, "/nope", &r);
    ASSERT_EQ(r.status, 404);
    ASSERT_STR_EQ(r.content_type, "application/json");
    ASSERT_STR_EQ(json_str(&r, "error"), "not found");
    resp_free(&r);
    http_get(port, "/", &r);
    ASSERT_EQ(r.status, 404);
    resp_free(&r);
    http_get(port, "/lives", &r);
    ASSERT_EQ(r.status, 404);
    resp_free(&r);
    for (i = 0; methods[i]; i++) {
        http_do(port, "/live", &(struct req){ .method = methods[i] }, &r);
        ASSERT_EQ(r.status, 405);
        ASSERT_STR_EQ(r.allow, "GET, HEAD");
        resp_free(&r);
    }
    /* A GET with a body is refused unread. */
    http_do(port, "/live", &(struct req){ .method = "GET", .body = "x=1" }, &r);
    ASSERT_EQ(r.status, 400);
    resp_free(&r);
    /* The server keeps answering after all that. */
    http_get(port, "/live", &r);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
    health_destroy(h);
}

static void test_connections(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    struct resp r;
    int i;

    /* Keep-alive: one connection serves many requests. */
    http_get(port, "/live", &r);
    resp_free(&r);
    for (i = 0; i < 20; i++) {
        http_get(port, "/live", &r);
        ASSERT_EQ(r.status, 200);
        ASSERT_EQ(r.connects, 0);
        resp_free(&r);
    }
    /* Connection: close (the kubelet's way) is honoured. */
    for (i = 0; i < 20; i++) {
        http_do(port, "/live", &(struct req){ .fresh = true }, &r);
        ASSERT_EQ(r.status, 200);
        ASSERT_EQ(r.connects, 1);
        ASSERT_STR_EQ(r.connection, "close");
        resp_free(&r);
    }
    health_destroy(h);
}

static void test_ipv6_and_any(void)
{
    struct health_options o = { .port = HEALTH_PORT_EPHEMERAL,
                                .bind_address = "::1" };
    health_t *h;
    struct resp r;
    int rc;

    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_start(h));
    ASSERT_OK(
        http_do(health_port(h), "/live", &(struct req){ .host = "[::1]" }, &r));
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
    health_destroy(h);

    /* The default binds every interface, IPv4 and IPv6 on one port. */
    o.bind_address = NULL;
    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_start(h));
    http_get(health_port(h), "/live", &r);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
    rc = http_do(health_port(h), "/live", &(struct req){ .host = "[::1]" }, &r);
    ASSERT_OK(rc);
    ASSERT_EQ(r.status, 200);
    resp_free(&r);
    health_destroy(h);
}

#if defined(__x86_64__)
# define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
# define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* A kernel booted with ipv6.disable=1: socket(AF_INET6, ...) fails with
 * EAFNOSUPPORT, which a seccomp filter reproduces in a child.  The
 * default address then falls back to 0.0.0.0 and serves. */
static void test_no_ipv6(void)
{
#ifdef TEST_AUDIT_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]),
                               .filter = filter };
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        struct health_options o = { .port = HEALTH_PORT_EPHEMERAL };
        health_t *h;
        int fd;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            _exit(77);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        if (fd >= 0 || errno != EAFNOSUPPORT)
            _exit(77);
        ASSERT_OK(health_create(&h, &o));
        ASSERT_OK(health_start(h));
        ASSERT_GT(health_port(h), 0);
        expect_status(health_port(h), "/live", 200);
        health_destroy(h);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        printf("no IPv6: skipped (no seccomp filter)\n");
        return;
    }
    ASSERT_EQ(WEXITSTATUS(status), 0);
#endif
}

static void test_per_check_paths(void)
{
    health_t *h = server(HEALTH_DETAILS_DEFAULT);
    int port = health_port(h);
    struct resp r;

    WAIT_UNTIL(ready_is(port, 200), 2000);
    http_get(port, "/ready/db", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(json_has(&r, "checks.db"));
    ASSERT_FALSE(json_has(&r, "checks.cache"));
    resp_free(&r);
    http_get(port, "/health/cache", &r);
    ASSERT_EQ(r.status, 503);
    resp_free(&r);
    http_get(port, "/ready?exclude=cache", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(json_str(&r, "status"), "pass");
    ASSERT_FALSE(json_has(&r, "checks.cache"));
    resp_free(&r);
    /* A check that does not exist, or not in that endpoint: 404. */
    ASSERT_EQ(http_status(port, "/ready/nosuch"), 404);
    ASSERT_EQ(http_status(port, "/live/db"), 404);
    ASSERT_EQ(http_status(port, "/health/db"), 200);
    ASSERT_EQ(http_status(port, "/live/self"), 200);
    /* Up to 16 exclusions; a 17th is refused, not silently dropped. */
    {
        char path[512] = "/ready?exclude=cache";
        int i;

        for (i = 1; i < 16; i++)
            strcat(path, "&exclude=x");
        ASSERT_EQ(http_status(port, path), 200);
        strcat(path, "&exclude=db");
        ASSERT_EQ(http_status(port, path), 400);
    }
    health_destroy(h);
}

static health_status_t verbose_check(health_result_t *r, void *ud)
{
    int i = (int)(intptr_t)ud;

    health_result_setf(r, "%0200d", i);
    return i % 2 ? HEALTH_FAIL : HEALTH_PASS;
}

static bool all_reported(int port, int n)
{
    char key[64];
    struct resp r;
    bool ok;

    http_get(port, "/health?exclude=none", &r);
    snprintf(key, sizeof(key), "checks.check-%d.0.time", n - 1);
    ok = json_has(&r, key);
    resp_free(&r);
    return ok;
}

/* 100 checks with long outputs: the body stays within the kubelet's
 * 10 KiB, says what it left out, and failing checks stay listed. */
static void test_body_limit(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);
    char name[32];
    struct resp r;
    int i;

    for (i = 0; i < 100; i++) {
        struct health_check c = { .name = name, .run = verbose_check };
        snprintf(name, sizeof(name), "check-%d", i);
        ASSERT_OK(health_register_check(h, &c, (void *)(intptr_t)i));
    }
    WAIT_UNTIL(all_reported(port, 100), 5000);
    http_get(port, "/health", &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_LE(r.len, 10240);
    ASSERT_CONTAINS(json_str(&r, "notes"), "left out");
    ASSERT_STR_EQ(json_str(&r, "checks.check-99.0.status"), "fail");
    resp_free(&r);
    http_do(port, "/health",
            &(struct req){ .headers =
                               (const char *[]){ "Accept: text/plain", NULL } },
            &r);
    ASSERT_LE(r.len, 10240);
    ASSERT_CONTAINS(r.body, "healthz check failed\n");
    resp_free(&r);
    health_destroy(h);
}

int main(void)
{
    test_endpoints_and_headers();
    test_fail_is_503();
    test_json_shape();
    test_details_gating();
    test_errors();
    test_connections();
    test_ipv6_and_any();
    test_no_ipv6();
    test_per_check_paths();
    test_body_limit();
    return 0;
}
