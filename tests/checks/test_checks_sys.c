/* The disk, memory, fds and file checks against the real thing: a tmpfs
 * of known size (as root) and the file system the test runs on, the
 * process's own cgroup (a child cgroup with a limit, as root), its own
 * descriptors and RLIMIT_NOFILE, and real files with real mtimes.  The
 * cgroup v2 files, where the host has v1, are laid out as the kernel
 * writes them on a tmpfs, with /proc/self/cgroup and mountinfo bound over
 * in a mount namespace of the test's own. */
#include "checkutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024 * 1024)

static struct health_check mk(const char *name)
{
    struct health_check c = { .name = name,
                              .flags = HEALTH_CHECK_LIVE,
                              .timeout_ms = 1000,
                              .interval_ms = 50 };
    return c;
}

static void test_bad_arguments(health_t *h)
{
    struct health_check c = mk("bad");
    struct health_disk_limits l;
    const double bad[] = { -0.1, 1.5, NAN, INFINITY };
    size_t i;

    ASSERT_EQ(health_check_disk(h, &c, "/no/such/dir", NULL), -EINVAL);
    ASSERT_EQ(health_check_disk(h, &c, "", NULL), -EINVAL);
    ASSERT_EQ(health_check_disk(h, &c, NULL, NULL), -EINVAL);
    ASSERT_EQ(health_check_disk(NULL, &c, "/", NULL), -EINVAL);
    memset(&l, 0, sizeof(l));
    l.warn_free = 0.1;
    l.fail_free = 0.2; /* warn would come after fail */
    ASSERT_EQ(health_check_disk(h, &c, "/", &l), -EINVAL);
    memset(&l, 0, sizeof(l));
    l.fail_free = 1.0;
    ASSERT_EQ(health_check_disk(h, &c, "/", &l), -EINVAL);
    memset(&l, 0, sizeof(l));
    l.warn_free_bytes = 1;
    l.fail_free_bytes = 2;
    ASSERT_EQ(health_check_disk(h, &c, "/", &l), -EINVAL);
    memset(&l, 0, sizeof(l));
    l.warn_free_inodes = 0.1;
    l.fail_free_inodes = 0.5;
    ASSERT_EQ(health_check_disk(h, &c, "/", &l), -EINVAL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&l, 0, sizeof(l));
        l.fail_free_inodes = bad[i];
        ASSERT_EQ(health_check_disk(h, &c, "/", &l), -EINVAL);
        ASSERT_EQ(health_check_memory(h, &c, bad[i], 0), -EINVAL);
        ASSERT_EQ(health_check_memory(h, &c, 0, bad[i]), -EINVAL);
        ASSERT_EQ(health_check_fds(h, &c, bad[i], 0), -EINVAL);
        ASSERT_EQ(health_check_fds(h, &c, 0, bad[i]), -EINVAL);
    }
    ASSERT_EQ(health_check_memory(h, &c, 0.9, 0.5), -EINVAL);
    ASSERT_EQ(health_check_fds(h, &c, 0.9, 0.5), -EINVAL);
    ASSERT_EQ(health_check_memory(NULL, &c, 0, 0), -EINVAL);
    ASSERT_EQ(health_check_fds(h, NULL, 0, 0), -EINVAL);
    ASSERT_EQ(health_check_file(h, &c, NULL, 0), -EINVAL);
    ASSERT_EQ(health_check_file(h, &c, "", 0), -EINVAL);
    c.free_data = free;
    ASSERT_EQ(health_check_file(h, &c, "/x", 0), -EINVAL);
    c.free_data = NULL;

    /* Nothing was registered; a name taken is -EEXIST for every kind. */
    ASSERT_OK(health_check_fds(h, &c, 0.5, 0.5));
    ASSERT_EQ(health_check_memory(h, &c, 0, 0), -EEXIST);
    ASSERT_EQ(health_check_disk(h, &c, "/", NULL), -EEXIST);
    ASSERT_EQ(health_check_file(h, &c, "/x", 0), -EEXIST);
    ASSERT_EQ(health_check_fds(h, &c, 0, 0), -EEXIST);
    ASSERT_OK(health_unregister_check(h, "bad"));
}

