/* NEON dot products for aarch64 (NEON is mandatory there, so no run-time
 * check). 8-bit products use SDOT when the compiler targets it
 * (__ARM_FEATURE_DOTPROD, e.g. -march=armv8.2-a+dotprod), otherwise
 * widening multiplies (vmull_s8) with pairwise accumulation (vpadalq_s16),
 * which is exact for every int8 pair. Q4_K and Q6_K use signed weights
 * directly, so they need no bsums correction for the scales; the integer
 * sums equal dot_scalar.c's, and the float part follows its per-block
 * formula. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/kernels.h"

/* quant_dot_<type>_neon: declared (and put in the tables) by dispatch.c. */

static inline float half_to_f32(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* acc + the sums of four adjacent x·y products in each int32 lane. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t x, int8x16_t y) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, x, y);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
#endif
}

/* ---- float weights ---- */

enum { W_F32, W_F16, W_BF16 };

static inline float32x4_t load4(const void *w, int64_t i, int kind) {
    switch (kind) {
    case W_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
    case W_BF16: return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
    default: return vld1q_f32((const float *)w + i);
    }
}

static inline float load1(const void *w, int64_t i, int kind) {
    switch (kind) {
    case W_F16: return half_to_f32(((const uint16_t *)w)[i]);
    case W_BF16: return bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

/* Four accumulators of four lanes; the tail is scalar. */
static inline float float_dot(int64_t n, const void *w, const float *a, int kind) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, load4(w, i, kind), vld1q_f32(a + i));
        s1 = vfmaq_f32(s1, load4(w, i + 4, kind), vld1q_f32(a + i + 4));
        s2 = vfmaq_f32(s2, load4(w, i + 8, kind), vld1q_f32(a + i + 8));
        s3 = vfmaq_f32(s3, load4(w, i + 12, kind), vld1q_f32(a + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, load4(w, i, kind), vld1q_f32(a + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += load1(w, i, kind) * a[i];
    return sum;
}

float quant_dot_f32_neon(int64_t n, const void *w, const void *a) { return float_dot(n, w, a, W_F32); }
float quant_dot_f16_neon(int64_t n, const void *w, const void *a) { return float_dot(n, w, a, W_F16); }
float quant_dot_bf16_neon(int64_t n, const void *w, const void *a) { return float_dot(n, w, a, W_BF16); }

/* Four pairs of 128-bit loads in flight per step. */
uint64_t quant_read_xor64_neon(const uint64_t *p, size_t n) {
    uint64x2_t a = vdupq_n_u64(0), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 16) {
        uint64x2x4_t x = vld1q_u64_x4(p + i), y = vld1q_u64_x4(p + i + 8);
        a = veorq_u64(a, veorq_u64(x.val[0], y.val[0]));
        b = veorq_u64(b, veorq_u64(x.val[1], y.val[1]));
        c = veorq_u64(c, veorq_u64(x.val[2], y.val[2]));
        d = veorq_u64(d, veorq_u64(x.val[3], y.val[3]));
    }
    uint64x2_t r = veorq_u64(veorq_u64(a, b), veorq_u64(c, d));
    return vgetq_lane_u64(r, 0) ^ vgetq_lane_u64(r, 1);
}

void quant_dot_rows_f32_neon(int64_t n, const float *x, const float *rows, int64_t stride,
                             int64_t n_rows, float *out) {
    for (int64_t j = 0; j < n_rows; j++) out[j] = float_dot(n, rows + j * stride, x, W_F32);
}

/* 32 outputs at a time held in eight registers while every row adds in. */
void quant_weighted_rows_f32_neon(int64_t n, const float *w, const float *rows, int64_t stride,
                                  int64_t n_rows, float *out) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        float32x4_t acc[8];
        for (int k = 0; k < 8; k++) acc[k] = vdupq_n_f32(0);
        for (int64_t j = 0; j < n_rows; j++) {
            const float *r = rows + j * stride + i;
            for (int k = 0; k < 8; k++) acc[k] = vfmaq_n_f32(acc[k], vld1q_f32(r + 4 * k), w[j]);
        }
        for (int k = 0; k < 8; k++) vst1q_f32(out + i + 4 * k, acc[k]);
    }
    for (; i < n; i++) {
        float s = 0;
        for (int64_t j = 0; j < n_rows; j++) s += w[j] * rows[j * stride + i];
        out[i] = s;
    }
}

