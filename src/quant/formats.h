/* Scalar reference conversions between float32 rows and each storage
 * type. The quantizers are bit-for-bit ggml's reference quantizers
 * (quantize_row_*_ref), so a file written here equals one ggml writes. n is
 * a multiple of the type's block size. */
#ifndef OLMOE_QUANT_FORMATS_H
#define OLMOE_QUANT_FORMATS_H

#include <stdint.h>

#include "quant/blocks.h"

void quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n);
void quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);
/* Q8_0's quantization in the Q8_0x2 layout (blocks.h); y holds n/32·64 bytes. */
void quantize_row_q8_0x2(const float *x, void *y, int64_t n);
/* A Q8_0 row rearranged into the Q8_0x2 layout (the same values). */
void pack_q8_0x2(const block_q8_0 *x, void *y, int64_t n);
/* The same for the Q8_0r layout (blocks.h). */
void quantize_row_q8_0r(const float *x, void *y, int64_t n);
void pack_q8_0r(const block_q8_0 *x, void *y, int64_t n);
/* The same for the Q8_0s layout (blocks.h). */
void quantize_row_q8_0s(const float *x, void *y, int64_t n);
void pack_q8_0s(const block_q8_0 *x, void *y, int64_t n);

void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);
void dequantize_row_q8_0x2(const void *x, float *y, int64_t n);
void dequantize_row_q8_0r(const void *x, float *y, int64_t n);
void dequantize_row_q8_0s(const void *x, float *y, int64_t n);

#endif
