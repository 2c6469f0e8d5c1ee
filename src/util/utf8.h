/* Small UTF-8 helpers. */
#ifndef OLMOE_UTIL_UTF8_H
#define OLMOE_UTIL_UTF8_H

#include <stddef.h>

/* Unicode code points in s[0..bytes) of valid UTF-8: every byte but the
 * continuation bytes. */
static inline size_t utf8_code_points(const char *s, size_t bytes) {
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

#endif
