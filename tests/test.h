/* Assertions and helpers shared by the test programs.  Every assertion
 * prints file, line and both values, then aborts. */
#ifndef HEALTH_TEST_H
#define HEALTH_TEST_H

#include <health/health.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_BASE(a, op, b, type, fmt)                                  \
 do {                                                                     \
  type const eval_a_ = (a);                                               \
  type const eval_b_ = (b);                                               \
  if (!(eval_a_ op eval_b_)) {                                            \
   fprintf(stderr,                                                        \
           "%s:%d: assertion `%s %s %s' failed (%" fmt " vs %" fmt ")\n", \
           __FILE__, __LINE__, #a, #op, #b, eval_a_, eval_b_);            \
   abort();                                                               \
  }                                                                       \
 } while (0)

#define ASSERT_EQ(a, b) ASSERT_BASE(a, ==, b, int64_t, PRId64)
#define ASSERT_NE(a, b) ASSERT_BASE(a, !=, b, int64_t, PRId64)
#define ASSERT_LT(a, b) ASSERT_BASE(a, <, b, int64_t, PRId64)
#define ASSERT_LE(a, b) ASSERT_BASE(a, <=, b, int64_t, PRId64)
#define ASSERT_GT(a, b) ASSERT_BASE(a, >, b, int64_t, PRId64)
#define ASSERT_GE(a, b) ASSERT_BASE(a, >=, b, int64_t, PRId64)
#define ASSERT_OK(a) ASSERT_EQ(a, 0)
#define ASSERT_TRUE(a) ASSERT_NE(!!(a), 0)
#define ASSERT_FALSE(a) ASSERT_EQ(!!(a), 0)
#define ASSERT_PTR_NE(a, b) ASSERT_BASE(a, !=, b, const void *, "p")

#define ASSERT_STR_EQ(a, b)                                           \
 do {                                                                 \
  const char *sa_ = (a);                                              \
  const char *sb_ = (b);                                              \
  if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                        \
   fprintf(stderr, "%s:%d: `%s' == `%s' failed (\"%s\" vs \"%s\")\n", \
           __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)",          \
           sb_ ? sb_ : "(null)");                                     \
   abort();                                                           \
  }                                                                   \
 } while (0)

#define ASSERT_CONTAINS(hay, needle)                                    \
 do {                                                                   \
  const char *h_ = (hay);                                               \
  const char *n_ = (needle);                                            \
  if (!h_ || !strstr(h_, n_)) {                                         \
   fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, \
           __LINE__, h_ ? h_ : "(null)", n_);                           \
   abort();                                                             \
  }                                                                     \
 } while (0)

/* A time bound in ms, stretched by $HEALTH_TEST_TIME_SCALE (valgrind runs
 * everything 10 to 50 times slower). */
#define SLOW(ms) ((int64_t)(ms)*test_time_scale())

/* Waits for a condition, re-evaluated every 2 ms, for at most @ms. */
#define WAIT_UNTIL(cond, ms)                                                   \
 do {                                                                          \
  int64_t wait_deadline_ = test_now_ms() + SLOW(ms);                           \
  while (!(cond)) {                                                            \
   if (test_now_ms() > wait_deadline_) {                                       \
    fprintf(stderr, "%s:%d: timed out after %d ms waiting for %s\n", __FILE__, \
            __LINE__, (int)(ms), #cond);                                       \
    abort();                                                                   \
   }                                                                           \
   test_backoff();                                                             \
  }                                                                            \
 } while (0)

/* One HTTP exchange as a client sees it. */
struct resp {
    long status; /* 0: no response (refused, timed out) */
    char *body;  /* NUL-terminated, may be empty */
    size_t len;
    char content_type[128];
    char cache_control[64];
    char allow[64];
    char connection[64];
    double total_ms;
    long connects; /* new connections made for this request */
    void *json;    /* parsed body, for json_str() */
};

/* Request options; zero means defaults (GET, 127.0.0.1, 5 s). */
struct req {
    const char *method;
    const char *host; /* "127.0.0.1", "[::1]", ... */
    const char *const *headers;
    long timeout_ms;
    bool fresh;       /* a new connection, Connection: close */
    const char *body; /* a request body, sent with any method */
};

int64_t test_now_ms(void);
int64_t test_time_scale(void);
void test_backoff(void);
/* The status of a GET of @path. */
long http_status(int port, const char *path);
/* GETs @path and aborts, printing the body, unless the status is @code. */
void expect_status(int port, const char *path, long code);

/* A GET of http://127.0.0.1:port/path; aborts on a transport error. */
void http_get(int port, const char *path, struct resp *r);
/* The general form; returns the curl code (0 ok). */
int http_do(int port, const char *path, const struct req *q, struct resp *r);
void resp_free(struct resp *r);

/* Parses r->body as JSON and returns the string at a dotted path
 * ("status", "checks.db.0.output"); NULL when absent.  Aborts when the
 * body is not valid JSON.  The result stays valid until resp_free. */
const char *json_str(struct resp *r, const char *path);
bool json_has(struct resp *r, const char *path);

/* Threads in this process. */
int test_threads(void);
/* Open file descriptors in this process. */
int test_fds(void);
/* The id of this process's thread named @name (as /proc/self/task/N/comm
 * says), or 0 when there is none. */
long test_thread_tid(const char *name);
/* How many of this process's threads have a name beginning with @prefix. */
int test_threads_named(const char *prefix);

/* A gate a check callback can block on until the test opens it. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int waiting;
};
void gate_init(struct gate *g);
void gate_wait(struct gate *g);
void gate_open(struct gate *g);
int gate_waiting(struct gate *g);

/* Moves this process into a network namespace of its own with lo up and
 * the remote addresses 192.0.2.10 and 2001:db8::10 on it; -1 (with a
 * "skipped" message) where that cannot be done. */
int test_netns_setup(void);

/* A handle on an ephemeral loopback port, started; aborts on failure. */
health_t *test_server(const struct health_options *opts);

#endif
