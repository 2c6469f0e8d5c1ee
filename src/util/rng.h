/* splitmix64: a small, well-mixed generator; the same seed gives the same
 * sequence everywhere (sampling tokens, sampling documents). */
#ifndef OLMOE_UTIL_RNG_H
#define OLMOE_UTIL_RNG_H

#include <stdint.h>

static inline uint64_t splitmix64_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n > 0 (the modulo bias is below 2^-32 for n < 2^32). */
static inline uint64_t splitmix64_below(uint64_t *state, uint64_t n) {
    return splitmix64_next(state) % n;
}

#endif
