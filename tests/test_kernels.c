/* The dot-product kernels: every SIMD kernel against the scalar reference,
 * the scalar reference against the dequantized rows, exact integer parts
 * (unit scales), and the dispatch tables. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/kernels.h"

static const char *const ISAS[] = {"scalar", "avx2", "neon"};
static const tensor_type WEIGHT_TYPES[] = {TYPE_F32,  TYPE_F16,  TYPE_BF16, TYPE_Q4_0,
                                           TYPE_Q8_0, TYPE_Q4_K, TYPE_Q6_K};
enum { N_ISAS = 3, N_TYPES = sizeof WEIGHT_TYPES / sizeof WEIGHT_TYPES[0] };

/* ---- deterministic random numbers ---- */

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float rng_unit(void) { return (float)(rng_u64() >> 40) / (float)(1 << 24); } /* [0,1) */
static float rng_sym(void) { return 2 * rng_unit() - 1; }                               /* [-1,1) */
static int rng_int(int lo, int hi) { return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1)); }
static void rng_bytes(void *p, size_t n) {
    for (size_t i = 0; i < n; i++) ((uint8_t *)p)[i] = (uint8_t)rng_u64();
}
/* A non-zero f16 scale of magnitude 2^-12 .. 2, random sign. */
static uint16_t rng_scale_f16(void) {
    float v = ldexpf(1 + rng_unit(), -rng_int(0, 12));
    return f32_to_f16(rng_u64() & 1 ? -v : v);
}

/* Floats with some structure: mostly in [-1, 1], some larger outliers. */
static void rng_floats(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_sym() * (rng_int(0, 15) == 0 ? 8.0f : 1.0f);
}

/* ---- rows ---- */

static int block_elems(tensor_type t) { return tensor_type_block_elems(t); }

/* Weights made by quantizing random floats. */
static void make_weights_quantized(tensor_type t, void *w, int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    rng_floats(x, n);
    quant_ops_for_isa(t, "scalar")->from_f32(x, w, n);
    free(x);
}

/* Weights from random bits, scales kept finite and non-zero (floats: no
 * inf/NaN, and bf16 exponents kept within 2^±20). */
static void make_weights_raw(tensor_type t, void *w, int64_t n) {
    rng_bytes(w, tensor_type_bytes(t, n));
    switch (t) {
    case TYPE_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)w)[i] = ldexpf(rng_sym(), rng_int(-20, 20));
        break;
    case TYPE_F16:
        for (int64_t i = 0; i < n; i++) /* exponent 31 is inf/NaN: fold it away */
            if ((((uint16_t *)w)[i] & 0x7c00) == 0x7c00) ((uint16_t *)w)[i] &= 0xbfff;
        break;
    case TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t *h = (uint16_t *)w + i;
            int e = 127 + rng_int(-20, 20);
            *h = (uint16_t)((*h & 0x807f) | (e << 7));
        }
        break;
    case TYPE_Q4_0:
        for (int64_t b = 0; b < n / QK4_0; b++) ((block_q4_0 *)w)[b].d = rng_scale_f16();
        break;
    case TYPE_Q8_0:
        for (int64_t b = 0; b < n / QK8_0; b++) ((block_q8_0 *)w)[b].d = rng_scale_f16();
        break;
    case TYPE_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            ((block_q4_K *)w)[b].d = rng_scale_f16();
            ((block_q4_K *)w)[b].dmin = rng_scale_f16();
        }
        break;
    case TYPE_Q6_K:
        for (int64_t b = 0; b < n / QK_K; b++) ((block_q6_K *)w)[b].d = rng_scale_f16();
        break;
    default: break;
    }
}

/* Sets every scale of a block row to 1 (for exact integer checks). */
static void unit_scales(tensor_type t, void *w, int64_t n) {
    uint16_t one = f32_to_f16(1.0f);
    for (int64_t b = 0; b < n / block_elems(t); b++) switch (t) {
        case TYPE_Q4_0: ((block_q4_0 *)w)[b].d = one; break;
        case TYPE_Q8_0: ((block_q8_0 *)w)[b].d = one; break;
        case TYPE_Q4_K: ((block_q4_K *)w)[b].d = ((block_q4_K *)w)[b].dmin = one; break;
        case TYPE_Q6_K: ((block_q6_K *)w)[b].d = one; break;
        default: break;
        }
}

static size_t act_bytes(tensor_type act, int64_t n) { return tensor_type_bytes(act, n); }

