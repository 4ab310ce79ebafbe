/* SPDX-License-Identifier: MIT */
/* Ready-made checks of the process and its host: disk, memory, fds and
 * file.  Each run reads a few small files or calls statvfs()/stat(); a
 * file system that hangs (a dead NFS server) holds the check's thread and
 * is reported by the runner's timeout. */
#include "checks-internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* Cgroups looked at, from the process's own up to the hierarchy's root. */
#define CGROUP_DEPTH 32
/* A v1 "no limit" is a page-rounded LONG_MAX. */
#define NO_LIMIT (UINT64_C(1) << 62)

/* The text of @err in @buf (96 bytes). */
static const char *err_text(int err, char *buf)
{
    if (strerror_r(err, buf, 96) != 0)
        (void)snprintf(buf, 96, "error %d", err);
    return buf;
}

/* Fail if a fail rule holds, else warn if a warn rule does. */
static health_status_t worst(bool fail, bool warn)
{
    return fail ? HEALTH_FAIL : warn ? HEALTH_WARN : HEALTH_PASS;
}

/* Whether a used fraction @frac crosses the threshold @limit (0: off). */
static bool over(double frac, double limit)
{
    return limit > 0 && frac >= limit;
}

/* Whether a free fraction or amount @v is below the threshold @limit. */
static bool under(double v, double limit)
{
    return limit > 0 && v < limit;
}

/* Thresholds on a used fraction: each in [0, 1], warn not above fail. */
static bool used_limits_ok(double warn, double fail)
{
    return health__checks_fraction_ok(warn) &&
           health__checks_fraction_ok(fail) &&
           !(warn > 0 && fail > 0 && warn > fail);
}

/* Thresholds on a free fraction: each in [0, 1), warn not below fail. */
static bool free_limits_ok(double warn, double fail)
{
    return health__checks_fraction_ok(warn) &&
           health__checks_fraction_ok(fail) && warn < 1.0 && fail < 1.0 &&
           !(warn > 0 && fail > 0 && warn < fail);
}

/* ---- disk --------------------------------------------------------------- */

struct disk_state {
    struct health_disk_limits lim;
    char path[];
};

static health_status_t disk_status(const struct disk_state *s, double frac,
                                   uint64_t avail, double ifrac, bool inodes)
{
    const struct health_disk_limits *l = &s->lim;
    bool fail = under(frac, l->fail_free) ||
                (l->fail_free_bytes && avail < l->fail_free_bytes) ||
                (inodes && under(ifrac, l->fail_free_inodes));
    bool warn = under(frac, l->warn_free) ||
                (l->warn_free_bytes && avail < l->warn_free_bytes) ||
                (inodes && under(ifrac, l->warn_free_inodes));

    return worst(fail, warn);
}

static health_status_t disk_run(health_result_t *result, void *userdata)
{
    const struct disk_state *s = userdata;
    struct statvfs st;
    char free_text[32];
    char size_text[32];
    char buf[96];
    uint64_t size;
    uint64_t avail;
    double frac;
    double ifrac = 1.0;
    bool inodes;

    if (statvfs(s->path, &st) != 0) {
        health_result_setf(result, "%s: %s", s->path, err_text(errno, buf));
        return HEALTH_FAIL;
    }
    size = (uint64_t)st.f_blocks * st.f_frsize;
    avail = (uint64_t)st.f_bavail * st.f_frsize;
    frac = size ? (double)avail / (double)size : 1.0;
    inodes = st.f_files > 0;
    if (inodes)
        ifrac = (double)st.f_favail / (double)st.f_files;
    health__checks_format_bytes(avail, free_text, sizeof(free_text));
    health__checks_format_bytes(size, size_text, sizeof(size_text));
    if (inodes)
        health_result_setf(result,
                           "%s free of %s (%.1f%%), %llu inodes free (%.1f%%)",
                           free_text, size_text, frac * 100,
                           (unsigned long long)st.f_favail, ifrac * 100);
    else
        health_result_setf(result, "%s free of %s (%.1f%%)", free_text,
                           size_text, frac * 100);
    health_result_set_observed(result, frac * 100, "percent");
    return disk_status(s, frac, avail, ifrac, inodes);
}

