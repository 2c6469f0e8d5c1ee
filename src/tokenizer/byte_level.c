/* GPT-2 byte <-> unicode mapping, UTF-8 helpers and the string hash map. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_internal.h"

/* bytes_to_unicode(): the printable bytes '!'..'~', 0xA1..0xAC and
 * 0xAE..0xFF map to themselves; the other 68 bytes map, in increasing
 * order, to U+0100.. U+0143. */
uint32_t byte_level_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;              /* 0x00..0x20 -> 256..288 */
    if (b >= 0x7F && b <= 0xA0) return b + 162u; /* 0x7F..0xA0 -> 289..322 */
    return 323;                                  /* 0xAD */
}

int byte_level_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 0xAD;
    return -1;
}

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0 || n < 4) {
        if (n < 3) {
            *cp = c;
            return 1;
        }
        *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

size_t utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 prefix of the sequence starting at s (the
 * "maximal subpart"), and whether it is a complete character. */
static size_t utf8_seq(const unsigned char *s, size_t n, int *complete) {
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    *complete = 0;
    if (c < 0x80) {
        *complete = 1;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 1; /* invalid lead byte */
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) return i;
        unsigned b = s[i];
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) return i;
    }
    *complete = 1;
    return i;
}

int utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int ok;
        size_t l = utf8_seq(u + i, n - i, &ok);
        if (!ok) {
            if (bad) *bad = i;
            return 0;
        }
        i += l;
    }
    return 1;
}

size_t utf8_char_len(const char *s, size_t n) {
    int ok;
    size_t l = utf8_seq((const unsigned char *)s, n, &ok);
    return l ? l : 1;
}

size_t utf8_lossy(const unsigned char *s, size_t n, char *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        int ok;
        size_t l = utf8_seq(s + i, n - i, &ok);
        if (ok) {
            memcpy(out + o, s + i, l);
            o += l;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        i += l;
    }
    return o;
}

/* Unicode White_Space = Zs, Zl, Zp, U+0009..U+000D and U+0085. */
int uni_is_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x85) return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* The regex crate's \w: alphabetic, marks, decimal digits, connector
 * punctuation, join controls (Alphabetic approximated by L and Nl). */
int uni_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == 0x200C || cp == 0x200D) return 1;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ hashing */

uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)s[i] << (8 * i);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 29;
    return h;
}

int strmap_init(strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    m->e = calloc(cap, sizeof *m->e);
    m->mask = cap - 1;
    m->n = 0;
    return m->e ? 0 : -1;
}

void strmap_free(strmap *m) {
    free(m->e);
    m->e = NULL;
}

static int strmap_grow(strmap *m) {
    strmap bigger;
    if (strmap_init(&bigger, (m->mask + 1)) != 0) return -1;
    for (size_t i = 0; i <= m->mask; i++)
        if (m->e[i].key) strmap_put(&bigger, m->e[i].key, m->e[i].len, m->e[i].val);
    free(m->e);
    *m = bigger;
    return 0;
}

int strmap_put(strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->n + 1) * 2 > m->mask + 1 && strmap_grow(m) != 0) return -1;
    size_t i = (size_t)tok_hash(key, len) & m->mask;
    while (m->e[i].key) {
        if (m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0) {
            m->e[i].val = val;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    m->e[i].key = key;
    m->e[i].len = (uint32_t)len;
    m->e[i].val = val;
    m->n++;
    return 0;
}

int32_t strmap_get(const strmap *m, const char *key, size_t len) {
    if (!m->e) return -1;
    size_t i = (size_t)tok_hash(key, len) & m->mask;
    while (m->e[i].key) {
        if (m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0) return m->e[i].val;
        i = (i + 1) & m->mask;
    }
    return -1;
}
