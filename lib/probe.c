/* SPDX-License-Identifier: MIT */
/*
 * probe.c - the health-probe HTTP client (health_probe_main()).
 *
 * Used as the static health-probe binary and as a service's --probe mode,
 * so that a Docker HEALTHCHECK in a distroless image needs no shell and no
 * curl.  It shares nothing with the library but the public header: no
 * allocation, no global state, no signal handlers, no name lookups (a
 * static binary must not need NSS), one line of output.
 *
 * Exit status: 0 for HTTP 200..399 (as the kubelet), 1 for anything else.
 * Never 2, which Docker documents as reserved.
 */
#include <health/health.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_NAME "health-probe"
#define PROBE_STR_(x) #x
#define PROBE_STR(x) PROBE_STR_(x)
#define PROBE_VERSION            \
 PROBE_STR(HEALTH_VERSION_MAJOR) \
 "." PROBE_STR(HEALTH_VERSION_MINOR) "." PROBE_STR(HEALTH_VERSION_PATCH)

/* Default deadline for connect + send + receive: far below Docker's
 * default --timeout of 30 s, and equal to the --timeout=3s of our
 * examples (there Docker's own timer may fire first; both are failures). */
#define PROBE_TIMEOUT_DEFAULT_MS 3000u
#define PROBE_TIMEOUT_MAX_MS 3600000u
#define PROBE_PORT_DEFAULT 8080
/* The longest URL accepted: it is echoed in the one output line, which
 * must stay under the 500 characters Podman keeps. */
#define PROBE_URL_MAX 256
/* The one output line, newline and NUL included. */
#define PROBE_LINE_MAX 500
/* Response bytes kept: the headers plus about the 10 KiB of body the
 * kubelet reads. */
#define PROBE_RESPONSE_MAX 16384
#define PROBE_STATUS_LINE_MAX 1024

enum probe_verbosity {
    PROBE_QUIET = 0,
    PROBE_NORMAL = 1,
    PROBE_VERBOSE = 2
};

struct probe_target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[64]; /* as written in the URL, for the Host header */
    unsigned port;
    char path[PROBE_URL_MAX];
    char url[PROBE_URL_MAX + 80]; /* what the output line names */
};

struct probe_response {
    char buf[PROBE_RESPONSE_MAX];
    size_t len;
    size_t start;     /* where the response being parsed begins */
    size_t body;      /* offset of the body; 0 until the headers ended */
    long content_len; /* -1: not given */
    int status;
    char reason[64];
};

struct probe {
    unsigned timeout_ms;
    enum probe_verbosity verbosity;
    const char *arg; /* the URL or PATH argument, NULL for the default */
    long long start_ms;
    long long deadline_ms;
    int fd;
    struct probe_target target;
    struct probe_response rsp;
    char err[160];
};

/* Milliseconds on the monotonic clock: immune to wall-clock steps. */
static long long now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive prefix test, independent of the process locale. */
static int has_prefix_ci(const char *s, size_t n, const char *prefix)
{
    size_t i;

    for (i = 0; prefix[i]; i++) {
        if (i >= n || to_lower(s[i]) != prefix[i])
            return 0;
    }
    return 1;
}

/* Copies @src into @dst for printing: tabs and line breaks become spaces
 * and other bytes outside printable ASCII become '?', so that a hostile
 * server cannot add lines or terminal escapes to the health log. */
static void copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
    size_t i;

    if (cap == 0)
        return;
    for (i = 0; i < n && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\t' || c == '\r' || c == '\n')
            dst[i] = ' ';
        else
            dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[i] = '\0';
}

/* The text for a socket errno, lower-case as in the rest of the line. */
static const char *errno_text(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return "connection refused";
    case ECONNRESET:
        return "connection reset by peer";
    case EPIPE:
        return "connection closed by peer";
    case ENETUNREACH:
        return "network unreachable";
    case EHOSTUNREACH:
        return "host unreachable";
    case EADDRNOTAVAIL:
        return "address not available";
    case EAFNOSUPPORT:
        return "address family not supported";
    case ETIMEDOUT:
        return "connection timed out";
    case EMFILE:
    case ENFILE:
        return "too many open files";
    default:
        return strerror(e);
    }
}

static int fail(struct probe *p, const char *what)
{
    (void)snprintf(p->err, sizeof(p->err), "%s", what);
    return -1;
}

