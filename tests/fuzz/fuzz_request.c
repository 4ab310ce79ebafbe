/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request: health__request_parse(), the front thread's parser, on
 * arbitrary bytes as a peer sends them.
 *
 * The input is parsed in a buffer of exactly its size, so ASan sees any
 * read past it.  Checks:
 * - PARTIAL only when there is no blank line and the input is shorter
 *   than HEALTH__REQUEST_MAX;
 * - on OK, the request ends at a blank line within the input, and a
 *   reference validator written differently (split into lines, check each
 *   with strspn()) agrees that every line has the shape of a plain probe
 *   request: "GET|HEAD /path HTTP/1.0|1.1", then "Name: value" lines of
 *   token and visible characters, exactly one Host for HTTP/1.1; the path
 *   is a copy of the target and has no query, escape or fragment;
 *   Authorization, when found, points into the head; HTTP/1.0 closes;
 * - the parser looks no further than the blank line: the head alone
 *   parses to the same result.
 * A request the parser accepts is answered by the front thread instead of
 * libmicrohttpd, so these properties bound what it can accept.
 */
#define _GNU_SOURCE /* memmem */

#include "health-internal.h"
#include "fuzz-util.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char TCHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
                             "WXYZ0123456789!#$&'*+-.^_`|~";
static const char PATH_CHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
                                 "RSTUVWXYZ0123456789-._~/!$&'()*+,;=:@";

static bool value_ok(const char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!(v[i] == '\t' ||
              ((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f)))
            return false;
    return true;
}

/* The reference: the head (up to and without the blank line's CRLFCRLF)
 * as lines.  Returns the number of Host lines, or -1. */
static int reference_head(const char *h, size_t n,
                          const struct health__request *r)
{
    const char *line = h;
    const char *end = h + n;
    int hosts = 0;
    bool first = true;

    for (;;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        size_t len;

        if (!eol)
            eol = end;
        len = (size_t)(eol - line);
        if (first) {
            size_t m = strncmp(line, "GET ", 4) == 0    ? 4
                       : strncmp(line, "HEAD ", 5) == 0 ? 5
                                                        : 0;
            size_t p;
            if (m == 0 || len < m + 1 + 9)
                return -1;
            p = strspn(line + m, PATH_CHARS);
            if (line[m] != '/' || m + p + 9 != len ||
                (memcmp(line + m + p, " HTTP/1.0", 9) != 0 &&
                 memcmp(line + m + p, " HTTP/1.1", 9) != 0))
                return -1;
            if (strlen(r->path) != p || memcmp(r->path, line + m, p) != 0)
                return -1;
            if ((m == 5) != r->head)
                return -1;
            if ((line[len - 1] == '0') != r->http10)
                return -1;
            first = false;
        } else {
            size_t k = strspn(line, TCHARS);
            if (k == 0 || k >= len || line[k] != ':' ||
                !value_ok(line + k + 1, len - k - 1))
                return -1;
            if (k == 4 && strncasecmp(line, "Host", 4) == 0)
                hosts++;
        }
        if (eol >= end)
            break;
        line = eol + 2;
    }
    return hosts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    struct health__request r;
    struct health__request again;
    enum health__parse p;
    const char *blank;
    int hosts;

    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    p = health__request_parse(buf, size, &r);
    FUZZ_CHECK(p == HEALTH__REQ_OK || p == HEALTH__REQ_PARTIAL ||
               p == HEALTH__REQ_OTHER);
    blank = size >= 4 ? memmem(buf, size, "\r\n\r\n", 4) : NULL;
    if (p == HEALTH__REQ_PARTIAL)
        FUZZ_CHECK(!blank && size < HEALTH__REQUEST_MAX);
    if (p != HEALTH__REQ_OK) {
        free(buf);
        return 0;
    }
    FUZZ_CHECK(blank != NULL);
    FUZZ_CHECK(r.consumed == (size_t)(blank - buf) + 4);
    FUZZ_CHECK(r.consumed <= size);
    FUZZ_CHECK(memchr(r.path, '\0', sizeof(r.path)) != NULL);
    FUZZ_CHECK(r.path[0] == '/');
    FUZZ_CHECK(!strpbrk(r.path, "?%# \r\n"));
    hosts = reference_head(buf, r.consumed - 4, &r);
    FUZZ_CHECK(hosts >= 0);
    FUZZ_CHECK(r.http10 ? hosts <= 1 : hosts == 1);
    if (r.http10)
        FUZZ_CHECK(r.close);
    if (r.authorization) {
        FUZZ_CHECK(r.authorization >= buf &&
                   r.authorization + r.authorization_len <= buf + r.consumed);
        FUZZ_CHECK(value_ok(r.authorization, r.authorization_len));
    }
    /* Nothing past the blank line was looked at. */
    FUZZ_CHECK(health__request_parse(buf, r.consumed, &again) ==
               HEALTH__REQ_OK);
    FUZZ_CHECK(again.consumed == r.consumed && again.close == r.close &&
               again.head == r.head && strcmp(again.path, r.path) == 0);
    free(buf);
    return 0;
}
