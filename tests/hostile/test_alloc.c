/*
 * Allocation failure injection.  This executable defines malloc, calloc,
 * realloc and strdup; libhealth, libmicrohttpd and cJSON call them through
 * their PLT, so every allocation they make goes through the counters
 * here.  Once armed with N, the Nth allocation fails (NULL, ENOMEM) and
 * the rest succeed.  For each operation the test loops N over every
 * allocation the operation makes:
 *
 *   health_create, health_register_check (before and after start),
 *   health_register_heartbeat, health_start, and request cycles
 *   (GET /health, /ready/db, /ready?verbose as text/plain, /live?exclude=)
 *
 * and asserts: a failing call returns its documented negative errno and
 * has no side effects (nothing registered, *ret untouched, no callback
 * called, no thread, fd or port left behind); a request gets its normal
 * answer, a 503 or a closed connection, never a hang or a crash; the
 * server serves normally afterwards.  Leaks show under valgrind or ASan
 * (tests/run valgrind, tests/run asan).
 *
 * close() is wrapped too, to catch a double close (EBADF) on a failure
 * path while armed.
 *
 * The same wrappers count what the front thread (lib/front.c) allocates
 * while it answers probes: nothing, once warm, whatever the requests and
 * however often the state changes.
 *
 * The real allocator is glibc's __libc_malloc and friends, or the
 * sanitizer's __interceptor_malloc when one is linked in (its own malloc
 * is a weak alias that this definition overrides).
 */
#include "hostile.h"

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__interceptor_malloc(size_t n) __attribute__((weak));
extern void *__interceptor_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__interceptor_realloc(void *p, size_t n) __attribute__((weak));
extern int __interceptor_close(int fd) __attribute__((weak));

/* The wrappers run before a sanitizer's runtime is ready (it allocates
 * while it sets itself up): no instrumentation in them. */
#if defined(__has_attribute)
# if __has_attribute(disable_sanitizer_instrumentation)
#  define RAW __attribute__((disable_sanitizer_instrumentation))
# endif
#endif
#ifndef RAW
# define RAW __attribute__((no_sanitize_address, no_sanitize_thread))
#endif

#define MAX_SITES 512

static int failures;

static atomic_long fail_at; /* 0: count only */
static atomic_bool armed;
static atomic_long counted;       /* allocations since arming */
static atomic_long injected;      /* failures since arming */
static atomic_long bad_closes;    /* close() -> EBADF while armed */
static _Thread_local bool exempt; /* this thread's allocations don't count */

/* The thread whose allocations are counted apart (0: none). */
static atomic_long watched_tid;
static atomic_long watched_allocs;

static void *sites[MAX_SITES];
static int site_hits[MAX_SITES];
static int n_sites;
static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_site(void *site)
{
    int i;

    pthread_mutex_lock(&site_lock);
    for (i = 0; i < n_sites; i++)
        if (sites[i] == site)
            break;
    if (i == n_sites && n_sites < MAX_SITES)
        sites[n_sites++] = site;
    if (i < MAX_SITES)
        site_hits[i]++;
    pthread_mutex_unlock(&site_lock);
}

/* Under a sanitizer, allocations by libc itself (thread start-up in
 * pthread_getattr_np, for one) are the runtime's business: failing them
 * trips its own checks.  There only the libraries' own call sites
 * count. */
struct range {
    uintptr_t lo;
    uintptr_t hi;
};
static struct range skip[16];
static int n_skip;

static int collect(struct dl_phdr_info *info, size_t size, void *ud)
{
    const char *name = info->dlpi_name;
    int i;

    (void)size;
    (void)ud;
    if (!strstr(name, "libc.so") && !strstr(name, "ld-linux") && name[0])
        return 0;
    for (i = 0; i < info->dlpi_phnum && n_skip < 16; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        skip[n_skip].lo = info->dlpi_addr + ph->p_vaddr;
        skip[n_skip].hi = skip[n_skip].lo + ph->p_memsz;
        n_skip++;
    }
    return 0;
}

static bool sanitized(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
    return true;
# endif
#endif
    return false;
}

