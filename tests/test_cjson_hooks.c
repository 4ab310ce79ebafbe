/* cJSON's global hooks belong to the host.  A service that also uses cJSON
 * may call cJSON_InitHooks() at any time after health_start(), to install
 * its own allocator or to go back to malloc: no body the library keeps
 * (cached responses, bodies still being sent) may come from one allocator
 * and go back to another.
 *
 * The hooks installed here put a magic header in front of every block and
 * abort when asked to free a block without it; a block of theirs freed
 * with free() is an invalid free (glibc aborts, ASan and valgrind report
 * it).  Between requests, no block of theirs may be live: whatever the
 * library keeps across calls is its own. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>

#define MAGIC UINT64_C(0x686f6f6b6564626b)

/* 16 bytes, so the block after it keeps malloc's alignment. */
struct header {
    uint64_t magic;
    uint64_t size;
};

static atomic_long hook_live;   /* blocks from hook_malloc not yet freed */
static atomic_long hook_allocs; /* every hook_malloc */

static void *hook_malloc(size_t size)
{
    struct header *p = malloc(sizeof(*p) + size);

    if (!p)
        return NULL;
    p->magic = MAGIC;
    p->size = size;
    atomic_fetch_add(&hook_live, 1);
    atomic_fetch_add(&hook_allocs, 1);
    return p + 1;
}

static void hook_free(void *ptr)
{
    struct header *p;

    if (!ptr)
        return;
    p = (struct header *)ptr - 1;
    if (p->magic != MAGIC) {
        fprintf(stderr,
                "cJSON hooks: asked to free %p, which they did not "
                "allocate\n",
                ptr);
        abort();
    }
    p->magic = 0;
    atomic_fetch_sub(&hook_live, 1);
    free(p);
}

static void hooks_install(void)
{
    cJSON_Hooks hooks = { .malloc_fn = hook_malloc, .free_fn = hook_free };

    cJSON_InitHooks(&hooks);
}

static health_status_t pass(health_result_t *r, void *ud)
{
    (void)ud;
    health_result_setf(r, "all good");
    return HEALTH_PASS;
}

static void register_check(health_t *h, const char *name, unsigned flags)
{
    struct health_check c = { .name = name, .flags = flags, .run = pass };

    ASSERT_OK(health_register_check(h, &c, NULL));
}

/* GETs @path (as JSON, or as text) and expects @name among the checks. */
static void serve(int port, const char *path, bool text, const char *name)
{
    static const char *const accept_text[] = { "Accept: text/plain", NULL };
    struct req q = { .headers = text ? accept_text : NULL };
    struct resp r;

    ASSERT_OK(http_do(port, path, &q, &r));
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, name);
    resp_free(&r);
}

/* Every cached endpoint, the text form and a per-check path; then the
 * library holds no block of the hooks. */
static void serve_all(int port, const char *name)
{
    char path[128];

    serve(port, "/health", false, name);
    serve(port, "/health", false, name); /* from the cache */
    serve(port, "/ready", false, name);
    serve(port, "/live", false, "pass");
    serve(port, "/started", false, "pass");
    serve(port, "/health?verbose", true, name);
    snprintf(path, sizeof(path), "/health/%s", name);
    serve(port, path, false, name);
    ASSERT_EQ(atomic_load(&hook_live), 0);
}

/* Whether /health shows @name passing (and so caches that body). */
static bool passing(int port, const char *name)
{
    char want[128];
    struct resp r;
    bool ok;

    snprintf(want, sizeof(want), "\"%s\":[{\"status\":\"pass\"", name);
    http_get(port, "/health", &r);
    ok = r.status == 200 && strstr(r.body, want);
    resp_free(&r);
    return ok;
}

static void test_hooks_after_start(void)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);
    long allocs;

    /* Bodies cached under cJSON's default allocator. */
    register_check(h, "before", HEALTH_CHECK_READY | HEALTH_CHECK_LIVE);
    WAIT_UNTIL(passing(port, "before"), 5000);
    serve_all(port, "before");

    /* The host installs its own allocator: the cached bodies are still
     * served, then replaced (freed) once the state changes. */
    hooks_install();
    allocs = atomic_load(&hook_allocs);
    serve(port, "/health", false, "before");
    register_check(h, "during", HEALTH_CHECK_READY);
    WAIT_UNTIL(passing(port, "during"), 5000);
    serve_all(port, "during");
    /* Reports are written without cJSON: nothing came from the hooks. */
    ASSERT_EQ(atomic_load(&hook_allocs), allocs);

    /* Back to malloc while bodies rendered under the hooks are cached. */
    cJSON_InitHooks(NULL);
    register_check(h, "after", HEALTH_CHECK_READY);
    WAIT_UNTIL(passing(port, "after"), 5000);
    serve_all(port, "after");

    /* Stop and destroy free the cache under the host's hooks again. */
    hooks_install();
    ASSERT_OK(health_stop(h));
    health_destroy(h);
    ASSERT_EQ(atomic_load(&hook_live), 0);
    cJSON_InitHooks(NULL);
}

int main(void)
{
    test_hooks_after_start();
    printf("cjson_hooks: 1 passed, 0 failed\n");
    return 0;
}
