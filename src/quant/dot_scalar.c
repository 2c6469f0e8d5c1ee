/* Portable reference dot products, one per (weight, activation) pair.
 *
 * The quantized kernels follow ggml's organisation: an exact integer dot
 * product per block (or per sub-block, weighted by its integer scale), then
 * one float multiply by the block scales and a float sum over blocks. The
 * SIMD kernels (dot_avx2.c, dot_neon.c) compute the same integers and differ
 * from these only in the order of the float additions.
 *
 * Activation blocks (q8_0, q8_K) hold values in [-127, 127], as the
 * quantizers in formats.c produce, and q8_K bsums equal the sums of their
 * 16-element groups. */
#include <math.h>

#include "quant/blocks.h"
#include "quant/kernels.h"

/* quant_dot_<type>_scalar: declared (and put in the tables) by dispatch.c. */

/* Eight independent partial sums keep long float rows accurate and let the
 * compiler vectorise; the tail goes to the first. */
static void float_acc(float s[8], const float *w, const float *a, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += w[i + k] * a[i + k];
    for (; i < n; i++) s[0] += w[i] * a[i];
}

static float float_sum(const float s[8]) {
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float quant_dot_f32_scalar(int64_t n, const void *w, const void *a) {
    float s[8] = {0};
    float_acc(s, w, a, n);
    return float_sum(s);
}

/* 16-bit weights are widened a chunk at a time (a multiple of 8, so the
 * partial sums see the same sequence as one pass would). */
enum { CHUNK = 256 };

/* f16_to_f32 as selects the compiler can vectorise (types.c's version
 * loops over subnormals); the same value for every input. */
static inline float half_to_f32(uint16_t h) {
    uint32_t em = h & 0x7fffu;
    union { uint32_t u; float f; } normal = {(em << 13) + ((127u - 15u) << 23)}, sub;
    sub.f = (float)em * 0x1p-24f;                      /* subnormal, zero: exact */
    uint32_t special = 0x7f800000u | ((em & 0x3ffu) << 13); /* inf, NaN */
    uint32_t u = em >= 0x7c00u ? special : em >= 0x0400u ? normal.u : sub.u;
    union { uint32_t u; float f; } v = {u | (uint32_t)(h & 0x8000u) << 16};
    return v.f;
}

static float dot_half(int64_t n, const uint16_t *w, const float *a, int is_bf16) {
    float s[8] = {0}, buf[CHUNK];
    for (int64_t c = 0; c < n; c += CHUNK) {
        int64_t len = n - c < CHUNK ? n - c : CHUNK;
        for (int64_t i = 0; i < len; i++)
            buf[i] = is_bf16 ? bf16_to_f32(w[c + i]) : half_to_f32(w[c + i]);
        float_acc(s, buf, a + c, len);
    }
    return float_sum(s);
}

float quant_dot_f16_scalar(int64_t n, const void *w, const void *a) { return dot_half(n, w, a, 0); }
float quant_dot_bf16_scalar(int64_t n, const void *w, const void *a) { return dot_half(n, w, a, 1); }

static int32_t dot_i8(const int8_t *x, const int8_t *y, int len) {
    int32_t s = 0;
    for (int i = 0; i < len; i++) s += (int32_t)x[i] * y[i];
    return s;
}

/* Activations in the Q8_0r layout (blocks.h). */
float quant_dot_q8_0_scalar(int64_t n, const void *wv, const void *av) {
    const block_q8_0 *w = wv;
    const int64_t nb = n / QK8_0;
    const int8_t *levels = q8_0r_levels(av, nb);
    float sum = 0;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = dot_i8(w[b].qs, levels + b * QK8_0, QK8_0);
        sum += f16_to_f32(w[b].d) * q8_0r_scales(av)[b] * (float)isum;
    }
    return sum;
}

/* Eight interleaved Q4_0 rows (block_q4_0x8) against n_tok Q8_0s rows:
 * y[t·y_stride + j] for row j. Each block adds (d_w·d_a)·Σ(q-8)·a into its
 * row with one fused multiply-add, exactly as the SIMD kernels' lanes do,
 * so this layout gives the same bits on every instruction set. Like them it
 * prefetches as it streams (quant_ops.prefetches). */