RAW static bool should_fail(void *site)
{
    long n;
    int i;

    if (atomic_load_explicit(&watched_tid, memory_order_relaxed) &&
        syscall(SYS_gettid) == atomic_load(&watched_tid))
        atomic_fetch_add(&watched_allocs, 1);

    if (!atomic_load_explicit(&armed, memory_order_relaxed) || exempt)
        return false;
    for (i = 0; i < n_skip; i++)
        if ((uintptr_t)site >= skip[i].lo && (uintptr_t)site < skip[i].hi)
            return false;
    n = atomic_fetch_add(&counted, 1) + 1;
    if (n != atomic_load(&fail_at))
        return false;
    atomic_fetch_add(&injected, 1);
    note_site(site);
    errno = ENOMEM;
    return true;
}

RAW void *malloc(size_t n)
{
    if (should_fail(__builtin_return_address(0)))
        return NULL;
    return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}

RAW void *calloc(size_t n, size_t size)
{
    if (should_fail(__builtin_return_address(0)))
        return NULL;
    return __interceptor_calloc ? __interceptor_calloc(n, size)
                                : __libc_calloc(n, size);
}

RAW void *realloc(void *p, size_t n)
{
    if (should_fail(__builtin_return_address(0)))
        return NULL;
    return __interceptor_realloc ? __interceptor_realloc(p, n)
                                 : __libc_realloc(p, n);
}

RAW char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    if (should_fail(__builtin_return_address(0)))
        return NULL;
    p = __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int close(int fd)
{
    int r = __interceptor_close ? __interceptor_close(fd)
                                : (int)syscall(SYS_close, fd);

    if (r < 0 && errno == EBADF && atomic_load(&armed))
        atomic_fetch_add(&bad_closes, 1);
    return r;
}

static void arm(long n)
{
    atomic_store(&counted, 0);
    atomic_store(&injected, 0);
    atomic_store(&fail_at, n);
    atomic_store(&armed, true);
}

static void disarm(void)
{
    atomic_store(&armed, false);
}

/* Per operation: how many allocations, how many failures were tolerated
 * (the call still succeeded), and the errors seen. */
struct tally {
    const char *what;
    long allocations;
    int failed_calls;
    int tolerated;
    int errors[8];
    int n_errors;
};

static void tally_error(struct tally *t, int r)
{
    int i;

    for (i = 0; i < t->n_errors; i++)
        if (t->errors[i] == r)
            return;
    if (t->n_errors < 8)
        t->errors[t->n_errors++] = r;
}

static void tally_print(const struct tally *t)
{
    int i;

    printf("  %-34s %3ld allocations: %3d calls failed cleanly, %3d "
           "failures tolerated; returned",
           t->what, t->allocations, t->failed_calls, t->tolerated);
    for (i = 0; i < t->n_errors; i++)
        printf(" %s", health_strerror(t->errors[i]));
    printf("\n");
}

#define LOOP_MAX 2000

static const struct health_options create_opts = {
    .port = HEALTH_PORT_EPHEMERAL,
    .bind_address = "127.0.0.1",
    .version = "1.2.3",
    .release_id = "1.2.3-rc1",
    .service_id = "alloc-test",
    .description = "allocation failure injection",
    .idle_timeout_s = 2,
};

static void test_create(void)
{
    struct tally t = { .what = "health_create" };
    health_t *const sentinel = (health_t *)&t;
    health_t *h;
    long n;
    int r;

    for (n = 1; n < LOOP_MAX; n++) {
        h = sentinel;
        arm(n);
        r = health_create(&h, &create_opts);
        disarm();
        if (atomic_load(&injected) == 0) {
            ASSERT_OK(r);
            t.allocations = n - 1;
            health_destroy(h);
            break;
        }
        if (r == 0) {
            t.tolerated++;
            health_destroy(h);
            continue;
        }
        ASSERT_EQ(r, -ENOMEM);
        ASSERT_TRUE(h == sentinel);
        t.failed_calls++;
        tally_error(&t, r);
    }
    ASSERT_LT(n, LOOP_MAX);
    tally_print(&t);
}

