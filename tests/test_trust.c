/*
 * Who sees details, for every deployment row of the README's security
 * table, in a private network namespace: the test unshares one and puts
 * documentation addresses on its loopback interface, as the pod IP
 * (192.0.2.10, 2001:db8::10), the node the kubelet probes from
 * (192.0.2.11) and another pod (192.0.2.20, 2001:db8::20).  A client binds
 * its source address before connecting, so each row's source and
 * destination are exactly what the library sees in that deployment;
 * 127.0.0.6 is Istio's inbound source.  Needs root; skipped (77) without.
 */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define POD "192.0.2.10"
#define POD6 "2001:db8::10"
#define NODE "192.0.2.11"
#define OTHER_POD "192.0.2.20"
#define OTHER_POD6 "2001:db8::20"
#define ISTIO_SRC "127.0.0.6"
#define TOKEN "s3cr3t-t0ken_value.42"
#define SECRET "secret connection string"

/* What the library sees in one deployment: source -> destination. */
struct row {
    const char *what;
    const char *src;
    const char *dst;
    bool details; /* by default (HEALTH_DETAILS=local, no grant) */
};

static const struct row rows[] = {
    { "Docker HEALTHCHECK, kubectl port-forward/exec, a container of the "
      "pod via localhost, Istio < 1.10, Linkerd < 2.11",
      "127.0.0.1", "127.0.0.1", true },
    { "kubectl exec curl [::1]", "::1", "::1", true },
    { "Istio sidecar, 127.0.0.6 to 127.0.0.1 (cannot be told apart)", ISTIO_SRC,
      "127.0.0.1", true },
    { "the kubelet (node -> pod IP)", NODE, POD, false },
    { "Istio >= 1.10 (127.0.0.6 -> pod IP)", ISTIO_SRC, POD, false },
    { "a local forwarder from 127.0.0.1 to the pod IP", "127.0.0.1", POD,
      false },
    { "Linkerd >= 2.11, a container of the pod via the pod IP", POD, POD,
      false },
    { "Prometheus or a load balancer (another pod)", OTHER_POD, POD, false },
    { "another pod over IPv6", OTHER_POD6, POD6, false },
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static int g_port;
static char g_logs[65536];
static size_t g_logs_len;
static pthread_mutex_t g_logs_lock = PTHREAD_MUTEX_INITIALIZER;

static health_status_t failing(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, SECRET);
    health_result_set_observed(r, 42, "ms");
    return HEALTH_FAIL;
}

static const struct health_check db = { .name = "db", .run = failing };

static void on_log(const char *msg, void *ud)
{
    size_t n = strlen(msg);

    (void)ud;
    pthread_mutex_lock(&g_logs_lock);
    if (g_logs_len + n + 1 < sizeof(g_logs)) {
        memcpy(g_logs + g_logs_len, msg, n);
        g_logs_len += n;
        g_logs[g_logs_len++] = '\n';
    }
    pthread_mutex_unlock(&g_logs_lock);
}

static int netns_setup(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s: skipped\n",
                strerror(errno));
        return -1;
    }
    if (system("ip link set lo up && ip addr add " POD "/32 dev lo && "
               "ip addr add " NODE "/32 dev lo && "
               "ip addr add " OTHER_POD "/32 dev lo && "
               "ip -6 addr add " POD6 "/128 dev lo nodad && "
               "ip -6 addr add " OTHER_POD6 "/128 dev lo nodad") != 0) {
        fprintf(stderr, "ip: cannot configure the namespace: skipped\n");
        return -1;
    }
    return 0;
}

static socklen_t sockaddr_of(const char *ip, int port,
                             struct sockaddr_storage *ss)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return sizeof(*in4);
    }
    ASSERT_EQ(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return sizeof(*in6);
}

/* A response as the client saw it. */
struct answer {
    int status;
    char head[2048];
    char body[8192];
};

/* One GET from @src to @dst, on a new connection, with @extra header
 * lines ("Name: value\r\n"...) or NULL. */
