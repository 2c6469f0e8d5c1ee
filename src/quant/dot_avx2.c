/* AVX2 + FMA (+ F16C) dot products for x86-64. Every function carries its
 * own target attribute, so this file builds without -mavx2 and runs only
 * where dispatch.c has checked the CPU.
 *
 * Integer work is done with 8-bit multiplies: _mm256_maddubs_epi16 takes an
 * unsigned and a signed operand, so 4-bit and 6-bit weights (unsigned
 * before their offset) go in directly, and signed weights lend their sign to
 * the activation (|w|·(sign(w)·a)). The 16-bit pair sums cannot saturate
 * because activations lie in [-127, 127]. Results equal dot_scalar.c's
 * integers; only the float additions are ordered differently.
 *
 * The quantized kernels ask for the weights STREAM_PREFETCH_BYTES ahead as
 * they read them (quant_ops.prefetches): a steady trickle keeps more of the
 * memory's bandwidth busy than a burst per row. */
#if defined(__x86_64__)

#include <immintrin.h>
#include <float.h> /* FLT_MAX */
#include <math.h> /* INFINITY */

#include "quant/blocks.h"
#include "quant/formats.h" /* quantize_row_q8_K, for blocks holding NaNs */
#include "quant/kernels.h"

/* quant_dot_<type>_avx2: declared (and put in the tables) by dispatch.c. */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE AVX2 __attribute__((always_inline)) static inline

AVX2_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_INLINE float hsum_ps128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_INLINE float half_to_f32(uint16_t h) { return _cvtsh_ss(h); }

AVX2_INLINE __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
AVX2_INLINE __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
/* The 4 bytes at p in every 32-bit lane (one broadcast load). */
AVX2_INLINE __m256i broadcast4(const void *p) { return _mm256_broadcastd_epi32(_mm_loadu_si32(p)); }

/* ---- float weights ---- */

enum { W_F32, W_F16, W_BF16 };

AVX2_INLINE __m256 load8(const void *w, int64_t i, int kind) {
    switch (kind) {
    case W_F16: return _mm256_cvtph_ps(load128((const uint16_t *)w + i));
    case W_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(load128((const uint16_t *)w + i)), 16));
    default: return _mm256_loadu_ps((const float *)w + i);
    }
}

AVX2_INLINE float load1(const void *w, int64_t i, int kind) {
    switch (kind) {
    case W_F16: return half_to_f32(((const uint16_t *)w)[i]);
    case W_BF16: return bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

/* Float weights against NT float tokens (NT <= 2: eight accumulators and
 * four weight vectors fill the sixteen registers). Each token's sum: four
 * accumulators of eight lanes over 32-element steps, then eight elements
 * at a time into the first, then a scalar tail; vec_dot is the one-token
 * case, so both give the same floats. The weights are widened once for
 * both tokens and asked for ahead as they stream (kernels.h). */
AVX2_INLINE void float_dot_tokens(int64_t n, const void *w, const char *a, size_t a_row, float *out,
                                  int64_t out_stride, const int NT, const int kind) {
    const size_t w_size = kind == W_F32 ? sizeof(float) : sizeof(uint16_t);
    const float *at[2];
    __m256 s[2][4];
    for (int t = 0; t < NT; t++) {
        at[t] = (const float *)(a + (size_t)t * a_row);
        for (int k = 0; k < 4; k++) s[t][k] = _mm256_setzero_ps();
    }
    prefetch_cursor pf = prefetch_start(w);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_to(&pf, (const char *)w + (size_t)(i + 32) * w_size);
        for (int k = 0; k < 4; k++) {
            const __m256 wk = load8(w, i + 8 * k, kind);
            for (int t = 0; t < NT; t++) s[t][k] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(at[t] + i + 8 * k), s[t][k]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 wk = load8(w, i, kind);
        for (int t = 0; t < NT; t++) s[t][0] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(at[t] + i), s[t][0]);
    }
    for (int t = 0; t < NT; t++) {
        float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(s[t][0], s[t][1]), _mm256_add_ps(s[t][2], s[t][3])));
        for (int64_t j = i; j < n; j++) sum += load1(w, j, kind) * at[t][j];
        out[t * out_stride] = sum;
    }
}

AVX2_INLINE float float_dot(int64_t n, const void *w, const float *a, int kind) {
    float out;
    float_dot_tokens(n, w, (const char *)a, 0, &out, 1, 1, kind);
    return out;
}

#define FLOAT_DOTS(type, kind)                                                                              \
    AVX2 float quant_dot_##type##_avx2(int64_t n, const void *w, const void *a) {                           \
        return float_dot(n, w, a, kind);                                                                    \
    }                                                                                                       \
    AVX2 void quant_dot_tokens_##type##_avx2(int64_t n, const void *w, const void *a, size_t a_row, int n_tok, \
                                             float *y, int64_t y_stride) {                                  \
        int t = 0;                                                                                          \
        for (; t + 2 <= n_tok; t += 2)                                                                      \
            float_dot_tokens(n, w, (const char *)a + (size_t)t * a_row, a_row, y + t * y_stride, y_stride, 2, kind); \
        if (t < n_tok)                                                                                      \
            float_dot_tokens(n, w, (const char *)a + (size_t)t * a_row, a_row, y + t * y_stride, y_stride, 1, kind); \
    }
