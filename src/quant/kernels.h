/* Per-type operations behind one interface. Each instruction set has one
 * file (dot_scalar.c: the portable reference; dot_avx2.c: x86-64 AVX2+FMA;
 * dot_neon.c: aarch64 NEON); quant_ops_for() picks, once, the best the CPU
 * runs (checked at run time on x86-64). */
#ifndef OLMOE_QUANT_KERNELS_H
#define OLMOE_QUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/blocks.h"
#include "quant/types.h"

typedef struct {
    tensor_type type;
    /* Activations are converted to this type before vec_dot (as ggml does:
     * Q8_0's levels for Q4_0/Q8_0 weights in kernel-shaped layouts Q8_0x2 and
     * Q8_0r (blocks.h), Q8_K for Q4_K/Q6_K, F32 for float weights). */
    tensor_type act_type;
    void (*to_f32)(const void *src, float *dst, int64_t n);
    void (*from_f32)(const float *src, void *dst, int64_t n);
    /* Σ w[i]·a[i] over n elements: w a row of `type`, a a row of `act_type`. */
    float (*vec_dot)(int64_t n, const void *w, const void *a);
    /* One weight row against n_tok activation rows (a_row bytes apart):
     * y[t·y_stride] = vec_dot(n, w, a_t), bit for bit, with the weights
     * unpacked once for several tokens (prompt processing). NULL where an
     * instruction set has nothing faster than calling vec_dot per token. */
    void (*dot_tokens)(int64_t n, const void *w, const void *a, size_t a_row, int n_tok, float *y,
                       int64_t y_stride);
    /* 0 for row-major types. k for layouts that interleave k rows
     * (quant/pack.h): to_f32, from_f32 and dot_tokens then take k rows at
     * a time (dot_tokens writes y[t·y_stride + j] for row j < k), and
     * vec_dot is NULL. */
    int interleave;
    /* 1 where dot_tokens asks for the weights STREAM_PREFETCH_BYTES ahead
     * as it reads them; otherwise matmul asks for each row's, ahead of it,
     * when the row starts. Measured on expert-sized matrices beyond the
     * last-level cache (AVX2): 15-50% more bytes per second streaming. */
    int prefetches;
    /* Two one-token products read together, for decoding: y0 from the rows
     * at w0 (one row, or the interleave's k rows) against the token at a0,
     * y1 from w1 against a1, each the bits dot_tokens gives that token.
     * Two weight streams far apart keep more of the memory busy than one:
     * measured decoding OLMoE Q4_0 on the development machine, the products
     * took 6-10% less time with each thread streaming two spans of its rows
     * at once. NULL: matmul runs them one after the other. */
    void (*dot_pair)(int64_t n, const void *w0, const void *a0, float *y0, const void *w1, const void *a1,
                     float *y1);
} quant_ops;

/* How far ahead of the bytes being read a thread streaming weights asks for
 * more: the hardware prefetcher alone leaves it well short of the memory's
 * bandwidth (measured on expert-sized matrices: 1-2 KiB is best). */
enum { STREAM_PREFETCH_BYTES = 2048 };

/* Asks for the lines STREAM_PREFETCH_BYTES ahead of the n bytes at p:
 * what matmul does once per row for the kernels that do not prefetch. */
static inline void prefetch_stream(const void *p, size_t n) {
    const char *ahead = (const char *)p + STREAM_PREFETCH_BYTES;
    for (size_t o = 0; o < n; o += 64) __builtin_prefetch(ahead + o);
}

/* What a kernel streaming weights uses as it reads them: one request per
 * 64-byte line, STREAM_PREFETCH_BYTES ahead. Blocks are rarely whole lines
 * (144 bytes for Q4_0x8 and Q4_K, 210 for Q6_K), so asking for each block's
 * bytes would ask for the line it shares with the next block twice: 3
 * requests per 2.25 new lines for Q4_0x8, and the spare ones cost 8% of its
 * streaming speed on the development machine (0.87 -> 0.95 of a plain read
 * loop over 1 GiB). `next` is the first address not yet asked for. */
typedef struct {
    uintptr_t next; /* an address, not a pointer: it runs past the weights */
} prefetch_cursor;

static inline prefetch_cursor prefetch_start(const void *p) {
    return (prefetch_cursor){(uintptr_t)p + STREAM_PREFETCH_BYTES};
}

/* Asks for every line up to STREAM_PREFETCH_BYTES past read_to (the end of
 * the bytes about to be read) not asked for yet. */
static inline void prefetch_to(prefetch_cursor *c, const void *read_to) {
    const uintptr_t end = (uintptr_t)read_to + STREAM_PREFETCH_BYTES;
    for (; c->next < end; c->next += 64) __builtin_prefetch((const void *)c->next);
}

/* NULL for a type that cannot be a weight. */
const quant_ops *quant_ops_for(tensor_type t);

/* The same tables forced to one instruction set, for tests and benchmarks:
 * "scalar", "avx2" or "neon"; NULL if not compiled in or not supported by
 * this CPU. */
const quant_ops *quant_ops_for_isa(tensor_type t, const char *isa);

/* Attention's two products over the rows of a KV cache (n floats each,
 * `stride` floats apart), with the instruction set quant_ops_for() uses:
 *   out[j] = Σ_i x[i]·rows[j·stride + i]          for j < n_rows
 *   out[i] = Σ_j w[j]·rows[j·stride + i]          for i < n */
void vec_dot_rows_f32(int64_t n, const float *x, const float *rows, int64_t stride, int64_t n_rows,
                      float *out);
void vec_weighted_rows_f32(int64_t n, const float *w, const float *rows, int64_t stride,
                           int64_t n_rows, float *out);

/* XOR of the n 64-bit words at p (n a multiple of 16, p 32-byte aligned),
 * read with the widest loads the instruction set has: the memory-bandwidth
 * probe of olmoe bench, so that the bound it reports is what this machine
 * can actually stream, not what narrow loads reach. */
uint64_t read_xor64(const uint64_t *p, size_t n);

/* Q8_0 blocks of the n floats at x (n a multiple of 32), byte for byte
 * quantize_row_q8_0's (formats.h) with the instruction set quant_ops_for()
 * uses: how activations are quantized on their way into the kernels
 * (every token of every product: serial work between the parallel ones). */
void quantize_activations_q8_0(const float *x, block_q8_0 *y, int64_t n);
/* The same for Q8_K (n a multiple of 256), byte for byte quantize_row_q8_K's:
 * the activations of Q4_K and Q6_K weights. */
void quantize_activations_q8_K(const float *x, block_q8_K *y, int64_t n);

/* gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + e^-gate[i]) * up[i] for
 * i < n (SwiGLU's product), with the instruction set quant_ops_for() uses:
 * libm's expf in the scalar reference, a polynomial within 2 ulp of it in
 * the AVX2 one (a call to expf per element cannot be vectorized). */
void vec_silu_mul(int64_t n, float *gate, const float *up);

/* The instruction set quant_ops_for() uses. */
const char *quant_isa(void);

#endif