static void get_from(const char *src, const char *dst, const char *path,
                     const char *extra, struct answer *a)
{
    struct sockaddr_storage from;
    struct sockaddr_storage to;
    socklen_t from_len = sockaddr_of(src, 0, &from);
    socklen_t to_len = sockaddr_of(dst, g_port, &to);
    char req[2048];
    char buf[16384];
    size_t len = 0;
    int64_t deadline = test_now_ms() + SLOW(2000);
    const char *sep;
    ssize_t n;
    int fd;

    memset(a, 0, sizeof(*a));
    fd = socket(to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_OK(bind(fd, (struct sockaddr *)&from, from_len));
    ASSERT_OK(connect(fd, (struct sockaddr *)&to, to_len));
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n",
                 path, extra ? extra : "");
    ASSERT_EQ(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - test_now_ms();
        ASSERT_GT(left, 0);
        ASSERT_EQ(poll(&pfd, 1, (int)left), 1);
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        ASSERT_GE(n, 0);
        if (n == 0)
            break;
        len += (size_t)n;
        ASSERT_LT(len, sizeof(buf) - 1);
    }
    close(fd);
    buf[len] = '\0';
    ASSERT_EQ(sscanf(buf, "HTTP/1.1 %d", &a->status), 1);
    sep = strstr(buf, "\r\n\r\n");
    ASSERT_TRUE(sep != NULL);
    ASSERT_LT((size_t)(sep - buf), sizeof(a->head));
    memcpy(a->head, buf, (size_t)(sep - buf));
    snprintf(a->body, sizeof(a->body), "%s", sep + 4);
}

/* Whether @src -> @dst sees details on /ready (JSON) and /readyz?verbose
 * (the text form: Accept: text/plain), both asserted to agree; the status code
 * never depends on it. */
static bool sees_details(const char *src, const char *dst, const char *extra)
{
    char hdrs[1024];
    struct answer a;
    bool json;
    bool text;

    get_from(src, dst, "/ready", extra, &a);
    ASSERT_EQ(a.status, 503);
    ASSERT_CONTAINS(a.body, "\"status\":\"fail\"");
    json = strstr(a.body, SECRET) != NULL;
    ASSERT_EQ(json, strstr(a.body, "observedValue") != NULL);
    ASSERT_TRUE(strstr(a.head, TOKEN) == NULL && strstr(a.body, TOKEN) == NULL);

    snprintf(hdrs, sizeof(hdrs), "Accept: text/plain\r\n%s",
             extra ? extra : "");
    get_from(src, dst, "/readyz?verbose", hdrs, &a);
    ASSERT_CONTAINS(a.head, "text/plain");
    ASSERT_EQ(a.status, 503);
    text = strstr(a.body, "[-]db failed: " SECRET "\n") != NULL;
    if (!text)
        ASSERT_CONTAINS(a.body, "[-]db failed: reason withheld\n");
    ASSERT_TRUE(strstr(a.head, TOKEN) == NULL && strstr(a.body, TOKEN) == NULL);
    ASSERT_EQ(json, text);
    return json;
}

static health_t *server(const struct health_options *base)
{
    struct health_options o = *base;
    struct answer a;
    health_t *h;

    o.port = HEALTH_PORT_EPHEMERAL;
    o.log = on_log;
    ASSERT_OK(health_create(&h, &o)); /* every interface, dual stack */
    ASSERT_OK(health_register_check(h, &db, NULL));
    ASSERT_OK(health_start(h));
    g_port = health_port(h);
    /* Wait for the check's first result. */
    for (;;) {
        get_from("127.0.0.1", "127.0.0.1", "/ready", NULL, &a);
        if (strstr(a.body, "\"time\""))
            break;
        test_backoff();
    }
    return h;
}

static void print_row(const struct row *r, const char *config, bool got)
{
    printf("  %-8s %-10s -> %-13s %-8s %s\n", config, r->src, r->dst,
           got ? "details" : "statuses", r->what);
}

/* HEALTH_DETAILS=local with no grant: local at both ends only. */
static void test_default(void)
{
    struct health_options o = { 0 };
    health_t *h = server(&o);
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        bool got = sees_details(rows[i].src, rows[i].dst, NULL);
        print_row(&rows[i], "default", got);
        ASSERT_EQ(got, rows[i].details);
    }
    health_destroy(h);
}

/* A token adds to local: the right one grants details from anywhere; a
 * wrong, missing or malformed one withholds them and changes nothing
 * else. */