/* Activations from random floats through the real quantizers. */
static void make_act_quantized(tensor_type act, void *a, int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    rng_floats(x, n);
    switch (act) {
    case TYPE_F32: memcpy(a, x, (size_t)n * sizeof *x); break;
    case TYPE_Q8_0: quantize_row_q8_0(x, a, n); break;
    case TYPE_Q8_0X2: quantize_row_q8_0x2(x, a, n); break;
    case TYPE_Q8_0R: quantize_row_q8_0r(x, a, n); break;
    case TYPE_Q8_K: quantize_row_q8_K(x, a, n); break;
    case TYPE_Q8_0S: quantize_row_q8_0s(x, a, n); break;
    default: break;
    }
    free(x);
}

/* Activation blocks from random levels in [-127, 127] (the quantizers'
 * range), with matching bsums; unit scales if `unit`, no zero level if
 * `nonzero`. Q8_0x2 and Q8_0r rows are Q8_0 rows rearranged. */
static void make_act_raw(tensor_type act, void *a, int64_t n, int unit, int nonzero) {
    const int lo = -127, hi = 127;
#define LEVEL() (int8_t)(nonzero ? (rng_int(0, 1) ? rng_int(1, hi) : rng_int(lo, -1)) : rng_int(lo, hi))
    if (act == TYPE_F32) {
        for (int64_t i = 0; i < n; i++) ((float *)a)[i] = ldexpf(rng_sym(), rng_int(-8, 8));
    } else if (act == TYPE_Q8_0 || act == TYPE_Q8_0X2 || act == TYPE_Q8_0R) {
        block_q8_0 *q = act == TYPE_Q8_0 ? a : malloc((size_t)(n / QK8_0) * sizeof *q);
        for (int64_t b = 0; b < n / QK8_0; b++) {
            q[b].d = unit ? f32_to_f16(1.0f) : rng_scale_f16();
            for (int j = 0; j < QK8_0; j++) q[b].qs[j] = LEVEL();
        }
        if (act != TYPE_Q8_0) {
            if (act == TYPE_Q8_0X2) pack_q8_0x2(q, a, n);
            else pack_q8_0r(q, a, n);
            free(q);
        }
    } else if (act == TYPE_Q8_K) {
        for (int64_t b = 0; b < n / QK_K; b++) {
            block_q8_K *y = (block_q8_K *)a + b;
            y->d = unit ? 1.0f : ldexpf(1 + rng_unit(), -rng_int(2, 12));
            for (int g = 0; g < QK_K / 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += y->qs[16 * g + l] = LEVEL();
                y->bsums[g] = (int16_t)s;
            }
        }
    }
#undef LEVEL
}

static void act_to_f32(tensor_type act, const void *a, float *x, int64_t n) {
    switch (act) {
    case TYPE_F32: memcpy(x, a, (size_t)n * sizeof *x); break;
    case TYPE_Q8_0: dequantize_row_q8_0(a, x, n); break;
    case TYPE_Q8_0X2: dequantize_row_q8_0x2(a, x, n); break;
    case TYPE_Q8_0R: dequantize_row_q8_0r(a, x, n); break;
    case TYPE_Q8_K: dequantize_row_q8_K(a, x, n); break;
    default: break;
    }
}

/* Σ w·a of the dequantized rows in double, and Σ|w·a| (the error scale). */
static double ref_dot(tensor_type t, const void *w, const void *a, int64_t n, double *mag) {
    const quant_ops *ops = quant_ops_for_isa(t, "scalar");
    float *wf = malloc((size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af);
    ops->to_f32(w, wf, n);
    act_to_f32(ops->act_type, a, af, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)wf[i] * af[i];
        m += fabs((double)wf[i] * af[i]);
    }
    free(wf);
    free(af);
    *mag = m;
    return s;
}

/* Relative tolerances on Σ|w·a|. SIMD vs scalar differ only in the order
 * of float additions. The dequantized reference also rounds each weight
 * separately (e.g. Q4_K's d·sc·q − dmin·m), which with random raw blocks
 * can cancel, hence the looser bound there. */
#define TOL_ISA 1e-5
#define TOL_REF 1e-4

static int has_isa(const char *isa) { return quant_ops_for_isa(TYPE_F32, isa) != NULL; }

/* ---- tests ---- */

static const int64_t SIZES[] = {1, 7, 33, 256, 512, 4096, 11008};
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

