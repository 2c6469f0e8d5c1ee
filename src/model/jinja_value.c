/* Chat-template support code: the render arena, value constructors and the
 * UTF-8 / Python-string helpers (whitespace, case mapping) the lexer and the
 * evaluator share. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "model/jinja.h"
#include "util/error.h"

/* ------------------------------------------------------------------ arena */

struct jarena_block {
    jarena_block *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_BLOCK ((size_t)64 << 10)

void *jarena_alloc(jarena *a, size_t n) {
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    jarena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (n > JINJA_MAX_ARENA || a->total + cap > JINJA_MAX_ARENA) {
            olmoe_fail(OLMOE_ERR_NOMEM, "chat template: rendering needs more than %zu MiB",
                       (size_t)(JINJA_MAX_ARENA >> 20));
            return NULL;
        }
        b = malloc(sizeof *b + cap);
        if (!b) {
            olmoe_fail(OLMOE_ERR_NOMEM, "chat template: out of memory");
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->total += cap;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *jarena_strndup(jarena *a, const char *s, size_t n) {
    char *p = jarena_alloc(a, n + 1);
    if (p) {
        if (n) memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void jarena_free(jarena *a) {
    jarena_block *b = a->head;
    while (b) {
        jarena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ------------------------------------------------------------------ values */

jvalue jv_str(const char *p, size_t n) {
    jvalue v = {.kind = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
jvalue jv_int(long long i) { return (jvalue){.kind = JV_INT, .u.i = i}; }
jvalue jv_bool(int b) { return (jvalue){.kind = JV_BOOL, .u.i = b != 0}; }
jvalue jv_none(void) { return (jvalue){.kind = JV_NONE}; }
jvalue jv_undef(const char *name) {
    jvalue v = {.kind = JV_UNDEF};
    v.u.s.p = name;
    v.u.s.n = name ? strlen(name) : 0;
    return v;
}

/* ------------------------------------------------------------------ UTF-8 */

/* Decodes the code point at s[0..n); returns its length (1 for bytes that
 * are not valid UTF-8, which jinja_utf8_valid rejects up front). */
size_t jinja_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) {
        *cp = 0;
        return 0;
    }
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
    if (len == 1 || len > n) {
        *cp = u[0];
        return 1;
    }
    uint32_t c = u[0] & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) c = (c << 6) | (u[i] & 0x3F);
    *cp = c;
    return len;
}

int jinja_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

size_t jinja_utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

size_t jinja_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Python's str.isspace() (also what `\s` matches in re for str patterns). */
static int py_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t jinja_space_at(const char *s, size_t n) {
    uint32_t cp;
    size_t k = jinja_utf8_decode(s, n, &cp);
    return k && py_space(cp) ? k : 0;
}

size_t jinja_space_before(const char *s, size_t n) {
    size_t start = n;
    while (start > 0 && n - start < 4) {
        start--;
        if (((unsigned char)s[start] & 0xC0) != 0x80) break;
    }
    if (start == n) return 0;
    uint32_t cp;
    size_t k = jinja_utf8_decode(s + start, n - start, &cp);
    return k == n - start && py_space(cp) ? k : 0;
}

void jinja_strip(const char **p, size_t *n) {
    const char *s = *p;
    size_t len = *n, k;
    while (len > 0 && (k = jinja_space_at(s, len)) > 0) s += k, len -= k;
    while (len > 0 && (k = jinja_space_before(s, len)) > 0) len -= k;
    *p = s;
    *n = len;
}

/* Code points whose Python str.upper() is several characters (full case
 * mapping from SpecialCasing.txt); utf8proc only has the simple mapping. */
static int upper_is_special(uint32_t c) {
    static const uint32_t single[] = {0xDF, 0x149, 0x1F0, 0x390, 0x3B0, 0x587, 0x1F50, 0x1F52, 0x1F54,
                                      0x1F56, 0x1FBC, 0x1FCC, 0x1FFC};
    static const uint32_t ranges[][2] = {{0x1E96, 0x1E9A}, {0x1F80, 0x1FAF}, {0x1FB2, 0x1FB4}, {0x1FB6, 0x1FB7},
                                         {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FC7}, {0x1FD2, 0x1FD3}, {0x1FD6, 0x1FD7},
                                         {0x1FE2, 0x1FE4}, {0x1FE6, 0x1FE7}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FF7},
                                         {0xFB00, 0xFB06}, {0xFB13, 0xFB17}};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (c == single[i]) return 1;
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1]) return 1;
    return 0;
}

int jinja_case_map(jarena *a, const char *s, size_t n, int upper, jvalue *out, uint32_t *bad) {
    size_t cap = n + 8, len = 0;
    char *o = jarena_alloc(a, cap + 1);
    if (!o) return -1;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += jinja_utf8_decode(s + i, n - i, &cp);
        uint32_t m;
        if (cp < 0x80) {
            m = cp;
            if (upper && cp >= 'a' && cp <= 'z') m = cp - 32;
            if (!upper && cp >= 'A' && cp <= 'Z') m = cp + 32;
        } else {
            /* U+0130 lowers to two code points; capital sigma lowers
             * context-dependently (final sigma) in Python. */
            if ((upper && upper_is_special(cp)) || (!upper && (cp == 0x130 || cp == 0x3A3))) {
                *bad = cp;
                return 0;
            }
            m = (uint32_t)(upper ? utf8proc_toupper((utf8proc_int32_t)cp) : utf8proc_tolower((utf8proc_int32_t)cp));
        }
        if (len + 4 > cap) { /* a few mappings change the encoded length */
            size_t ncap = cap * 2 + 8;
            char *no = jarena_alloc(a, ncap + 1);
            if (!no) return -1;
            memcpy(no, o, len);
            o = no;
            cap = ncap;
        }
        len += jinja_utf8_encode(m, o + len);
    }
    o[len] = '\0';
    *out = jv_str(o, len);
    return 1;
}