static void test_token(void)
{
    static const char *const wrong[] = {
        NULL,
        "Authorization: Bearer wrong-token\r\n",
        "Authorization: Bearer " TOKEN "x\r\n",
        "Authorization: Bearer s3cr3t-t0ken_value.4\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Bearer \r\n",
        "Authorization: Basic " TOKEN "\r\n",
        "Authorization: " TOKEN "\r\n",
        "Authorization: Bearer" TOKEN "\r\n",
        "Authorization: Bearer " TOKEN " extra\r\n",
        "X-Token: " TOKEN "\r\n",
    };
    static const char *const right[] = {
        "Authorization: Bearer " TOKEN "\r\n",
        "authorization: bearer " TOKEN "\r\n",
        "Authorization: Bearer   " TOKEN "  \r\n",
    };
    struct health_options o = { .token = TOKEN };
    health_t *h = server(&o);
    size_t i;
    size_t k;

    for (i = 0; i < N_ROWS; i++) {
        for (k = 0; k < sizeof(right) / sizeof(right[0]); k++) {
            ASSERT_TRUE(sees_details(rows[i].src, rows[i].dst, right[k]));
        }
        for (k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++)
            ASSERT_EQ(sees_details(rows[i].src, rows[i].dst, wrong[k]),
                      rows[i].details);
        print_row(&rows[i], "token", true);
    }
    health_destroy(h);
    pthread_mutex_lock(&g_logs_lock);
    g_logs[g_logs_len] = '\0';
    ASSERT_TRUE(strstr(g_logs, TOKEN) == NULL);
    pthread_mutex_unlock(&g_logs_lock);
}

/* CIDR ranges add to local: peers inside see details; IPv4 ranges also
 * match IPv4 peers on the dual-stack socket (v4-mapped). */
static void test_cidrs(void)
{
    struct health_options o = { .details_cidrs =
                                    "192.0.2.20/32, 2001:db8::20/128" };
    health_t *h = server(&o);
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        bool want = rows[i].details || strcmp(rows[i].src, OTHER_POD) == 0 ||
                    strcmp(rows[i].src, OTHER_POD6) == 0;
        bool got = sees_details(rows[i].src, rows[i].dst, NULL);
        print_row(&rows[i], "cidrs", got);
        ASSERT_EQ(got, want);
        /* A wrong token changes nothing. */
        ASSERT_EQ(sees_details(rows[i].src, rows[i].dst,
                               "Authorization: Bearer " TOKEN "\r\n"),
                  want);
    }
    health_destroy(h);

    /* A range over the whole documentation network: the node, the pod
     * itself and the other pod; 127.0.0.6 is not in it. */
    o.details_cidrs = "192.0.2.0/24";
    h = server(&o);
    ASSERT_TRUE(sees_details(NODE, POD, NULL));
    ASSERT_TRUE(sees_details(POD, POD, NULL));
    ASSERT_TRUE(sees_details(OTHER_POD, POD, NULL));
    ASSERT_FALSE(sees_details(ISTIO_SRC, POD, NULL));
    ASSERT_FALSE(sees_details(OTHER_POD6, POD6, NULL));
    health_destroy(h);

    /* Both grants together. */
    o.details_cidrs = "2001:db8::/64";
    o.token = TOKEN;
    h = server(&o);
    ASSERT_TRUE(sees_details(OTHER_POD6, POD6, NULL));
    ASSERT_FALSE(sees_details(NODE, POD, NULL));
    ASSERT_TRUE(sees_details(NODE, POD, "Authorization: Bearer " TOKEN "\r\n"));
    health_destroy(h);
}

/* never means never, whatever the grants; always means everyone. */
static void test_never_always(void)
{
    struct health_options o = { .details = HEALTH_DETAILS_NEVER,
                                .token = TOKEN,
                                .details_cidrs = "0.0.0.0/0 ::/0" };
    health_t *h = server(&o);
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        ASSERT_FALSE(sees_details(rows[i].src, rows[i].dst, NULL));
        ASSERT_FALSE(sees_details(rows[i].src, rows[i].dst,
                                  "Authorization: Bearer " TOKEN "\r\n"));
        print_row(&rows[i], "never", false);
    }
    health_destroy(h);
    o.details = HEALTH_DETAILS_ALWAYS;
    o.token = NULL;
    o.details_cidrs = NULL;
    h = server(&o);
    for (i = 0; i < N_ROWS; i++) {
        ASSERT_TRUE(sees_details(rows[i].src, rows[i].dst, NULL));
        ASSERT_TRUE(sees_details(rows[i].src, rows[i].dst,
                                 "Authorization: Bearer wrong\r\n"));
        print_row(&rows[i], "always", true);
    }
    health_destroy(h);
}

