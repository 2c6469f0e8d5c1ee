/* Weight rows rearranged, in place and on first use, into layouts whose
 * kernels are faster than the file's own: Q4_0, Q8_0 and Q4_K rows
 * interleaved 8 by 8 (block_q4_0x8, block_q8_0x8, block_q4_Kx8, blocks.h),
 * so that a 256-bit register holds the same 4 bytes of eight rows and a
 * kernel's lanes are output rows, with no horizontal sums and the scales
 * of eight rows handled together (Q4_0: about 1.9× the one-row kernel for
 * one token on AVX2, and 1.4× for four; Q4_K: 1.7× in cache).
 *
 * Why in place: llama.cpp keeps a second, repacked copy of such weights,
 * which doubles their memory. The files are mapped privately, so writing
 * turns each touched page into the process's own copy of it and the
 * resident size stays that of the weights in use. Why on first use: a
 * mixture of experts pages in only the experts it routes to, and packing
 * at load would read all of them. */
#ifndef OLMOE_QUANT_PACK_H
#define OLMOE_QUANT_PACK_H

#include <stdatomic.h>

#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/types.h"

/* One per packable matrix (owned by whoever owns the tensor). */
struct tensor_packing {
    atomic_int state;  /* PACK_* below; only ever moves forward */
    tensor_type type;  /* the layout's type once PACK_DONE */
};
enum { PACK_NOT_YET = 0, PACK_DONE = 1, PACK_NEVER = 2 };

/* The interleaved type for t where this CPU's kernels have one, else t. */
tensor_type packed_type_of(tensor_type t);

/* The operations a matrix product on w uses, for w's layout as it is now.
 * The first call on a packable w (w->packing set, its type has a packed
 * layout, rows a multiple of the interleave) rearranges its rows; calls
 * from several threads pack once, the others wait. NULL for a type that
 * cannot be a weight. */
const quant_ops *tensor_matmul_ops(const tensor *w);

/* The type w's data is in now (w->type, or the packed type). */
tensor_type tensor_layout(const tensor *w);

/* Row r of w as float32, whatever its layout. */
void tensor_row_to_f32(const tensor *w, int64_t r, float *out);

/* Rows [r0, r0 + n) of w in the file's layout (row-major blocks of
 * w->type), unpacked if w was packed (r0 and n then multiples of 8). */
void tensor_rows_as_file(const tensor *w, int64_t r0, int64_t n, void *out);

/* Eight rows of n elements of row_type (TYPE_Q4_0, TYPE_Q8_0 or TYPE_Q4_K),
 * row after row, to and from their interleaved layout (block_q4_0x8,
 * block_q8_0x8, block_q4_Kx8). */
void pack_rows_x8(tensor_type row_type, const void *rows, void *out, int64_t n);
void unpack_rows_x8(tensor_type row_type, const void *in, void *rows, int64_t n);
/* Eight rows of n floats (row after row) from and to an interleaved layout,
 * quantized as its row type (that type's quant_ops conversions). */
void dequantize_rows_q4_0x8(const void *src, float *dst, int64_t n);
void quantize_rows_q4_0x8(const float *src, void *dst, int64_t n);
void dequantize_rows_q8_0x8(const void *src, float *dst, int64_t n);
void quantize_rows_q8_0x8(const float *src, void *dst, int64_t n);
void dequantize_rows_q4_Kx8(const void *src, float *dst, int64_t n);
void quantize_rows_q4_Kx8(const float *src, void *dst, int64_t n);

#endif