static atomic_int freed;
static atomic_int runs;

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "fine");
    atomic_fetch_add(&runs, 1);
    return HEALTH_PASS;
}

static void count_free(void *ud)
{
    (void)ud;
    atomic_fetch_add(&freed, 1);
}

static const struct health_check extra = {
    .name = "extra", .interval_ms = 60000, .run = pass, .free_data = count_free
};

/* A destroyed handle's detached threads say they are done just before they
 * exit, and may stay in the task list a moment longer on a loaded host: a
 * test that counts threads first waits for them to be gone. */
static void wait_threads_settled(void)
{
    WAIT_UNTIL(test_threads_named("health-") == 0, 2000);
}

static void test_register(bool started)
{
    struct tally t = { .what = started ? "health_register_check (started)"
                                       : "health_register_check" };
    health_t *h;
    long n;
    int threads0;
    int r;

    wait_threads_settled();
    ASSERT_OK(health_create(&h, &create_opts));
    if (started) {
        int before = atomic_load(&runs);

        ASSERT_OK(health_start(h));
        /* A first run starts the pool's thread, which stays for the
         * checks to come: counted in threads0 rather than racing the
         * unregister below. */
        atomic_store(&freed, 0);
        ASSERT_OK(health_register_check(h, &extra, &t));
        WAIT_UNTIL(atomic_load(&runs) > before, 2000);
        ASSERT_OK(health_unregister_check(h, "extra"));
        WAIT_UNTIL(atomic_load(&freed) == 1, 2000);
    }
    threads0 = test_threads();
    for (n = 1; n < LOOP_MAX; n++) {
        atomic_store(&freed, 0);
        arm(n);
        r = health_register_check(h, &extra, &t);
        disarm();
        if (r == 0) {
            if (atomic_load(&injected))
                t.tolerated++;
            else
                t.allocations = n - 1;
            ASSERT_OK(health_unregister_check(h, "extra"));
            WAIT_UNTIL(atomic_load(&freed) == 1, 2000);
            WAIT_UNTIL(test_threads() == threads0, 2000);
            if (!atomic_load(&injected))
                break;
            continue;
        }
        ASSERT_TRUE(atomic_load(&injected) > 0);
        ASSERT_TRUE(r == -ENOMEM || (started && r == -EAGAIN));
        /* Nothing registered, nothing taken over, no thread left. */
        ASSERT_EQ(health_unregister_check(h, "extra"), -ENOENT);
        ASSERT_EQ(atomic_load(&freed), 0);
        ASSERT_EQ(test_threads(), threads0);
        t.failed_calls++;
        tally_error(&t, r);
    }
    ASSERT_LT(n, LOOP_MAX);
    health_destroy(h);
    tally_print(&t);
}

static void test_heartbeat(void)
{
    struct tally t = { .what = "health_register_heartbeat" };
    health_heartbeat_t *const sentinel = (health_heartbeat_t *)&t;
    health_heartbeat_t *hb;
    health_t *h;
    long n;
    int r;

    ASSERT_OK(health_create(&h, &create_opts));
    for (n = 1; n < LOOP_MAX; n++) {
        hb = sentinel;
        arm(n);
        r = health_register_heartbeat(h, "loop", 1000, &hb);
        disarm();
        if (r == 0) {
            ASSERT_OK(health_unregister_heartbeat(h, hb));
            if (!atomic_load(&injected)) {
                t.allocations = n - 1;
                break;
            }
            t.tolerated++;
            continue;
        }
        ASSERT_EQ(r, -ENOMEM);
        ASSERT_TRUE(hb == sentinel);
        /* The name is free: registering it again works. */
        ASSERT_OK(health_register_heartbeat(h, "loop", 1000, &hb));
        ASSERT_OK(health_unregister_heartbeat(h, hb));
        t.failed_calls++;
        tally_error(&t, r);
    }
    ASSERT_LT(n, LOOP_MAX);
    health_destroy(h);
    tally_print(&t);
}