/* ---- Q8_0 against Q8_0, Q4_0 against Q8_0x2 ---- */

/* Lane sums Σ x·a of one block: x0 against elements 0-15, x1 against 16-31. */
static inline int32x4_t block_dot(int8x16_t x0, int8x16_t x1, const int8_t *a_lo, const int8_t *a_hi) {
    return dot16(dot16(vdupq_n_s32(0), x0, vld1q_s8(a_lo)), x1, vld1q_s8(a_hi));
}

/* Activations in the Q8_0r layout (blocks.h). */
float quant_dot_q8_0_neon(int64_t n, const void *wv, const void *av) {
    const block_q8_0 *w = wv;
    const int64_t nb = n / 32;
    const float *da = q8_0r_scales(av);
    const int8_t *a = q8_0r_levels(av, nb);
    float32x4_t s[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int64_t b = 0; b < nb; b++) { /* two accumulators, alternating */
        float d = half_to_f32(w[b].d) * da[b];
        int32x4_t l = block_dot(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), a + 32 * b, a + 32 * b + 16);
        s[b & 1] = vfmaq_n_f32(s[b & 1], vcvtq_f32_s32(l), d);
    }
    return vaddvq_f32(vaddq_f32(s[0], s[1]));
}

/* Low nibbles are elements 0-15, high ones 16-31; minus 8. */
float quant_dot_q4_0_neon(int64_t n, const void *wv, const void *av) {
    const block_q4_0 *w = wv;
    const int64_t nb = n / 32;
    float32x4_t s[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *lo, *hi;
        const int32_t *sum8;
        float d = half_to_f32(w[b].d) * q8_0x2_block(av, b, nb, &lo, &hi, &sum8);
        uint8x16_t q = vld1q_u8(w[b].qs);
        int8x16_t x0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0xF))), vdupq_n_s8(8));
        int8x16_t x1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        s[b & 1] = vfmaq_n_f32(s[b & 1], vcvtq_f32_s32(block_dot(x0, x1, lo, hi)), d);
    }
    return vaddvq_f32(vaddq_f32(s[0], s[1]));
}

/* ---- Q4_K / Q6_K against Q8_K ---- */

float quant_dot_q4_K_neon(int64_t n, const void *wv, const void *av) {
    const block_q4_K *w = wv;
    const block_q8_K *a = av;
    const uint8x16_t low4 = vdupq_n_u8(0xF);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        /* The 12 packed bytes as words: scales/mins 0-3 are the low six bits
         * of words 0 / 1; scales/mins 4-7 take their low nibbles from word 2
         * and their top two bits from the top of words 0 / 1. */
        uint32_t u[3], sm[4];
        memcpy(u, w[b].scales, sizeof u);
        sm[0] = u[0] & 0x3f3f3f3f;
        sm[1] = (u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030);
        sm[2] = u[1] & 0x3f3f3f3f;
        sm[3] = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030);
        uint8_t sc[16]; /* scales 0-7, then mins 0-7 */
        memcpy(sc, sm, sizeof sc);

        /* Σ_j m_j·Σa over sub-block j: pairs of 16-element bsums. */
        int16x8_t pair_sums = vpaddq_s16(vld1q_s16(a[b].bsums), vld1q_s16(a[b].bsums + 8));
        int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(sc + 8)));
        int32x4_t min_terms = vmull_s16(vget_low_s16(mins), vget_low_s16(pair_sums));
        min_terms = vmlal_high_s16(min_terms, mins, pair_sums);
        int32_t imin = vaddvq_s32(min_terms);

        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles), 2c+1 (high) */
            uint8x16_t q0 = vld1q_u8(q + 32 * c), q1 = vld1q_u8(q + 32 * c + 16);
            int32x4_t lo = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, low4)), vld1q_s8(y + 64 * c));
            lo = dot16(lo, vreinterpretq_s8_u8(vandq_u8(q1, low4)), vld1q_s8(y + 64 * c + 16));
            int32x4_t hi = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(y + 64 * c + 32));
            hi = dot16(hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(y + 64 * c + 48));
            sumi = vmlaq_n_s32(sumi, lo, sc[2 * c]);
            sumi = vmlaq_n_s32(sumi, hi, sc[2 * c + 1]);
        }
        float d = a[b].d * half_to_f32(w[b].d);
        float dmin = a[b].d * half_to_f32(w[b].dmin);
        sum += d * (float)vaddvq_s32(sumi) - dmin * (float)imin;
    }
    return sum;
}