static void fill_file(const char *path, size_t bytes)
{
    static char block[64 * 1024];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t n;

    ASSERT_GE(fd, 0);
    memset(block, 'x', sizeof(block));
    while (bytes > 0) {
        n = bytes < sizeof(block) ? bytes : sizeof(block);
        ASSERT_EQ(write(fd, block, n), (ssize_t)n);
        bytes -= n;
    }
    ASSERT_OK(close(fd));
}

/* A 1 MiB tmpfs with 64 inodes: space and inode rules, both ways. */
static void test_disk_tmpfs(health_t *h, int port)
{
    char dir[] = "/tmp/health-disk-XXXXXX";
    char path[128];
    struct health_check c = mk("disk");
    struct health_check cb = mk("diskbytes");
    struct health_check ci = mk("diskinodes");
    struct health_disk_limits space = { .warn_free = 0.5, .fail_free = 0.2 };
    struct health_disk_limits bytes = { .fail_free_bytes = 700 * 1024 };
    struct health_disk_limits inodes = { .warn_free_inodes = 0.6,
                                         .fail_free_inodes = 0.3 };
    struct seen s;
    int i;

    ASSERT_PTR_NE(mkdtemp(dir), NULL);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m,nr_inodes=64,mode=700") != 0) {
        printf("disk: no tmpfs (%s), real file system only\n", strerror(errno));
        rmdir(dir);
        return;
    }
    ASSERT_OK(health_check_disk(h, &c, dir, &space));
    ASSERT_OK(health_check_disk(h, &cb, dir, &bytes));
    ASSERT_OK(health_check_disk(h, &ci, dir, &inodes));
    wait_check(port, "disk", "pass", "1.0 MiB free of 1.0 MiB (100.0%)", 3000,
               &s);
    ASSERT_STR_EQ(s.unit, "percent");
    ASSERT_EQ((int)s.observed, 100);
    wait_check(port, "diskbytes", "pass", NULL, 3000, NULL);
    snprintf(path, sizeof(path), "%s/a", dir);
    fill_file(path, 600 * 1024);
    wait_check(port, "disk", "warn", "424.0 KiB free of 1.0 MiB (41.4%)", 3000,
               NULL);
    wait_check(port, "diskbytes", "fail", NULL, 3000, NULL);
    snprintf(path, sizeof(path), "%s/b", dir);
    fill_file(path, 300 * 1024);
    wait_check(port, "disk", "fail", "(12.1%)", 3000, NULL);
    ASSERT_OK(unlink(path));
    snprintf(path, sizeof(path), "%s/a", dir);
    ASSERT_OK(unlink(path));
    wait_check(port, "disk", "pass", "(100.0%)", 3000, NULL);
    wait_check(port, "diskbytes", "pass", NULL, 3000, NULL);

    wait_check(port, "diskinodes", "pass", "inodes free", 3000, NULL);
    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "%s/i%d", dir, i);
        fill_file(path, 0);
        if (i == 29)
            wait_check(port, "diskinodes", "warn", NULL, 3000, NULL);
    }
    wait_check(port, "diskinodes", "fail", NULL, 3000, NULL);
    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "%s/i%d", dir, i);
        ASSERT_OK(unlink(path));
    }
    wait_check(port, "diskinodes", "pass", NULL, 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "disk"));
    ASSERT_OK(health_unregister_check(h, "diskbytes"));
    ASSERT_OK(health_unregister_check(h, "diskinodes"));
    ASSERT_OK(umount(dir));
    ASSERT_OK(rmdir(dir));
}

/* The file system the test runs on, thresholds either side of what it
 * has free. */