static bool disk_limits_ok(const struct health_disk_limits *l)
{
    return free_limits_ok(l->warn_free, l->fail_free) &&
           free_limits_ok(l->warn_free_inodes, l->fail_free_inodes) &&
           !(l->warn_free_bytes && l->fail_free_bytes &&
             l->warn_free_bytes < l->fail_free_bytes);
}

int health_check_disk(health_t *h, const struct health_check *check,
                      const char *path, const struct health_disk_limits *limits)
{
    static const struct health_disk_limits none;
    struct disk_state *s;
    struct statvfs st;
    size_t len;
    int r;

    if (!health__checks_usable(h, check) || !path || !path[0] ||
        (limits && !disk_limits_ok(limits)))
        return -EINVAL;
    if (statvfs(path, &st) != 0)
        return -EINVAL;
    len = strlen(path);
    s = calloc(1, sizeof(*s) + len + 1);
    if (!s)
        return -ENOMEM;
    s->lim = limits ? *limits : none;
    memcpy(s->path, path, len + 1);
    r = health__checks_register(h, check, disk_run, free, s);
    if (r < 0)
        free(s);
    return r;
}

/* ---- memory ------------------------------------------------------------- */

struct memory_state {
    double warn;
    double fail;
    int version;   /* 1 or 2; 0: no cgroup found */
    size_t n_dirs; /* cgroup directories, the process's own first */
    char *dirs[CGROUP_DEPTH];
};

static void memory_free(void *userdata)
{
    struct memory_state *s = userdata;
    size_t i;

    for (i = 0; i < s->n_dirs; i++)
        free(s->dirs[i]);
    free(s);
}

/* Reads the first number in the file @dir/@name; "max" is NO_LIMIT.
 * Returns false when the file cannot be read. */
static bool read_u64(const char *dir, const char *name, uint64_t *v)
{
    char path[PATH_MAX];
    char buf[64];
    FILE *f;
    bool ok;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "re");
    if (!f)
        return false;
    ok = fgets(buf, sizeof(buf), f) != NULL;
    (void)fclose(f);
    if (ok && strncmp(buf, "max", 3) == 0)
        *v = NO_LIMIT;
    else if (ok)
        ok = sscanf(buf, "%llu", (unsigned long long *)v) == 1;
    return ok;
}

/* The value of the line "@key N" in @path (or in @dir/@path), or 0. */
static uint64_t read_keyed(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX];
    char line[256];
    size_t klen = strlen(key);
    unsigned long long v = 0;
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s%s%s", dir ? dir : "", dir ? "/" : "",
                   file);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ' &&
            sscanf(line + klen + 1, "%llu", &v) == 1)
            break;
    (void)fclose(f);
    return (uint64_t)v;
}

/* The working set and limit of the cgroup @dir; false without a limit. */
static bool cgroup_usage(const struct memory_state *s, const char *dir,
                         uint64_t *used, uint64_t *limit)
{
    bool v2 = s->version == 2;
    uint64_t usage;
    uint64_t inactive;

    if (!read_u64(dir, v2 ? "memory.max" : "memory.limit_in_bytes", limit) ||
        *limit >= NO_LIMIT || *limit == 0)
        return false;
    if (!read_u64(dir, v2 ? "memory.current" : "memory.usage_in_bytes", &usage))
        return false;
    inactive = read_keyed(dir, "memory.stat",
                          v2 ? "inactive_file" : "total_inactive_file");
    *used = usage > inactive ? usage - inactive : 0;
    return true;
}

static health_status_t memory_report(const struct memory_state *s,
                                     health_result_t *result, uint64_t used,
                                     uint64_t total, bool cgroup)
{
    char used_text[32];
    char total_text[32];
    double frac = (double)used / (double)total;

    health__checks_format_bytes(used, used_text, sizeof(used_text));
    health__checks_format_bytes(total, total_text, sizeof(total_text));
    if (cgroup)
        health_result_setf(result,
                           "working set %s of %s limit (%.1f%%, cgroup v%d)",
                           used_text, total_text, frac * 100, s->version);
    else
        health_result_setf(result,
                           "RSS %s of %s physical memory (%.1f%%, no cgroup "
                           "limit)",
                           used_text, total_text, frac * 100);
    health_result_set_observed(result, frac * 100, "percent");
    return worst(over(frac, s->fail), over(frac, s->warn));
}

