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

/* Activations for Q4_0 weights (ours, not a ggml type): Q8_0's values and
 * f16-rounded scales, laid out so that a 256-bit kernel multiplies two Q4_0
 * blocks per register. A Q4_0 block's bytes hold elements 0-15 in their low
 * nibbles and 16-31 in their high ones, so two blocks loaded side by side
 * give one register of low nibbles (block 0's 0-15, block 1's 0-15) and one
 * of high nibbles; qs holds the activations in exactly those two orders.
 * sum8 (8·Σ of the activations that meet one int32 lane of such a product:
 * elements 4i..4i+3 and 16+4i..16+4i+3 of a block) turns Σ q·a over the
 * unsigned nibbles q into Σ (q-8)·a with one subtraction; d repeats each
 * block's scale over its four lanes. Blocks go in pairs; a row with an odd
 * number of blocks ends in one block with the same layout at half width
 * (block_q8_0x1), so a row of n elements takes n/32 · 64 bytes. */
typedef struct {
    int8_t qs[64];
    int32_t sum8[8];
    float d[8];
} block_q8_0x2;

typedef struct {
    int8_t qs[32];
    int32_t sum8[4];
    float d[4];
} block_q8_0x1;

/* Where block b of a Q8_0x2 row of nb blocks keeps elements 0-15 (*lo),
 * 16-31 (*hi), the int32 lanes' sum8 (*sum8) and its scale. */
static inline float q8_0x2_block(const void *row, int64_t b, int64_t nb, const int8_t **lo,
                                 const int8_t **hi, const int32_t **sum8) {
    const char *base = (const char *)row + (b / 2) * (int64_t)sizeof(block_q8_0x2);
    if ((b | 1) >= nb) { /* the lone last block of an odd row */
        const block_q8_0x1 *x = (const block_q8_0x1 *)base;
        *lo = x->qs, *hi = x->qs + 16, *sum8 = x->sum8;
        return x->d[0];
    }
    const block_q8_0x2 *x = (const block_q8_0x2 *)base;
    const int k = (int)(b & 1);
    *lo = x->qs + 16 * k, *hi = x->qs + 32 + 16 * k, *sum8 = x->sum8 + 4 * k;
    return x->d[4 * k];
}

/* Activations for Q8_0 weights (ours, not a ggml type): a row of Q8_0
 * blocks with the scales moved to the front as floats (the f16-rounded
 * values Q8_0 stores), so a kernel loads four scales with one instruction
 * instead of widening four f16 values spread 34 bytes apart: nb floats,
 * then the nb·32 levels. A row of n elements takes n/32 · 36 bytes. */
static inline const float *q8_0r_scales(const void *row) { return (const float *)row; }
static inline const int8_t *q8_0r_levels(const void *row, int64_t nb) {
    return (const int8_t *)row + nb * (int64_t)sizeof(float);
}

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

/* The inverse: the 12 bytes holding 6-bit pairs (sc[j], m[j]), j < 8. */
static inline void q4k_set_scales_mins(const uint8_t *sc, const uint8_t *m, uint8_t *s) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");
/* Q4_0 with eight rows interleaved (ours, quant/pack.h): block b of rows
 * r0..r0+7 side by side, so that one 256-bit register holds 4 bytes of
 * each of the eight rows and a kernel's lanes are the rows themselves (no
 * horizontal sums, one scale conversion for eight blocks). d[j] is row j's
 * scale; qs[32g + 4j + i] = row j's qs[4g + i]. The same 144 bytes as the
 * eight blocks it replaces, so rows can be rearranged in place. */
typedef struct {
    uint16_t d[8];
    uint8_t qs[8 * QK4_0 / 2];
} block_q4_0x8;

/* Q8_0 with eight rows interleaved the same way (ours, quant/pack.h):
 * qs[32g + 4j + i] = row j's qs[4g + i], the 272 bytes of eight blocks. */
typedef struct {
    uint16_t d[8];
    int8_t qs[8 * QK8_0];
} block_q8_0x8;

/* Q4_K with eight rows interleaved (ours, quant/pack.h): one super-block
 * (256 elements) of rows r0..r0+7 in the 1152 bytes of their eight blocks.
 * d[j], dmin[j] are row j's; qs[32g + 4j + i] = row j's qs[4g + i], as in
 * Q4_0x8. The eight rows' 6-bit scales sc[s][j] and mins m[s][j] (s the
 * 32-element sub-block) are laid out so that a kernel decodes all 128 with
 * a few masks and shifts, and one byte shuffle then puts sub-block s's eight
 * values in the eight 32-bit lanes: value (s, j) has the position
 * p(s, j) = 16·(j/4) + 4·(s%4) + j%4 in a 32-byte vector (the 4 rows of a
 * 128-bit lane for 4 sub-blocks), and
 *   scales[p]      = low 4 bits of sc[s][j] | of sc[s+4][j] << 4   (s < 4)
 *   scales[32 + p] = the same for m
 *   scales[64 + p] = top 2 bits of sc[s][j] | of sc[s+4][j] << 2
 *                    | of m[s][j] << 4 | of m[s+4][j] << 6. */
typedef struct {
    uint16_t d[8];
    uint16_t dmin[8];
    uint8_t scales[96];
    uint8_t qs[8 * QK_K / 2];
} block_q4_Kx8;

/* Scale and min (s, j) of a block_q4_Kx8: sub-block s of row j. */
static inline void q4_Kx8_scale_min(const block_q4_Kx8 *p, int s, int j, uint8_t *sc, uint8_t *m) {
    const int at = 16 * (j / 4) + 4 * (s % 4) + j % 4, h = s / 4;
    const int top = p->scales[64 + at];
    *sc = (uint8_t)((p->scales[at] >> 4 * h & 0xF) | (top >> 2 * h & 3) << 4);
    *m = (uint8_t)((p->scales[32 + at] >> 4 * h & 0xF) | (top >> (4 + 2 * h) & 3) << 4);
}

/* Activations for Q4_0X8 and Q8_0X8 weights (ours): one Q8_0 block (levels
 * in order, the f16-rounded scale as a float) with 8·Σ levels, which turns
 * Σ q·a over Q4_0's unsigned nibbles into Σ (q-8)·a (Q8_0X8 ignores it). */
typedef struct {
    float d;
    int32_t sum8;
    int8_t qs[QK8_0];
} block_q8_0s;

_Static_assert(sizeof(block_q4_0x8) == 8 * sizeof(block_q4_0) && sizeof(block_q8_0x8) == 8 * sizeof(block_q8_0) &&
                   sizeof(block_q4_Kx8) == 8 * sizeof(block_q4_K) &&
                   sizeof(block_q8_0s) == 40,
               "interleaved layouts");
_Static_assert(sizeof(block_q8_0x2) == 128 && sizeof(block_q8_0x1) == 64, "block_q8_0x2 layout");

#endif