static void test_disk_real(health_t *h, int port)
{
    struct statvfs st;
    double f;
    struct health_check pass = mk("diskreal");
    struct health_check fail = mk("diskrealfail");
    struct health_disk_limits lp = { 0 };
    struct health_disk_limits lf = { 0 };
    struct seen s;

    ASSERT_OK(statvfs(".", &st));
    f = (double)st.f_bavail / (double)st.f_blocks;
    if (f < 0.01 || f > 0.99) {
        printf("disk: %.3f free here, real thresholds skipped\n", f);
        return;
    }
    lp.fail_free = f / 2;
    lf.fail_free = (f + 1) / 2;
    ASSERT_OK(health_check_disk(h, &pass, ".", &lp));
    ASSERT_OK(health_check_disk(h, &fail, ".", &lf));
    wait_check(port, "diskreal", "pass", " free of ", 3000, &s);
    ASSERT_LT(fabs(s.observed - f * 100), 5);
    wait_check(port, "diskrealfail", "fail", " free of ", 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "diskreal"));
    ASSERT_OK(health_unregister_check(h, "diskrealfail"));
}

/* The process's memory as it is: thresholds either side of it. */
static void test_memory_real(health_t *h, int port)
{
    struct health_check c = mk("mem");
    struct health_check cf = mk("memfail");
    struct health_check cw = mk("memwarn");
    struct seen s;
    double frac;

    ASSERT_OK(health_check_memory(h, &c, 0, 0));
    wait_check(port, "mem", "pass", NULL, 3000, &s);
    ASSERT_TRUE(strstr(s.output, "limit (") ||
                strstr(s.output, "physical memory (")); /* cgroup or RSS */
    ASSERT_STR_EQ(s.unit, "percent");
    ASSERT_GT(s.observed * 1000, 0);
    printf("memory: %s\n", s.output);
    frac = s.observed / 100;
    ASSERT_OK(health_check_memory(h, &cf, 0, frac / 4));
    ASSERT_OK(health_check_memory(h, &cw, frac / 4, 1));
    wait_check(port, "memfail", "fail", NULL, 3000, NULL);
    wait_check(port, "memwarn", "warn", NULL, 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "mem"));
    ASSERT_OK(health_unregister_check(h, "memfail"));
    ASSERT_OK(health_unregister_check(h, "memwarn"));
}

static void *touch_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    ASSERT_TRUE(p != MAP_FAILED);
    memset(p, 1, bytes);
    return p;
}

/* In a child cgroup with a 256 MiB limit: pass, warn, fail as the child
 * maps memory, and pass again once it unmaps it. */
static int memory_child(const char *expect)
{
    health_t *h = test_server(NULL);
    int port = health_port(h);
    struct health_check c = mk("memcg");
    void *a;
    void *b;

    ASSERT_OK(health_check_memory(h, &c, 0.3, 0.6));
    wait_check(port, "memcg", "pass", expect, 5000, NULL);
    a = touch_map(100 * MiB);
    wait_check(port, "memcg", "warn", expect, 5000, NULL);
    b = touch_map(80 * MiB);
    wait_check(port, "memcg", "fail", expect, 5000, NULL);
    munmap(b, 80 * MiB);
    munmap(a, 100 * MiB);
    wait_check(port, "memcg", "pass", expect, 5000, NULL);
    health_destroy(h);
    return 0;
}

static bool write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    int fd;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* The directory of this process's memory cgroup (v1 memory hierarchy,
 * else v2) and its version. */
static int own_memory_cgroup(char *dir, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/self/cgroup", "re");
    int version = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        char *p = strrchr(line, ':');
        line[strcspn(line, "\n")] = '\0';
        if (strstr(line, ":memory:") && p) {
            snprintf(dir, size, "/sys/fs/cgroup/memory%s", p + 1);
            version = 1;
            break;
        }
        if (strncmp(line, "0::", 3) == 0 && p) {
            snprintf(dir, size, "/sys/fs/cgroup%s", p + 1);
            version = 2;
        }
    }
    fclose(f);
    return version;
}

static bool under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
    return true;
# endif
#endif
    return false;
}

/* Runs memory_child() in a new child cgroup.  Needs root and a writable
 * cgroup hierarchy; says why when it cannot. */