void quant_dot_tokens_q4_0x8_scalar(int64_t n, const void *wv, const void *av, size_t a_row, int n_tok,
                                    float *y, int64_t y_stride) {
    const block_q4_0x8 *w = wv;
    prefetch_cursor pf = prefetch_start(w);
    for (int t = 0; t < n_tok; t++) {
        const block_q8_0s *a = (const block_q8_0s *)((const char *)av + (size_t)t * a_row);
        float acc[8] = {0};
        for (int64_t b = 0; b < n / QK4_0; b++) {
            prefetch_to(&pf, w + b + 1);
            for (int j = 0; j < 8; j++) {
                int isum = -a[b].sum8;
                for (int g = 0; g < 4; g++)
                    for (int i = 0; i < 4; i++) {
                        const int q = w[b].qs[32 * g + 4 * j + i];
                        isum += (q & 0x0F) * a[b].qs[4 * g + i] + (q >> 4) * a[b].qs[16 + 4 * g + i];
                    }
                acc[j] = fmaf(f16_to_f32(w[b].d[j]) * a[b].d, (float)isum, acc[j]);
            }
        }
        for (int j = 0; j < 8; j++) y[(size_t)t * (size_t)y_stride + (size_t)j] = acc[j];
    }
}

/* Eight interleaved Q8_0 rows (block_q8_0x8) against n_tok Q8_0s rows, as
 * above: one fused multiply-add per block and row, the SIMD lanes' order. */
void quant_dot_tokens_q8_0x8_scalar(int64_t n, const void *wv, const void *av, size_t a_row, int n_tok,
                                    float *y, int64_t y_stride) {
    const block_q8_0x8 *w = wv;
    prefetch_cursor pf = prefetch_start(w);
    for (int t = 0; t < n_tok; t++) {
        const block_q8_0s *a = (const block_q8_0s *)((const char *)av + (size_t)t * a_row);
        float acc[8] = {0};
        for (int64_t b = 0; b < n / QK8_0; b++) {
            prefetch_to(&pf, w + b + 1);
            for (int j = 0; j < 8; j++) {
                int isum = 0;
                for (int g = 0; g < 8; g++)
                    for (int i = 0; i < 4; i++) isum += w[b].qs[32 * g + 4 * j + i] * a[b].qs[4 * g + i];
                acc[j] = fmaf(f16_to_f32(w[b].d[j]) * a[b].d, (float)isum, acc[j]);
            }
        }
        for (int j = 0; j < 8; j++) y[(size_t)t * (size_t)y_stride + (size_t)j] = acc[j];
    }
}

/* Eight interleaved Q4_K rows (block_q4_Kx8) against n_tok Q8_K rows, as
 * above: per super-block and row, d·Σ_s sc_s·Σ(q·a) and dmin·Σ_s m_s·Σa
 * each added with one fused multiply-add into the row's sum and min, and
 * the row's result their difference, the SIMD lanes' order. */
void quant_dot_tokens_q4_Kx8_scalar(int64_t n, const void *wv, const void *av, size_t a_row, int n_tok,
                                    float *y, int64_t y_stride) {
    const block_q4_Kx8 *w = wv;
    prefetch_cursor pf = prefetch_start(w);
    for (int t = 0; t < n_tok; t++) {
        const block_q8_K *a = (const block_q8_K *)((const char *)av + (size_t)t * a_row);
        float sum[8] = {0}, min[8] = {0};
        for (int64_t b = 0; b < n / QK_K; b++) {
            prefetch_to(&pf, w + b + 1);
            for (int j = 0; j < 8; j++) {
                int32_t isum = 0, imin = 0;
                for (int s = 0; s < 8; s++) {
                    uint8_t sc, m;
                    q4_Kx8_scale_min(&w[b], s, j, &sc, &m);
                    int32_t dot = 0; /* sub-block s: nibble s % 2 of row bytes 32·(s/2) .. */
                    for (int l = 0; l < 32; l++) {
                        const int byte = 32 * (s / 2) + l;
                        dot += (w[b].qs[32 * (byte / 4) + 4 * j + byte % 4] >> (4 * (s % 2)) & 0xF) * a[b].qs[32 * s + l];
                    }
                    isum += sc * dot;
                    imin += m * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
                }
                sum[j] = fmaf(f16_to_f32(w[b].d[j]) * a[b].d, (float)isum, sum[j]);
                min[j] = fmaf(f16_to_f32(w[b].dmin[j]) * a[b].d, (float)imin, min[j]);
            }
        }
        for (int j = 0; j < 8; j++) y[(size_t)t * (size_t)y_stride + (size_t)j] = sum[j] - min[j];
    }
}

