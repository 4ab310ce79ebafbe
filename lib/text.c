/* SPDX-License-Identifier: MIT */
/* Text from checks and options made safe for JSON, headers and logs:
 * valid UTF-8, no control characters. */
#include "health-internal.h"

#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_seq_len(const unsigned char *s)
{
    size_t n;
    size_t i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    cp = s[0] & (0x7fu >> n);
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Makes s valid UTF-8 without control characters, in place: each invalid
 * byte becomes '?', each control character a space.  Never lengthens s. */
void health__sanitize_text(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n;

    while (*p) {
        n = utf8_seq_len(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        if (n == 1 && (*p < 0x20 || *p == 0x7f))
            *p = ' ';
        p += n;
    }
}
