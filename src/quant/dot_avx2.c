/* AVX2 + FMA (+ F16C) dot products for x86-64. Every function carries its
 * own target attribute, so this file builds without -mavx2 and runs only
 * where dispatch.c has checked the CPU.
 *
 * Integer work is done with 8-bit multiplies: _mm256_maddubs_epi16 takes an
 * unsigned and a signed operand, so 4-bit and 6-bit weights (unsigned
 * before their offset) go in directly, and signed weights lend their sign to
 * the activation (|w|·(sign(w)·a)). The 16-bit pair sums cannot saturate
 * because activations lie in [-127, 127]. Results equal dot_scalar.c's
 * integers; only the float additions are ordered differently. */
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "quant/blocks.h"
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

/* Four accumulators of eight lanes; the tail is scalar. */
AVX2_INLINE float float_dot(int64_t n, const void *w, const float *a, int kind) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load8(w, i, kind), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(load8(w, i + 8, kind), _mm256_loadu_ps(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8(w, i + 16, kind), _mm256_loadu_ps(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8(w, i + 24, kind), _mm256_loadu_ps(a + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8(w, i, kind), _mm256_loadu_ps(a + i), s0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += load1(w, i, kind) * a[i];
    return sum;
}

AVX2 float quant_dot_f32_avx2(int64_t n, const void *w, const void *a) {
    return float_dot(n, w, a, W_F32);
}
AVX2 float quant_dot_f16_avx2(int64_t n, const void *w, const void *a) {
    return float_dot(n, w, a, W_F16);
}
AVX2 float quant_dot_bf16_avx2(int64_t n, const void *w, const void *a) {
    return float_dot(n, w, a, W_BF16);
}

/* ---- Q8_0 / Q4_0 against Q8_0 ---- */

/* Eight int32 lanes, each the sum of four adjacent x·y products; x any int8,
 * y in [-127, 127]. */
AVX2_INLINE __m256i dot_i8(__m256i x, __m256i y) {
    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Lane sums of (q - 8)·a for a Q4_0 block (low nibbles are elements 0-15,
 * high nibbles 16-31). */
AVX2_INLINE __m256i dot_q4(const uint8_t *qs, __m256i a) {
    __m128i b = load128(qs);
    __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0xF));
    return dot_i8(_mm256_sub_epi8(nib, _mm256_set1_epi8(8)), a);
}

/* Four f16 values widened with one conversion. */
AVX2_INLINE __m128 half4(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
    uint64_t v = h0 | (uint64_t)h1 << 16 | (uint64_t)h2 << 32 | (uint64_t)h3 << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* Lane k of d in all eight lanes. */
AVX2_INLINE __m256 lane(__m128 d, int k) {
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d), _mm256_set1_epi32(k));
}

enum { W_Q8_0, W_Q4_0 };

/* Block b of a Q8_0 or Q4_0 row: its d and its lane sums against a. */
AVX2_INLINE uint16_t block_d(const void *w, int64_t b, int kind) {
    return kind == W_Q4_0 ? ((const block_q4_0 *)w)[b].d : ((const block_q8_0 *)w)[b].d;
}
AVX2_INLINE __m256i block_dot(const void *w, int64_t b, const block_q8_0 *a, int kind) {
    __m256i y = load256(a[b].qs);
    return kind == W_Q4_0 ? dot_q4(((const block_q4_0 *)w)[b].qs, y)
                          : dot_i8(load256(((const block_q8_0 *)w)[b].qs), y);
}

/* Four blocks per step: their eight scales are widened together, and each
 * block adds d_w·d_a times its lane sums into one of two accumulators. */
AVX2_INLINE float q_0_dot(int64_t n, const void *w, const block_q8_0 *a, int kind) {
    int64_t nb = n / 32, b = 0;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (; b + 4 <= nb; b += 4) {
        __m128 d = _mm_mul_ps(
            half4(block_d(w, b, kind), block_d(w, b + 1, kind), block_d(w, b + 2, kind),
                  block_d(w, b + 3, kind)),
            half4(a[b].d, a[b + 1].d, a[b + 2].d, a[b + 3].d));
        s0 = _mm256_fmadd_ps(lane(d, 0), _mm256_cvtepi32_ps(block_dot(w, b, a, kind)), s0);
        s1 = _mm256_fmadd_ps(lane(d, 1), _mm256_cvtepi32_ps(block_dot(w, b + 1, a, kind)), s1);
        s0 = _mm256_fmadd_ps(lane(d, 2), _mm256_cvtepi32_ps(block_dot(w, b + 2, a, kind)), s0);
        s1 = _mm256_fmadd_ps(lane(d, 3), _mm256_cvtepi32_ps(block_dot(w, b + 3, a, kind)), s1);
    }
    for (; b < nb; b++) {
        __m256 d = _mm256_set1_ps(half_to_f32(block_d(w, b, kind)) * half_to_f32(a[b].d));
        s0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_dot(w, b, a, kind)), s0);
    }
    return hsum_ps(_mm256_add_ps(s0, s1));
}