static void test_dot_random(void) {
    double worst_isa = 0, worst_ref = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        tensor_type t = WEIGHT_TYPES[ti];
        const quant_ops *ref_ops = quant_ops_for_isa(t, "scalar");
        CHECK(ref_ops != NULL);
        if (!ref_ops) continue;
        for (int si = 0; si < N_SIZES; si++) {
            int64_t n = SIZES[si];
            if (n % block_elems(t)) continue;
            void *w = malloc(tensor_type_bytes(t, n));
            void *a = malloc(act_bytes(ref_ops->act_type, n));
            for (int mode = 0; mode < 4; mode++) { /* bit 0: raw weights, bit 1: raw activations */
                rng_seed(1000 * (uint64_t)t + 10 * (uint64_t)si + (uint64_t)mode);
                if (mode & 1) make_weights_raw(t, w, n);
                else make_weights_quantized(t, w, n);
                if (mode & 2) make_act_raw(ref_ops->act_type, a, n, 0, 0);
                else make_act_quantized(ref_ops->act_type, a, n);

                double mag;
                double ref = ref_dot(t, w, a, n, &mag);
                float scalar = ref_ops->vec_dot(n, w, a);
                double err = fabs(scalar - ref) / (mag > 0 ? mag : 1);
                if (err > worst_ref) worst_ref = err;
                CHECK_MSG(err <= TOL_REF, "%s n=%lld mode=%d: scalar %.9g vs dequantized %.9g",
                          tensor_type_name(t), (long long)n, mode, scalar, ref);
                for (int ii = 1; ii < N_ISAS; ii++) {
                    const quant_ops *ops = quant_ops_for_isa(t, ISAS[ii]);
                    if (!ops) continue;
                    float got = ops->vec_dot(n, w, a);
                    double e = fabs((double)got - scalar) / (mag > 0 ? mag : 1);
                    if (e > worst_isa) worst_isa = e;
                    CHECK_MSG(e <= TOL_ISA, "%s %s n=%lld mode=%d: %.9g vs scalar %.9g",
                              ISAS[ii], tensor_type_name(t), (long long)n, mode, got, scalar);
                }
            }
            free(w);
            free(a);
        }
    }
    printf("worst relative error: SIMD vs scalar %.3g, scalar vs dequantized %.3g\n", worst_isa,
           worst_ref);
}

/* With every scale 1 the result is an integer; with random levels (random
 * signs) the partial sums stay well below 2^24, so every ISA must return
 * exactly the integer Σ w·a computed here from the dequantized values. */
