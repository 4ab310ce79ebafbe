/* Helpers for the test programs: a libcurl client, JSON lookups, process
 * counters and a gate for callbacks that must block. */
#include "test.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

int64_t test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t test_time_scale(void)
{
    const char *s = getenv("HEALTH_TEST_TIME_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;

    return v > 0 ? v : 1;
}

long http_status(int port, const char *path)
{
    struct resp r;
    long st;

    http_get(port, path, &r);
    st = r.status;
    resp_free(&r);
    return st;
}

void expect_status(int port, const char *path, long code)
{
    struct resp r;

    http_get(port, path, &r);
    if (r.status != code) {
        fprintf(stderr, "GET %s: %ld, expected %ld: %s\n", path, r.status, code,
                r.body);
        abort();
    }
    resp_free(&r);
}

void test_backoff(void)
{
    (void)poll(NULL, 0, 2);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    char *b = realloc(r->body, r->len + len + 1);

    if (!b)
        return 0;
    memcpy(b + r->len, p, len);
    r->len += len;
    b[r->len] = '\0';
    r->body = b;
    return len;
}

static void copy_value(char *dst, size_t size, const char *line,
                       const char *name)
{
    size_t n = strlen(name);
    size_t len;

    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    line += n + 1;
    while (*line == ' ')
        line++;
    len = strcspn(line, "\r\n");
    if (len >= size)
        len = size - 1;
    memcpy(dst, line, len);
    dst[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    char line[512];
    size_t len = size * n < sizeof(line) - 1 ? size * n : sizeof(line) - 1;

    memcpy(line, p, len);
    line[len] = '\0';
    copy_value(r->content_type, sizeof(r->content_type), line, "Content-Type");
    copy_value(r->cache_control, sizeof(r->cache_control), line,
               "Cache-Control");
    copy_value(r->allow, sizeof(r->allow), line, "Allow");
    copy_value(r->connection, sizeof(r->connection), line, "Connection");
    return size * n;
}

static pthread_key_t easy_key;
static pthread_once_t easy_once = PTHREAD_ONCE_INIT;

static void easy_free(void *easy)
{
    curl_easy_cleanup(easy);
}

static void easy_key_init(void)
{
    (void)pthread_key_create(&easy_key, easy_free);
}

/* One connection-reusing handle per thread, cleaned up when the thread
 * exits. */
static CURL *shared_easy(void)
{
    CURL *easy;

    (void)pthread_once(&easy_once, easy_key_init);
    easy = pthread_getspecific(easy_key);
    if (!easy) {
        easy = curl_easy_init();
        (void)pthread_setspecific(easy_key, easy);
    }
    return easy;
}

int http_do(int port, const char *path, const struct req *q, struct resp *r)
{
    static const struct req none;
    struct curl_slist *hdrs = NULL;
    char url[512];
    CURL *c;
    CURLcode rc;
    size_t i;

    q = q ? q : &none;
    memset(r, 0, sizeof(*r));
    c = q->fresh ? curl_easy_init() : shared_easy();
    if (!c)
        abort();
    snprintf(url, sizeof(url), "http://%s:%d%s",
             q->host ? q->host : "127.0.0.1", port, path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)SLOW(q->timeout_ms ? q->timeout_ms : 5000L));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (q->method && strcmp(q->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    if (q->body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    for (i = 0; q->headers && q->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, q->headers[i]);
    if (q->fresh)
        hdrs = curl_slist_append(hdrs, "Connection: close");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    {
        double t = 0;
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t);
        r->total_ms = t * 1000.0;
    }
    curl_slist_free_all(hdrs);
    if (q->fresh)
        curl_easy_cleanup(c);
    if (!r->body)
        r->body = calloc(1, 1);
    return (int)rc;
}

void http_get(int port, const char *path, struct resp *r)
{
    int rc = http_do(port, path, NULL, r);

    if (rc != 0) {
        fprintf(stderr, "GET %s on port %d failed: %s\n", path, port,
                curl_easy_strerror((CURLcode)rc));
        abort();
    }
}

void resp_free(struct resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static cJSON *json_find(struct resp *r, const char *path)
{
    char buf[256];
    char *save = NULL;
    char *tok;
    cJSON *j;

    if (!r->json) {
        r->json = cJSON_Parse(r->body);
        if (!r->json) {
            fprintf(stderr, "body is not JSON: %s\n", r->body);
            abort();
        }
    }
    j = r->json;
    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok && j;
         tok = strtok_r(NULL, ".", &save)) {
        if (cJSON_IsArray(j))
            j = cJSON_GetArrayItem(j, atoi(tok));
        else
            j = cJSON_GetObjectItemCaseSensitive(j, tok);
    }
    return j;
}

const char *json_str(struct resp *r, const char *path)
{
    cJSON *j = json_find(r, path);

    return cJSON_IsString(j) ? j->valuestring : NULL;
}

bool json_has(struct resp *r, const char *path)
{
    return json_find(r, path) != NULL;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (!d)
        abort();
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int test_threads(void)
{
    return count_dir("/proc/self/task");
}

int test_fds(void)
{
    return count_dir("/proc/self/fd") - 1; /* the DIR's own */
}

/* The name of thread @tid (a /proc/self/task entry) in @comm; false when
 * it exited meanwhile. */
static bool thread_comm(const char *tid, char comm[32])
{
    char path[300];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, comm, 31);
    close(fd);
    if (n <= 0)
        return false;
    comm[n] = '\0';
    if (comm[n - 1] == '\n')
        comm[n - 1] = '\0';
    return true;
}

long test_thread_tid(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long tid = 0;

    ASSERT_TRUE(d != NULL);
    while (!tid && (e = readdir(d))) {
        char comm[32];

        if (e->d_name[0] != '.' && thread_comm(e->d_name, comm) &&
            strcmp(comm, name) == 0)
            tid = atol(e->d_name);
    }
    closedir(d);
    return tid;
}

int test_threads_named(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    ASSERT_TRUE(d != NULL);
    while ((e = readdir(d))) {
        char comm[32];

        if (e->d_name[0] != '.' && thread_comm(e->d_name, comm) &&
            strncmp(comm, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = false;
    g->waiting = 0;
}

void gate_wait(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->waiting++;
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->waiting--;
    pthread_mutex_unlock(&g->lock);
}

void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

int gate_waiting(struct gate *g)
{
    int n;

    pthread_mutex_lock(&g->lock);
    n = g->waiting;
    pthread_mutex_unlock(&g->lock);
    return n;
}

health_t *test_server(const struct health_options *opts)
{
    struct health_options o = { 0 };
    health_t *h;

    if (opts)
        o = *opts;
    if (!o.port)
        o.port = HEALTH_PORT_EPHEMERAL;
    if (!o.bind_address)
        o.bind_address = "127.0.0.1";
    ASSERT_OK(health_create(&h, &o));
    ASSERT_OK(health_start(h));
    ASSERT_GT(health_port(h), 0);
    return h;
}

int test_netns_setup(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s: skipped\n",
                strerror(errno));
        return -1;
    }
    if (system("ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
               "ip -6 addr add 2001:db8::10/128 dev lo nodad") != 0) {
        fprintf(stderr, "ip: cannot configure the namespace: skipped\n");
        return -1;
    }
    return 0;
}
