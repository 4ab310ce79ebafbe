/* SPDX-License-Identifier: MIT */
/*
 * Who sees check outputs and observed values ("details").
 *
 * HEALTH_DETAILS=never: nobody.  always: everybody.  local (the default):
 * a peer connected from a loopback address to a loopback address (both
 * ends local: a probe inside the container, kubectl port-forward or exec),
 * a peer inside one of the configured CIDR ranges, and a request carrying
 * "Authorization: Bearer <token>" with the configured token.  A sidecar
 * that forwards from 127.0.0.6 to the pod IP is local at one end only and
 * sees statuses only.  Nothing here ever changes a status code.
 *
 * The token is compared in constant time (for a given length of what the
 * client sent), is never logged or copied anywhere else, and is wiped
 * when the configuration is freed.  Free of libmicrohttpd types.
 */
#include "health-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A CIDR range, IPv4 ones as ::ffff:a.b.c.d/(96 + len). */
struct cidr {
    struct in6_addr net; /* host bits cleared */
    unsigned prefix;     /* 0..128 */
};

struct health__trust {
    char *token; /* NULL: none */
    size_t token_len;
    struct cidr *cidrs;
    size_t n_cidrs;
};

/* Wipes @n bytes in a way the compiler may not drop. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

void health__trust_free(struct health__trust *t)
{
    if (!t)
        return;
    if (t->token) {
        wipe(t->token, t->token_len);
        free(t->token);
    }
    free(t->cidrs);
    free(t);
}

/* A token is 1..HEALTH__TOKEN_MAX visible ASCII characters. */
static bool token_is_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > HEALTH__TOKEN_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int set_token(struct health__trust *t, const char *s, size_t n)
{
    if (!token_is_valid(s, n))
        return -EINVAL;
    t->token = malloc(n + 1);
    if (!t->token)
        return -ENOMEM;
    memcpy(t->token, s, n);
    t->token[n] = '\0';
    t->token_len = n;
    return 0;
}

/* The first line of @path, trailing whitespace stripped.  A file that
 * cannot be read, or whose first line is empty or not a valid token, is
 * -EINVAL. */
static int token_from_file(struct health__trust *t, const char *path)
{
    char buf[HEALTH__TOKEN_MAX + 2];
    size_t n = 0;
    ssize_t got;
    char *eol;
    int fd;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -EINVAL;
    while (n < sizeof(buf) - 1) {
        got = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    (void)close(fd);
    if (got < 0) {
        wipe(buf, sizeof(buf));
        return -EINVAL;
    }
    buf[n] = '\0';
    eol = memchr(buf, '\n', n);
    if (eol)
        n = (size_t)(eol - buf);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
                     buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    r = set_token(t, buf, n);
    wipe(buf, sizeof(buf));
    return r;
}

static int resolve_token(struct health__trust *t, const char *opt)
{
    const char *path;

    if (opt)
        return set_token(t, opt, strlen(opt));
    path = getenv("HEALTH_TOKEN_FILE");
    if (!path || !*path)
        return 0;
    return token_from_file(t, path);
}

/* Clears the bits of @a past the first @prefix. */
static void mask(struct in6_addr *a, unsigned prefix)
{
    unsigned i;

    for (i = 0; i < 16; i++) {
        if (prefix >= 8 * (i + 1))
            continue;
        if (prefix <= 8 * i)
            a->s6_addr[i] = 0;
        else
            a->s6_addr[i] &= (unsigned char)(0xff00u >> (prefix - 8 * i));
    }
}

/* Parses "ADDR" or "ADDR/LEN" (@n bytes at @s) into @net and @prefix
 * (IPv4 as v4-mapped IPv6); host bits are cleared. */
static int parse_cidr(const char *s, size_t n, struct in6_addr *net,
                      unsigned *prefix)
{
    char buf[INET6_ADDRSTRLEN + 5];
    const char *slash;
    struct in_addr v4;
    unsigned len = 0;
    unsigned max;
    size_t alen;
    size_t i;

    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    slash = strchr(buf, '/');
    alen = slash ? (size_t)(slash - buf) : n;
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memset(net, 0, sizeof(*net));
        net->s6_addr[10] = 0xff;
        net->s6_addr[11] = 0xff;
        memcpy(&net->s6_addr[12], &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, net) == 1) {
        max = 128;
    } else {
        return -EINVAL;
    }
    if (slash) {
        const char *d = buf + alen + 1;
        size_t dn = n - alen - 1;
        if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
            return -EINVAL;
        for (i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9')
                return -EINVAL;
            len = len * 10 + (unsigned)(d[i] - '0');
        }
        if (len > max)
            return -EINVAL;
    } else {
        len = max;
    }
    *prefix = max == 32 ? 96 + len : len;
    mask(net, *prefix);
    return 0;
}