static void test_dot_exact(void) {
    static const int64_t sizes[] = {32, 64, 256, 1024};
    for (int ti = 0; ti < N_TYPES; ti++) {
        tensor_type t = WEIGHT_TYPES[ti];
        if (block_elems(t) == 1) continue;
        const quant_ops *ref_ops = quant_ops_for_isa(t, "scalar");
        for (int si = 0; si < 4; si++) {
            int64_t n = sizes[si];
            if (n % block_elems(t)) continue;
            for (int rep = 0; rep < 8; rep++) {
                void *w = malloc(tensor_type_bytes(t, n));
                void *a = malloc(act_bytes(ref_ops->act_type, n));
                rng_seed(77 + 100 * (uint64_t)t + 10 * (uint64_t)si + (uint64_t)rep);
                make_weights_raw(t, w, n);
                unit_scales(t, w, n);
                make_act_raw(ref_ops->act_type, a, n, 1, 0);
                float *wf = malloc((size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af);
                ref_ops->to_f32(w, wf, n);
                act_to_f32(ref_ops->act_type, a, af, n);
                int64_t exact = 0;
                for (int64_t i = 0; i < n; i++) exact += (int64_t)wf[i] * (int64_t)af[i];
                CHECK(llabs(exact) < (1 << 24)); /* else float could not hold it */
                for (int ii = 0; ii < N_ISAS; ii++) {
                    const quant_ops *ops = quant_ops_for_isa(t, ISAS[ii]);
                    if (!ops) continue;
                    float got = ops->vec_dot(n, w, a);
                    CHECK_MSG(got == (float)exact, "%s %s n=%lld rep=%d: %.9g vs exact %lld",
                              ISAS[ii], tensor_type_name(t), (long long)n, rep, got,
                              (long long)exact);
                }
                free(wf);
                free(af);
                free(w);
                free(a);
            }
        }
    }
}

/* A single changed weight bit must change the result (guards against a
 * kernel that ignores part of a block). */
static void test_dot_sensitivity(void) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        tensor_type t = WEIGHT_TYPES[ti];
        if (block_elems(t) == 1) continue;
        const quant_ops *ref_ops = quant_ops_for_isa(t, "scalar");
        int64_t n = 512;
        size_t wb = tensor_type_bytes(t, n);
        uint8_t *w = malloc(wb);
        void *a = malloc(act_bytes(ref_ops->act_type, n));
        rng_seed(4242 + (uint64_t)t);
        make_weights_raw(t, w, n);
        unit_scales(t, w, n);
        make_act_raw(ref_ops->act_type, a, n, 1, 1); /* no zero level: every weight counts */
        for (int ii = 0; ii < N_ISAS; ii++) {
            const quant_ops *ops = quant_ops_for_isa(t, ISAS[ii]);
            if (!ops) continue;
            float base = ops->vec_dot(n, w, a);
            int missed = 0;
            float *wf0 = malloc((size_t)n * sizeof *wf0), *wf1 = malloc((size_t)n * sizeof *wf1);
            ops->to_f32(w, wf0, n);
            for (size_t byte = 0; byte < wb; byte++) {
                for (int bit = 0; bit < 8; bit++) {
                    w[byte] ^= (uint8_t)(1 << bit);
                    ops->to_f32(w, wf1, n);
                    /* Only flips that change exactly one dequantized weight
                     * must change the dot (scale flips may cancel). */
                    int changed = 0;
                    for (int64_t i = 0; i < n; i++) changed += wf0[i] != wf1[i];
                    if (changed == 1 && ops->vec_dot(n, w, a) == base) missed++;
                    w[byte] ^= (uint8_t)(1 << bit);
                }
            }
            CHECK_MSG(missed == 0, "%s %s: %d single-weight bit flips left the dot unchanged",
                      ISAS[ii], tensor_type_name(t), missed);
            free(wf0);
            free(wf1);
        }
        free(w);
        free(a);
    }
}

/* Every f16 bit pattern through each f16 kernel, both the scalar tail
 * (n = 1) and the vector body (n = 32: 32 copies, activation e_0). */
static void test_f16_all_values(void) {
    const quant_ops *ref = quant_ops_for_isa(TYPE_F16, "scalar");
    float *want = malloc(65536 * sizeof *want), e0[32] = {1.0f};
    uint16_t *all = malloc(65536 * sizeof *all), row[32];
    for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
    ref->to_f32(all, want, 65536);
    for (int ii = 0; ii < N_ISAS; ii++) {
        const quant_ops *ops = quant_ops_for_isa(TYPE_F16, ISAS[ii]);
        if (!ops) continue;
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            for (int k = 0; k < 32; k++) row[k] = (uint16_t)h;
            float w = 0.0f + want[h];
            float got1 = ops->vec_dot(1, &all[h], e0), got32 = ops->vec_dot(32, row, e0);
            if (isfinite(w)) bad += got1 != w || got32 != w;
            else bad += !(got1 == w || (isnan(got1) && isnan(w))) || !isnan(got32); /* inf·0 */
        }
        CHECK_MSG(bad == 0, "%s: %d f16 values convert differently from to_f32", ISAS[ii], bad);
    }
    free(want);
    free(all);
}