static health_status_t memory_run(health_result_t *result, void *userdata)
{
    const struct memory_state *s = userdata;
    uint64_t used;
    uint64_t limit;
    uint64_t best_used = 0;
    uint64_t best_limit = 0;
    unsigned long long pages = 0;
    FILE *f;
    size_t i;

    for (i = 0; i < s->n_dirs; i++) {
        if (!cgroup_usage(s, s->dirs[i], &used, &limit))
            continue;
        if (!best_limit || (double)used / (double)limit >
                               (double)best_used / (double)best_limit) {
            best_used = used;
            best_limit = limit;
        }
    }
    if (best_limit)
        return memory_report(s, result, best_used, best_limit, true);
    f = fopen("/proc/self/statm", "re");
    if (f && fscanf(f, "%*u %llu", &pages) != 1)
        pages = 0;
    if (f)
        (void)fclose(f);
    limit = read_keyed(NULL, "/proc/meminfo", "MemTotal:") * 1024;
    if (!pages || !limit) {
        health_result_setf(result, "cannot read /proc/self/statm or "
                                   "/proc/meminfo");
        return HEALTH_FAIL;
    }
    used = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
    return memory_report(s, result, used, limit, false);
}

/* The cgroup path of the process for @version (1: the memory controller's
 * hierarchy), from /proc/self/cgroup, into @path. */
static bool own_cgroup(int version, char *path, size_t size)
{
    char line[PATH_MAX + 64];
    bool found = false;
    char *ctl;
    char *p;
    FILE *f = fopen("/proc/self/cgroup", "re");

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        ctl = strchr(line, ':');
        p = ctl ? strchr(ctl + 1, ':') : NULL;
        if (!p)
            continue;
        *p++ = '\0';
        *ctl++ = '\0';
        if (version == 2)
            found = strcmp(line, "0") == 0 && ctl[0] == '\0';
        else
            found = strcmp(ctl, "memory") == 0 ||
                    strncmp(ctl, "memory,", 7) == 0 || strstr(ctl, ",memory");
        if (found)
            (void)snprintf(path, size, "%s", p);
    }
    (void)fclose(f);
    return found;
}

/* Finds the mount of the @version hierarchy: its mount point and the
 * cgroup path at its root (not "/" inside a cgroup namespace or a bind
 * mount). */
static bool cgroup_mount(int version, char *point, char *root, size_t size)
{
    char line[2 * PATH_MAX];
    char mroot[PATH_MAX];
    char mpoint[PATH_MAX];
    char type[64];
    char opts[256];
    bool found = false;
    char *sep;
    FILE *f = fopen("/proc/self/mountinfo", "re");

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        sep = strstr(line, " - ");
        if (!sep ||
            sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, mpoint) != 2 ||
            sscanf(sep + 3, "%63s %*s %255s", type, opts) != 2)
            continue;
        if (version == 2)
            found = strcmp(type, "cgroup2") == 0;
        else
            found =
                strcmp(type, "cgroup") == 0 &&
                (strstr(opts, ",memory") || strncmp(opts, "memory", 6) == 0);
    }
    (void)fclose(f);
    if (found) {
        (void)snprintf(point, size, "%s", mpoint);
        (void)snprintf(root, size, "%s", mroot);
    }
    return found;
}

/* Lists the directories of the process's cgroup and its ancestors. */
static int memory_find(struct memory_state *s, int version)
{
    char cg[PATH_MAX];
    char point[PATH_MAX];
    char root[PATH_MAX];
    char dir[2 * PATH_MAX];
    size_t rlen;
    char *slash;

    if (!own_cgroup(version, cg, sizeof(cg)) ||
        !cgroup_mount(version, point, root, sizeof(point)))
        return 0;
    rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (rlen && (strncmp(cg, root, rlen) != 0 || (cg[rlen] && cg[rlen] != '/')))
        return 0;
    (void)snprintf(dir, sizeof(dir), "%s%s", point, cg + rlen);
    s->version = version;
    for (;;) {
        slash = strrchr(dir, '/');
        if (slash && slash[1] == '\0' && slash > dir) {
            *slash = '\0'; /* a trailing slash: the hierarchy's root */
            continue;
        }
        s->dirs[s->n_dirs] = strdup(dir);
        if (!s->dirs[s->n_dirs])
            return -ENOMEM;
        s->n_dirs++;
        if (strlen(dir) <= strlen(point) || s->n_dirs == CGROUP_DEPTH || !slash)
            return 0;
        *slash = '\0';
    }
}