FLOAT_DOTS(f32, W_F32)
FLOAT_DOTS(f16, W_F16)
FLOAT_DOTS(bf16, W_BF16)
#undef FLOAT_DOTS

/* Four 256-bit loads in flight per step. */
AVX2 uint64_t quant_read_xor64_avx2(const uint64_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 16) {
        a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    __m256i x = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    __m128i y = _mm_xor_si128(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    return (uint64_t)_mm_cvtsi128_si64(y) ^ (uint64_t)_mm_extract_epi64(y, 1);
}

/* ---- activation quantization ---- */

AVX2_INLINE float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* 32 levels (four vectors of eight int32 in [-128, 127]) stored as bytes in
 * order. The packs work within 128-bit lanes: the 4-byte groups come out as
 * q0 q1 q2 q3 (elements 0-3 of each), then elements 4-7; the permute puts
 * them back. */
AVX2_INLINE void store_levels(int8_t *dst, const __m256i q[4]) {
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)dst, _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/* quantize_row_q8_0 (formats.c) byte for byte: the same amax, scale and
 * f16 rounding, and x·(1/d) rounded half away from zero as its
 * round_half_away does it (truncate, then ±1 where the exact remainder
 * reaches ±0.5; _mm256_round_ps has no such mode). */
AVX2 void quant_quantize_q8_0_avx2(const float *x, block_q8_0 *y, int64_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), one = _mm256_set1_ps(1.0f);
    const __m256 half = _mm256_set1_ps(0.5f), minus_half = _mm256_set1_ps(-0.5f);
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], abs_mask));
        }
        const float d = hmax_ps(m) / 127, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 s = _mm256_mul_ps(v[i], _mm256_set1_ps(id));
            const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), r = _mm256_sub_ps(s, t);
            const __m256 up = _mm256_and_ps(_mm256_cmp_ps(r, half, _CMP_GE_OQ), one);
            const __m256 down = _mm256_and_ps(_mm256_cmp_ps(r, minus_half, _CMP_LE_OQ), one);
            q[i] = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(t, up), down));
        }
        store_levels(y[b].qs, q);
    }
}

/* Q8_K blocks (quantize_row_q8_K's, byte for byte): the scale comes from the
 * first element of largest magnitude (its sign matters), levels round half
 * to even as nearest_int does (vcvtps2dq under the default rounding mode),
 * and bsums add 16 levels each. Blocks of zeros or holding a NaN or an
 * infinity go to the scalar code, whose bytes for them are its own. */
AVX2 void quant_quantize_q8_K_avx2(const float *x, block_q8_K *y, int64_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i top = _mm256_set1_epi32(127);
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps(), odd = m;
        for (int i = 0; i < QK_K; i += 8) {
            const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
            m = _mm256_max_ps(m, a);
            odd = _mm256_or_ps(odd, _mm256_cmp_ps(a, _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ)); /* NaN, inf */
        }
        const float amax = hmax_ps(m);
        int first = 0;
        while (first < QK_K && fabsf(x[first]) != amax) first++;
        if (amax == 0.0f || first == QK_K || _mm256_movemask_ps(odd)) {
            quantize_row_q8_K(x, &y[b], QK_K);
            continue;
        }
        const float iscale = -127.0f / x[first];
        const __m256 s = _mm256_set1_ps(iscale);
        for (int i = 0; i < QK_K; i += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), s)), top);
            for (int g = 0; g < 2; g++) { /* levels i + 16g .. i + 16g + 15 */
                const __m256i sum = _mm256_add_epi32(q[2 * g], q[2 * g + 1]);
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
                s4 = _mm_hadd_epi32(s4, s4);
                y[b].bsums[i / 16 + g] = (int16_t)_mm_cvtsi128_si32(_mm_hadd_epi32(s4, s4));
            }
            store_levels(y[b].qs + i, q);
        }
        y[b].d = 1 / iscale;
    }
}

/* ---- SiLU ---- */

/* e^x: x = n·ln2 + r with |r| <= ln2/2 (ln2 in two parts, so r is exact
 * enough), e^r by Cephes' expf polynomial, 2^n put into the exponent bits;
 * within 2 ulp of libm's expf on [-87, 88.3]. Below, e^-87 (a normal
 * float: no denormal slowdowns); above 88.72, where expf overflows,
 * infinity; in between, e^88.3. */
AVX2_INLINE __m256 exp_ps(__m256 x_in) {
    const __m256 x = _mm256_max_ps(_mm256_min_ps(x_in, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    static const float c[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
    __m256 p = _mm256_set1_ps(c[0]);
    for (int k = 1; k < 6; k++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c[k]));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(two_n)), _mm256_set1_ps(INFINITY),
                            _mm256_cmp_ps(x_in, _mm256_set1_ps(88.72f), _CMP_GT_OQ));
}

void quant_silu_mul_scalar(int64_t n, float *gate, const float *up); /* dot_scalar.c */

/* gate = gate / (1 + e^-gate) * up, eight at a time; the tail by the
 * scalar reference. */
