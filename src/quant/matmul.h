/* The one matrix-product interface the forward pass uses, whatever the
 * weight's storage type. Later weight types (quantized blocks) and SIMD
 * paths plug in behind it. */
#ifndef OLMOE_QUANT_MATMUL_H
#define OLMOE_QUANT_MATMUL_H

#include "quant/types.h"

/* y[T, n_out] = x[T, n_in] · Wᵀ for W = [n_out, n_in] of any tensor_type.
 * Output rows are split across n_threads threads; each weight row is read
 * once for all T tokens. */
void matmul(float *y, const float *x, const tensor *w, int T, int n_threads);

/* Converts n elements of a typed row to float32. */
void row_to_f32(tensor_type type, const void *row, float *out, int64_t n);

#endif
