/* Reference (scalar) quantizers and dequantizers for the ggml "K-quant"
 * super-block formats Q4_K, Q6_K and Q8_K (256 elements per block).
 *
 * Like formats.c these reproduce ggml's quantize_row_*_ref byte for byte
 * (the path without an importance matrix). The scale searches below are
 * greedy and discontinuous: a one-ulp difference in an accumulated error can
 * flip which candidate scale wins. So sums are accumulated in element order,
 * products are grouped left to right as written, divisions stay divisions,
 * and nothing may be contracted into an FMA (see the pragma below; ggml's
 * default x86-64 build has no FMA in ggml-base, while a build that lets
 * the compiler fuse (measured: GCC -std=gnu11 -march=native on x86-64;
 * GCC on aarch64 fuses by default too) writes different K-quant bytes for
 * a small fraction of blocks). */
#include <math.h>
#include <string.h>

#include "quant/formats.h"
#include "quant/types.h"

/* Never fuse a*b+c into one FMA, even where the target has FMA and the
 * compiler would (GCC in GNU modes, Clang by default): ggml's reference
 * build rounds every product, and so must we. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Values whose magnitude is below this count as all-zero groups. */
#define GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, by the classic float trick: adding
 * 1.5 * 2^23 leaves the integer in the low mantissa bits (the FPU does the
 * rounding). Valid for |v| < 2^22; outside that range the result is garbage,
 * but the same garbage ggml computes, which is what byte equality needs. */
static inline int nearest_int(float v) {
    float biased = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---------------------------------------------------------------- Q4_K -- */

/* Fits x[i] ~ scale * L[i] - min_out with L[i] in 0..nmax, minimizing the
 * weighted squared error (ggml's make_qkx2_quants with use_mad = false).
 *
 * Start with the plain min/max grid, then try nstep+1 alternative grids
 * whose step is (max - min) / (nmax + rmin + k*rdelta). For each grid the
 * levels are fixed by rounding, and the best (scale, min) for those levels
 * is the weighted least-squares solution of a 2x2 system; the candidate
 * replaces the current one only if its error is strictly smaller. The
 * offset is clamped so that min <= 0 (the format only subtracts a
 * non-negative min_out). Returns the scale and stores -min in *min_out. */
static float search_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                              float *min_out, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0; /* the grid always contains 0 */
    if (max == min) {     /* constant (hence all-zero after the clamp) */
        for (int i = 0; i < n; i++) L[i] = 0;
        *min_out = -min;
        return 0.0f;
    }

    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }

    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        /* Normal equations of min over (s, m) of sum w (s*l + m - x)^2. */
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) { /* not representable: refit the scale alone */
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

void quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n) {
    const int64_t nb = n / QK_K;
    uint8_t L[QK_K];
    uint8_t Laux[32];
    float w[32];
    float scales[QK_K / 32], mins[QK_K / 32];

    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        /* 1. Per 32-element sub-block, the best affine fit in f32. Errors
         * are weighted by rms + |x|, favouring the large values. */
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            const float *xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
            const float rms = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) w[l] = rms + fabsf(xs[l]);
            scales[j] = search_scale_min(32, 15, xs, w, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }

        /* 2. Quantize the scales and mins to 6 bits against the largest of
         * each. The int -> uint8_t conversion wraps before the clamp to 63,
         * as ggml's does (a negative scale would become 63, not 0). */
        const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        uint8_t ls[QK_K / 32], lm[QK_K / 32];
        for (int j = 0; j < QK_K / 32; j++) {
            ls[j] = (uint8_t)nearest_int(inv_scale * scales[j]);
            lm[j] = (uint8_t)nearest_int(inv_min * mins[j]);
            if (ls[j] > 63) ls[j] = 63;
            if (lm[j] > 63) lm[j] = 63;
        }
        q4k_set_scales_mins(ls, lm, y[b].scales);
        y[b].d = f32_to_f16(max_scale / 63.0f);
        y[b].dmin = f32_to_f16(max_min / 63.0f);

        /* 3. Re-derive the 4-bit levels against the scales as stored, so
         * that rounding of the scales is compensated. A sub-block whose
         * effective scale is 0 keeps the levels of step 1. */
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            q4k_get_scale_min(j, y[b].scales, &sc, &m);
            const float d = f16_to_f32(y[b].d) * sc;
            if (d == 0.0f) continue;
            const float dm = f16_to_f32(y[b].dmin) * m;
            for (int l = 0; l < 32; l++)
                L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / d), 0, 15);
        }

        /* 4. Each 64-element chunk shares 32 bytes: sub-block 2c in the low
         * nibbles, sub-block 2c+1 in the high nibbles. */
        uint8_t *q = y[b].qs;
        for (int c = 0; c < QK_K; c += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[c + l] | (L[c + l + 32] << 4));
    }
}

