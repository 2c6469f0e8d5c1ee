/* Reference (scalar) quantizers and dequantizers for the ggml block formats
 * Q4_0 and Q8_0. The K-quants live in formats_k.c.
 *
 * The aim is byte equality with ggml's quantize_row_*_ref: a GGUF file we
 * write must be the file llama-quantize writes. That pins down more than the
 * algorithm: every float operation must happen in the same order and with
 * the same kind of operation (a division is not a multiplication by an
 * inverse), and the f16 scales are rounded to nearest even (f32_to_f16).
 * Nothing may be fused into an FMA (pragma below): ggml's portable build
 * rounds every product, and a fused one changes the last bit of some sums
 * and with it, occasionally, a chosen scale. */
#include "quant/formats.h"

#include <math.h>

#include "quant/kernels.h"
#include "quant/types.h"

/* Never fuse a*b+c into one FMA, even where the target has FMA and the
 * compiler would (GCC in GNU modes, Clang by default): ggml's reference
 * build rounds every product, and so must we. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

void quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; b++, x += QK4_0) {
        /* The element of largest magnitude, with its sign: it is mapped to
         * level -8, the one level of the 16 that has no positive partner, so
         * the biggest value is represented exactly (up to f16 rounding of d). */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        /* The levels use the f32 d, not the f16-rounded one that is stored. */
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);

        for (int j = 0; j < QK4_0 / 2; j++) {
            /* +8.5 then truncation: round half up onto levels 0..16; level 16
             * (a value of the opposite sign as large as max) is clamped to 15.
             * x*id >= -8 (up to an ulp), so the sum is positive and truncation
             * is floor. */
            int lo = (int)(x[j] * id + 8.5f);
            int hi = (int)(x[j + QK4_0 / 2] * id + 8.5f);
            if (lo > 15) lo = 15;
            if (hi > 15) hi = 15;
            y[b].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; b++, y += QK4_0) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* roundf (halves away from zero) for |v| < 2^31 without a libm call: the
 * truncated integer, plus one step where the remainder v - i (exact) reaches
 * a half. The baseline x86-64 build has no rounding instruction, so roundf
 * was a call per element, and activations are quantized on every product
 * (it cost about 20 us per 2048-element row, one core idle meanwhile). */
static inline int round_half_away(float v) {
    const int i = (int)v;
    const float r = v - (float)i;
    return i + (r >= 0.5f) - (r <= -0.5f);
}

void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; b++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        /* Symmetric: +-amax map to +-127 (level -128 is never used). */
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        /* Halves away from zero, as ggml's roundf (unlike the K-quants' nearest_int). */
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = (int8_t)round_half_away(x[j] * id);
    }
}

void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; b++, y += QK8_0) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

/* Block b (of nb) of a Q8_0 row into its place in the Q8_0x2 layout. */
static void place_q8_0x2(const block_q8_0 *q, void *y, int64_t b, int64_t nb) {
    const int8_t *lo, *hi;
    const int32_t *sum8;
    q8_0x2_block(y, b, nb, &lo, &hi, &sum8);
    int8_t *lo_w = (int8_t *)lo, *hi_w = (int8_t *)hi;
    int32_t *sum8_w = (int32_t *)sum8;
    float *d_w = (float *)(sum8_w + ((b | 1) >= nb ? 4 : 8)); /* d[] follows sum8[] */
    for (int j = 0; j < 16; j++) lo_w[j] = q->qs[j], hi_w[j] = q->qs[16 + j];
    for (int i = 0; i < 4; i++) {
        int s = 0;
        for (int j = 0; j < 4; j++) s += q->qs[4 * i + j] + q->qs[16 + 4 * i + j];
        sum8_w[i] = 8 * s;
        d_w[i] = f16_to_f32(q->d);
    }
}

/* The kernel-shaped Q8_0 layouts (Q8_0x2, Q8_0r) hold Q8_0's values: each
 * block is quantized exactly as Q8_0 (same levels, same f16-rounded scale)
 * or taken from a Q8_0 row, then put in its place by `place`. */
typedef void (*place_fn)(const block_q8_0 *q, void *y, int64_t b, int64_t nb);

static void pack_placed(const block_q8_0 *x, void *y, int64_t n, place_fn place) {
    for (int64_t b = 0; b < n / QK8_0; b++) place(&x[b], y, b, n / QK8_0);
}

static void quantize_placed(const float *x, void *y, int64_t n, place_fn place) {
    enum { CHUNK = 64 };
    block_q8_0 q[CHUNK];
    const int64_t nb = n / QK8_0;
    for (int64_t b0 = 0; b0 < nb; b0 += CHUNK) {
        const int64_t k = nb - b0 < CHUNK ? nb - b0 : CHUNK;
        quantize_activations_q8_0(x + b0 * QK8_0, q, k * QK8_0); /* SIMD where there is */
        for (int64_t b = 0; b < k; b++) place(&q[b], y, b0 + b, nb);
    }
}

void pack_q8_0x2(const block_q8_0 *x, void *y, int64_t n) { pack_placed(x, y, n, place_q8_0x2); }
void quantize_row_q8_0x2(const float *x, void *y, int64_t n) { quantize_placed(x, y, n, place_q8_0x2); }

void dequantize_row_q8_0x2(const void *x, float *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; b++, y += QK8_0) {
        const int8_t *lo, *hi;
        const int32_t *sum8;
        const float d = q8_0x2_block(x, b, nb, &lo, &hi, &sum8);
        for (int j = 0; j < 16; j++) y[j] = lo[j] * d, y[16 + j] = hi[j] * d;
    }
}

/* Q8_0r: Q8_0's levels and f16-rounded scales, scales first as floats. */
static void place_q8_0r(const block_q8_0 *q, void *y, int64_t b, int64_t nb) {
    ((float *)y)[b] = f16_to_f32(q->d);
    int8_t *levels = (int8_t *)q8_0r_levels(y, nb) + b * QK8_0;
    for (int j = 0; j < QK8_0; j++) levels[j] = q->qs[j];
}

void pack_q8_0r(const block_q8_0 *x, void *y, int64_t n) { pack_placed(x, y, n, place_q8_0r); }
void quantize_row_q8_0r(const float *x, void *y, int64_t n) { quantize_placed(x, y, n, place_q8_0r); }

void dequantize_row_q8_0r(const void *x, float *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    const int8_t *levels = q8_0r_levels(x, nb);
    for (int64_t i = 0; i < n; i++) y[i] = levels[i] * q8_0r_scales(x)[i / QK8_0];
}

/* Q8_0s: each Q8_0 block with its scale as a float and 8·Σ levels. */
static void place_q8_0s(const block_q8_0 *q, void *y, int64_t b, int64_t nb) {
    (void)nb;
    block_q8_0s *s = (block_q8_0s *)y + b;
    int sum = 0;
    for (int j = 0; j < QK8_0; j++) sum += s->qs[j] = q->qs[j];
    s->d = f16_to_f32(q->d);
    s->sum8 = 8 * sum;
}

void pack_q8_0s(const block_q8_0 *x, void *y, int64_t n) { pack_placed(x, y, n, place_q8_0s); }
void quantize_row_q8_0s(const float *x, void *y, int64_t n) { quantize_placed(x, y, n, place_q8_0s); }

void dequantize_row_q8_0s(const void *x, float *y, int64_t n) {
    const block_q8_0s *s = x;
    for (int64_t i = 0; i < n; i++) y[i] = s[i / QK8_0].qs[i % QK8_0] * s[i / QK8_0].d;
}