static void test_tables(void) {
    const char *isa = quant_isa();
    CHECK_MSG(!strcmp(isa, "scalar") || !strcmp(isa, "avx2") || !strcmp(isa, "neon"), "%s", isa);
    CHECK(has_isa("scalar"));
    CHECK(quant_ops_for_isa(TYPE_F32, "sse9") == NULL);
    CHECK(quant_ops_for_isa(TYPE_F32, NULL) == NULL);
    static const tensor_type not_weights[] = {TYPE_Q8_K, TYPE_I32, TYPE_I64, TYPE_F64};
    for (int i = 0; i < 4; i++) {
        CHECK(quant_ops_for(not_weights[i]) == NULL);
        for (int ii = 0; ii < N_ISAS; ii++) CHECK(quant_ops_for_isa(not_weights[i], ISAS[ii]) == NULL);
    }
    printf("isa: %s (available:", isa);
    for (int ii = 0; ii < N_ISAS; ii++)
        if (has_isa(ISAS[ii])) printf(" %s", ISAS[ii]);
    printf(")\n");

    for (int ti = 0; ti < N_TYPES; ti++) {
        tensor_type t = WEIGHT_TYPES[ti];
        const quant_ops *ops = quant_ops_for(t), *ref = quant_ops_for_isa(t, "scalar");
        CHECK(ops && ref);
        if (!ops || !ref) continue;
        CHECK(ops == quant_ops_for_isa(t, isa));
        CHECK_INT_EQ(ops->type, t);
        tensor_type want_act = block_elems(t) == 1        ? TYPE_F32
                               : block_elems(t) == QK_K ? TYPE_Q8_K
                               : t == TYPE_Q4_0         ? TYPE_Q8_0X2
                                                        : TYPE_Q8_0R;
        for (int ii = 0; ii < N_ISAS; ii++) {
            const quant_ops *o = quant_ops_for_isa(t, ISAS[ii]);
            if (!o) continue;
            CHECK_INT_EQ(o->type, t);
            CHECK_INT_EQ(o->act_type, want_act);
            CHECK(o->to_f32 && o->from_f32 && o->vec_dot);
        }

        /* Conversions: byte-identical to the scalar table's, both ways. */
        int64_t n = 4096;
        size_t nb = tensor_type_bytes(t, n);
        float *x = malloc((size_t)n * sizeof *x), *y0 = malloc((size_t)n * sizeof *y0),
              *y1 = malloc((size_t)n * sizeof *y1);
        uint8_t *q0 = malloc(nb), *q1 = malloc(nb);
        rng_seed(99 + (uint64_t)t);
        rng_floats(x, n);
        ref->from_f32(x, q0, n);
        ops->from_f32(x, q1, n);
        CHECK_MSG(memcmp(q0, q1, nb) == 0, "%s from_f32 differs from scalar", tensor_type_name(t));
        ref->to_f32(q0, y0, n);
        ops->to_f32(q0, y1, n);
        CHECK_MSG(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s to_f32 differs from scalar",
                  tensor_type_name(t));
        /* Round trip stays close (ties the tables to the formats). */
        double err = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            err += fabs((double)y0[i] - x[i]);
            mag += fabs((double)x[i]);
        }
        double bound = (t == TYPE_Q4_0 || t == TYPE_Q4_K) ? 0.3 : 0.05;
        CHECK_MSG(err / mag < bound, "%s round trip error %.3g", tensor_type_name(t), err / mag);
        free(x);
        free(y0);
        free(y1);
        free(q0);
        free(q1);
    }
}

/* OLMOE_ISA=scalar must force the scalar path: checked in a child process,
 * since the choice is made once per process. */
static void test_env_override(const char *self) {
    pid_t pid = fork();
    if (pid == 0) {
        setenv("OLMOE_ISA", "scalar", 1);
        setenv("OLMOE_TEST_KERNELS_CHILD", "1", 1);
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        printf("OLMOE_ISA override: skipped (cannot re-execute %s)\n", self);
        return;
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child with OLMOE_ISA=scalar status %d",
              status);
}

/* dot_tokens (one weight row against several tokens) must give each token
 * exactly vec_dot's bits, for every group size and remainder. */
static void test_dot_tokens(void) {
    enum { MAX_TOK = 9 };
    static const int64_t sizes[] = {32, 96, 256, 2048, 4096};
    int tested = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        tensor_type t = WEIGHT_TYPES[ti];
        for (int ii = 0; ii < N_ISAS; ii++) {
            const quant_ops *ops = quant_ops_for_isa(t, ISAS[ii]);
            if (!ops || !ops->dot_tokens) continue;
            for (int si = 0; si < 5; si++) {
                int64_t n = sizes[si];
                if (n % block_elems(t)) continue;
                size_t a_row = act_bytes(ops->act_type, n);
                void *w = malloc(tensor_type_bytes(t, n));
                char *a = malloc(a_row * MAX_TOK);
                rng_seed(99 + 7 * (uint64_t)t + (uint64_t)si);
                make_weights_quantized(t, w, n);
                for (int k = 0; k < MAX_TOK; k++) make_act_quantized(ops->act_type, a + k * a_row, n);
                for (int n_tok = 1; n_tok <= MAX_TOK; n_tok++) {
                    float y[2 * MAX_TOK];
                    ops->dot_tokens(n, w, a, a_row, n_tok, y, 2); /* stride 2: every other slot */
                    for (int k = 0; k < n_tok; k++) {
                        float want = ops->vec_dot(n, w, a + k * a_row);
                        CHECK_MSG(y[2 * k] == want, "%s %s n=%lld n_tok=%d token %d: %.9g vs vec_dot %.9g",
                                  ISAS[ii], tensor_type_name(t), (long long)n, n_tok, k, y[2 * k], want);
                    }
                    tested++;
                }
                free(w);
                free(a);
            }
        }
    }
    printf("dot_tokens checked against vec_dot in %d cases\n", tested);
}

