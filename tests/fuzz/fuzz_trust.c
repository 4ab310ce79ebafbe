/* SPDX-License-Identifier: MIT */
/*
 * fuzz_trust: the details decision of lib/trust.c with a CIDR list, a
 * token, an Authorization header and a peer taken from the input.
 *
 * Checks: health__trust_new() returns 0, -EINVAL or -ENOMEM, and -EINVAL
 * exactly for a token that is empty, longer than 1024 bytes or has a byte
 * outside 0x21..0x7e, or for a list a reference parser rejects; on 0 every
 * range of the reference parser contains its own network, and the
 * address with the last bit of its prefix flipped is in the list exactly
 * when another reference range holds it; the
 * header is accepted exactly when a reference reading of it ("Bearer",
 * any case, blanks, the token, blanks) gives the token; never is false
 * and always true whatever the rest; local is local-at-both-ends, a
 * range, or the token.
 */
#define _XOPEN_SOURCE 700

#include "health-internal.h"
#include "fuzz-util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX 300

struct ref_range {
    struct in6_addr net;
    unsigned prefix;
};

static bool ref_token_ok(const char *s)
{
    size_t n = strlen(s);
    size_t i;

    if (n == 0 || n > HEALTH__TOKEN_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool ref_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One "ADDR[/LEN]" item; false when malformed. */
static bool ref_item(const char *s, size_t n, struct ref_range *r)
{
    char a[64];
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    struct in_addr v4;
    unsigned max;
    unsigned len = 0;
    size_t i;

    if (alen >= sizeof(a))
        return false;
    memcpy(a, s, alen);
    a[alen] = '\0';
    memset(&r->net, 0, sizeof(r->net));
    if (inet_pton(AF_INET, a, &v4) == 1) {
        r->net.s6_addr[10] = r->net.s6_addr[11] = 0xff;
        memcpy(&r->net.s6_addr[12], &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, a, &r->net) == 1) {
        max = 128;
    } else {
        return false;
    }
    if (slash) {
        size_t dn = n - alen - 1;
        const char *d = slash + 1;
        if (dn < 1 || dn > 3 || (dn > 1 && d[0] == '0'))
            return false;
        for (i = 0; i < dn; i++) {
            if (!isdigit((unsigned char)d[i]))
                return false;
            len = len * 10 + (unsigned)(d[i] - '0');
        }
        if (len > max)
            return false;
    } else {
        len = max;
    }
    r->prefix = max == 32 ? len + 96 : len;
    for (i = 0; i < 128; i++)
        if (i >= r->prefix)
            r->net.s6_addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    return true;
}

/* -1: rejected; else the number of ranges. */
static int ref_list(const char *s, struct ref_range *v)
{
    int n = 0;

    for (;;) {
        size_t len = 0;
        while (ref_sep(*s))
            s++;
        if (!*s)
            return n;
        while (s[len] && !ref_sep(s[len]))
            len++;
        if (n == (int)HEALTH__CIDRS_MAX || !ref_item(s, len, &v[n]))
            return -1;
        n++;
        s += len;
    }
}

/* The token that a reference reading of an Authorization value carries,
 * or false. */
static bool ref_bearer(const char *h, char *out, size_t cap)
{
    size_t n;

    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return false;
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, h, n);
    out[n] = '\0';
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ref_range ref[HEALTH__CIDRS_MAX + 1];
    struct fuzz_in in = { data, size };
    struct health_options o;
    struct health__trust *t = NULL;
    char cidrs[1024];
    char token[1100];
    char header[1200];
    char carried[1200];
    struct in6_addr peer;
    bool local_loop;
    bool want_tok;
    int nref;
    int r;
    int i;

    memset(&o, 0, sizeof(o));
    fuzz_str_n(&in, cidrs, sizeof(cidrs), fuzz_u8(&in) * 4u);
    if (fuzz_bool(&in))
        fuzz_str_n(&in, token, sizeof(token), fuzz_u8(&in) * 5u);
    else
        snprintf(token, sizeof(token), "tok%u", fuzz_u8(&in));
    switch (fuzz_u8(&in) % 3) {
    case 0:
        fuzz_str(&in, header, sizeof(header));
        break;
    case 1:
        snprintf(header, sizeof(header), "Bearer %s", token);
        break;
    default:
        snprintf(header, sizeof(header), " bEaReR \t%s ", token);
        break;
    }
    for (i = 0; i < 16; i++)
        peer.s6_addr[i] = fuzz_u8(&in);
    if (fuzz_bool(&in)) { /* an IPv4 peer */
        memset(peer.s6_addr, 0, 10);
        peer.s6_addr[10] = peer.s6_addr[11] = 0xff;
    }
    local_loop = fuzz_bool(&in);

    o.token = token;
    o.details_cidrs = cidrs;
    nref = ref_list(cidrs, ref);
    r = health__trust_new(&t, &o);
    FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r == -ENOMEM)
        return 0;
    FUZZ_CHECK((r == 0) == (ref_token_ok(token) && nref >= 0));
    if (r < 0) {
        FUZZ_CHECK(t == NULL);
        return 0;
    }

    for (i = 0; i < nref; i++) {
        /* Each range contains its network; the address with the last
         * prefix bit flipped lies outside unless another range holds it. */
        FUZZ_CHECK(health__trust_in_cidrs(t, &ref[i].net));
        if (ref[i].prefix > 0) {
            struct in6_addr out = ref[i].net;
            unsigned b = ref[i].prefix - 1;
            bool other = false;
            int k;
            out.s6_addr[b / 8] ^= (unsigned char)(0x80u >> (b % 8));
            for (k = 0; k < nref; k++) {
                struct in6_addr m = out;
                unsigned j;
                for (j = ref[k].prefix; j < 128; j++)
                    m.s6_addr[j / 8] &= (unsigned char)~(0x80u >> (j % 8));
                other |= memcmp(&m, &ref[k].net, sizeof(m)) == 0;
            }
            FUZZ_CHECK(health__trust_in_cidrs(t, &out) == other);
        }
    }

    want_tok = ref_bearer(header, carried, sizeof(carried)) &&
               strcmp(carried, token) == 0;
    FUZZ_CHECK(health__trust_token_ok(t, header) == want_tok);
    FUZZ_CHECK(!health__trust_token_ok(t, NULL));
    FUZZ_CHECK(
        !health__trust_decide(t, HEALTH_DETAILS_NEVER, &peer, true, header));
    FUZZ_CHECK(health__trust_decide(t, HEALTH_DETAILS_ALWAYS, &peer, local_loop,
                                    NULL));
    FUZZ_CHECK(health__trust_decide(t, HEALTH_DETAILS_LOCAL, &peer, local_loop,
                                    header) ==
               ((health__is_loopback(&peer) && local_loop) ||
                health__trust_in_cidrs(t, &peer) || want_tok));
    health__trust_free(t);
    return 0;
}