static int fail_errno(struct probe *p, const char *what, int e)
{
    if (what)
        (void)snprintf(p->err, sizeof(p->err), "%s: %s", what, errno_text(e));
    else
        (void)snprintf(p->err, sizeof(p->err), "%s", errno_text(e));
    return -1;
}

static int fail_timeout(struct probe *p)
{
    (void)snprintf(p->err, sizeof(p->err), "timed out after %u ms",
                   p->timeout_ms);
    return -1;
}

/* Parses SECONDS ("3", "0.5", "2.25") into milliseconds, rounding up.
 * Hand-written rather than strtod() so that the service's locale (a
 * decimal comma) cannot change what --probe accepts. */
static int parse_timeout(const char *s, unsigned *ret)
{
    unsigned long long ms = 0;
    unsigned scale = 1000;
    int digits = 0;
    int round_up = 0;

    for (; is_digit(*s) && ms <= PROBE_TIMEOUT_MAX_MS; s++, digits++)
        ms = ms * 10 + (unsigned)(*s - '0') * 1000u;
    if (*s == '.') {
        for (s++; is_digit(*s); s++, digits++) {
            scale /= 10;
            if (scale > 0)
                ms += (unsigned)(*s - '0') * scale;
            else if (*s != '0')
                round_up = 1;
        }
    }
    ms += (unsigned)round_up;
    if (*s != '\0' || digits == 0 || ms == 0 || ms > PROBE_TIMEOUT_MAX_MS)
        return -1;
    *ret = (unsigned)ms;
    return 0;
}

/* Parses a decimal TCP port of exactly @n characters, 1..65535. */
static int parse_port(const char *s, size_t n, unsigned *ret)
{
    unsigned long v = 0;
    size_t i;

    if (n == 0 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *ret = (unsigned)v;
    return 0;
}

static void print_usage(void)
{
    (void)fputs(
        "Usage: " PROBE_NAME " [options] [URL | PATH]\n"
        "\n"
        "Requests URL once and exits 0 when the answer is HTTP 200..399,\n"
        "1 on anything else (refused, timed out, 4xx, 5xx, malformed\n"
        "response, bad arguments).  Prints one line: the URL and the\n"
        "status, or the error.\n"
        "\n"
        "  URL   http://HOST[:PORT][/path[?query]]; HOST is an IPv4\n"
        "        literal, an [IPv6] literal or localhost (no DNS lookups);\n"
        "        PORT defaults to 80\n"
        "  PATH  /path[?query] on 127.0.0.1:$HEALTH_PORT\n"
        "        default: http://127.0.0.1:$HEALTH_PORT/live\n"
        "        ($HEALTH_PORT unset: 8080)\n"
        "\n"
        "Options:\n"
        "  -t, --timeout SECONDS  deadline for connect, send and receive\n"
        "                         (default 3, fractions allowed)\n"
        "  -v, --verbose          add the elapsed time and the start of the\n"
        "                         body to the line\n"
        "  -q, --quiet            print nothing; the exit status tells\n"
        "  -h, --help             print this help and exit 0\n"
        "\n"
        "Docker:  HEALTHCHECK CMD [\"/usr/local/bin/" PROBE_NAME
        "\", \"/ready\"]\n"
        "Version " PROBE_VERSION "\n",
        stdout);
}

/* Reports an argument error on the one output line. */
static int usage_error(struct probe *p, const char *what, const char *arg)
{
    char shown[64];

    copy_printable(shown, sizeof(shown), arg, strlen(arg));
    (void)snprintf(p->err, sizeof(p->err), "%s \"%s\" (try --help)", what,
                   shown);
    return -1;
}

/* Handles the timeout option's value, given inline (--timeout=3, -t3) or
 * as the next argument. */
static int take_timeout(struct probe *p, const char *value)
{
    if (!value)
        return usage_error(p, "missing value for", "--timeout");
    if (parse_timeout(value, &p->timeout_ms) < 0)
        return usage_error(p, "invalid timeout", value);
    return 0;
}

/* Parses one option at argv[*i]; advances *i past a separate value.
 * Returns 0, 1 (help printed) or -1. */
static int parse_option(struct probe *p, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;

    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        print_usage();
        return 1;
    }
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        p->verbosity = PROBE_VERBOSE;
        return 0;
    }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
        p->verbosity = PROBE_QUIET;
        return 0;
    }
    if (!strncmp(a, "--timeout=", 10))
        return take_timeout(p, a + 10);
    if (!strncmp(a, "-t", 2) && a[2] != '\0')
        return take_timeout(p, a + 2);
    if (!strcmp(a, "-t") || !strcmp(a, "--timeout")) {
        if (next)
            (*i)++;
        return take_timeout(p, next);
    }
    return usage_error(p, "unknown option", a);
}