static void test_memory_cgroup(void)
{
    char parent[512];
    char dir[640];
    char expect[64];
    char pid[32];
    int version = own_memory_cgroup(parent, sizeof(parent));
    int status;
    pid_t child;

    if (test_time_scale() > 1 || under_tsan()) {
        /* Their shadow memory is charged to the cgroup too. */
        printf("memory cgroup: skipped under valgrind and TSan\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/health-test-%d", parent, (int)getpid());
    if (!version || mkdir(dir, 0755) != 0) {
        printf("memory cgroup: skipped (no writable cgroup: %s)\n",
               strerror(errno));
        return;
    }
    if (!write_file(dir, version == 1 ? "memory.limit_in_bytes" : "memory.max",
                    "268435456")) {
        printf("memory cgroup: skipped (no memory controller in %s)\n", dir);
        rmdir(dir);
        return;
    }
    snprintf(expect, sizeof(expect), "of 256.0 MiB limit");
    fflush(stdout);
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        if (!write_file(dir, "cgroup.procs", pid))
            _exit(3);
        _exit(memory_child(expect));
    }
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_OK(rmdir(dir));
    if (WIFSIGNALED(status))
        fprintf(stderr, "memory cgroup: child killed by signal %d\n",
                WTERMSIG(status));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    printf("memory cgroup: pass, warn, fail, pass in a v%d cgroup\n", version);
}

/* Writes @text to @path, creating it. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "we");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(fputs(text, f) >= 0, 1);
    ASSERT_OK(fclose(f));
}

/* A cgroup v2 directory with the memory files of a kernel's: @max is a
 * number or "max". */