static bool get_ok(int port, const char *path)
{
    char head[256];
    struct hc_request q = { .head = head };
    struct hc_reply *r = malloc(sizeof(*r));
    bool ok;

    if (!r)
        abort();
    snprintf(head, sizeof(head),
             "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    hc_exchange("127.0.0.1", port, &q, SLOW(2000), r);
    ok = r->n == 1 && r->status[0] == 200;
    free(r);
    return ok;
}

/*
 * libmicrohttpd 0.9.75 (and upstream as of 2025) leaks the eventfd of its
 * inter-thread channel when MHD_start_daemon() fails to allocate its
 * nonce table, after creating the channel: a libmicrohttpd bug on an
 * out-of-memory path, which libhealth cannot reach to fix.  It is told
 * apart exactly (the failed allocation in libmicrohttpd, the one new
 * descriptor an eventfd), reported and closed; any other leak fails.
 */
static bool mhd_leaked_eventfd(void)
{
    Dl_info info;
    DIR *d;
    struct dirent *e;
    int leaked = -1;

    if (n_sites == 0 || !dladdr(sites[n_sites - 1], &info) || !info.dli_fname ||
        !strstr(info.dli_fname, "libmicrohttpd"))
        return false;
    d = opendir("/proc/self/fd");
    ASSERT_TRUE(d != NULL);
    while ((e = readdir(d))) {
        char path[300];
        char target[64] = "";
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        if (n > 0 && strncmp(target, "anon_inode:[eventfd]", (size_t)n) == 0)
            leaked = atoi(e->d_name);
    }
    closedir(d);
    if (leaked < 0)
        return false;
    (void)close(leaked);
    return true;
}

static void test_start(void)
{
    struct tally t = { .what = "health_start" };
    health_heartbeat_t *hb;
    health_t *h;
    long n;
    int threads0;
    int fds0;
    int r;

    wait_threads_settled();
    ASSERT_OK(health_create(&h, &create_opts));
    ASSERT_OK(health_register_check(h, &extra, NULL));
    ASSERT_OK(health_register_heartbeat(h, "loop", 60000, &hb));
    threads0 = test_threads();
    fds0 = test_fds();
    atomic_store(&bad_closes, 0);
    for (n = 1; n < LOOP_MAX; n++) {
        long bad = atomic_load(&bad_closes);

        arm(n);
        r = health_start(h);
        disarm();
        if (atomic_load(&bad_closes) != bad)
            printf("  health_start, allocation %ld failed (%s): a close() "
                   "hit EBADF: the descriptor was closed twice\n",
                   n, health_strerror(r));
        if (r == 0) {
            /* Started (a failure inside libmicrohttpd may have been
             * absorbed): it must really serve. */
            WAIT_UNTIL(get_ok(health_port(h), "/ready"), 3000);
            ASSERT_OK(health_stop(h));
            WAIT_UNTIL(test_threads() == threads0, 2000);
            if (!atomic_load(&injected)) {
                t.allocations = n - 1;
                break;
            }
            t.tolerated++;
            continue;
        }
        ASSERT_TRUE(atomic_load(&injected) > 0);
        if (r != -ENOMEM && r != -EIO && r != -EAGAIN) {
            fprintf(stderr, "health_start: %d (%s) at allocation %ld\n", r,
                    health_strerror(r), n);
            abort();
        }
        /* Not started: no port, no thread, no socket left. */
        ASSERT_EQ(health_port(h), -ENOTCONN);
        WAIT_UNTIL(test_threads() == threads0, 2000);
        if (r == -EIO && test_fds() == fds0 + 1 && mhd_leaked_eventfd())
            printf("  health_start, allocation %ld failed: libmicrohttpd "
                   "0.9.75 leaked its inter-thread eventfd\n",
                   n);
        ASSERT_EQ(test_fds(), fds0);
        t.failed_calls++;
        tally_error(&t, r);
    }
    ASSERT_LT(n, LOOP_MAX);
    health_destroy(h);
    tally_print(&t);
    if (atomic_load(&bad_closes)) {
        /* Reported at the end, so the request cycles run too. */
        fprintf(stderr,
                "FAIL: health_start closed a descriptor twice on a "
                "failure path (%ld time(s))\n",
                atomic_load(&bad_closes));
        failures++;
    }
}

/* One request on a new connection, its allocations counted in the server
 * (this thread's are exempt).  Returns the status, 1 for a connection
 * closed without an answer. */
static int request(int port, const char *head, long fail)
{
    struct hc_request q = { .head = head };
    static struct hc_reply r;
    int st;

    exempt = true;
    arm(fail);
    hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
    disarm();
    exempt = false;
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.connect_errno, 0);
    st = r.n > 0 ? r.status[0] : 1;
    if (st == 503 && !strstr(r.data, "fail"))
        abort();
    return st;
}