/* Parses argv: options anywhere, at most one URL or PATH, "--" ends the
 * options.  Returns 0, 1 (help printed) or -1. */
static int parse_args(struct probe *p, int argc, char **argv)
{
    int only_operands = 0;
    int i;
    int r;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!a)
            break;
        if (!only_operands && !strcmp(a, "--")) {
            only_operands = 1;
            continue;
        }
        if (!only_operands && a[0] == '-' && a[1] != '\0') {
            r = parse_option(p, argc, argv, &i);
            if (r != 0)
                return r;
            continue;
        }
        if (p->arg)
            return usage_error(p, "unexpected argument", a);
        p->arg = a;
    }
    return 0;
}

/* Resolves HOST without DNS: an [IPv6] literal, an IPv4 literal or
 * localhost.  Fills the address family and address, not the port. */
static int parse_host(struct probe *p, const char *h, size_t n)
{
    struct probe_target *t = &p->target;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->addr;
    char lit[64];

    if (n == 0 || n >= sizeof(lit))
        return usage_error(p, "invalid host in", p->arg);
    memcpy(t->host, h, n);
    t->host[n] = '\0';
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return usage_error(p, "invalid IPv6 literal in", p->arg);
        copy_printable(lit, sizeof(lit), h + 1, n - 2);
        v6->sin6_family = AF_INET6;
        t->addr_len = sizeof(*v6);
        if (inet_pton(AF_INET6, lit, &v6->sin6_addr) != 1)
            return usage_error(p, "invalid IPv6 literal in", p->arg);
        return 0;
    }
    copy_printable(lit, sizeof(lit), h, n);
    if (n == 9 && has_prefix_ci(h, n, "localhost"))
        (void)snprintf(lit, sizeof(lit), "127.0.0.1");
    v4->sin_family = AF_INET;
    t->addr_len = sizeof(*v4);
    if (inet_pton(AF_INET, lit, &v4->sin_addr) != 1)
        return usage_error(p,
                           "host must be an IP literal or localhost (no "
                           "DNS lookups) in",
                           p->arg);
    return 0;
}

/* Checks the request target (path and query) and keeps it; a fragment is
 * dropped, as a client never sends it.  Only visible ASCII is allowed, so
 * nothing can be smuggled into the request. */
static int parse_path(struct probe *p, const char *s)
{
    size_t n = strcspn(s, "#");
    size_t i;
    int q = s[0] == '?';

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return usage_error(p, "invalid character in", p->arg);
    }
    (void)snprintf(p->target.path, sizeof(p->target.path), "%s%.*s",
                   n == 0 || q ? "/" : "", (int)n, s);
    return 0;
}

/* Parses http://HOST[:PORT][/path[?query]]. */
static int parse_url(struct probe *p, const char *url)
{
    const char *h;
    const char *end;
    const char *colon;

    if (has_prefix_ci(url, strlen(url), "https://"))
        return usage_error(p, "only http:// is supported, not", url);
    if (!has_prefix_ci(url, strlen(url), "http://"))
        return usage_error(p, "not an http:// URL or a /path", url);
    h = url + 7;
    if (h[0] == '[')
        end = h + strcspn(h, "]") + (strchr(h, ']') ? 1 : 0);
    else
        end = h + strcspn(h, ":/?#");
    colon = end;
    end = colon + strcspn(colon, "/?#");
    p->target.port = 80;
    if (*colon == ':' && colon + 1 != end &&
        parse_port(colon + 1, (size_t)(end - colon - 1), &p->target.port) < 0)
        return usage_error(p, "invalid port in", url);
    if (*colon != ':' && colon != end)
        return usage_error(p, "invalid host in", url);
    if (parse_host(p, h, (size_t)((*colon == ':' ? colon : end) - h)) < 0)
        return -1;
    return parse_path(p, end);
}