AVX2 void quant_silu_mul_avx2(int64_t n, float *gate, const float *up) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_ps(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    quant_silu_mul_scalar(n - i, gate + i, up + i);
}

/* Four rows at a time share each load of x; their four sums are reduced
 * together. */
AVX2 void quant_dot_rows_f32_avx2(int64_t n, const float *x, const float *rows, int64_t stride,
                                  int64_t n_rows, float *out) {
    int64_t j = 0;
    for (; j + 4 <= n_rows; j += 4) {
        const float *r = rows + j * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r + i), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r + stride + i), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 2 * stride + i), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r + 3 * stride + i), xv, a3);
        }
        /* hadd pairs: lanes end up as (row0, row1, row2, row3) per 128-bit half */
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        float s[4];
        _mm_storeu_ps(s, s4);
        for (int k = 0; k < 4; k++) {
            for (int64_t t = i; t < n; t++) s[k] += x[t] * r[k * stride + t];
            out[j + k] = s[k];
        }
    }
    for (; j < n_rows; j++) out[j] = float_dot(n, rows + j * stride, x, W_F32);
}

/* 64 outputs at a time held in eight registers while every row adds in. */
AVX2 void quant_weighted_rows_f32_avx2(int64_t n, const float *w, const float *rows, int64_t stride,
                                       int64_t n_rows, float *out) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256 acc[8];
        for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_rows; j++) {
            __m256 wj = _mm256_set1_ps(w[j]);
            const float *r = rows + j * stride + i;
            for (int k = 0; k < 8; k++) acc[k] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r + 8 * k), acc[k]);
        }
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(out + i + 8 * k, acc[k]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_rows; j++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j]), _mm256_loadu_ps(rows + j * stride + i), acc);
        _mm256_storeu_ps(out + i, acc);
    }
    for (; i < n; i++) {
        float s = 0;
        for (int64_t j = 0; j < n_rows; j++) s += w[j] * rows[j * stride + i];
        out[i] = s;
    }
}

/* ---- Q8_0 against Q8_0, Q4_0 against Q8_0x2 ---- */

/* Four f16 values widened with one conversion. */
AVX2_INLINE __m128 half4(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
    uint64_t v = h0 | (uint64_t)h1 << 16 | (uint64_t)h2 << 32 | (uint64_t)h3 << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* Lane k of d in all eight lanes. */
AVX2_INLINE __m256 lane(__m128 d, int k) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d), _mm256_set1_epi32(k));
}

/* Q4_0 against Q8_0x2 activations (blocks.h), two blocks per register:
 * the nibbles go into _mm256_maddubs_epi16 unsigned, as they are, and the
 * offset of 8 comes back as one subtraction of the activations' sum8.
 *
 * Every kernel below is written once for NT activation rows (tokens) at a
 * time, NT a compile-time constant: the weights are unpacked once and meet
 * each token, which is what makes prompt processing faster than NT
 * separate dot products. vec_dot is the NT = 1 case, so both give the same
 * bits for the same token. */
#define FOR_TOKENS(t) _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++)
enum { MAX_NT = 4 };

/* The low and high nibbles of blocks w[0], w[1]: elements 0-15 of both,
 * then 16-31 of both (Q8_0x2's order). */
AVX2_INLINE void q4_0_pair_unpack(const block_q4_0 *w, __m256i *lo, __m256i *hi) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(w[0].qs)), load128(w[1].qs), 1);
    *lo = _mm256_and_si256(x, low4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
}

/* Lane sums Σ (q-8)·a of the pair (lanes 0-3: first block, 4-7: second). */
AVX2_INLINE __m256 q4_0_pair_dot(__m256i lo, __m256i hi, const block_q8_0x2 *a) {
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, load256(a->qs)),
                                 _mm256_maddubs_epi16(hi, load256(a->qs + 32)));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), load256(a->sum8)));
}

/* Σ (q-8)·a of a lone last block, at half width. */
AVX2_INLINE float q4_0_lone_dot(const block_q4_0 *w, const block_q8_0x1 *a) {
    __m128i x = load128(w->qs), low4 = _mm_set1_epi8(0xF);
    __m128i p = _mm_add_epi16(_mm_maddubs_epi16(_mm_and_si128(x, low4), load128(a->qs)),
                              _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(x, 4), low4), load128(a->qs + 16)));
    return hsum_ps128(_mm_cvtepi32_ps(_mm_sub_epi32(_mm_madd_epi16(p, _mm_set1_epi16(1)), load128(a->sum8))));
}

/* Eight scales of w in order, widened with one conversion. */
AVX2_INLINE __m256 q4_0_scales8(const block_q4_0 *w) {
    return _mm256_cvtph_ps(_mm_setr_epi16((short)w[0].d, (short)w[1].d, (short)w[2].d, (short)w[3].d,
                                          (short)w[4].d, (short)w[5].d, (short)w[6].d, (short)w[7].d));
}

/* Scales 2k, 2k+1 of dw8 over lanes 0-3 and 4-7. */
AVX2_INLINE __m256 pair_scales(__m256 dw8, int k) {
    return _mm256_permutevar8x32_ps(dw8, _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1,
                                                           2 * k + 1, 2 * k + 1));
}