static void v2_group(const char *dir, const char *max, unsigned current_mib,
                     unsigned inactive_file_mib)
{
    char text[256];

    ASSERT_TRUE(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(text, sizeof(text), "%s\n", max);
    put(dir, "memory.max", text);
    snprintf(text, sizeof(text), "%llu\n",
             (unsigned long long)current_mib * MiB);
    put(dir, "memory.current", text);
    snprintf(text, sizeof(text),
             "anon 1048576\nfile 2097152\nactive_anon 0\n"
             "inactive_anon 0\nactive_file 0\ninactive_file %llu\n"
             "unevictable 0\n",
             (unsigned long long)inactive_file_mib * MiB);
    put(dir, "memory.stat", text);
}

/* Binds the file @dir/@name over /proc/self/@proc_name.  The type is
 * ignored for a bind mount; valgrind wants one all the same. */
static bool bind_proc(const char *dir, const char *name, const char *proc_name)
{
    char src[512];
    char dst[128];

    snprintf(src, sizeof(src), "%s/%s", dir, name);
    snprintf(dst, sizeof(dst), "/proc/%d/%s", (int)getpid(), proc_name);
    return mount(src, dst, "none", MS_BIND, NULL) == 0;
}

/* Makes /proc/self/cgroup say this process is in @own of the unified
 * hierarchy, and mountinfo that the hierarchy is mounted at @t with its
 * root at @mroot.  False without the privilege to. */
static bool fake_proc(const char *t, const char *mroot, const char *own)
{
    char text[1024];

    snprintf(text, sizeof(text), "0::%s\n", own);
    put(t, "cgroup", text);
    snprintf(text, sizeof(text),
             "30 20 0:26 %s %s rw,nosuid,nodev,noexec,relatime shared:4 - "
             "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
             mroot, t);
    put(t, "mountinfo", text);
    return bind_proc(t, "cgroup", "cgroup") &&
           bind_proc(t, "mountinfo", "mountinfo");
}

/* A server in the child with the memory check "memv2": warn at half the
 * limit, fail at 90 %. */
static health_t *memv2_server(int *port)
{
    health_t *h = test_server(NULL);
    struct health_check c = mk("memv2");

    *port = health_port(h);
    ASSERT_OK(health_check_memory(h, &c, 0.5, 0.9));
    return h;
}

/* In the child, as in a container with a cgroup namespace of its own
 * (Kubernetes' default on v2): the process's cgroup is the root of the
 * hierarchy it sees, "0::/", and the limit is in the mount's top. */
static int memory_v2_ns_child(const char *t)
{
    health_t *h;
    int port;

    v2_group(t, "134217728", 100, 20); /* 80 of 128 MiB: 62.5 % */
    if (!fake_proc(t, "/", "/"))
        return 77;
    h = memv2_server(&port);
    wait_check(port, "memv2", "warn",
               "working set 80.0 MiB of 128.0 MiB limit (62.5%, cgroup v2)",
               5000, NULL);
    v2_group(t, "134217728", 130, 10);
    wait_check(port, "memv2", "fail", "working set 120.0 MiB of 128.0 MiB",
               5000, NULL);
    v2_group(t, "max", 130, 10);
    wait_check(port, "memv2", "pass", "no cgroup limit", 5000, NULL);
    health_destroy(h);
    return 0;
}

/* In the child: the unified hierarchy mounted at @t with its root at
 * @mroot (a cgroup namespace or a bind mount shows a subtree), this
 * process in /kubepods/pod1/ctr. */
static int memory_v2_child(const char *t, const char *mroot)
{
    char dir[512];
    char pod[600];
    char ctr[700];
    health_t *h;
    struct seen s;
    int port;
    const char *base = strcmp(mroot, "/") == 0 ? "/kubepods" : "";

    /* The hierarchy as the mount shows it. */
    snprintf(dir, sizeof(dir), "%s%s", t, base);
    v2_group(dir, "max", 900, 0);
    snprintf(pod, sizeof(pod), "%s/pod1", dir);
    v2_group(pod, "268435456", 200, 0); /* 200 of 256 MiB: 78 % */
    snprintf(ctr, sizeof(ctr), "%s/ctr", pod);
    v2_group(ctr, "max", 120, 20);
    if (!fake_proc(t, mroot, "/kubepods/pod1/ctr"))
        return 77;
    h = memv2_server(&port);
    /* The fullest of the process's cgroup and its ancestors. */
    wait_check(port, "memv2", "warn",
               "working set 200.0 MiB of 256.0 MiB limit (78.1%, cgroup v2)",
               5000, &s);
    ASSERT_TRUE(fabs(s.observed - 78.125) < 0.01);
    /* Page cache that can be reclaimed is not the working set. */
    v2_group(pod, "268435456", 255, 20); /* 235 of 256 MiB */
    wait_check(port, "memv2", "fail", "working set 235.0 MiB of 256.0 MiB",
               5000, NULL);
    /* A limit on the container itself, tighter in proportion. */
    v2_group(ctr, "134217728", 120, 20); /* 100 of 128 MiB */
    v2_group(pod, "268435456", 100, 0);
    wait_check(port, "memv2", "warn", "working set 100.0 MiB of 128.0 MiB",
               5000, NULL);
    v2_group(pod, "268435456", 30, 0);
    v2_group(ctr, "134217728", 20, 0);
    wait_check(port, "memv2", "pass", "working set 20.0 MiB of 128.0 MiB", 5000,
               NULL);
    /* No limit anywhere: the process's RSS against physical memory. */
    v2_group(ctr, "max", 40, 0);
    v2_group(pod, "max", 100, 0);
    wait_check(port, "memv2", "pass", "no cgroup limit", 5000, NULL);
    health_destroy(h);
    return 0;
}

/* The cgroup v2 path of the memory check, where the host may have v1:
 * in a mount namespace of its own, a child sees a unified hierarchy laid
 * out on a tmpfs and /proc/self/cgroup and mountinfo that point at it.
 * Three times: mounted at its root, showing a subtree (a bind mount),
 * and in a cgroup namespace where the process's cgroup is the root. */
static void test_memory_cgroup_v2(void)
{
    static const char *const cases[] = { "root /", "root /kubepods",
                                         "cgroup namespace" };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char t[] = "/tmp/health-cgroup2-XXXXXX";
        int status;
        pid_t child;

        ASSERT_PTR_NE(mkdtemp(t), NULL);
        fflush(stdout);
        child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            if (unshare(CLONE_NEWNS) != 0 ||
                mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
                mount("tmpfs", t, "tmpfs", 0, "size=1m") != 0)
                _exit(77);
            _exit(i == 2 ? memory_v2_ns_child(t)
                         : memory_v2_child(t, i == 0 ? "/" : "/kubepods"));
        }
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_OK(rmdir(t));
        ASSERT_TRUE(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) {
            printf("memory cgroup v2: skipped (needs root: a mount "
                   "namespace and bind mounts over /proc)\n");
            return;
        }
        ASSERT_EQ(WEXITSTATUS(status), 0);
        printf("memory cgroup v2 (%s): pass, warn and fail as the files "
               "say\n",
               cases[i]);
    }
}