AVX2 float quant_dot_q8_0_avx2(int64_t n, const void *w, const void *a) {
    return q_0_dot(n, w, a, W_Q8_0);
}
AVX2 float quant_dot_q4_0_avx2(int64_t n, const void *w, const void *a) {
    return q_0_dot(n, w, a, W_Q4_0);
}

/* ---- Q4_K / Q6_K against Q8_K ---- */

/* Broadcasts int16 word `lo` of each 128-bit lane of v to the low lane and
 * word `hi` to the high lane (v holds the same 8 words in both lanes). */
AVX2_INLINE __m256i pick_words(__m256i v, int lo, int hi) {
    __m256i ctrl = _mm256_set_m128i(_mm_set1_epi16((short)(((2 * hi + 1) << 8) | (2 * hi))),
                                    _mm_set1_epi16((short)(((2 * lo + 1) << 8) | (2 * lo))));
    return _mm256_shuffle_epi8(v, ctrl);
}

AVX2 float quant_dot_q4_K_avx2(int64_t n, const void *wv, const void *av) {
    const block_q4_K *w = wv;
    const block_q8_K *a = av;
    const __m256i low4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        /* The 12 packed bytes as words: scales 0-3 and mins 0-3 are the low
         * six bits of words 0 and 1; scales/mins 4-7 take their low nibbles
         * from word 2 and their top two bits from the top of words 0 / 1. */
        uint32_t u[3];
        memcpy(u, w[b].scales, sizeof u);
        uint32_t sc_lo = u[0] & 0x3f3f3f3f, m_lo = u[1] & 0x3f3f3f3f;
        uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030);
        uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030);
        __m128i scales = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo));
        __m128i mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m_hi, (int)m_lo));

        /* Σ_j m_j·Σa over sub-block j: pairs of 16-element bsums. */
        __m128i pair_sums = _mm_hadd_epi16(load128(a[b].bsums), load128(a[b].bsums + 8));
        __m128i min_terms = _mm_madd_epi16(mins, pair_sums);

        __m256i sc2 = _mm256_broadcastsi128_si256(scales);
        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles), 2c+1 (high) */
            __m256i bytes = load256(q + 32 * c);
            __m256i lo = _mm256_and_si256(bytes, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
            __m256i p_lo = _mm256_maddubs_epi16(lo, load256(y + 64 * c));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load256(y + 64 * c + 32));
            p_lo = _mm256_madd_epi16(p_lo, pick_words(sc2, 2 * c, 2 * c));
            p_hi = _mm256_madd_epi16(p_hi, pick_words(sc2, 2 * c + 1, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        float d = a[b].d * half_to_f32(w[b].d);
        float dmin = a[b].d * half_to_f32(w[b].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acc_min = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(min_terms), acc_min);
    }
    return hsum_ps(acc) - hsum_ps128(acc_min);
}

/* Σ_g sc_g·Σ(q·a) − 32·Σ_g sc_g·bsum_g, q the unsigned 6-bit values. */
AVX2 float quant_dot_q6_K_avx2(int64_t n, const void *wv, const void *av) {
    const block_q6_K *w = wv;
    const block_q8_K *a = av;
    const __m256i low4 = _mm256_set1_epi8(0xF);
    const __m256i bits01 = _mm256_set1_epi8(0x03), bits23 = _mm256_set1_epi8(0x0C);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(load128(w[b].scales)); /* group g in word g */
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(a[b].bsums), sc16), 5);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), offset);
        __m256i sc_halves[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),
                                _mm256_permute2x128_si256(sc16, sc16, 0x11)};
        for (int h = 0; h < 2; h++) { /* 128 elements, scale groups 8h .. 8h+7 */
            const uint8_t *ql = w[b].ql + 64 * h;
            __m256i l0 = load256(ql), l1 = load256(ql + 32), hb = load256(w[b].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(hb, bits01), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(hb, bits23), 2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                   _mm256_and_si256(hb, bits45));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), bits45));
            const int8_t *y = a[b].qs + 128 * h;
            for (int k = 0; k < 4; k++) { /* 32 elements: groups 2k, 2k+1 of this half */
                __m256i p = _mm256_maddubs_epi16(q[k], load256(y + 32 * k));
                p = _mm256_madd_epi16(p, pick_words(sc_halves[h], 2 * k, 2 * k + 1));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        float d = a[b].d * half_to_f32(w[b].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc);
}

#else
typedef int dot_avx2_unused; /* ISO C wants a non-empty file */
#endif /* __x86_64__ */
