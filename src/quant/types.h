/* Weight storage types. Values are ggml's type ids, so GGUF files map
 * onto them directly. */
#ifndef OLMOE_QUANT_TYPES_H
#define OLMOE_QUANT_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q8_0 = 8,
    TYPE_Q4_K = 12,
    TYPE_Q6_K = 14,
    TYPE_Q8_K = 15, /* activations only */
    TYPE_Q8_0X2 = 100, /* activations for Q4_0 weights (ours, blocks.h); not in GGUF */
    TYPE_Q8_0R = 101,  /* activations for Q8_0 weights (ours, blocks.h); not in GGUF */
    TYPE_Q4_0X8 = 102, /* Q4_0 rows interleaved 8 by 8 in memory (ours, quant/pack.h) */
    TYPE_Q8_0S = 103,  /* activations for Q4_0X8 and Q8_0X8 weights (ours, blocks.h) */
    TYPE_Q8_0X8 = 104, /* Q8_0 rows interleaved 8 by 8 in memory (ours, quant/pack.h) */
    TYPE_Q4_KX8 = 105, /* Q4_K rows interleaved 8 by 8 in memory (ours, quant/pack.h) */
    TYPE_I32 = 26, /* not weights: reference data read by the tests */
    TYPE_I64 = 27,
    TYPE_F64 = 28,
    TYPE_BF16 = 30,
} tensor_type;

/* 1 for the types a weight matrix or vector may have. */
int tensor_type_is_weight(tensor_type t);

typedef struct tensor_packing tensor_packing; /* quant/pack.h */

/* A typed, read-only view of weights (usually memory-mapped).
 * shape is in PyTorch order, outermost first: a matrix is [rows, cols] and
 * each row is one output feature (cols contiguous inputs). */
typedef struct {
    const char *name;
    tensor_type type;
    int n_dims;
    int64_t shape[4];
    const void *data;
    size_t nbytes;
    /* Set (by the model) only on matrices that nothing but matrix products
     * reads: their rows may then be rearranged in place, on first use, into
     * a layout with faster kernels (quant/pack.h). NULL: data stays as the
     * file has it. */
    tensor_packing *packing;
} tensor;

const char *tensor_type_name(tensor_type t);
/* Bytes of n elements of type t (n a multiple of the type's block size). */
size_t tensor_type_bytes(tensor_type t, int64_t n);
int64_t tensor_numel(const tensor *t);
/* A [rows, C] view of rows [r0, r0+rows) of matrix e of a stacked
 * [E, R, C] tensor (stacked experts of GGUF files and of transformers-5
 * fused checkpoints). The view shares the name and data of t. */
tensor tensor_stack_slice(const tensor *t, int64_t e, int64_t r0, int64_t rows);

/* Elements per block (1 for plain types) and bytes per block. */
int tensor_type_block_elems(tensor_type t);
size_t tensor_type_block_bytes(tensor_type t);

/* Scalar conversions used by every kernel. */
static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
float f16_to_f32(uint16_t h);
/* Round to nearest even, as ggml's GGML_FP32_TO_FP16 on x86 (F16C) does. */
uint16_t f32_to_f16(float f);
/* Round to nearest even (NaN kept quiet), as PyTorch and ggml do. */
uint16_t f32_to_bf16(float f);

#endif