static bool is_separator(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A comma or space separated list of CIDR ranges (or single addresses);
 * an empty list is none. */
static int parse_cidrs(struct health__trust *t, const char *s)
{
    struct cidr *v = NULL;
    size_t n = 0;
    const char *p = s;
    int r = 0;

    while (*p) {
        size_t len = 0;
        while (is_separator(*p))
            p++;
        if (!*p)
            break;
        while (p[len] && !is_separator(p[len]))
            len++;
        if (n == HEALTH__CIDRS_MAX) {
            r = -EINVAL;
            break;
        }
        if (n % 8 == 0) {
            struct cidr *nv = realloc(v, (n + 8) * sizeof(*v));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
        }
        r = parse_cidr(p, len, &v[n].net, &v[n].prefix);
        if (r < 0)
            break;
        n++;
        p += len;
    }
    if (r < 0) {
        free(v);
        return r;
    }
    free(t->cidrs);
    t->cidrs = v;
    t->n_cidrs = n;
    return 0;
}

int health__trust_new(struct health__trust **ret,
                      const struct health_options *o)
{
    struct health__trust *t = calloc(1, sizeof(*t));
    const char *cidrs;
    int r;

    if (!t)
        return -ENOMEM;
    r = resolve_token(t, o->token);
    cidrs =
        o->details_cidrs ? o->details_cidrs : getenv("HEALTH_DETAILS_CIDRS");
    if (r == 0 && cidrs)
        r = parse_cidrs(t, cidrs);
    if (r < 0) {
        health__trust_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

static bool in_range(const struct cidr *c, const struct in6_addr *a)
{
    struct in6_addr m = *a;

    mask(&m, c->prefix);
    return memcmp(&m, &c->net, sizeof(m)) == 0;
}

bool health__trust_in_cidrs(const struct health__trust *t,
                            const struct in6_addr *a)
{
    size_t i;

    for (i = 0; t && i < t->n_cidrs; i++)
        if (in_range(&t->cidrs[i], a))
            return true;
    return false;
}

/* Compares @given (@n bytes) with the token; the time taken depends on @n
 * only, never on where the bytes differ or on the token's length. */
static bool token_equal(const struct health__trust *t, const char *given,
                        size_t n)
{
    volatile unsigned char diff = (unsigned char)(n != t->token_len);
    size_t i;

    for (i = 0; i < n; i++)
        diff |= (unsigned char)(given[i] ^ t->token[i % t->token_len]);
    return diff == 0;
}

bool health__trust_token_ok(const struct health__trust *t,
                            const char *authorization)
{
    const char *p = authorization;
    size_t n;

    if (!t || !t->token || !p)
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n > 0 && token_equal(t, p, n);
}

bool health__trust_decide(const struct health__trust *t,
                          enum health_details mode, const struct in6_addr *peer,
                          bool local_loopback, const char *authorization)
{
    switch (mode) {
    case HEALTH_DETAILS_ALWAYS:
        return true;
    case HEALTH_DETAILS_NEVER:
        return false;
    default:
        break;
    }
    if (peer && health__is_loopback(peer) && local_loopback)
        return true;
    if (peer && health__trust_in_cidrs(t, peer))
        return true;
    return health__trust_token_ok(t, authorization);
}

/* Whether the local end of the connection on @fd is a loopback address. */
static bool local_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct in6_addr a;

    return fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
           health__peer_addr((const struct sockaddr *)&ss, &a) &&
           health__is_loopback(&a);
}

bool health__trust_details(const struct health__config *cfg,
                           const struct sockaddr *peer_sa, int fd,
                           const char *authorization)
{
    struct in6_addr peer;
    bool have_peer = health__peer_addr(peer_sa, &peer);
    bool local = false;

    if (cfg->details == HEALTH_DETAILS_ALWAYS)
        return true;
    if (cfg->details == HEALTH_DETAILS_NEVER)
        return false;
    if (have_peer && health__is_loopback(&peer))
        local = local_is_loopback(fd);
    return health__trust_decide(cfg->trust, cfg->details,
                                have_peer ? &peer : NULL, local, authorization);
}