/* Σ_g sc_g·Σ((q − 32)·a), one 16-byte vector per scale group. */
float quant_dot_q6_K_neon(int64_t n, const void *wv, const void *av) {
    const block_q6_K *w = wv;
    const block_q8_K *a = av;
    const uint8x16_t low4 = vdupq_n_u8(0xF), bits01 = vdupq_n_u8(0x03);
    const uint8x16_t bits23 = vdupq_n_u8(0x0C), bits45 = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {     /* 128 elements, scale groups 8h .. 8h+7 */
            for (int j = 0; j < 2; j++) { /* elements 16j .. 16j+15 of each 32 */
                const uint8_t *ql = w[b].ql + 64 * h + 16 * j;
                uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 32);
                uint8x16_t hb = vld1q_u8(w[b].qh + 32 * h + 16 * j);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(hb, bits01), 4));
                q[1] = vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(hb, bits23), 2));
                q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, bits45));
                q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int k = 0; k < 4; k++) {
                    int8x16_t x = vsubq_s8(vreinterpretq_s8_u8(q[k]), offset);
                    int8x16_t y = vld1q_s8(a[b].qs + 128 * h + 32 * k + 16 * j);
                    sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), x, y),
                                       w[b].scales[8 * h + 2 * k + j]);
                }
            }
        }
        sum += a[b].d * half_to_f32(w[b].d) * (float)vaddvq_s32(sumi);
    }
    return sum;
}

/* ---- Q4_0X8: eight interleaved Q4_0 rows against Q8_0s ---- */

/* acc + in lane r the dot of bytes 4r .. 4r+3 of x and y (one row each). */
static inline int32x4_t dot4_rows(int32x4_t acc, int8x16_t x, int8x16_t y) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, x, y);
#else
    int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(x), vget_low_s8(y)));  /* rows 0, 0, 1, 1 */
    int32x4_t hi = vpaddlq_s16(vmull_high_s8(x, y));                        /* rows 2, 2, 3, 3 */
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
#endif
}

/* Lane j of the two halves is row j (block_q4_0x8, blocks.h): 4 bytes of
 * activations broadcast meet the same 4 bytes of four rows per register.
 * Each block adds (d_w·d_a)·Σ(q-8)·a into its row with one fused
 * multiply-add, as dot_scalar.c's reference does, so the bits are its. */
void quant_dot_tokens_q4_0x8_neon(int64_t n, const void *wv, const void *av, size_t a_row, int n_tok,
                                  float *y, int64_t y_stride) {
    const block_q4_0x8 *w = wv;
    const uint8x16_t low4 = vdupq_n_u8(0xF);
    prefetch_cursor pf = prefetch_start(w);
    for (int t = 0; t < n_tok; t++) {
        const block_q8_0s *a = (const block_q8_0s *)((const char *)av + (size_t)t * a_row);
        float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
        for (int64_t b = 0; b < n / QK4_0; b++) {
            prefetch_to(&pf, w + b + 1);
            int32_t q[8];
            memcpy(q, a[b].qs, sizeof q);
            int32x4_t isum[2];
            for (int h = 0; h < 2; h++) { /* rows 4h .. 4h+3 */
                isum[h] = vdupq_n_s32(-a[b].sum8);
                for (int g = 0; g < 4; g++) {
                    uint8x16_t x = vld1q_u8(w[b].qs + 32 * g + 16 * h);
                    isum[h] = dot4_rows(isum[h], vreinterpretq_s8_u8(vandq_u8(x, low4)),
                                        vreinterpretq_s8_s32(vdupq_n_s32(q[g])));
                    isum[h] = dot4_rows(isum[h], vreinterpretq_s8_u8(vshrq_n_u8(x, 4)),
                                        vreinterpretq_s8_s32(vdupq_n_s32(q[4 + g])));
                }
                float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w[b].d + 4 * h)));
                acc[h] = vfmaq_f32(acc[h], vmulq_n_f32(dw, a[b].d), vcvtq_f32_s32(isum[h]));
            }
        }
        vst1q_f32(y + (size_t)t * (size_t)y_stride, acc[0]);
        vst1q_f32(y + (size_t)t * (size_t)y_stride + 4, acc[1]);
    }
}

#else
typedef int dot_neon_unused; /* ISO C wants a non-empty file */
#endif /* __aarch64__ */