static void test_fd_count(health_t *h, int port)
{
    struct rlimit old;
    struct rlimit rl;
    struct health_check c = mk("fds");
    int fds[256];
    int n = 0;
    int base = test_fds();
    struct seen s;

    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old));
    if (old.rlim_max < 256 || base > 60) {
        printf("fds: skipped (hard limit %llu, %d open)\n",
               (unsigned long long)old.rlim_max, base);
        return;
    }
    rl = old;
    rl.rlim_cur = 256;
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    ASSERT_OK(health_check_fds(h, &c, 0.5, 0.75));
    wait_check(port, "fds", "pass", "of 256 file descriptors open", 3000, &s);
    ASSERT_STR_EQ(s.unit, "percent");
    ASSERT_LT(fabs(s.observed - base * 100.0 / 256), 5);
    while (test_fds() < 140)
        fds[n++] = dup(0);
    wait_check(port, "fds", "warn", NULL, 3000, NULL);
    while (test_fds() < 205)
        fds[n++] = dup(0);
    wait_check(port, "fds", "fail", NULL, 3000, NULL);
    while (n > 0)
        close(fds[--n]);
    wait_check(port, "fds", "pass", NULL, 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "fds"));
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old));
}

static void set_age(const char *path, int seconds)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds;
    ts[1] = ts[0];
    ASSERT_OK(utimensat(AT_FDCWD, path, ts, 0));
}

static void test_file(health_t *h, int port)
{
    char dir[] = "/tmp/health-file-XXXXXX";
    char path[128];
    struct health_check c = mk("marker");
    struct health_check any = mk("exists");
    struct seen s;

    ASSERT_PTR_NE(mkdtemp(dir), NULL);
    snprintf(path, sizeof(path), "%s/last-success", dir);
    ASSERT_OK(health_check_file(h, &c, path, 2000));
    ASSERT_OK(health_check_file(h, &any, path, 0));
    wait_check(port, "marker", "fail", "last-success: missing", 3000, NULL);
    wait_check(port, "exists", "fail", "missing", 3000, NULL);
    fill_file(path, 1);
    wait_check(port, "marker", "pass", "last-success: modified 0.", 3000, &s);
    ASSERT_STR_EQ(s.unit, "s");
    ASSERT_LT(s.observed, 2);
    set_age(path, 10);
    wait_check(port, "marker", "fail", "more than 2.0 s", 3000, &s);
    ASSERT_GE(s.observed, 10);
    wait_check(port, "exists", "pass", "modified 1", 3000, NULL);
    set_age(path, 0);
    wait_check(port, "marker", "pass", NULL, 3000, NULL);
    ASSERT_OK(unlink(path));
    wait_check(port, "marker", "fail", "missing", 3000, NULL);
    ASSERT_OK(health_unregister_check(h, "marker"));
    ASSERT_OK(health_unregister_check(h, "exists"));
    ASSERT_OK(rmdir(dir));
}

int main(void)
{
    health_t *h;
    int port;

    /* First, while the process has one thread: the test forks. */
    test_memory_cgroup();
    test_memory_cgroup_v2();
    h = test_server(NULL);
    port = health_port(h);
    test_bad_arguments(h);
    test_disk_tmpfs(h, port);
    test_disk_real(h, port);
    test_memory_real(h, port);
    test_fd_count(h, port);
    test_file(h, port);
    /* The checks feed /live. */
    expect_status(port, "/live", 200);
    health_destroy(h);
    printf("checks-sys: 8 passed, 0 failed\n");
    return 0;
}