/* The port of the default URL and of a bare PATH: $HEALTH_PORT, as the
 * service itself reads it, else 8080. */
static int default_port(struct probe *p, unsigned *port)
{
    const char *env = getenv("HEALTH_PORT");

    *port = PROBE_PORT_DEFAULT;
    if (!env || !*env)
        return 0;
    if (parse_port(env, strlen(env), port) < 0)
        return usage_error(p, "invalid HEALTH_PORT", env);
    return 0;
}

/* Turns the argument (URL, PATH or nothing) into a target. */
static int resolve_target(struct probe *p)
{
    struct probe_target *t = &p->target;
    char url[PROBE_URL_MAX + 80];
    unsigned port;
    int r;

    if (p->arg && strlen(p->arg) >= PROBE_URL_MAX)
        return usage_error(p, "URL too long", p->arg);
    if (p->arg && p->arg[0] != '/') {
        r = parse_url(p, p->arg);
    } else {
        r = default_port(p, &port);
        if (r < 0)
            return r;
        (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port,
                       p->arg ? p->arg : "/live");
        /* Error messages quote the URL being parsed. */
        p->arg = url;
        r = parse_url(p, url);
        p->arg = NULL;
    }
    if (r < 0)
        return r;
    if (t->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((uint16_t)t->port);
    else
        ((struct sockaddr_in *)&t->addr)->sin_port = htons((uint16_t)t->port);
    (void)snprintf(t->url, sizeof(t->url), "http://%s:%u%s", t->host, t->port,
                   t->path);
    return 0;
}

/* Waits until @fd is ready for @events or the deadline passes.
 * Returns 1 (ready), 0 (deadline) or -1 (poll failed, errno set). */
static int wait_fd(struct probe *p, int fd, short events)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    long long left;
    int r;

    for (;;) {
        left = p->deadline_ms - now_ms();
        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Creates a non-blocking, close-on-exec socket for the target. */
static int open_socket(struct probe *p)
{
    int fd;
    int flags;

    fd = socket(p->target.addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fail_errno(p, "socket", errno);
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        (void)fail_errno(p, "fcntl", errno);
        (void)close(fd);
        return -1;
    }
    p->fd = fd;
    return 0;
}

/* Connects within the deadline. */
static int connect_target(struct probe *p)
{
    int e = 0;
    socklen_t len = sizeof(e);
    int r;

    if (open_socket(p) < 0)
        return -1;
    r = connect(p->fd, (struct sockaddr *)&p->target.addr, p->target.addr_len);
    if (r == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return fail_errno(p, NULL, errno);
    r = wait_fd(p, p->fd, POLLOUT);
    if (r == 0)
        return fail_timeout(p);
    if (r < 0)
        return fail_errno(p, "poll", errno);
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return fail_errno(p, "getsockopt", errno);
    if (e != 0)
        return fail_errno(p, NULL, e);
    return 0;
}

/* Sends the whole request; MSG_NOSIGNAL keeps a closed peer from raising
 * SIGPIPE, so the caller's signal dispositions are never touched. */
static int send_request(struct probe *p)
{
    char req[PROBE_URL_MAX + 256];
    size_t off = 0;
    size_t len;
    ssize_t n;
    int r;

    r = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s:%u\r\n"
                 "User-Agent: " PROBE_NAME "/" PROBE_VERSION "\r\n"
                 "Accept: */*\r\nConnection: close\r\n\r\n",
                 p->target.path, p->target.host, p->target.port);
    if (r < 0 || (size_t)r >= sizeof(req))
        return fail(p, "request too long");
    len = (size_t)r;
    while (off < len) {
        n = send(p->fd, req + off, len - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return fail_errno(p, NULL, errno);
        r = wait_fd(p, p->fd, POLLOUT);
        if (r <= 0)
            return r == 0 ? fail_timeout(p) : fail_errno(p, "poll", errno);
    }
    return 0;
}

/* Finds the end of the line starting at @from: returns the offset just
 * past its '\n', or 0 when the line is not complete yet. */
static size_t line_end(const struct probe_response *rsp, size_t from)
{
    const char *nl = memchr(rsp->buf + from, '\n', rsp->len - from);

    return nl ? (size_t)(nl - rsp->buf) + 1 : 0;
}

/* Length of the line [from, to) without its "\r\n" or "\n". */
static size_t line_len(const struct probe_response *rsp, size_t from, size_t to)
{
    size_t n = to - from - 1;

    if (n > 0 && rsp->buf[from + n - 1] == '\r')
        n--;
    return n;
}

/* Parses "HTTP/d.d NNN[ reason]" of @n bytes at @s.  Returns 0 or -1. */
static int parse_status_line(struct probe_response *rsp, const char *s,
                             size_t n)
{
    size_t i;

    if (n < 12 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[5]) ||
        s[6] != '.' || !is_digit(s[7]) || s[8] != ' ')
        return -1;
    if (!is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) ||
        (n > 12 && s[12] != ' ') || s[9] == '0')
        return -1;
    for (i = 13; i < n; i++) {
        if (s[i] != '\t' && (unsigned char)s[i] < 0x20)
            return -1;
    }
    rsp->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    copy_printable(rsp->reason, sizeof(rsp->reason), s + 13,
                   n > 13 ? n - 13 : 0);
    return 0;
}

/* Reads a Content-Length header line; other lines are ignored. */
static void parse_header_line(struct probe_response *rsp, const char *s,
                              size_t n)
{
    const char *name = "content-length:";
    size_t i = strlen(name);
    long v = 0;

    if (!has_prefix_ci(s, n, name))
        return;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    for (; i < n && is_digit(s[i]) && v < PROBE_RESPONSE_MAX; i++)
        v = v * 10 + (s[i] - '0');
    rsp->content_len = v;
}

/* Scans the header lines after the status line ending at @from.  Returns
 * 1 when the blank line that ends them was found, 0 when more bytes are
 * needed, -1 on a malformed header block. */
static int scan_headers(struct probe_response *rsp, size_t from)
{
    size_t end;
    size_t n;

    for (; (end = line_end(rsp, from)) != 0; from = end) {
        n = line_len(rsp, from, end);
        if (n == 0) {
            rsp->body = end;
            return 1;
        }
        if (memchr(rsp->buf + from, '\0', n))
            return -1;
        parse_header_line(rsp, rsp->buf + from, n);
    }
    return rsp->len - rsp->start >= PROBE_RESPONSE_MAX / 2 ? -1 : 0;
}

/* Parses what has arrived so far.  Returns 1 when a final response's
 * headers are complete, 0 when more bytes are needed, -1 on garbage;
 * garbage is detected as soon as the first bytes cannot begin
 * "HTTP/". */
static int parse_response(struct probe_response *rsp)
{
    size_t have;
    size_t eol;
    int r;

    for (;;) {
        have = rsp->len - rsp->start;
        if (memcmp(rsp->buf + rsp->start, "HTTP/", have < 5 ? have : 5))
            return -1;
        eol = line_end(rsp, rsp->start);
        if (eol == 0)
            return have > PROBE_STATUS_LINE_MAX ? -1 : 0;
        if (parse_status_line(rsp, rsp->buf + rsp->start,
                              line_len(rsp, rsp->start, eol)) < 0)
            return -1;
        rsp->content_len = -1;
        r = scan_headers(rsp, eol);
        /* An interim 1xx answer (100 Continue, 103 Early Hints) is
         * followed by the real one; 101 would switch protocols. */
        if (r != 1 || rsp->status >= 200 || rsp->status == 101)
            return r;
        rsp->start = rsp->body;
        rsp->body = 0;
    }
}

/* True once the body is complete or the buffer is full: the exchange can
 * end without waiting for the server to close. */
static int body_done(const struct probe_response *rsp)
{
    if (rsp->len >= sizeof(rsp->buf))
        return 1;
    return rsp->content_len >= 0 &&
           rsp->len - rsp->body >= (size_t)rsp->content_len;
}

/* Reads once from the socket into the buffer.  Returns the byte count,
 * 0 at end of stream, -1 on error (errno set; EAGAIN means retry). */
static ssize_t read_some(struct probe *p)
{
    struct probe_response *rsp = &p->rsp;
    ssize_t n;

    n = recv(p->fd, rsp->buf + rsp->len, sizeof(rsp->buf) - rsp->len, 0);
    if (n > 0)
        rsp->len += (size_t)n;
    return n;
}

/* Describes a response that ended or stalled before its headers did. */
static int fail_incomplete(struct probe *p, int eof)
{
    if (!eof)
        return fail_timeout(p);
    if (p->rsp.len == 0)
        return fail(p, "connection closed without a response");
    return fail(p, "connection closed before the response headers ended");
}

/* Describes garbage, quoting its first bytes. */
static int fail_malformed(struct probe *p)
{
    char shown[40];
    size_t n = p->rsp.len - p->rsp.start;

    copy_printable(shown, sizeof(shown), p->rsp.buf + p->rsp.start, n);
    (void)snprintf(p->err, sizeof(p->err), "malformed response \"%s%s\"", shown,
                   n >= sizeof(shown) ? "..." : "");
    return -1;
}

/* Receives the response until its headers are parsed, then drains the
 * body (to the end of stream, Content-Length or the buffer's end) so the
 * connection closes cleanly.  Once the headers are in, running out of
 * time while draining no longer changes the result. */
static int receive_response(struct probe *p)
{
    int parsed = 0;
    ssize_t n;
    int r;

    for (;;) {
        if (parsed && body_done(&p->rsp))
            return 0;
        if (p->rsp.len == sizeof(p->rsp.buf))
            return fail_malformed(p);
        n = read_some(p);
        if (n == 0)
            return parsed ? 0 : fail_incomplete(p, 1);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return parsed ? 0 : fail_errno(p, NULL, errno);
        if (n < 0) {
            r = wait_fd(p, p->fd, POLLIN);
            if (r <= 0)
                return parsed ? 0 : fail_incomplete(p, 0);
            continue;
        }
        if (!parsed) {
            parsed = parse_response(&p->rsp);
            if (parsed < 0)
                return fail_malformed(p);
        }
    }
}

/* The exchange itself: connect, send, receive.  Returns 0 when a status
 * was received, -1 with p->err set otherwise. */
static int run_probe(struct probe *p)
{
    int r;

    p->start_ms = now_ms();
    p->deadline_ms = p->start_ms + p->timeout_ms;
    r = connect_target(p);
    if (r == 0)
        r = send_request(p);
    if (r == 0)
        r = receive_response(p);
    if (p->fd >= 0)
        (void)close(p->fd);
    p->fd = -1;
    return r;
}

/* Appends the start of the body (verbose mode), within the line's room. */
static void append_body(const struct probe *p, char *line, size_t cap)
{
    const struct probe_response *rsp = &p->rsp;
    size_t used = strlen(line);
    size_t n;

    if (rsp->body == 0 || rsp->len <= rsp->body || used + 8 >= cap)
        return;
    n = rsp->len - rsp->body;
    (void)snprintf(line + used, cap - used, ": ");
    used += 2;
    copy_printable(line + used, cap - used, rsp->buf + rsp->body, n);
    if (n >= cap - used && cap - used > 4)
        memcpy(line + cap - 4, "...", 4);
}

/* Prints the one output line (under PROBE_LINE_MAX characters). */
static void report(const struct probe *p, int ok)
{
    char line[PROBE_LINE_MAX - 1];
    const char *url = p->target.url[0] ? p->target.url : PROBE_NAME;
    long long ms = now_ms() - p->start_ms;

    if (!ok)
        (void)snprintf(line, sizeof(line), "%s: %s", url, p->err);
    else
        (void)snprintf(line, sizeof(line), "%s: %d%s%s", url, p->rsp.status,
                       p->rsp.reason[0] ? " " : "", p->rsp.reason);
    if (p->verbosity == PROBE_VERBOSE && p->start_ms > 0) {
        size_t used = strlen(line);
        (void)snprintf(line + used, sizeof(line) - used, " (%lld ms)", ms);
        if (ok)
            append_body(p, line, sizeof(line));
    }
    (void)printf("%s\n", line);
    (void)fflush(stdout);
}

int health_probe_main(int argc, char **argv)
{
    struct probe p = { .timeout_ms = PROBE_TIMEOUT_DEFAULT_MS,
                       .verbosity = PROBE_NORMAL,
                       .fd = -1 };
    int r;

    r = argv ? parse_args(&p, argc, argv) : 0;
    if (r > 0)
        return 0;
    if (r == 0)
        r = resolve_target(&p);
    if (r == 0)
        r = run_probe(&p);
    if (p.verbosity != PROBE_QUIET)
        report(&p, r == 0);
    if (r < 0)
        return 1;
    return p.rsp.status >= 200 && p.rsp.status <= 399 ? 0 : 1;
}