static void test_requests(void)
{
    static const struct {
        const char *what;
        const char *head;
        int status;
    } reqs[] = {
        { "GET /health",
          "GET /health HTTP/1.1\r\nHost: x\r\n"
          "Connection: close\r\n\r\n",
          200 },
        { "GET /ready/db",
          "GET /ready/db HTTP/1.1\r\nHost: x\r\n"
          "Connection: close\r\n\r\n",
          200 },
        { "GET /ready?verbose (text/plain)",
          "GET /ready?verbose HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n"
          "Connection: close\r\n\r\n",
          200 },
        { "GET /live?exclude=db",
          "GET /live?exclude=db HTTP/1.1\r\n"
          "Host: x\r\nConnection: close\r\n\r\n",
          200 },
        { "GET /nope (404)",
          "GET /nope HTTP/1.1\r\nHost: x\r\n"
          "Connection: close\r\n\r\n",
          404 },
        { "POST /live (405)",
          "POST /live HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 3\r\n\r\nabc",
          405 },
    };
    static const struct health_check db = { .name = "db",
                                            .interval_ms = 60000,
                                            .run = pass };
    health_heartbeat_t *hb;
    health_t *h;
    size_t i;
    long n;
    int port;

    ASSERT_OK(health_create(&h, &create_opts));
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_register_heartbeat(h, "loop", 60000, &hb));
    ASSERT_OK(health_start(h));
    port = health_port(h);
    WAIT_UNTIL(get_ok(port, "/ready/db"), 3000);
    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct tally t = { .what = reqs[i].what };
        int outcomes[4] = { 0 }; /* normal, 503, closed, other */

        for (n = 1; n < LOOP_MAX; n++) {
            int st;

            /* A state change, so a cached body is rendered again. */
            ASSERT_OK(health_set_started(h));
            st = request(port, reqs[i].head, n);
            if (!atomic_load(&injected)) {
                ASSERT_EQ(st, reqs[i].status);
                t.allocations = n - 1;
                break;
            }
            if (st == reqs[i].status)
                outcomes[0]++;
            else if (st == 503)
                outcomes[1]++;
            else if (st == 1)
                outcomes[2]++;
            else
                outcomes[3]++;
            if (st != reqs[i].status && st != 503 && st != 1) {
                fprintf(stderr, "%s: %d with allocation %ld failed\n",
                        reqs[i].what, st, n);
                abort();
            }
            /* Whatever failed, the next request is served normally. */
            ASSERT_EQ(request(port, reqs[i].head, 0), reqs[i].status);
        }
        ASSERT_LT(n, LOOP_MAX);
        printf("  %-34s %3ld allocations: %d normal, %d 503, %d closed\n",
               t.what, t.allocations, outcomes[0], outcomes[1], outcomes[2]);
    }
    health_destroy(h);
}

static atomic_int flip;

static health_status_t flapping(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_set_output(r, atomic_fetch_add(&flip, 1) % 2
                                    ? "replica lag 3 s"
                                    : "replica lag 12345 s");
    return atomic_load(&flip) % 3 ? HEALTH_PASS : HEALTH_WARN;
}

/* Probe requests cost the front thread no allocation: plain and
 * keep-alive ones, HEAD, every endpoint, with and without details, while
 * a check changes its output and status every 20 ms and a heartbeat makes
 * every body time-dependent. */
