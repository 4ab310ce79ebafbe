/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sanitize: health__sanitize_text() on arbitrary bytes.
 *
 * The text is the fuzz input up to its first NUL.  Checks: the length is
 * unchanged (never grows, never cut); the result is well-formed UTF-8 with
 * no C0 control character and no DEL; every byte is kept or became '?'
 * or ' '; clean input is left alone; sanitising again changes nothing;
 * and the result equals a reference sanitiser built on the fuzzer's own
 * UTF-8 table.
 */
#include "health-internal.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What health__sanitize_text promises, written from its contract: each
 * well-formed sequence stays (a control character becomes a space), each
 * byte that starts no well-formed sequence becomes '?'. */
static void reference_sanitize(unsigned char *s, size_t n)
{
    size_t i = 0;
    size_t len;

    while (i < n) {
        len = fuzz_utf8_seq(s + i, n - i);
        if (len == 0) {
            s[i++] = '?';
            continue;
        }
        if (len == 1 && (s[i] < 0x20 || s[i] == 0x7f))
            s[i] = ' ';
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    char *s = malloc(len + 1);
    char *again = malloc(len + 1);
    unsigned char *ref = malloc(len + 1);
    size_t i;

    FUZZ_CHECK(s && again && ref);
    memcpy(s, data, len);
    s[len] = '\0';
    memcpy(ref, s, len + 1);

    health__sanitize_text(s);
    FUZZ_CHECK(strlen(s) == len);
    FUZZ_CHECK(fuzz_text_clean(s, len, '\0'));
    for (i = 0; i < len; i++)
        FUZZ_CHECK(s[i] == (char)data[i] || s[i] == '?' || s[i] == ' ');
    if (fuzz_text_clean((const char *)data, len, '\0'))
        FUZZ_CHECK(memcmp(s, data, len) == 0);

    memcpy(again, s, len + 1);
    health__sanitize_text(again);
    FUZZ_CHECK(memcmp(again, s, len + 1) == 0);

    reference_sanitize(ref, len);
    FUZZ_CHECK(memcmp(ref, s, len + 1) == 0);

    free(ref);
    free(again);
    free(s);
    return 0;
}