void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const float d = f16_to_f32(x[b].d);
        const float dmin = f16_to_f32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            q4k_get_scale_min(2 * c, x[b].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            q4k_get_scale_min(2 * c + 1, x[b].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* ---------------------------------------------------------------- Q6_K -- */

/* Symmetric fit x[i] ~ scale * (L[i] - nmax) with L[i] - nmax in
 * -nmax..nmax-1 (ggml's make_qx_quants, rmse_type 1, no importance
 * weights: errors weighted by x^2). The largest-magnitude value maps to
 * -nmax, the level without a positive partner. Then 18 nearby grids
 * (nmax + 0.1*k, k = -9..9) are tried; for fixed levels the optimal scale
 * is sum(w x l) / sum(w l^2), and a grid wins if it lowers the error,
 * i.e. raises sumlx^2 / suml2. */
static float search_symmetric_scale(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        /* Note: level 0 here, i.e. -nmax, not the zero level; harmless as
         * the block or sub-block scale is then 0. */
        memset(L, 0, (size_t)n);
        return 0.0f;
    }

    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;

    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        iscale = -(nmax + 0.1f * k) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

void quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n) {
    const int64_t nb = n / QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        /* 1. Per 16-element sub-block, a signed f32 scale. */
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = search_symmetric_scale(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[b], 0, sizeof y[b]); /* d = +0 in f16 is all-zero bits */
            continue;
        }

        /* 2. 8-bit signed sub-block scales; the largest maps to -128 so the
         * sign of d absorbs the sign of max_scale. */
        const float iscale = -128.0f / max_scale;
        y[b].d = f32_to_f16(1 / iscale);
        for (int j = 0; j < QK_K / 16; j++) {
            int s = nearest_int(iscale * scales[j]);
            y[b].scales[j] = (int8_t)(s < 127 ? s : 127);
        }

        /* 3. Re-derive the 6-bit levels against the stored scales (a
         * sub-block with effective scale 0 keeps its step-1 levels). */
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = f16_to_f32(y[b].d) * y[b].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }

        /* 4. Pack: per 128-element half, element l, l+32, l+64, l+96 share
         * low nibbles (ql[l]: l | l+64<<4, ql[l+32]: l+32 | l+96<<4) and
         * one qh byte holding their 2 high bits at shifts 0, 2, 4, 6. */
        uint8_t *ql = y[b].ql, *qh = y[b].qh;
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = (uint8_t)L[h + l], q2 = (uint8_t)L[h + l + 32];
                const uint8_t q3 = (uint8_t)L[h + l + 64], q4 = (uint8_t)L[h + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const float d = f16_to_f32(x[b].d);
        const uint8_t *ql = x[b].ql, *qh = x[b].qh;
        const int8_t *sc = x[b].scales;
        for (int h = 0; h < QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                /* (d * scale) * q, in that order, as ggml. */
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ---------------------------------------------------------------- Q8_K -- */

void quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            /* ggml leaves bsums unwritten here; we zero them (the sums of
             * all-zero qs), so the block is fully defined. */
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* The largest-magnitude value maps to -127 (not -128), so the
         * levels are symmetric; d is kept in f32. */
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        /* Per-16 sums of the levels, used by the dot kernels to apply a
         * weight format's per-sub-block min without touching every product. */
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1 / iscale;
    }
}

void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < QK_K; j++) *y++ = x[b].d * x[b].qs[j];
}