int health_check_memory(health_t *h, const struct health_check *check,
                        double warn, double fail)
{
    struct memory_state *s;
    int r;

    if (!health__checks_usable(h, check) || !used_limits_ok(warn, fail))
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->warn = warn;
    s->fail = fail;
    /* The memory controller's v1 hierarchy, where the host has one, does
     * the accounting; otherwise the unified one. */
    r = memory_find(s, 1);
    if (r == 0 && s->n_dirs == 0)
        r = memory_find(s, 2);
    if (r == 0)
        r = health__checks_register(h, check, memory_run, memory_free, s);
    if (r < 0)
        memory_free(s);
    return r;
}

/* ---- fds ---------------------------------------------------------------- */

struct fds_state {
    double warn;
    double fail;
};

/* Open descriptors, not counting the one used to count them; -1 when
 * neither /proc/self/fd nor /dev/fd can be read. */
static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = -1;

    if (!d)
        d = opendir("/dev/fd");
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    (void)closedir(d);
    return n;
}

static health_status_t fds_run(health_result_t *result, void *userdata)
{
    const struct fds_state *s = userdata;
    struct rlimit rl;
    char buf[96];
    long n = count_fds();
    double frac;

    if (n < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        health_result_setf(result, "cannot count file descriptors: %s",
                           err_text(errno, buf));
        return HEALTH_FAIL;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur == 0) {
        health_result_setf(result, "%ld file descriptors open (no limit)", n);
        return HEALTH_PASS;
    }
    frac = (double)n / (double)rl.rlim_cur;
    health_result_setf(result, "%ld of %llu file descriptors open (%.1f%%)", n,
                       (unsigned long long)rl.rlim_cur, frac * 100);
    health_result_set_observed(result, frac * 100, "percent");
    return worst(over(frac, s->fail), over(frac, s->warn));
}

int health_check_fds(health_t *h, const struct health_check *check, double warn,
                     double fail)
{
    struct fds_state *s;
    int r;

    if (!health__checks_usable(h, check) || !used_limits_ok(warn, fail))
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->warn = warn;
    s->fail = fail;
    r = health__checks_register(h, check, fds_run, free, s);
    if (r < 0)
        free(s);
    return r;
}

/* ---- file --------------------------------------------------------------- */

struct file_state {
    unsigned max_age_ms;
    char path[];
};

static health_status_t file_run(health_result_t *result, void *userdata)
{
    const struct file_state *s = userdata;
    struct timespec now;
    struct stat st;
    char buf[96];
    double age;

    if (stat(s->path, &st) != 0) {
        if (errno == ENOENT)
            health_result_setf(result, "%s: missing", s->path);
        else
            health_result_setf(result, "%s: %s", s->path, err_text(errno, buf));
        return HEALTH_FAIL;
    }
    (void)clock_gettime(CLOCK_REALTIME, &now);
    age = (double)(now.tv_sec - st.st_mtim.tv_sec) +
          (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
    if (age < 0)
        age = 0;
    health_result_set_observed(result, age, "s");
    if (s->max_age_ms && age * 1000.0 > (double)s->max_age_ms) {
        health_result_setf(result, "%s: modified %.1f s ago, more than %.1f s",
                           s->path, age, s->max_age_ms / 1000.0);
        return HEALTH_FAIL;
    }
    health_result_setf(result, "%s: modified %.1f s ago", s->path, age);
    return HEALTH_PASS;
}

int health_check_file(health_t *h, const struct health_check *check,
                      const char *path, unsigned max_age_ms)
{
    struct file_state *s;
    size_t len;
    int r;

    if (!health__checks_usable(h, check) || !path || !path[0])
        return -EINVAL;
    len = strlen(path);
    if (len >= PATH_MAX)
        return -EINVAL;
    s = calloc(1, sizeof(*s) + len + 1);
    if (!s)
        return -ENOMEM;
    s->max_age_ms = max_age_ms;
    memcpy(s->path, path, len + 1);
    r = health__checks_register(h, check, file_run, free, s);
    if (r < 0)
        free(s);
    return r;
}
