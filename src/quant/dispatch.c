/* The quant_ops tables: row conversions (shared by every instruction set,
 * so activations quantize byte-identically whichever kernels run) and one
 * vec_dot per instruction set, chosen once at first use. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "quant/formats.h"
#include "quant/kernels.h"
#include "quant/pack.h"

/* Each dot_<isa>.c defines quant_dot_<type>_<isa> for every weight type. */
#define DECLARE_DOTS(isa)                                                     \
    float quant_dot_f32_##isa(int64_t n, const void *w, const void *a);      \
    float quant_dot_f16_##isa(int64_t n, const void *w, const void *a);      \
    float quant_dot_bf16_##isa(int64_t n, const void *w, const void *a);     \
    float quant_dot_q4_0_##isa(int64_t n, const void *w, const void *a);     \
    float quant_dot_q8_0_##isa(int64_t n, const void *w, const void *a);     \
    float quant_dot_q4_K_##isa(int64_t n, const void *w, const void *a);     \
    float quant_dot_q6_K_##isa(int64_t n, const void *w, const void *a);      \
    void quant_dot_rows_f32_##isa(int64_t n, const float *x, const float *rows, int64_t stride,      \
                                  int64_t n_rows, float *out);                                   \
    void quant_weighted_rows_f32_##isa(int64_t n, const float *w, const float *rows, int64_t stride, \
                                       int64_t n_rows, float *out);                              \
    uint64_t quant_read_xor64_##isa(const uint64_t *p, size_t n);
#define DECLARE_DOT_TOKENS(name)                                                             \
    void name(int64_t n, const void *w, const void *a, size_t a_row, int n_tok, float *y, \
              int64_t y_stride);
DECLARE_DOTS(scalar)
void quant_silu_mul_scalar(int64_t n, float *gate, const float *up);
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_0x8_scalar)
DECLARE_DOT_TOKENS(quant_dot_tokens_q8_0x8_scalar)
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_Kx8_scalar)
#if defined(__x86_64__)
DECLARE_DOTS(avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_f32_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_f16_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_bf16_avx2)
void quant_quantize_q8_0_avx2(const float *x, block_q8_0 *y, int64_t n);
void quant_quantize_q8_K_avx2(const float *x, block_q8_K *y, int64_t n);
void quant_silu_mul_avx2(int64_t n, float *gate, const float *up);
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_0x8_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q8_0x8_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_Kx8_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_0_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q8_0_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_K_avx2)
DECLARE_DOT_TOKENS(quant_dot_tokens_q6_K_avx2)
#define DECLARE_DOT_PAIR(name) \
    void name(int64_t n, const void *w0, const void *a0, float *y0, const void *w1, const void *a1, float *y1);
DECLARE_DOT_PAIR(quant_dot_pair_q4_0x8_avx2)
DECLARE_DOT_PAIR(quant_dot_pair_q8_0x8_avx2)
DECLARE_DOT_PAIR(quant_dot_pair_q4_Kx8_avx2)
DECLARE_DOT_PAIR(quant_dot_pair_q4_K_avx2)
DECLARE_DOT_PAIR(quant_dot_pair_q6_K_avx2)
#endif
#if defined(__aarch64__)
DECLARE_DOTS(neon)
DECLARE_DOT_TOKENS(quant_dot_tokens_q4_0x8_neon)
#endif

/* ---- row conversions ---- */

static void f32_to_f32_row(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void f32_from_f32_row(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void f16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(h[i]);
}
static void f16_from_f32_row(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = f32_to_f16(src[i]);
}
static void bf16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
}
static void bf16_from_f32_row(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = f32_to_bf16(src[i]);
}

/* formats.h takes typed block pointers; the table wants void pointers. */
#define BLOCK_ROWS(name, block)                                              \
    static void name##_to_f32_row(const void *src, float *dst, int64_t n) {  \
        dequantize_row_##name((const block *)src, dst, n);                   \
    }                                                                        \
    static void name##_from_f32_row(const float *src, void *dst, int64_t n) { \
        quantize_row_##name(src, (block *)dst, n);                           \
    }
BLOCK_ROWS(q4_0, block_q4_0)
BLOCK_ROWS(q8_0, block_q8_0)
BLOCK_ROWS(q4_K, block_q4_K)
BLOCK_ROWS(q6_K, block_q6_K)
#undef BLOCK_ROWS

/* ---- tables ---- */