/* dot_pair (two weight streams, one token each, read together) must give
 * each stream the bits dot_tokens gives its token alone. */
static void test_dot_pair(void) {
    static const tensor_type types[] = {TYPE_Q4_K, TYPE_Q6_K, TYPE_Q4_0X8, TYPE_Q8_0X8, TYPE_Q4_KX8};
    static const int64_t sizes[] = {256, 2048, 4096};
    int tested = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (int ii = 0; ii < N_ISAS; ii++) {
            const tensor_type t = types[ti];
            const quant_ops *ops = quant_ops_for_isa(t, ISAS[ii]);
            if (!ops || !ops->dot_pair) continue;
            const int rows = ops->interleave ? ops->interleave : 1;
            for (int si = 0; si < 3; si++) {
                const int64_t n = sizes[si];
                const size_t w_bytes = tensor_type_bytes(t, n) * (size_t)rows, a_row = act_bytes(ops->act_type, n);
                char *w = malloc(2 * w_bytes), *a = malloc(2 * a_row);
                float *x = malloc((size_t)rows * (size_t)n * sizeof *x), want[2][8], got[2][8];
                rng_seed(5 + 11 * (uint64_t)ti + (uint64_t)si);
                for (int k = 0; k < 2; k++) {
                    rng_floats(x, (int64_t)rows * n);
                    quant_ops_for_isa(t, "scalar")->from_f32(x, w + k * w_bytes, n);
                    make_act_quantized(ops->act_type, a + k * a_row, n);
                    ops->dot_tokens(n, w + k * w_bytes, a + k * a_row, a_row, 1, want[k], 1);
                }
                ops->dot_pair(n, w, a, got[0], w + w_bytes, a + a_row, got[1]);
                for (int k = 0; k < 2; k++)
                    CHECK_MSG(!memcmp(got[k], want[k], (size_t)rows * sizeof(float)),
                              "%s %s n=%lld: dot_pair's stream %d differs from dot_tokens (%.9g vs %.9g)", ISAS[ii],
                              tensor_type_name(t), (long long)n, k, got[k][0], want[k][0]);
                tested++;
                free(w);
                free(a);
                free(x);
            }
        }
    if (has_isa("avx2"))
        CHECK_MSG(tested >= 15, "AVX2 has dot_pair for Q4_K, Q6_K, Q4_0X8, Q8_0X8, Q4_KX8 (%d cases)", tested);
    printf("dot_pair checked against dot_tokens in %d cases\n", tested);
}

/* Attention's products over strided rows, against double loops, with
 * lengths and row counts that leave every kind of tail. */
static void test_attention_rows(void) {
    enum { MAX_N = 200, MAX_ROWS = 9, STRIDE = 211 };
    static float rows[MAX_ROWS * STRIDE], x[MAX_N], w[MAX_ROWS], out[MAX_N];
    static const int64_t ns[] = {1, 7, 8, 63, 64, 65, 128, 200};
    for (int ni = 0; ni < 8; ni++)
        for (int64_t n_rows = 1; n_rows <= MAX_ROWS; n_rows++) {
            int64_t n = ns[ni];
            rng_seed(500 + 10 * (uint64_t)ni + (uint64_t)n_rows);
            for (int i = 0; i < MAX_ROWS * STRIDE; i++) rows[i] = rng_sym();
            for (int i = 0; i < MAX_N; i++) x[i] = rng_sym();
            for (int j = 0; j < MAX_ROWS; j++) w[j] = rng_unit();
            vec_dot_rows_f32(n, x, rows, STRIDE, n_rows, out);
            for (int64_t j = 0; j < n_rows; j++) {
                double want = 0;
                for (int64_t i = 0; i < n; i++) want += (double)x[i] * rows[j * STRIDE + i];
                CHECK_NEAR(out[j], want, 1e-5);
            }
            vec_weighted_rows_f32(n, w, rows, STRIDE, n_rows, out);
            for (int64_t i = 0; i < n; i++) {
                double want = 0;
                for (int64_t j = 0; j < n_rows; j++) want += (double)w[j] * rows[j * STRIDE + i];
                CHECK_NEAR(out[i], want, 1e-5);
            }
        }
}

