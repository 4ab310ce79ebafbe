/* SPDX-License-Identifier: MIT */
/*
 * The request parser of the front thread (front.c): recognises the plain
 * probe request, a GET or HEAD of a path with no query, in one of the
 * shapes every prober sends, and nothing else.  Anything it does not
 * recognise goes to libmicrohttpd untouched, which answers it (or rejects
 * it) as before; so this parser may refuse freely but must never accept a
 * request libmicrohttpd would answer differently.  Pure: no allocation,
 * no I/O, fuzzed on its own.
 */
#define _GNU_SOURCE /* memmem, accept4 */

#include "health-internal.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 token characters (header names). */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$&'*+-.^_`|~", c));
}

/* Path characters taken as they are: no percent-encoding (it would need
 * decoding), no query, no fragment. */
static bool is_path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~/!$&'()*+,;=:@", c));
}

/* Visible characters, space and tab: a header value. */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c < 0x7f);
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Whether the comma-separated list @v (@n bytes) holds the token @want. */
static bool list_has(const char *v, size_t n, const char *want)
{
    size_t want_n = strlen(want);
    size_t i = 0;

    while (i < n) {
        size_t start;
        size_t end;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < n && v[i] != ',')
            i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == want_n && strncasecmp(v + start, want, want_n) == 0)
            return true;
    }
    return false;
}

/* The request line: "GET /path HTTP/1.1".  Returns its length up to the
 * CRLF, or 0 when it is not a plain probe's. */
static size_t parse_line(const char *b, size_t n, struct health__request *r)
{
    size_t i;
    size_t p;

    if (n >= 4 && memcmp(b, "GET ", 4) == 0) {
        i = 4;
    } else if (n >= 5 && memcmp(b, "HEAD ", 5) == 0) {
        i = 5;
        r->head = true;
    } else {
        return 0;
    }
    if (i >= n || b[i] != '/')
        return 0;
    for (p = 0; i < n && is_path_char((unsigned char)b[i]); i++, p++) {
        if (p == sizeof(r->path) - 1)
            return 0;
        r->path[p] = b[i];
    }
    r->path[p] = '\0';
    if (n - i < 11 || memcmp(b + i, " HTTP/1.", 8) != 0 ||
        (b[i + 8] != '0' && b[i + 8] != '1') || b[i + 9] != '\r' ||
        b[i + 10] != '\n')
        return 0;
    r->http10 = b[i + 8] == '0';
    return i + 9;
}

/* One header line (without its CRLF); false when it is not one the
 * probe shape allows. */
static bool parse_header(const char *b, size_t n, struct health__request *r,
                         unsigned *hosts)
{
    size_t k = 0;
    size_t v;
    size_t e = n;

    while (k < n && is_tchar((unsigned char)b[k]))
        k++;
    if (k == 0 || k == n || b[k] != ':')
        return false;
    for (v = k + 1; v < n; v++)
        if (!is_value_char((unsigned char)b[v]))
            return false;
    v = k + 1;
    while (v < e && (b[v] == ' ' || b[v] == '\t'))
        v++;
    while (e > v && (b[e - 1] == ' ' || b[e - 1] == '\t'))
        e--;
    if (name_is(b, k, "Host")) {
        (*hosts)++;
    } else if (name_is(b, k, "Connection")) {
        /* HTTP/1.0 keep-alive is answered with a header of its own:
         * libmicrohttpd's.  In HTTP/1.1 the token changes nothing. */
        if (list_has(b + v, e - v, "upgrade") ||
            (r->http10 && list_has(b + v, e - v, "keep-alive")))
            return false;
        if (list_has(b + v, e - v, "close"))
            r->close = true;
    } else if (name_is(b, k, "Content-Length")) {
        if (e - v != 1 || b[v] != '0')
            return false;
    } else if (name_is(b, k, "Accept")) {
        /* The text form and /metrics' negotiation stay with
         * libmicrohttpd. */
        if (r->has_accept)
            return false;
        r->has_accept = true;
        if (memmem(b + v, e - v, "text/plain", 10) &&
            !memmem(b + v, e - v, "json", 4))
            return false;
    } else if (name_is(b, k, "Authorization")) {
        if (r->authorization || e - v > HEALTH__TOKEN_MAX + 16)
            return false;
        r->authorization = b + v;
        r->authorization_len = e - v;
    } else if (name_is(b, k, "Transfer-Encoding") || name_is(b, k, "Expect") ||
               name_is(b, k, "Upgrade")) {
        return false;
    }
    return true;
}

enum health__parse health__request_parse(const char *buf, size_t len,
                                         struct health__request *r)
{
    const char *end;
    size_t i;
    unsigned hosts = 0;
    unsigned lines = 0;

    memset(r, 0, sizeof(*r));
    end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= HEALTH__REQUEST_MAX ? HEALTH__REQ_OTHER
                                          : HEALTH__REQ_PARTIAL;
    r->consumed = (size_t)(end - buf) + 4;
    i = parse_line(buf, r->consumed, r);
    if (i == 0)
        return HEALTH__REQ_OTHER;
    i += 2;
    while (i < r->consumed - 2) {
        const char *eol = memmem(buf + i, r->consumed - i, "\r\n", 2);
        size_t n = (size_t)(eol - (buf + i));

        if (++lines > HEALTH__REQUEST_HEADERS_MAX ||
            !parse_header(buf + i, n, r, &hosts))
            return HEALTH__REQ_OTHER;
        i += n + 2;
    }
    /* HTTP/1.1 needs exactly one Host; HTTP/1.0 ends after one answer. */
    if (r->http10 ? hosts > 1 : hosts != 1)
        return HEALTH__REQ_OTHER;
    if (r->http10)
        r->close = true;
    return HEALTH__REQ_OK;
}