/* out[t] = Σ w·a_t; activation rows a_row bytes apart. Two accumulators
 * per token (pairs alternate) keep the FMA latency hidden. */
AVX2_INLINE void q4_0_dot_tokens(int64_t n, const block_q4_0 *w, const char *a, size_t a_row, float *out,
                                 int64_t out_stride, const int NT) {
    const int64_t nb = n / QK4_0;
    const block_q8_0x2 *at[MAX_NT];
    __m256 acc[2][MAX_NT];
    FOR_TOKENS(t) {
        at[t] = (const block_q8_0x2 *)(a + (size_t)t * a_row);
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    int64_t b = 0;
#define PAIR(k, dw)                                                                          \
    do {                                                                                     \
        __m256i lo, hi;                                                                      \
        q4_0_pair_unpack(w + b + 2 * (k), &lo, &hi);                                         \
        FOR_TOKENS(t) {                                                                      \
            const block_q8_0x2 *ap = at[t] + b / 2 + (k);                                    \
            acc[(k) & 1][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(ap->d)),     \
                                              q4_0_pair_dot(lo, hi, ap), acc[(k) & 1][t]);   \
        }                                                                                    \
    } while (0)
    prefetch_cursor pf = prefetch_start(w);
    for (; b + 8 <= nb; b += 8) {
        prefetch_to(&pf, w + b + 8);
        __m256 dw8 = q4_0_scales8(w + b);
        PAIR(0, pair_scales(dw8, 0));
        PAIR(1, pair_scales(dw8, 1));
        PAIR(2, pair_scales(dw8, 2));
        PAIR(3, pair_scales(dw8, 3));
    }
    for (; b + 2 <= nb; b += 2)
        PAIR(0, _mm256_set_m128(_mm_set1_ps(half_to_f32(w[b + 1].d)), _mm_set1_ps(half_to_f32(w[b].d))));
#undef PAIR
    FOR_TOKENS(t) {
        float sum = hsum_ps(_mm256_add_ps(acc[0][t], acc[1][t]));
        if (b < nb) { /* the lone last block */
            const block_q8_0x1 *a1 = (const block_q8_0x1 *)(at[t] + b / 2);
            sum += half_to_f32(w[b].d) * a1->d[0] * q4_0_lone_dot(w + b, a1);
        }
        out[t * out_stride] = sum;
    }
}

AVX2 float quant_dot_q4_0_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q4_0_dot_tokens(n, w, a, 0, &out, 1, 1);
    return out;
}

/* Tokens in groups of MAX_NT, then one group of the rest. */
#define DOT_TOKENS(name, kernel, wtype)                                                              \
    AVX2 void name(int64_t n, const void *w, const void *a, size_t a_row, int n_tok, float *y,       \
                   int64_t y_stride) {                                                               \
        int t = 0;                                                                                   \
        for (; t + MAX_NT <= n_tok; t += MAX_NT)                                                     \
            kernel(n, (const wtype *)w, (const char *)a + (size_t)t * a_row, a_row, y + t * y_stride, \
                   y_stride, MAX_NT);                                                                \
        const char *at = (const char *)a + (size_t)t * a_row;                                        \
        switch (n_tok - t) {                                                                         \
        case 3: kernel(n, (const wtype *)w, at, a_row, y + t * y_stride, y_stride, 3); break;        \
        case 2: kernel(n, (const wtype *)w, at, a_row, y + t * y_stride, y_stride, 2); break;        \
        case 1: kernel(n, (const wtype *)w, at, a_row, y + t * y_stride, y_stride, 1); break;        \
        default: break;                                                                              \
        }                                                                                            \
    }
DOT_TOKENS(quant_dot_tokens_q4_0_avx2, q4_0_dot_tokens, block_q4_0)

/* What a block kernel adds up for one token (row j of the eight in lane j
 * for the interleaved layouts; mins kept apart for Q4_K), and the integer
 * sums a kernel carries from one part of a block to the next. */
typedef struct {
    __m256 sum, min;
    __m256i part;
} block_acc;

AVX2_INLINE void store8(block_acc acc, float *out) { _mm256_storeu_ps(out, acc.sum); }
AVX2_INLINE void sum_all(block_acc acc, float *out) { *out = hsum_ps(acc.sum); }
AVX2_INLINE void sum_less_mins(block_acc acc, float *out) { *out = hsum_ps(_mm256_sub_ps(acc.sum, acc.min)); }
AVX2_INLINE void store8_less_mins(block_acc acc, float *out) { _mm256_storeu_ps(out, _mm256_sub_ps(acc.sum, acc.min)); }

/* The loops around a kernel's block step, prefix##_block(wb, xb, acc, NT,
 * part): part `part` (of `parts`, in order) of one weight block against NT
 * tokens' activation blocks xb[t], adding into acc[t]. prefix##_dot_tokens
 * runs NT tokens past each weight block (the weights unpacked once);
 * quant_dot_pair_##prefix##_avx2 streams two weight matrices at once, one
 * token each, alternating between them part by part, each result the bits
 * the one-token dot_tokens gives. Two streams keep the memory busiest when
 * they alternate finely: a 1152-byte Q4_Kx8 block in 4 parts streamed about
 * 4% faster than whole (1 GiB, 2 threads). finish(acc, out) writes a
 * token's result. */