/* The bandwidth probe's read kernel (whichever instruction set this
 * process chose) against a plain loop; every word must count. */
static int read_xor64_ok(void) {
    enum { N = 4096 };
    uint64_t *buf = aligned_alloc(64, N * sizeof(uint64_t));
    int ok = buf != NULL;
    rng_seed(4242);
    for (int i = 0; ok && i < N; i++) buf[i] = ((uint64_t)rng_int(0, 1 << 30) << 34) ^ (uint64_t)rng_int(0, 1 << 30);
    static const size_t sizes[] = {16, 32, 48, 1024, N};
    for (size_t si = 0; ok && si < sizeof sizes / sizeof sizes[0]; si++) {
        uint64_t want = 0;
        for (size_t i = 0; i < sizes[si]; i++) want ^= buf[i];
        ok &= read_xor64(buf, sizes[si]) == want;
        buf[sizes[si] - 1] ^= 1u << 7; /* the last word of the range counts */
        ok &= read_xor64(buf, sizes[si]) == (want ^ (1u << 7));
        buf[sizes[si] - 1] ^= 1u << 7;
    }
    free(buf);
    return ok;
}

/* The activation quantizer in use (Q8_K if k_quant, else Q8_0) against the
 * scalar one over n_all, one block and three blocks of x: the same bytes,
 * and nothing written past the last block (got: got_size bytes). */
static void same_blocks(int k_quant, const float *x, int64_t n_all, void *want, void *got, size_t got_size) {
    const int64_t elems = k_quant ? QK_K : QK8_0;
    const size_t bytes = k_quant ? sizeof(block_q8_K) : sizeof(block_q8_0);
    const int64_t sizes[] = {n_all, elems, 3 * elems};
    for (int si = 0; si < 3; si++) {
        const int64_t n = sizes[si], nb = n / elems;
        memset(got, 0xAA, got_size);
        if (k_quant) {
            quantize_row_q8_K(x, want, n);
            quantize_activations_q8_K(x, got, n);
        } else {
            quantize_row_q8_0(x, want, n);
            quantize_activations_q8_0(x, got, n);
        }
        int bad = 0;
        for (int64_t b = 0; b < nb; b++)
            bad += memcmp((const char *)want + (size_t)b * bytes, (const char *)got + (size_t)b * bytes, bytes) != 0;
        CHECK_MSG(bad == 0, "%s: %d of %d %s blocks differ from the scalar quantizer (n %d)", quant_isa(), bad,
                  (int)nb, k_quant ? "Q8_K" : "Q8_0", (int)n);
        CHECK_MSG(((const unsigned char *)got)[(size_t)nb * bytes] == 0xAA, "wrote past %d blocks", (int)nb);
    }
}

/* quantize_activations_q8_0 (the instruction set in use) against the
 * scalar quantize_row_q8_0, byte for byte: random rows, and blocks whose
 * scale is exactly 1 so that x·(1/d) lands on halves (2.5 -> 3, -2.5 -> -3:
 * away from zero, not to even), an all-zero block and one of denormals.
 * (Not a block whose largest value is itself denormal: 1/d overflows to
 * infinity there, in ggml's formula as in ours, and the levels are
 * whatever converting infinity to an integer gives.) */
static void test_quantize_activations(void) {
    enum { N = 4096 };
    static float x[N];
    static block_q8_0 want[N / QK8_0 + 1], got[N / QK8_0 + 1]; /* + 1: nothing written past n */
    rng_seed(7);
    rng_floats(x, N);
    for (int j = 0; j < QK8_0; j++) { /* block 1: amax 127, d = 1 */
        x[QK8_0 + j] = j == 0 ? 127.0f : (float)(j % 2 ? 1 : -1) * ((float)rng_int(0, 125) + 0.5f);
        x[2 * QK8_0 + j] = 0.0f;
        x[3 * QK8_0 + j] = j == 0 ? 1e-30f : (float)(j - 16) * 1e-40f; /* denormals, normal scale */
    }
    same_blocks(0, x, N, want, got, sizeof got);
    /* The ties themselves: 127 -> 127 and each ±(k + 0.5) -> ±(k + 1). */
    CHECK_INT_EQ(want[1].qs[0], 127);
    int ties = 0;
    for (int j = 1; j < QK8_0; j++) ties += want[1].qs[j] == (int)(x[QK8_0 + j] + (x[QK8_0 + j] > 0 ? 0.5f : -0.5f));
    CHECK_INT_EQ(ties, QK8_0 - 1);
}