/* The dot_tokens entries (kernels.h) of the float types (float_tokens(f32)
 * etc.), Q4_0, Q8_0, Q4_K, Q6_K and of the interleaved Q4_0X8, Q8_0X8 and
 * Q4_KX8;
 * NULL where an instruction set has none (for an interleaved type: no
 * kernel, so weights stay as the file has them, see lookup()). pf: the
 * row-major kernels prefetch the weights they stream (kernels.h); the
 * interleaved ones always do (one call streams 9 KiB of eight rows).
 * pairs(type): the dot_pair entries of Q4_K, Q6_K and the interleaved ones. */
#define TABLE(isa, float_tokens, q4_0_tokens, q8_0_tokens, q4_K_tokens, q6_K_tokens, q4_0x8_tokens, q8_0x8_tokens, \
              q4_Kx8_tokens, pf, pairs)                                                                     \
    {                                                                                                       \
        {TYPE_F32, TYPE_F32, f32_to_f32_row, f32_from_f32_row, quant_dot_f32_##isa, float_tokens(f32), 0, pf, NULL},      \
        {TYPE_F16, TYPE_F32, f16_to_f32_row, f16_from_f32_row, quant_dot_f16_##isa, float_tokens(f16), 0, pf, NULL},      \
        {TYPE_BF16, TYPE_F32, bf16_to_f32_row, bf16_from_f32_row, quant_dot_bf16_##isa, float_tokens(bf16), 0, pf, NULL}, \
        {TYPE_Q4_0, TYPE_Q8_0X2, q4_0_to_f32_row, q4_0_from_f32_row, quant_dot_q4_0_##isa, q4_0_tokens, 0, pf, NULL},    \
        {TYPE_Q8_0, TYPE_Q8_0R, q8_0_to_f32_row, q8_0_from_f32_row, quant_dot_q8_0_##isa, q8_0_tokens, 0, pf, NULL},     \
        {TYPE_Q4_K, TYPE_Q8_K, q4_K_to_f32_row, q4_K_from_f32_row, quant_dot_q4_K_##isa, q4_K_tokens, 0, pf, pairs(q4_K)}, \
        {TYPE_Q6_K, TYPE_Q8_K, q6_K_to_f32_row, q6_K_from_f32_row, quant_dot_q6_K_##isa, q6_K_tokens, 0, pf, pairs(q6_K)}, \
        {TYPE_Q4_0X8, TYPE_Q8_0S, dequantize_rows_q4_0x8, quantize_rows_q4_0x8, NULL, q4_0x8_tokens, 8, 1, pairs(q4_0x8)}, \
        {TYPE_Q8_0X8, TYPE_Q8_0S, dequantize_rows_q8_0x8, quantize_rows_q8_0x8, NULL, q8_0x8_tokens, 8, 1, pairs(q8_0x8)}, \
        {TYPE_Q4_KX8, TYPE_Q8_K, dequantize_rows_q4_Kx8, quantize_rows_q4_Kx8, NULL, q4_Kx8_tokens, 8, 1, pairs(q4_Kx8)}, \
    }
enum { N_WEIGHT_TYPES = 10 };

/* float_tokens(type): the float types' dot_tokens, or NULL. */
#define NO_TOKENS(type) NULL
#define AVX2_TOKENS(type) quant_dot_tokens_##type##_avx2
#define NO_PAIRS(type) NULL
#define AVX2_PAIRS(type) quant_dot_pair_##type##_avx2
static const quant_ops scalar_ops[N_WEIGHT_TYPES] =
    TABLE(scalar, NO_TOKENS, NULL, NULL, NULL, NULL, quant_dot_tokens_q4_0x8_scalar, quant_dot_tokens_q8_0x8_scalar,
          quant_dot_tokens_q4_Kx8_scalar, 0, NO_PAIRS);
#if defined(__x86_64__)
static const quant_ops avx2_ops[N_WEIGHT_TYPES] =
    TABLE(avx2, AVX2_TOKENS, quant_dot_tokens_q4_0_avx2, quant_dot_tokens_q8_0_avx2, quant_dot_tokens_q4_K_avx2,
          quant_dot_tokens_q6_K_avx2, quant_dot_tokens_q4_0x8_avx2, quant_dot_tokens_q8_0x8_avx2,
          quant_dot_tokens_q4_Kx8_avx2, 1, AVX2_PAIRS);
#endif
#if defined(__aarch64__)
static const quant_ops neon_ops[N_WEIGHT_TYPES] =
    TABLE(neon, NO_TOKENS, NULL, NULL, NULL, NULL, quant_dot_tokens_q4_0x8_neon, NULL, NULL, 0, NO_PAIRS);
#endif

typedef struct {
    const char *name;
    const quant_ops *ops;
    void (*dot_rows)(int64_t n, const float *x, const float *rows, int64_t stride, int64_t n_rows,
                     float *out);
    void (*weighted_rows)(int64_t n, const float *w, const float *rows, int64_t stride,
                          int64_t n_rows, float *out);
    uint64_t (*read_xor64)(const uint64_t *p, size_t n);
    void (*quantize_q8_0)(const float *x, block_q8_0 *y, int64_t n); /* activations */
    void (*quantize_q8_K)(const float *x, block_q8_K *y, int64_t n);
    void (*silu_mul)(int64_t n, float *gate, const float *up);
} isa_entry;

/* Best first. */
static const isa_entry isas[] = {
#if defined(__x86_64__)
    {"avx2", avx2_ops, quant_dot_rows_f32_avx2, quant_weighted_rows_f32_avx2, quant_read_xor64_avx2,
     quant_quantize_q8_0_avx2, quant_quantize_q8_K_avx2, quant_silu_mul_avx2},
#endif
#if defined(__aarch64__)
    {"neon", neon_ops, quant_dot_rows_f32_neon, quant_weighted_rows_f32_neon, quant_read_xor64_neon,
     quantize_row_q8_0, quantize_row_q8_K, quant_silu_mul_scalar},
#endif
    {"scalar", scalar_ops, quant_dot_rows_f32_scalar, quant_weighted_rows_f32_scalar,
     quant_read_xor64_scalar, quantize_row_q8_0, quantize_row_q8_K, quant_silu_mul_scalar},
};
enum { N_ISA = sizeof isas / sizeof isas[0] };

static int isa_supported(const isa_entry *e) {
    (void)e;
#if defined(__x86_64__)
    if (e->ops == avx2_ops) {
        __builtin_cpu_init();
        /* F16C too: the f16 kernels widen with vcvtph2ps (every AVX2 CPU has
         * it; read from CPUID as not every compiler knows the name). */
        unsigned eax, ebx, ecx = 0, edx;
        int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    }
#endif
    return 1; /* scalar, and NEON (mandatory on aarch64) */
}

/* An entry with no kernel at all (an interleaved layout this instruction
 * set does not implement) counts as absent. */
static const quant_ops *lookup(const quant_ops *tab, tensor_type t) {
    for (int i = 0; i < N_WEIGHT_TYPES; i++)
        if (tab[i].type == t && (tab[i].vec_dot || tab[i].dot_tokens)) return &tab[i];
    return NULL;
}

/* The best supported entry, or the one OLMOE_ISA names if supported.
 * Computed on first use; threads that race here store the same pointer. */
static _Atomic(const isa_entry *) chosen;

static const isa_entry *choose(void) {
    const isa_entry *e = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (e) return e;
    const char *env = getenv("OLMOE_ISA");
    for (int i = 0; i < N_ISA && !e; i++)
        if (env && strcmp(env, isas[i].name) == 0 && isa_supported(&isas[i])) e = &isas[i];
    for (int i = 0; i < N_ISA && !e; i++)
        if (isa_supported(&isas[i])) e = &isas[i];
    atomic_store_explicit(&chosen, e, memory_order_relaxed);
    return e;
}

const quant_ops *quant_ops_for(tensor_type t) { return lookup(choose()->ops, t); }

const char *quant_isa(void) { return choose()->name; }

void vec_dot_rows_f32(int64_t n, const float *x, const float *rows, int64_t stride, int64_t n_rows,
                      float *out) {
    choose()->dot_rows(n, x, rows, stride, n_rows, out);
}

void vec_weighted_rows_f32(int64_t n, const float *w, const float *rows, int64_t stride,
                           int64_t n_rows, float *out) {
    choose()->weighted_rows(n, w, rows, stride, n_rows, out);
}

uint64_t read_xor64(const uint64_t *p, size_t n) { return choose()->read_xor64(p, n); }

void quantize_activations_q8_0(const float *x, block_q8_0 *y, int64_t n) { choose()->quantize_q8_0(x, y, n); }
void quantize_activations_q8_K(const float *x, block_q8_K *y, int64_t n) { choose()->quantize_q8_K(x, y, n); }

void vec_silu_mul(int64_t n, float *gate, const float *up) { choose()->silu_mul(n, gate, up); }

const quant_ops *quant_ops_for_isa(tensor_type t, const char *isa) {
    for (int i = 0; i < N_ISA; i++)
        if (isa && strcmp(isa, isas[i].name) == 0)
            return isa_supported(&isas[i]) ? lookup(isas[i].ops, t) : NULL;
    return NULL;
}