#define BLOCK_KERNELS(prefix, wtype, atype, elems, parts, finish)                                           \
    AVX2_INLINE void prefix##_dot_tokens(int64_t n, const wtype *w, const char *a, size_t a_row, float *out,  \
                                         int64_t out_stride, const int NT) {                                  \
        const atype *at[MAX_NT];                                                                            \
        block_acc acc[MAX_NT];                                                                              \
        FOR_TOKENS(t) {                                                                                     \
            at[t] = (const atype *)(a + (size_t)t * a_row);                                                 \
            acc[t] = (block_acc){_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_si256()};         \
        }                                                                                                   \
        prefetch_cursor pf = prefetch_start(w);                                                             \
        for (int64_t b = 0; b < n / (elems); b++) {                                                         \
            prefetch_to(&pf, w + b + 1);                                                                    \
            const atype *xb[MAX_NT];                                                                        \
            FOR_TOKENS(t) xb[t] = at[t] + b;                                                                \
            _Pragma("GCC unroll 4") for (int part = 0; part < (parts); part++)                              \
                prefix##_block(w + b, xb, acc, NT, part);                                                   \
        }                                                                                                   \
        FOR_TOKENS(t) finish(acc[t], out + t * out_stride);                                                 \
    }                                                                                                       \
    AVX2 void quant_dot_pair_##prefix##_avx2(int64_t n, const void *w0, const void *a0, float *y0,           \
                                            const void *w1, const void *a1, float *y1) {                    \
        const wtype *w[2] = {w0, w1};                                                                       \
        const atype *at[2] = {a0, a1};                                                                      \
        block_acc acc[2];                                                                                   \
        for (int s = 0; s < 2; s++) acc[s] = (block_acc){_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_si256()}; \
        prefetch_cursor pf[2] = {prefetch_start(w[0]), prefetch_start(w[1])};                               \
        for (int64_t b = 0; b < n / (elems); b++)                                                           \
            _Pragma("GCC unroll 4") for (int part = 0; part < (parts); part++)                              \
                for (int s = 0; s < 2; s++) {                                                               \
                    prefetch_to(&pf[s], (const char *)(w[s] + b) + sizeof(wtype) * (size_t)(part + 1) / (parts)); \
                    const atype *xb = at[s] + b;                                                            \
                    prefix##_block(w[s] + b, &xb, &acc[s], 1, part);                                        \
                }                                                                                           \
        finish(acc[0], y0);                                                                                 \
        finish(acc[1], y1);                                                                                 \
    }

/* Eight interleaved Q4_0 rows (block_q4_0x8) against NT Q8_0s tokens: lane
 * j is row j throughout. Per block, 4 bytes of activations broadcast meet
 * the same 4 bytes of all eight rows; the eight 16-bit products of a block
 * add up without overflow (|sum| <= 8·2·15·127 < 2^15) and widen once. */
AVX2_INLINE void q4_0x8_block(const block_q4_0x8 *wb, const block_q8_0s *const *x, block_acc *acc, const int NT,
                              const int part) { /* one part */
    (void)part;
    const __m256i low4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    const __m256 dw = _mm256_cvtph_ps(load128(wb->d));
    __m256i lo[4], hi[4];
    for (int g = 0; g < 4; g++) {
        __m256i v = load256(wb->qs + 32 * g);
        lo[g] = _mm256_and_si256(v, low4);
        hi[g] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    }
    FOR_TOKENS(t) {
        __m256i s = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++)
            s = _mm256_add_epi16(s, _mm256_add_epi16(_mm256_maddubs_epi16(lo[g], broadcast4(x[t]->qs + 4 * g)),
                                                     _mm256_maddubs_epi16(hi[g], broadcast4(x[t]->qs + 16 + 4 * g))));
        __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(x[t]->sum8));
        acc[t].sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[t]->d)), _mm256_cvtepi32_ps(isum), acc[t].sum);
    }
}
BLOCK_KERNELS(q4_0x8, block_q4_0x8, block_q8_0s, QK4_0, 1, store8)
DOT_TOKENS(quant_dot_tokens_q4_0x8_avx2, q4_0x8_dot_tokens, block_q4_0x8)

/* Eight interleaved Q8_0 rows (block_q8_0x8) against NT Q8_0s tokens, lane j
 * row j as above. The weights are signed: |w| goes into
 * _mm256_maddubs_epi16 unsigned and w's sign to the broadcast activations;
 * a pair's sum (at most 2·128·127) fits 16 bits, but two do not, so each
 * widens at once. */
AVX2_INLINE void q8_0x8_block(const block_q8_0x8 *wb, const block_q8_0s *const *x, block_acc *acc, const int NT,
                              const int part) { /* one part */
    (void)part;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i isum[MAX_NT];
    FOR_TOKENS(t) isum[t] = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        const __m256i v = load256(wb->qs + 32 * g), av = _mm256_abs_epi8(v);
        FOR_TOKENS(t) {
            __m256i p = _mm256_maddubs_epi16(av, _mm256_sign_epi8(broadcast4(x[t]->qs + 4 * g), v));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, ones));
        }
    }
    const __m256 dw = _mm256_cvtph_ps(load128(wb->d));
    FOR_TOKENS(t) acc[t].sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[t]->d)), _mm256_cvtepi32_ps(isum[t]),
                                               acc[t].sum);
}
BLOCK_KERNELS(q8_0x8, block_q8_0x8, block_q8_0s, QK8_0, 1, store8)
DOT_TOKENS(quant_dot_tokens_q8_0x8_avx2, q8_0x8_dot_tokens, block_q8_0x8)