static int create_with(const struct health_options *o)
{
    health_t *h = NULL;
    int r = health_create(&h, o);

    health_destroy(h);
    return r;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* $HEALTH_TOKEN_FILE (a mounted Secret) and $HEALTH_DETAILS_CIDRS. */
static void test_environment(void)
{
    char dir[] = "/tmp/health-trust-XXXXXX";
    char path[256];
    struct health_options o = { 0 };
    health_t *h;

    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/token", dir);
    /* The first line, trailing whitespace (a Secret's newline) dropped. */
    write_file(path, TOKEN " \t\r\nsecond line\n");
    setenv("HEALTH_TOKEN_FILE", path, 1);
    setenv("HEALTH_DETAILS_CIDRS", OTHER_POD, 1);
    h = server(&o);
    ASSERT_TRUE(sees_details(NODE, POD, "Authorization: Bearer " TOKEN "\r\n"));
    ASSERT_FALSE(sees_details(NODE, POD, "Authorization: Bearer second\r\n"));
    ASSERT_TRUE(sees_details(OTHER_POD, POD, NULL));
    ASSERT_FALSE(sees_details(ISTIO_SRC, POD, NULL));
    health_destroy(h);

    /* Options win over the environment, which is then not read. */
    setenv("HEALTH_TOKEN_FILE", "/nonexistent/token", 1);
    setenv("HEALTH_DETAILS_CIDRS", "not a range", 1);
    o.token = "other-token";
    o.details_cidrs = "";
    h = server(&o);
    ASSERT_FALSE(
        sees_details(NODE, POD, "Authorization: Bearer " TOKEN "\r\n"));
    ASSERT_TRUE(
        sees_details(NODE, POD, "Authorization: Bearer other-token\r\n"));
    ASSERT_FALSE(sees_details(OTHER_POD, POD, NULL));
    health_destroy(h);

    /* Errors: the file missing, empty, blank, its first line empty or
     * with a space inside; bad ranges. */
    memset(&o, 0, sizeof(o));
    unsetenv("HEALTH_DETAILS_CIDRS");
    ASSERT_EQ(create_with(&o), -EINVAL); /* /nonexistent/token */
    setenv("HEALTH_TOKEN_FILE", dir, 1); /* a directory */
    ASSERT_EQ(create_with(&o), -EINVAL);
    setenv("HEALTH_TOKEN_FILE", path, 1);
    write_file(path, "");
    ASSERT_EQ(create_with(&o), -EINVAL);
    write_file(path, " \n");
    ASSERT_EQ(create_with(&o), -EINVAL);
    write_file(path, "\n" TOKEN "\n");
    ASSERT_EQ(create_with(&o), -EINVAL);
    write_file(path, "two words\n");
    ASSERT_EQ(create_with(&o), -EINVAL);
    write_file(path, TOKEN);
    ASSERT_OK(create_with(&o));
    setenv("HEALTH_TOKEN_FILE", "", 1); /* empty: unset */
    ASSERT_OK(create_with(&o));
    unsetenv("HEALTH_TOKEN_FILE");
    unlink(path);
    rmdir(dir);

    setenv("HEALTH_DETAILS_CIDRS", "10.0.0.0/8,fd00::/8 192.0.2.1", 1);
    ASSERT_OK(create_with(&o));
    {
        static const char *const bad[] = {
            "10.0.0.0/33", "fd00::/129",  "10.0.0/8",    "10.0.0.0/",
            "/8",          "10.0.0.0/08", "10.0.0.0/8x", "x",
            "10.0.0.0/8;", "10.0.0.0/-1", "::1/1/2",     "[::1]",
        };
        size_t i;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            setenv("HEALTH_DETAILS_CIDRS", bad[i], 1);
            if (create_with(&o) != -EINVAL) {
                fprintf(stderr, "HEALTH_DETAILS_CIDRS=%s accepted\n", bad[i]);
                abort();
            }
            unsetenv("HEALTH_DETAILS_CIDRS");
            o.details_cidrs = bad[i];
            ASSERT_EQ(create_with(&o), -EINVAL);
            o.details_cidrs = NULL;
        }
    }
    unsetenv("HEALTH_DETAILS_CIDRS");
    o.token = "";
    ASSERT_EQ(create_with(&o), -EINVAL);
    o.token = "has space";
    ASSERT_EQ(create_with(&o), -EINVAL);
    o.token = "tab\there";
    ASSERT_EQ(create_with(&o), -EINVAL);
    o.token = TOKEN;
    ASSERT_OK(create_with(&o));
}

int main(void)
{
    if (netns_setup() < 0)
        return 77;
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsetenv("HEALTH_TOKEN_FILE");
    unsetenv("HEALTH_DETAILS_CIDRS");
    printf("  config   source        destination   sees     deployment\n");
    test_default();
    test_token();
    test_cidrs();
    test_never_always();
    test_environment();
    return 0;
}
