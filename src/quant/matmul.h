/* The matrix-product interface the forward pass uses, whatever the
 * weight's storage type. Quantized types and SIMD kernels sit behind
 * quant_ops (kernels.h); this file only schedules the work. */
#ifndef OLMOE_QUANT_MATMUL_H
#define OLMOE_QUANT_MATMUL_H

#include "quant/types.h"

/* y[T, n_out] = x[T, n_in] · Wᵀ for W = [n_out, n_in]. */
typedef struct {
    float *y;
    const float *x;
    const tensor *w;
    int T;
} matmul_job;

/* Runs several independent products in one parallel region, splitting the
 * output rows of all of them across n_threads threads (so, e.g., the 8
 * experts of a token keep every thread busy without 8 fork/joins).
 * Activations are converted once per distinct x to each weight type's
 * activation format (8-bit blocks for quantized weights, as ggml does). */
void matmul_many(const matmul_job *jobs, int n_jobs, int n_threads);

/* One product: matmul_many with a single job. */
void matmul(float *y, const float *x, const tensor *w, int T, int n_threads);

/* Converts n elements of a typed row to float32. */
void row_to_f32(tensor_type type, const void *row, float *out, int64_t n);

#endif