/* quantize_activations_q8_K against quantize_row_q8_K, byte for byte: random
 * rows, the largest magnitude twice with both signs (the first one's sign
 * sets the scale), levels on exact halves (ties to even), a block of zeros
 * and blocks holding a NaN or an infinity. */
static void test_quantize_activations_q8_K(void) {
    enum { NB = 12, N = NB * QK_K };
    static float x[N];
    static block_q8_K want[NB + 1], got[NB + 1]; /* + 1: nothing written past n */
    rng_seed(8);
    rng_floats(x, N);
    float *b = x + QK_K; /* block 1: -50 at 3, then +50 at 10 */
    b[3] = -50.0f;
    b[10] = 50.0f;
    b = x + 2 * QK_K; /* block 2: max -127 so iscale = 1; halves elsewhere */
    for (int j = 0; j < QK_K; j++) b[j] = j == 0 ? -127.0f : (float)(j % 2 ? 1 : -1) * ((float)(j % 120) + 0.5f);
    for (int j = 0; j < QK_K; j++) x[3 * QK_K + j] = 0.0f;
    x[4 * QK_K + 17] = NAN;
    x[5 * QK_K + 200] = -INFINITY;
    same_blocks(1, x, N, want, got, sizeof got);
    /* The first of the two, -50, sets the scale's sign: iscale = -127 / -50. */
    CHECK(want[1].d > 0 && want[1].qs[3] == -127 && want[1].qs[10] == 127);
    CHECK(want[2].qs[1] == 2 && want[2].qs[2] == -2 && want[2].qs[3] == 4); /* 1.5, -2.5, 3.5: to even */
}

/* vec_silu_mul (the instruction set in use) against silu in double: within
 * a few ulp over [-80, 80] (a sweep, then random values, and a length that
 * leaves a tail); beyond, where e^-x over- or underflows, x·up and ~0. */
static void test_silu_mul(void) {
    enum { N = 20003 };
    static float g[N], up[N], x[N];
    rng_seed(11);
    for (int i = 0; i < N; i++) {
        x[i] = i < N / 2 ? -80.0f + 160.0f * (float)i / (N / 2) : 80.0f * rng_sym() * rng_unit();
        up[i] = 2 * rng_sym();
        g[i] = x[i];
    }
    vec_silu_mul(N, g, up);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const double want = (double)x[i] / (1.0 + exp(-(double)x[i])) * up[i];
        const double err = fabs(g[i] - want) / (fabs(want) + 1e-37);
        worst = err > worst ? err : worst;
        bad += !(err <= 4e-7);
    }
    CHECK_MSG(bad == 0, "%s: silu off by more than 4e-7 (relative) at %d of %d points, worst %.3g", quant_isa(), bad,
              N, worst);
    float big[8] = {100.0f, -100.0f, 1000.0f, -1000.0f, 88.5f, -88.5f, 1e30f, -1e30f}, ones[8];
    for (int i = 0; i < 8; i++) ones[i] = 1.0f;
    vec_silu_mul(8, big, ones); /* eight: the vector body, not the tail */
    for (int i = 0; i < 8; i += 2) {
        CHECK_MSG(big[i] == (i == 0 ? 100.0f : i == 2 ? 1000.0f : i == 4 ? 88.5f : 1e30f), "silu(big %d) = %g", i, big[i]);
        CHECK_MSG(fabsf(big[i + 1]) < 1e-30f, "silu(-big %d) = %g", i, big[i + 1]);
    }
    printf("silu (%s): worst relative error %.3g\n", quant_isa(), worst);
}

int main(int argc, char **argv) {
    if (getenv("OLMOE_TEST_KERNELS_CHILD")) return strcmp(quant_isa(), "scalar") == 0 && read_xor64_ok() ? 0 : 1;
    CHECK_MSG(read_xor64_ok(), "read_xor64 (%s) differs from a plain XOR", quant_isa());
    test_tables();
    test_f16_all_values();
    test_dot_random();
    test_dot_exact();
    test_dot_sensitivity();
    test_dot_tokens();
    test_dot_pair();
    test_attention_rows();
    test_quantize_activations();
    test_quantize_activations_q8_K();
    test_silu_mul();
    if (argc > 0) test_env_override(argv[0]);
    return check_report("test_kernels");
}