/* Q8_0 against Q8_0r activations (blocks.h) for NT tokens (see
 * q4_0_dot_tokens above for the scheme): four blocks per step, the weight
 * scales widened together and the activation scales loaded as floats; each
 * block adds d_w·d_a times its lane sums into one of two accumulators. */
AVX2_INLINE void q8_0_dot_tokens(int64_t n, const block_q8_0 *w, const char *a, size_t a_row, float *out,
                                 int64_t out_stride, const int NT) {
    const int64_t nb = n / QK8_0;
    const float *da[MAX_NT];
    const int8_t *at[MAX_NT];
    __m256 acc[2][MAX_NT];
    FOR_TOKENS(t) {
        da[t] = q8_0r_scales(a + (size_t)t * a_row);
        at[t] = q8_0r_levels(a + (size_t)t * a_row, nb);
        acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    }
    int64_t b = 0;
    /* |w| once; w's sign goes to each token's activations. */
#define BLOCK(i, d_of_t)                                                                               \
    do {                                                                                               \
        __m256i x = load256(w[i].qs), ax = _mm256_abs_epi8(x);                                         \
        FOR_TOKENS(t) {                                                                                \
            __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(load256(at[t] + 32 * (i)), x));      \
            __m256 l = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));                 \
            acc[(i) & 1][t] = _mm256_fmadd_ps(d_of_t, l, acc[(i) & 1][t]);                             \
        }                                                                                              \
    } while (0)
    prefetch_cursor pf = prefetch_start(w);
    for (; b + 4 <= nb; b += 4) {
        prefetch_to(&pf, w + b + 4);
        __m128 dw = half4(w[b].d, w[b + 1].d, w[b + 2].d, w[b + 3].d);
        __m128 d[MAX_NT];
        FOR_TOKENS(t) d[t] = _mm_mul_ps(dw, _mm_loadu_ps(da[t] + b));
        BLOCK(b, lane(d[t], 0));
        BLOCK(b + 1, lane(d[t], 1));
        BLOCK(b + 2, lane(d[t], 2));
        BLOCK(b + 3, lane(d[t], 3));
    }
    for (; b < nb; b++) BLOCK(b, _mm256_set1_ps(half_to_f32(w[b].d) * da[t][b]));
#undef BLOCK
    FOR_TOKENS(t) out[t * out_stride] = hsum_ps(_mm256_add_ps(acc[0][t], acc[1][t]));
}

AVX2 float quant_dot_q8_0_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q8_0_dot_tokens(n, w, a, 0, &out, 1, 1);
    return out;
}
DOT_TOKENS(quant_dot_tokens_q8_0_avx2, q8_0_dot_tokens, block_q8_0)

/* ---- Q4_K / Q6_K against Q8_K ---- */

/* Broadcasts int16 word `lo` of each 128-bit lane of v to the low lane and
 * word `hi` to the high lane (v holds the same 8 words in both lanes). With
 * constant lo, hi the control folds into one constant the loop loads. */
AVX2_INLINE __m256i pick_words(__m256i v, int lo, int hi) {
    const short l = (short)(((2 * lo + 1) << 8) | (2 * lo)), h = (short)(((2 * hi + 1) << 8) | (2 * hi));
    return _mm256_shuffle_epi8(v, _mm256_setr_epi16(l, l, l, l, l, l, l, l, h, h, h, h, h, h, h, h));
}

/* The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K block,
 * decoded from its 12 packed bytes in vector registers: scales/mins 0-3 are
 * the low six bits of bytes 0-3 / 4-7; scales/mins 4-7 take their low four
 * bits from the low / high nibbles of bytes 8-11 and their top two bits from
 * the top of bytes 0-3 / 4-7. The 16-byte load reads 4 bytes of qs, which
 * follow in the same block. */
AVX2_INLINE __m128i q4_K_scales_mins(const block_q4_K *w) {
    const __m128i v = load128(w->scales);
    __m128i low = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    low = _mm_blend_epi32(low, _mm_srli_epi16(low, 4), 0x8); /* mins 4-7: high nibbles */
    low = _mm_and_si128(low, _mm_setr_epi8(0x3f, 0x3f, 0x3f, 0x3f, 0xf, 0xf, 0xf, 0xf, 0x3f, 0x3f, 0x3f, 0x3f,
                                           0xf, 0xf, 0xf, 0xf));
    __m128i top = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    top = _mm_and_si128(_mm_srli_epi16(top, 2), _mm_set1_epi8(0x30));
    return _mm_or_si128(low, top);
}

/* Per block: d·Σ_j sc_j·Σ(q·a) − dmin·Σ_j m_j·Σa, for NT tokens. The mins
 * meet the activations' 16 bsums directly, each min taken twice. */
