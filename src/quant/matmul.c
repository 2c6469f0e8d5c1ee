#include "quant/matmul.h"

#include <string.h>

void row_to_f32(tensor_type type, const void *row, float *out, int64_t n) {
    switch (type) {
    case TYPE_F32:
        memcpy(out, row, (size_t)n * sizeof(float));
        break;
    case TYPE_BF16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(h[i]);
        break;
    }
    case TYPE_F16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < n; i++) out[i] = f16_to_f32(h[i]);
        break;
    }
    default: /* weights are checked at load time to be one of the above */
        break;
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    /* Four partial sums: lets the compiler vectorise and keeps rounding
     * error low on long rows. */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Typed weights are converted to float32 a slice of a row at a time into a
 * stack buffer, so the product needs no heap memory; each slice is used for
 * every token of the batch before moving on. */
enum { SLICE = 512, TOKENS = 64 };

static void row_times_batch(const tensor *w, int64_t r, const float *x, int T, float *acc) {
    const int64_t n_in = w->shape[1];
    const char *src = (const char *)w->data + (size_t)r * tensor_type_bytes(w->type, n_in);
    float buf[SLICE];
    for (int t = 0; t < T; t++) acc[t] = 0;
    for (int64_t c = 0; c < n_in; c += SLICE) {
        int64_t n = n_in - c < SLICE ? n_in - c : SLICE;
        const float *wr;
        if (w->type == TYPE_F32) {
            wr = (const float *)src + c;
        } else {
            row_to_f32(w->type, src + tensor_type_bytes(w->type, c), buf, n);
            wr = buf;
        }
        for (int t = 0; t < T; t++) acc[t] += dot_f32(wr, x + (size_t)t * n_in + c, n);
    }
}

void matmul(float *y, const float *x, const tensor *w, int T, int n_threads) {
    const int64_t n_out = w->shape[0], n_in = w->shape[1];
    if (n_threads < 1) n_threads = 1;
    if (n_out * n_in * T < 32768) n_threads = 1; /* not worth waking threads */
    for (int t0 = 0; t0 < T; t0 += TOKENS) {
        int nt = T - t0 < TOKENS ? T - t0 : TOKENS;
        const float *xb = x + (size_t)t0 * n_in;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int64_t r = 0; r < n_out; r++) {
            float acc[TOKENS];
            row_times_batch(w, r, xb, nt, acc);
            for (int t = 0; t < nt; t++) y[(size_t)(t0 + t) * n_out + r] = acc[t];
        }
    }
}