static void test_front_allocs(void)
{
    static const char *const heads[] = {
        "GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /ready HTTP/1.1\r\nHost: x\r\nUser-Agent: kube-probe/1.30\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n",
        "GET /started HTTP/1.0\r\n\r\n",
        "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
        "Connection: close\r\n\r\n",
    };
    static const struct health_check flap = { .name = "replica",
                                              .interval_ms = 20,
                                              .run = flapping };
    struct health_options o = create_opts;
    static struct hc_reply r;
    health_heartbeat_t *hb;
    health_t *h;
    int port;
    int k;
    int i;

    /* With details for loopback, then without. */
    for (k = 0; k < 2; k++) {
        long before;
        long tid;

        o.details = k ? HEALTH_DETAILS_NEVER : HEALTH_DETAILS_LOCAL;
        ASSERT_OK(health_create(&h, &o));
        ASSERT_OK(health_register_check(h, &flap, NULL));
        ASSERT_OK(health_register_heartbeat(h, "loop", 60000, &hb));
        ASSERT_OK(health_start(h));
        port = health_port(h);
        tid = test_thread_tid("health-front");
        ASSERT_TRUE(tid != 0);
        /* Warm: buffers at their size, limit records made. */
        for (i = 0; i < 200; i++) {
            struct hc_request q = { .head = heads[i % 5] };
            hc_reply_init(&r);
            hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
            ASSERT_TRUE(strncmp(r.data, "HTTP/1.1 ", 9) == 0);
        }
        atomic_store(&watched_allocs, 0);
        before = atomic_load(&flip);
        atomic_store(&watched_tid, tid);
        for (i = 0; i < 500 || atomic_load(&flip) - before < 20; i++) {
            struct hc_request q = { .head = heads[i % 5] };

            ASSERT_LT(i, 1000000);
            hc_reply_init(&r);
            hc_exchange("127.0.0.1", port, &q, SLOW(3000), &r);
            /* (HEAD's answer has no body: hc_parse cannot count it.) */
            ASSERT_TRUE(strncmp(r.data, "HTTP/1.1 200 ", 13) == 0 ||
                        strncmp(r.data, "HTTP/1.1 503 ", 13) == 0);
            ASSERT_FALSE(r.timed_out);
        }
        atomic_store(&watched_tid, 0);
        printf("  front thread, %s: %d exchanges while the check ran %ld "
               "times: %ld allocations\n",
               k ? "no details" : "details", i, atomic_load(&flip) - before,
               atomic_load(&watched_allocs));
        ASSERT_EQ(atomic_load(&watched_allocs), 0);
        health_destroy(h);
    }
}

static void print_sites(void)
{
    int by_lib[5] = { 0 };
    static const char *const libs[] = { "libhealth", "libmicrohttpd", "cjson",
                                        "libc", "other" };
    int i;

    for (i = 0; i < n_sites; i++) {
        Dl_info info;
        const char *f = "";
        int k;

        if (dladdr(sites[i], &info) && info.dli_fname)
            f = info.dli_fname;
        for (k = 0; k < 4; k++)
            if (strstr(f, libs[k]))
                break;
        by_lib[k]++;
        if (getenv("HOSTILE_ALLOC_SITES"))
            printf("    site %p %s+%#lx (%s) failed %d time(s)\n", sites[i], f,
                   (unsigned long)((char *)sites[i] - (char *)info.dli_fbase),
                   info.dli_sname ? info.dli_sname : "?", site_hits[i]);
    }
    printf("distinct allocation call sites failed: %d (libhealth %d, "
           "libmicrohttpd %d, cJSON %d, libc %d, other %d)\n",
           n_sites, by_lib[0], by_lib[1], by_lib[2], by_lib[3], by_lib[4]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The injection works only where this file's malloc is the one the
     * library calls. */
    arm(1);
    {
        void *p = malloc(1);
        disarm();
        if (p) {
            fprintf(stderr, "malloc is not interposed: skipped\n");
            free(p);
            return 77;
        }
    }
    if (sanitized())
        dl_iterate_phdr(collect, NULL);
    printf("allocation failure injection%s:\n",
           n_skip ? " (ThreadSanitizer: libc's own allocations excluded)" : "");
    test_create();
    test_register(false);
    test_register(true);
    test_heartbeat();
    test_start();
    test_requests();
    print_sites();
    test_front_allocs();
    return failures ? 1 : 0;
}