/* Activations in the Q8_0x2 layout (blocks.h); the sums are ggml's:
 * d_w·d_a·Σ (q-8)·a per block. */
float quant_dot_q4_0_scalar(int64_t n, const void *wv, const void *av) {
    const block_q4_0 *w = wv;
    const int64_t nb = n / QK4_0;
    float sum = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *lo, *hi;
        const int32_t *sum8;
        const float da = q8_0x2_block(av, b, nb, &lo, &hi, &sum8);
        int8_t q_lo[16], q_hi[16];
        for (int j = 0; j < 16; j++) {
            q_lo[j] = (int8_t)((w[b].qs[j] & 0xF) - 8);
            q_hi[j] = (int8_t)((w[b].qs[j] >> 4) - 8);
        }
        int32_t isum = dot_i8(q_lo, lo, 16) + dot_i8(q_hi, hi, 16);
        sum += f16_to_f32(w[b].d) * da * (float)isum;
    }
    return sum;
}

/* Per super-block: d·Σ_j sc_j·Σ(q·a) − dmin·Σ_j m_j·Σa, the Σa of each
 * 32-element sub-block taken from two q8_K bsums. */
float quant_dot_q4_K_scalar(int64_t n, const void *wv, const void *av) {
    const block_q4_K *w = wv;
    const block_q8_K *a = av;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *qs = w[b].qs;
        const int8_t *y = a[b].qs;
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            q4k_get_scale_min(j, w[b].scales, &sc, &m);
            /* sub-block j: nibble (j & 1) of bytes qs[32·(j/2) ..] */
            const uint8_t *q = qs + 32 * (j / 2);
            int shift = 4 * (j & 1);
            int32_t s = 0;
            for (int l = 0; l < 32; l++) s += ((q[l] >> shift) & 0xF) * y[32 * j + l];
            isum += sc * s;
            imin += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        float d = a[b].d * f16_to_f32(w[b].d);
        float dmin = a[b].d * f16_to_f32(w[b].dmin);
        sum += d * (float)isum - dmin * (float)imin;
    }
    return sum;
}

/* Per super-block: d·Σ_g sc_g·Σ((q − 32)·a) over 16 groups of 16. */
float quant_dot_q6_K_scalar(int64_t n, const void *wv, const void *av) {
    const block_q6_K *w = wv;
    const block_q8_K *a = av;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t q[QK_K];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            int8_t *o = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                o[l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int32_t isum = 0;
        for (int g = 0; g < QK_K / 16; g++)
            isum += w[b].scales[g] * dot_i8(q + 16 * g, a[b].qs + 16 * g, 16);
        sum += a[b].d * f16_to_f32(w[b].d) * (float)isum;
    }
    return sum;
}


void quant_dot_rows_f32_scalar(int64_t n, const float *x, const float *rows, int64_t stride,
                               int64_t n_rows, float *out) {
    for (int64_t j = 0; j < n_rows; j++) out[j] = quant_dot_f32_scalar(n, rows + j * stride, x);
}

uint64_t quant_read_xor64_scalar(const uint64_t *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0; /* four independent streams of loads */
    for (size_t i = 0; i < n; i += 4) a ^= p[i], b ^= p[i + 1], c ^= p[i + 2], d ^= p[i + 3];
    return a ^ b ^ c ^ d;
}

void quant_weighted_rows_f32_scalar(int64_t n, const float *w, const float *rows, int64_t stride,
                                    int64_t n_rows, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = 0;
    for (int64_t j = 0; j < n_rows; j++)
        for (int64_t i = 0; i < n; i++) out[i] += w[j] * rows[j * stride + i];
}

/* The reference the SIMD versions are held to: libm's expf. */
void quant_silu_mul_scalar(int64_t n, float *gate, const float *up) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