AVX2_INLINE void q4_K_block(const block_q4_K *wb, const block_q8_K *const *x, block_acc *acc, const int NT,
                            const int part) { /* one part */
    (void)part;
    const __m256i low4 = _mm256_set1_epi8(0xF);
    const __m128i sm = q4_K_scales_mins(wb);
    const __m256i mins2 = _mm256_cvtepu8_epi16(
        _mm_shuffle_epi8(sm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
    const __m256i sc2 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const float wd = half_to_f32(wb->d), wdmin = half_to_f32(wb->dmin);
    __m256i sumi[MAX_NT];
    FOR_TOKENS(t) {
        __m256i m = _mm256_madd_epi16(mins2, load256(x[t]->bsums));
        acc[t].min = _mm256_fmadd_ps(_mm256_set1_ps(x[t]->d * wdmin), _mm256_cvtepi32_ps(m), acc[t].min);
        sumi[t] = _mm256_setzero_si256();
    }
    for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles), 2c+1 (high) */
        __m256i bytes = load256(wb->qs + 32 * c);
        __m256i lo = _mm256_and_si256(bytes, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
        __m256i sc_lo = pick_words(sc2, 2 * c, 2 * c), sc_hi = pick_words(sc2, 2 * c + 1, 2 * c + 1);
        FOR_TOKENS(t) {
            const int8_t *y = x[t]->qs + 64 * c;
            __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(y)), sc_lo);
            __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(y + 32)), sc_hi);
            sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
        }
    }
    FOR_TOKENS(t) acc[t].sum = _mm256_fmadd_ps(_mm256_set1_ps(x[t]->d * wd), _mm256_cvtepi32_ps(sumi[t]), acc[t].sum);
}
BLOCK_KERNELS(q4_K, block_q4_K, block_q8_K, QK_K, 1, sum_less_mins)

AVX2 float quant_dot_q4_K_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q4_K_dot_tokens(n, w, a, 0, &out, 1, 1);
    return out;
}
DOT_TOKENS(quant_dot_tokens_q4_K_avx2, q4_K_dot_tokens, block_q4_K)

/* Value (s, j) of a decoded block_q4_Kx8 scale vector (position
 * 16·(j/4) + 4·(s%4) + j%4, blocks.h) as both 16-bit words of 32-bit lane
 * j, for every row j: sub-block s's eight scales or mins, ready for
 * _mm256_madd_epi16. */
AVX2_INLINE __m256i sub_block_words(__m256i v, int s) {
    const char b = (char)(4 * (s % 4));
#define W(k) (char)(b + (k)), -1, (char)(b + (k)), -1
    return _mm256_shuffle_epi8(v, _mm256_setr_epi8(W(0), W(1), W(2), W(3), W(0), W(1), W(2), W(3)));
#undef W
}

/* The 6-bit scales (mins = 0) or mins (1) of sub-blocks 4h .. 4h+3 of a
 * block_q4_Kx8, decoded in place: low nibbles from byte half h of the
 * 32-byte group, top bits from bit pair (2·mins + h) of the last 32 bytes. */
AVX2_INLINE __m256i q4_Kx8_scales(const block_q4_Kx8 *wb, int mins, int h) {
    const __m256i low = load256(wb->scales + 32 * mins), tops = load256(wb->scales + 64);
    const __m256i low4 = _mm256_set1_epi8(0xF), top2 = _mm256_set1_epi8(0x30);
    const int pair = 2 * mins + h; /* top bits 2·pair, 2·pair+1, moved to bits 4-5 */
    const __m256i t = pair == 0 ? _mm256_slli_epi16(tops, 4) : pair == 1 ? _mm256_slli_epi16(tops, 2)
                    : pair == 2 ? tops : _mm256_srli_epi16(tops, 2);
    const __m256i l = h ? _mm256_srli_epi16(low, 4) : low;
    return _mm256_or_si256(_mm256_and_si256(l, low4), _mm256_and_si256(t, top2));
}

/* Eight interleaved Q4_K rows (block_q4_Kx8) against NT Q8_K tokens, lane j
 * row j: per row, d·Σ_s sc_s·Σ(q·a) into sum and dmin·Σ_s m_s·Σa into min.
 * Part c of a block is its 64-element chunk c (sub-blocks 2c in the low
 * nibbles, 2c+1 in the high): the eight products of low (and of high)
 * nibbles add up in 16 bits (|sum| <= 8·2·15·128 < 2^15) before meeting
 * their sub-block's scales once, into acc.part; the last part adds the
 * mins and the block's floats. No shuffles per row, which kept the
 * row-major Q4_K kernel at 0.55-0.6 of Q4_0x8's speed on data in cache (15-17
 * against 26-32 GB/s, 2 threads; this one matches Q4_0x8) and at 0.6-0.85
 * of a plain read streaming. */
