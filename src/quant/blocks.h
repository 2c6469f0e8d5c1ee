/* ggml's quantized block layouts, byte for byte (little-endian, packed in
 * field order). A row of n elements of a block type is n / QK blocks. */
#ifndef OLMOE_QUANT_BLOCKS_H
#define OLMOE_QUANT_BLOCKS_H

#include <stdint.h>

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct {
    uint16_t d;          /* f16 scale */
    uint8_t qs[QK4_0 / 2]; /* low nibbles: elements 0..15, high: 16..31; value = (q - 8) * d */
} block_q4_0;

typedef struct {
    uint16_t d;          /* f16 scale */
    int8_t qs[QK8_0];    /* value = q * d */
} block_q8_0;

typedef struct {
    uint16_t d;          /* f16 super-block scale of the 6-bit scales */
    uint16_t dmin;       /* f16 super-block scale of the 6-bit mins */
    uint8_t scales[K_SCALE_SIZE]; /* 8 (scale, min) pairs, 6 bits each */
    uint8_t qs[QK_K / 2];
} block_q4_K;

typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit sub-block scales */
    uint16_t d;                /* f16 super-block scale (last) */
} block_q6_K;

typedef struct {
    float d;                   /* f32 scale (activations only) */
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sums of qs in groups of 16 */
} block_q8_K;

/* The 8 (scale, min) 6-bit pairs of a Q4_K block: pairs 0..3 sit in the low
 * 6 bits of bytes 0..3 (scale) and 4..7 (min); pairs 4..7 keep their low 4
 * bits in bytes 8..11 (scale low nibble, min high nibble) and their top 2
 * bits in the spare high bits of bytes 0..3 (scale) and 4..7 (min). */
static inline void q4k_get_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

#endif
