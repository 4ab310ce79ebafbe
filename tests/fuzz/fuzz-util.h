/* SPDX-License-Identifier: MIT */
/* Helpers shared by the libFuzzer targets: a reader that splits the fuzz
 * input into fields, a strict UTF-8 validator written independently of
 * lib/result.c, and a check macro that aborts (so libFuzzer saves the
 * input) with a message. */
#ifndef HEALTH_FUZZ_UTIL_H
#define HEALTH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                    \
 do {                                                                       \
  if (!(cond)) {                                                            \
   fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
   abort();                                                                 \
  }                                                                         \
 } while (0)

/* The unread rest of the fuzz input.  Reads past the end yield zeros, so
 * every input, however short, decodes to something. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v;

    if (in->n == 0)
        return 0;
    v = in->p[0];
    in->p++;
    in->n--;
    return v;
}

static inline bool fuzz_bool(struct fuzz_in *in)
{
    return fuzz_u8(in) & 1;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | fuzz_u8(in);
    return v;
}

/* A string of up to @cap - 1 bytes: @want bytes (fewer when the input runs
 * out; fuzz_str reads @want from a length byte first).  Embedded NULs are kept,
 * so the C string may be shorter than what was read, as with %s in a setter.
 * Returns the number of bytes read. */
static inline size_t fuzz_str_n(struct fuzz_in *in, char *dst, size_t cap,
                                size_t want)
{
    size_t len;

    if (cap == 0)
        return 0;
    if (want > cap - 1)
        want = cap - 1;
    len = want < in->n ? want : in->n;
    memcpy(dst, in->p, len);
    dst[len] = '\0';
    in->p += len;
    in->n -= len;
    return len;
}

static inline size_t fuzz_str(struct fuzz_in *in, char *dst, size_t cap)
{
    return fuzz_str_n(in, dst, cap, fuzz_u8(in));
}

/*
 * Length of the well-formed UTF-8 sequence at s[0..n) (1..4), or 0.  Follows
 * Table 3-7 of the Unicode Standard byte range by byte range, which is a
 * different formulation from lib/result.c's decode-and-compare.
 */
static inline size_t fuzz_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    size_t len;
    size_t i;

    if (n == 0)
        return 0;
    if (s[0] <= 0x7f)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Whether s[0..n) is well-formed UTF-8 whose only control character (C0 or
 * DEL) is @allowed ('\0' for none). */
static inline bool fuzz_text_clean(const char *s, size_t n, char allowed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t len;

    while (i < n) {
        len = fuzz_utf8_seq(p + i, n - i);
        if (len == 0)
            return false;
        if (len == 1 && (p[i] < 0x20 || p[i] == 0x7f) &&
            (allowed == '\0' || p[i] != (unsigned char)allowed))
            return false;
        i += len;
    }
    return true;
}

#endif /* HEALTH_FUZZ_UTIL_H */