AVX2_INLINE void q4_Kx8_block(const block_q4_Kx8 *wb, const block_q8_K *const *x, block_acc *acc, const int NT,
                              const int c) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
    __m256i p_lo[MAX_NT], p_hi[MAX_NT];
    FOR_TOKENS(t) p_lo[t] = p_hi[t] = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        const __m256i v = load256(wb->qs + 256 * c + 32 * g);
        const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        FOR_TOKENS(t) {
            const int8_t *y = x[t]->qs + 64 * c + 4 * g;
            p_lo[t] = _mm256_add_epi16(p_lo[t], _mm256_maddubs_epi16(lo, broadcast4(y)));
            p_hi[t] = _mm256_add_epi16(p_hi[t], _mm256_maddubs_epi16(hi, broadcast4(y + 32)));
        }
    }
    const __m256i sc = q4_Kx8_scales(wb, 0, c / 2);
    const __m256i s_lo = sub_block_words(sc, 2 * c), s_hi = sub_block_words(sc, 2 * c + 1);
    FOR_TOKENS(t) {
        const __m256i chunk = _mm256_add_epi32(_mm256_madd_epi16(p_lo[t], s_lo), _mm256_madd_epi16(p_hi[t], s_hi));
        acc[t].part = c == 0 ? chunk : _mm256_add_epi32(acc[t].part, chunk);
    }
    if (c < 3) return;
    __m256i mini[MAX_NT];
    FOR_TOKENS(t) mini[t] = _mm256_setzero_si256();
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        const __m256i m = q4_Kx8_scales(wb, 1, h);
        _Pragma("GCC unroll 4") for (int s = 4 * h; s < 4 * h + 4; s++) /* the bsums of sub-block s: words 2s, 2s+1 */
            FOR_TOKENS(t) mini[t] = _mm256_add_epi32(mini[t], _mm256_madd_epi16(sub_block_words(m, s),
                                                                              broadcast4(x[t]->bsums + 2 * s)));
    }
    const __m256 dw = _mm256_cvtph_ps(load128(wb->d)), dmin = _mm256_cvtph_ps(load128(wb->dmin));
    FOR_TOKENS(t) {
        const __m256 da = _mm256_set1_ps(x[t]->d);
        acc[t].sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(acc[t].part), acc[t].sum);
        acc[t].min = _mm256_fmadd_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(mini[t]), acc[t].min);
    }
}
BLOCK_KERNELS(q4_Kx8, block_q4_Kx8, block_q8_K, QK_K, 4, store8_less_mins)
DOT_TOKENS(quant_dot_tokens_q4_Kx8_avx2, q4_Kx8_dot_tokens, block_q4_Kx8)

/* The 6-bit values of one half (128 elements) of a Q6_K block, unsigned:
 * q[k] holds elements 32k .. 32k+31 of the half. */
AVX2_INLINE void q6_K_half_unpack(const block_q6_K *w, int h, __m256i q[4]) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
    const __m256i bits01 = _mm256_set1_epi8(0x03), bits23 = _mm256_set1_epi8(0x0C);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const uint8_t *ql = w->ql + 64 * h;
    __m256i l0 = load256(ql), l1 = load256(ql + 32), hb = load256(w->qh + 32 * h);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, bits01), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(hb, bits23), 2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(hb, bits45));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), bits45));
}

/* Σ_g sc_g·Σ(q·a) − 32·Σ_g sc_g·bsum_g, q the unsigned 6-bit values. */
AVX2_INLINE void q6_K_block(const block_q6_K *wb, const block_q8_K *const *x, block_acc *acc, const int NT,
                            const int part) { /* one part */
    (void)part;
    __m256i sc16 = _mm256_cvtepi8_epi16(load128(wb->scales)); /* group g in word g */
    __m256i sumi[MAX_NT];
    FOR_TOKENS(t) {
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(x[t]->bsums), sc16), 5);
        sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), offset);
    }
    /* Each half's 8 scales in both 128-bit lanes (immediates must be literal). */
    const __m256i sc_halves[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),
                                  _mm256_permute2x128_si256(sc16, sc16, 0x11)};
    for (int h = 0; h < 2; h++) { /* 128 elements, scale groups 8h .. 8h+7 */
        __m256i sc_half = sc_halves[h];
        __m256i q[4];
        q6_K_half_unpack(wb, h, q);
        for (int k = 0; k < 4; k++) { /* 32 elements: groups 2k, 2k+1 of this half */
            __m256i sc = pick_words(sc_half, 2 * k, 2 * k + 1);
            FOR_TOKENS(t) {
                __m256i p = _mm256_maddubs_epi16(q[k], load256(x[t]->qs + 128 * h + 32 * k));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, sc));
            }
        }
    }
    const float wd = half_to_f32(wb->d);
    FOR_TOKENS(t) acc[t].sum = _mm256_fmadd_ps(_mm256_set1_ps(x[t]->d * wd), _mm256_cvtepi32_ps(sumi[t]), acc[t].sum);
}
BLOCK_KERNELS(q6_K, block_q6_K, block_q8_K, QK_K, 1, sum_all)

AVX2 float quant_dot_q6_K_avx2(int64_t n, const void *w, const void *a) {
    float out;
    q6_K_dot_tokens(n, w, a, 0, &out, 1, 1);
    return out;
}
DOT_TOKENS(quant_dot_tokens_q6_K_avx2, q6_K_dot_tokens, block_q6_K)

#else
typedef int dot_avx2_unused; /* ISO C wants a non-empty file */
#endif /* __x86_64__ */
