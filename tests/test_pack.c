/* Weight rows rearranged in place (quant/pack.h): the Q4_0X8 layout (and
 * Q8_0X8, Q4_KX8 after it)
 * against hand-placed bytes, its activations (Q8_0s), its kernels (exact
 * integers, every instruction set bit for bit equal to the scalar one), a
 * tensor packed on first use by matmul (same products, rows read back
 * exactly, one pack under concurrent first calls, no pack where rows do not
 * fill groups of eight or the memory cannot be written), and a model
 * converted after it ran (packed) giving the same file as one converted
 * fresh. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "olmoe.h"
#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/kernels.h"
#include "quant/matmul.h"
#include "quant/pack.h"

static uint64_t rng_state = 0x1234567;
static uint64_t rng_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float rng_sym(void) { return (float)(rng_u64() >> 40) / (float)(1 << 23) - 1.0f; }
static void rng_floats(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_sym() * ((rng_u64() & 15) == 0 ? 8.0f : 1.0f);
}

/* rows Q4_0 rows of n random (quantized) values. */
static block_q4_0 *random_q4_0(int64_t rows, int64_t n) {
    block_q4_0 *w = malloc((size_t)rows * (size_t)(n / QK4_0) * sizeof *w);
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t r = 0; r < rows; r++) {
        rng_floats(x, n);
        quantize_row_q4_0(x, w + r * (n / QK4_0), n);
    }
    free(x);
    return w;
}

static void test_layout(void) {
    const int64_t sizes[] = {32, 96, 2048};
    for (int s = 0; s < 3; s++) {
        const int64_t n = sizes[s], nb = n / QK4_0;
        block_q4_0 *rows = random_q4_0(8, n), *back = malloc(8 * (size_t)nb * sizeof *back);
        block_q4_0x8 *g = malloc((size_t)nb * sizeof *g);
        pack_rows_x8(TYPE_Q4_0, rows, g, n);
        /* By hand: row j's scale in d[j], its bytes 4k..4k+3 at 32k + 4j. */
        int placed = 1;
        for (int64_t b = 0; b < nb; b++)
            for (int j = 0; j < 8; j++) {
                const block_q4_0 *x = &rows[j * nb + b];
                placed &= g[b].d[j] == x->d;
                for (int i = 0; i < 16; i++) placed &= g[b].qs[32 * (i / 4) + 4 * j + i % 4] == x->qs[i];
            }
        CHECK_MSG(placed, "n=%lld: pack_rows_x8 put a byte elsewhere", (long long)n);
        unpack_rows_x8(TYPE_Q4_0, g, back, n);
        CHECK_MSG(!memcmp(back, rows, 8 * (size_t)nb * sizeof *back), "n=%lld: unpack(pack) differs", (long long)n);

        /* The quant_ops conversions of the layout: 8 rows at a time. */
        float *want = malloc(8 * (size_t)n * sizeof *want), *got = malloc(8 * (size_t)n * sizeof *got);
        for (int j = 0; j < 8; j++) dequantize_row_q4_0(rows + j * nb, want + j * n, n);
        dequantize_rows_q4_0x8(g, got, n);
        CHECK_MSG(!memcmp(got, want, 8 * (size_t)n * sizeof *got), "n=%lld: dequantize_rows_q4_0x8", (long long)n);
        block_q4_0x8 *q = malloc((size_t)nb * sizeof *q);
        quantize_rows_q4_0x8(want, q, n); /* dequantized values quantize back to the same blocks */
        for (int j = 0; j < 8; j++) quantize_row_q4_0(want + j * n, rows + j * nb, n);
        pack_rows_x8(TYPE_Q4_0, rows, g, n);
        CHECK_MSG(!memcmp(q, g, (size_t)nb * sizeof *q), "n=%lld: quantize_rows_q4_0x8", (long long)n);
        free(rows), free(back), free(g), free(want), free(got), free(q);
    }
}

static void test_q8_0s(void) {
    const int64_t n = 256, nb = n / QK8_0;
    float x[256], y[256], y0[256];
    rng_floats(x, n);
    block_q8_0 q[8];
    block_q8_0s s[8], p[8];
    quantize_row_q8_0(x, q, n);
    quantize_row_q8_0s(x, s, n);
    pack_q8_0s(q, p, n);
    CHECK(!memcmp(s, p, sizeof s));
    for (int64_t b = 0; b < nb; b++) {
        int sum = 0;
        for (int j = 0; j < QK8_0; j++) sum += q[b].qs[j];
        CHECK(!memcmp(s[b].qs, q[b].qs, QK8_0));
        CHECK(s[b].d == f16_to_f32(q[b].d));
        CHECK_INT_EQ(s[b].sum8, 8 * sum);
    }
    dequantize_row_q8_0(q, y0, n);
    dequantize_row_q8_0s(s, y, n);
    CHECK(!memcmp(y, y0, sizeof y));
}

/* n_tok activation rows of n random levels, their sums, and scale d (0:
 * random, else d for every block). */
static block_q8_0s *random_act(int64_t n, int n_tok, float d) {
    block_q8_0s *a = malloc((size_t)n_tok * (size_t)(n / QK8_0) * sizeof *a);
    for (int64_t b = 0; b < n_tok * (n / QK8_0); b++) {
        int sum = 0;
        for (int j = 0; j < QK8_0; j++) sum += a[b].qs[j] = (int8_t)((int)(rng_u64() % 255) - 127);
        a[b].sum8 = 8 * sum;
        a[b].d = d != 0 ? d : ldexpf(1.0f + (float)(rng_u64() % 1024) / 1024.0f, -(int)(rng_u64() % 10));
    }
    return a;
}

/* Every SIMD kernel of an interleaved type equals its scalar kernel bit for
 * bit on eight packed rows g against 1..6 tokens a, a_row bytes apart
 * (groups of four and what is left). */
static void check_isas_match_scalar(tensor_type t, const void *g, const void *a, size_t a_row, int64_t n) {
    const quant_ops *ref = quant_ops_for_isa(t, "scalar");
    const char *isas[] = {"avx2", "neon"};
    for (int ii = 0; ii < 2; ii++) {
        const quant_ops *ops = quant_ops_for_isa(t, isas[ii]);
        if (!ops) continue;
        for (int n_tok = 1; n_tok <= 6; n_tok++) {
            float want[6 * 8], got[6 * 8];
            ref->dot_tokens(n, g, a, a_row, n_tok, want, 8);
            ops->dot_tokens(n, g, a, a_row, n_tok, got, 8);
            CHECK_MSG(!memcmp(want, got, (size_t)n_tok * 8 * sizeof *got), "%s %s n=%lld n_tok=%d differs from scalar",
                      tensor_type_name(t), isas[ii], (long long)n, n_tok);
        }
    }
}

static void test_kernels(void) {
    const int64_t sizes[] = {32, 96, 2048};
    const quant_ops *ref = quant_ops_for_isa(TYPE_Q4_0X8, "scalar");
    CHECK(ref && ref->interleave == 8 && ref->act_type == TYPE_Q8_0S && !ref->vec_dot && ref->dot_tokens);
    if (!ref) return;
    for (int s = 0; s < 3; s++) {
        const int64_t n = sizes[s], nb = n / QK4_0;
        /* Unit scales: the exact integers Σ (q-8)·a of every row. */
        block_q4_0 *rows = random_q4_0(8, n);
        for (int64_t b = 0; b < 8 * nb; b++) rows[b].d = f32_to_f16(1.0f);
        block_q4_0x8 *g = malloc((size_t)nb * sizeof *g);
        pack_rows_x8(TYPE_Q4_0, rows, g, n);
        block_q8_0s *a = random_act(n, 6, 1.0f);
        float y[6 * 8];
        ref->dot_tokens(n, g, a, (size_t)nb * sizeof *a, 6, y, 8);
        int exact = 1;
        for (int t = 0; t < 6; t++)
            for (int j = 0; j < 8; j++) {
                long long want = 0;
                for (int64_t b = 0; b < nb; b++)
                    for (int i = 0; i < 16; i++) {
                        const block_q8_0s *x = &a[t * nb + b];
                        const uint8_t q = rows[j * nb + b].qs[i];
                        want += (long long)((q & 15) - 8) * x->qs[i] + (long long)((q >> 4) - 8) * x->qs[16 + i];
                    }
                exact &= y[t * 8 + j] == (float)want;
            }
        CHECK_MSG(exact, "n=%lld: scalar Q4_0X8 kernel is not the exact integer dot", (long long)n);
        free(a);

        /* Real scales: every instruction set equals the scalar kernel. */
        free(rows);
        rows = random_q4_0(8, n);
        pack_rows_x8(TYPE_Q4_0, rows, g, n);
        a = random_act(n, 6, 0);
        check_isas_match_scalar(TYPE_Q4_0X8, g, a, (size_t)nb * sizeof *a, n);
        /* ... and the dequantized product, within float rounding. */
        float *wf = malloc(8 * (size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af), y1[8];
        dequantize_rows_q4_0x8(g, wf, n);
        dequantize_row_q8_0s(a, af, n);
        ref->dot_tokens(n, g, a, 0, 1, y1, 1);
        for (int j = 0; j < 8; j++) {
            double want = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) want += (double)wf[j * n + i] * af[i], mag += fabs((double)wf[j * n + i] * af[i]);
            CHECK_NEAR(y1[j], want, 1e-5 * mag + 1e-30);
        }
        free(rows), free(g), free(a), free(wf), free(af);
    }
}

/* A Q4_0 matrix in heap memory, packable or not. */
typedef struct {
    tensor t;
    tensor_packing packing;
    block_q4_0 *data;
} test_matrix;

static void matrix_init(test_matrix *m, int64_t rows, int64_t n, int packable, uint64_t seed) {
    rng_state = seed;
    memset(m, 0, sizeof *m);
    m->data = random_q4_0(rows, n);
    m->t = (tensor){.name = "w", .type = TYPE_Q4_0, .n_dims = 2, .shape = {rows, n}, .data = m->data,
                    .nbytes = tensor_type_bytes(TYPE_Q4_0, n) * (size_t)rows};
    atomic_init(&m->packing.state, PACK_NOT_YET);
    if (packable) m->t.packing = &m->packing;
}

typedef struct {
    const tensor *w;
    const float *x;
    float *y;
    int T;
} matmul_call;
static void *run_matmul(void *arg) {
    matmul_call *c = arg;
    matmul(c->y, c->x, c->w, c->T, 1);
    return NULL;
}

static void test_tensor(void) {
    const int64_t n = 256;
    const int T = 5;
    const int packs = quant_ops_for(TYPE_Q4_0X8) != NULL; /* this CPU's kernels have the layout */
    float x[5 * 256];
    rng_floats(x, T * n);
    for (int rows_case = 0; rows_case < 2; rows_case++) {
        const int64_t rows = rows_case ? 20 : 48; /* 20: not a multiple of 8, never packed */
        test_matrix plain, packed;
        matrix_init(&plain, rows, n, 0, 7);
        matrix_init(&packed, rows, n, 1, 7);
        CHECK(!memcmp(plain.data, packed.data, packed.t.nbytes));
        float *y0 = malloc((size_t)T * rows * sizeof *y0), *y1 = malloc((size_t)T * rows * sizeof *y1);
        float *y2 = malloc((size_t)T * rows * sizeof *y2);
        matmul(y0, x, &plain.t, T, 2);
        /* Two threads' first calls at once: one packs, the other waits. */
        matmul_call calls[2] = {{&packed.t, x, y1, T}, {&packed.t, x, y2, T}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, run_matmul, &calls[i]) == 0);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        const int want_state = packs && rows % 8 == 0 ? PACK_DONE : PACK_NEVER;
        CHECK_INT_EQ(atomic_load(&packed.packing.state), want_state);
        CHECK_INT_EQ(tensor_layout(&packed.t), want_state == PACK_DONE ? TYPE_Q4_0X8 : TYPE_Q4_0);
        CHECK_INT_EQ(tensor_layout(&plain.t), TYPE_Q4_0);
        CHECK_INT_EQ(packed.t.type, TYPE_Q4_0); /* the file's type, whatever the layout */
        CHECK(!memcmp(y1, y2, (size_t)T * rows * sizeof *y1));
        if (want_state == PACK_DONE) {
            CHECK(memcmp(plain.data, packed.data, packed.t.nbytes) != 0); /* rearranged in place */
            /* Same products as the row-major kernels, within rounding. */
            for (int64_t i = 0; i < T * rows; i++) CHECK_NEAR(y1[i], y0[i], 1e-4 * (fabs(y0[i]) + 1));
        } else {
            CHECK(!memcmp(plain.data, packed.data, packed.t.nbytes));
            CHECK(!memcmp(y0, y1, (size_t)T * rows * sizeof *y1));
        }
        /* Later calls, and every row read back, agree with the first. */
        matmul(y2, x, &packed.t, T, 2);
        CHECK(!memcmp(y1, y2, (size_t)T * rows * sizeof *y1));
        float r0[256], r1[256];
        int same = 1;
        for (int64_t r = 0; r < rows; r++) {
            tensor_row_to_f32(&plain.t, r, r0);
            tensor_row_to_f32(&packed.t, r, r1);
            same &= !memcmp(r0, r1, sizeof r0);
        }
        CHECK_MSG(same, "rows=%lld: tensor_row_to_f32 differs after packing", (long long)rows);
        free(plain.data), free(packed.data), free(y0), free(y1), free(y2);
    }
}

/* Weights the system will not let us write (a shared, read-only file
 * mapping): packing is refused, the data is untouched, the products are
 * the row-major kernels'. */
static void test_unwritable(void) {
    const int64_t rows = 16, n = 128;
    test_matrix plain, packed;
    matrix_init(&plain, rows, n, 0, 11);
    matrix_init(&packed, rows, n, 1, 11);
    char path[] = "/tmp/olmoe-test-pack-ro-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(write(fd, plain.data, plain.t.nbytes) == (ssize_t)plain.t.nbytes);
    close(fd);
    fd = open(path, O_RDONLY);
    void *map = mmap(NULL, plain.t.nbytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    unlink(path);
    CHECK(map != MAP_FAILED);
    if (map == MAP_FAILED) return;
    packed.t.data = map;
    float x[2 * 128], y0[2 * 16], y1[2 * 16];
    rng_floats(x, 2 * n);
    matmul(y0, x, &plain.t, 2, 1);
    matmul(y1, x, &packed.t, 2, 1);
    CHECK_INT_EQ(atomic_load(&packed.packing.state), PACK_NEVER);
    CHECK_INT_EQ(tensor_layout(&packed.t), TYPE_Q4_0);
    CHECK(!memcmp(map, plain.data, plain.t.nbytes));
    CHECK(!memcmp(y0, y1, sizeof y0));
    munmap(map, plain.t.nbytes);
    free(plain.data), free(packed.data);
}

/* A packable matrix of rows × n random values quantized as `type`: packed
 * by its first product where this CPU has the kernel of `packed`, the same
 * products as the row-major kernel within rounding, the same rows read
 * back, and the file's bytes given back exactly. */
static void check_packed_on_first_use(tensor_type type, tensor_type packed, int64_t n_rows, int64_t n) {
    enum { T = 3 };
    const size_t bytes = tensor_type_bytes(type, n) * (size_t)n_rows;
    char *plain = malloc(bytes), *data = malloc(bytes), *back = malloc(bytes);
    float *x = malloc((size_t)(n_rows > T ? n_rows : T) * n * sizeof *x);
    float *y0 = malloc((size_t)T * n_rows * sizeof *y0), *y1 = malloc((size_t)T * n_rows * sizeof *y1);
    float *r0 = malloc((size_t)n * sizeof *r0), *r1 = malloc((size_t)n * sizeof *r1);
    rng_floats(x, n_rows * n);
    for (int64_t r = 0; r < n_rows; r++)
        quant_ops_for(type)->from_f32(x + r * n, plain + (size_t)r * tensor_type_bytes(type, n), n);
    memcpy(data, plain, bytes);
    tensor_packing packing;
    atomic_init(&packing.state, PACK_NOT_YET);
    tensor tp = {.name = "w", .type = type, .n_dims = 2, .shape = {n_rows, n}, .data = plain, .nbytes = bytes};
    tensor tq = tp;
    tq.data = data, tq.packing = &packing;
    rng_floats(x, T * n);
    matmul(y0, x, &tp, T, 1);
    matmul(y1, x, &tq, T, 2);
    const int packs = quant_ops_for(packed) != NULL;
    CHECK_INT_EQ(tensor_layout(&tq), packs ? packed : type);
    CHECK(packs == (memcmp(plain, data, bytes) != 0));
    for (int i = 0; i < T * n_rows; i++) CHECK_NEAR(y1[i], y0[i], 1e-4 * (fabs(y0[i]) + 1));
    int same = 1;
    for (int64_t r = 0; r < n_rows; r++) {
        tensor_row_to_f32(&tp, r, r0);
        tensor_row_to_f32(&tq, r, r1);
        same &= !memcmp(r0, r1, (size_t)n * sizeof *r0);
    }
    CHECK_MSG(same, "%s: tensor_row_to_f32 differs after packing", tensor_type_name(type));
    tensor_rows_as_file(&tq, 8, n_rows - 8, back);
    CHECK_MSG(!memcmp(back, plain + 8 * tensor_type_bytes(type, n), bytes - 8 * tensor_type_bytes(type, n)),
              "%s: tensor_rows_as_file differs from the file's rows", tensor_type_name(type));
    free(plain), free(data), free(back), free(x), free(y0), free(y1), free(r0), free(r1);
}

/* Q8_0 packs the same way (block_q8_0x8): the layout by hand, its
 * conversions, the kernels (exact integers, every instruction set equal to
 * the scalar one, weights down to -128) and a matrix packed on first use. */
static void test_q8_0x8(void) {
    const int64_t n = 256, nb = n / QK8_0;
    float x[8 * 256];
    rng_floats(x, 8 * n);
    block_q8_0 rows[8 * 8], back[8 * 8];
    for (int j = 0; j < 8; j++) quantize_row_q8_0(x + j * n, rows + j * nb, n);
    rows[3].qs[5] = -128; /* a file may hold it; |w|·a must still fit maddubs' 16 bits */
    block_q8_0x8 g[8], q[8];
    pack_rows_x8(TYPE_Q8_0, rows, g, n);
    int placed = 1;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) {
            placed &= g[b].d[j] == rows[j * nb + b].d;
            for (int i = 0; i < QK8_0; i++) placed &= g[b].qs[32 * (i / 4) + 4 * j + i % 4] == rows[j * nb + b].qs[i];
        }
    CHECK_MSG(placed, "pack_rows_x8(Q8_0) put a byte elsewhere");
    unpack_rows_x8(TYPE_Q8_0, g, back, n);
    CHECK(!memcmp(back, rows, sizeof rows));
    float want[8 * 256], got[8 * 256];
    for (int j = 0; j < 8; j++) dequantize_row_q8_0(rows + j * nb, want + j * n, n);
    dequantize_rows_q8_0x8(g, got, n);
    CHECK(!memcmp(got, want, sizeof got));
    rows[3].qs[5] = -127; /* what the quantizer itself writes */
    pack_rows_x8(TYPE_Q8_0, rows, g, n);
    dequantize_rows_q8_0x8(g, want, n);
    quantize_rows_q8_0x8(want, q, n);
    CHECK(!memcmp(q, g, sizeof q));
    rows[3].qs[5] = -128;
    pack_rows_x8(TYPE_Q8_0, rows, g, n);

    const quant_ops *ref = quant_ops_for_isa(TYPE_Q8_0X8, "scalar");
    CHECK(ref && ref->interleave == 8 && ref->act_type == TYPE_Q8_0S && ref->dot_tokens);
    if (!ref) return;
    block_q8_0s *a = random_act(n, 6, 1.0f);
    block_q8_0x8 unit[8];
    memcpy(unit, g, sizeof unit);
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) unit[b].d[j] = f32_to_f16(1.0f);
    float y[6 * 8];
    ref->dot_tokens(n, unit, a, (size_t)nb * sizeof *a, 6, y, 8);
    int exact = 1;
    for (int t = 0; t < 6; t++)
        for (int j = 0; j < 8; j++) {
            long long s = 0;
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < QK8_0; i++) s += (long long)rows[j * nb + b].qs[i] * a[t * nb + b].qs[i];
            exact &= y[t * 8 + j] == (float)s;
        }
    CHECK_MSG(exact, "scalar Q8_0X8 kernel is not the exact integer dot");
    free(a);
    a = random_act(n, 6, 0);
    check_isas_match_scalar(TYPE_Q8_0X8, g, a, (size_t)nb * sizeof *a, n);
    free(a);

    check_packed_on_first_use(TYPE_Q8_0, TYPE_Q8_0X8, 24, n);
}

/* n_tok Q8_K activation rows of n random levels in [-127, 127] with their
 * bsums; scale d (0: random). */
static block_q8_K *random_act_q8_K(int64_t n, int n_tok, float d) {
    block_q8_K *a = malloc((size_t)n_tok * (size_t)(n / QK_K) * sizeof *a);
    for (int64_t b = 0; b < n_tok * (n / QK_K); b++) {
        for (int i = 0; i < QK_K; i++) a[b].qs[i] = (int8_t)((int)(rng_u64() % 255) - 127);
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += a[b].qs[16 * k + i];
            a[b].bsums[k] = (int16_t)sum;
        }
        a[b].d = d != 0 ? d : ldexpf(1.0f + (float)(rng_u64() % 1024) / 1024.0f, -(int)(rng_u64() % 10));
    }
    return a;
}

/* Q4_K packs eight rows a super-block at a time (block_q4_Kx8): d, dmin
 * and levels placed by hand, every 6-bit scale and min decoded from the
 * documented positions (random bytes: every bit pattern), the file's
 * blocks given back exactly, the conversions, the kernels (exact integers
 * for the scales and for the mins apart, every instruction set equal to
 * the scalar one, the dequantized product within rounding) and a matrix
 * packed on first use. */
static void test_q4_Kx8(void) {
    const int64_t n = 512, nb = n / QK_K;
    block_q4_K rows[8 * 2], back[8 * 2];
    for (size_t i = 0; i < sizeof rows; i++) ((uint8_t *)rows)[i] = (uint8_t)rng_u64();
    block_q4_Kx8 g[2], q[2];
    pack_rows_x8(TYPE_Q4_K, rows, g, n);
    int placed = 1;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) {
            const block_q4_K *x = &rows[j * nb + b];
            placed &= g[b].d[j] == x->d && g[b].dmin[j] == x->dmin;
            for (int i = 0; i < QK_K / 2; i++) placed &= g[b].qs[32 * (i / 4) + 4 * j + i % 4] == x->qs[i];
            for (int s = 0; s < 8; s++) {
                uint8_t sc, m;
                q4k_get_scale_min(s, x->scales, &sc, &m);
                const int at = 16 * (j / 4) + 4 * (s % 4) + j % 4, h = s / 4;
                const int top = g[b].scales[64 + at];
                placed &= sc == ((g[b].scales[at] >> 4 * h & 15) | (top >> 2 * h & 3) << 4);
                placed &= m == ((g[b].scales[32 + at] >> 4 * h & 15) | (top >> (4 + 2 * h) & 3) << 4);
            }
        }
    CHECK_MSG(placed, "pack_rows_x8(Q4_K) put a value elsewhere");
    unpack_rows_x8(TYPE_Q4_K, g, back, n);
    CHECK(!memcmp(back, rows, sizeof rows));

    /* Quantized rows: the conversions, 8 rows at a time. */
    float x[8 * 512], want[8 * 512], got[8 * 512];
    rng_floats(x, 8 * n);
    for (int j = 0; j < 8; j++) quantize_row_q4_K(x + j * n, rows + j * nb, n);
    pack_rows_x8(TYPE_Q4_K, rows, g, n);
    for (int j = 0; j < 8; j++) dequantize_row_q4_K(rows + j * nb, want + j * n, n);
    dequantize_rows_q4_Kx8(g, got, n);
    CHECK(!memcmp(got, want, sizeof got));
    quantize_rows_q4_Kx8(x, q, n);
    CHECK(!memcmp(q, g, sizeof q));

    const quant_ops *ref = quant_ops_for_isa(TYPE_Q4_KX8, "scalar");
    CHECK(ref && ref->interleave == 8 && ref->act_type == TYPE_Q8_K && ref->dot_tokens);
    if (!ref) return;
    /* Unit d (dmin 0), then unit dmin (d 0): Σ_s sc·Σ q·a and -Σ_s m·Σ a
     * exactly, on random scale bytes (one super-block: no float sums). */
    block_q8_K *a = random_act_q8_K(QK_K, 6, 1.0f);
    for (int part = 0; part < 2; part++) {
        block_q4_K unit[8];
        for (int j = 0; j < 8; j++) {
            for (size_t i = 0; i < sizeof unit[j]; i++) ((uint8_t *)&unit[j])[i] = (uint8_t)rng_u64();
            unit[j].d = f32_to_f16(part == 0 ? 1.0f : 0.0f);
            unit[j].dmin = f32_to_f16(part == 0 ? 0.0f : 1.0f);
        }
        block_q4_Kx8 ug;
        pack_rows_x8(TYPE_Q4_K, unit, &ug, QK_K);
        float y[6 * 8];
        ref->dot_tokens(QK_K, &ug, a, sizeof *a, 6, y, 8);
        int exact = 1;
        for (int t = 0; t < 6; t++)
            for (int j = 0; j < 8; j++) {
                long long v = 0;
                for (int s = 0; s < 8; s++) {
                    uint8_t sc, m;
                    q4k_get_scale_min(s, unit[j].scales, &sc, &m);
                    long long dot = 0, sum = 0;
                    for (int l = 0; l < 32; l++) {
                        dot += (long long)(unit[j].qs[32 * (s / 2) + l] >> 4 * (s % 2) & 15) * a[t].qs[32 * s + l];
                        sum += a[t].qs[32 * s + l];
                    }
                    v += part == 0 ? sc * dot : -m * sum;
                }
                exact &= y[t * 8 + j] == (float)v;
            }
        CHECK_MSG(exact, "scalar Q4_KX8 kernel is not the exact integer dot (%s)", part == 0 ? "scales" : "mins");
    }
    free(a);
    a = random_act_q8_K(n, 6, 0);
    check_isas_match_scalar(TYPE_Q4_KX8, g, a, (size_t)nb * sizeof *a, n);
    float af[512], y1[8];
    for (int64_t b = 0; b < nb; b++)
        for (int i = 0; i < QK_K; i++) af[b * QK_K + i] = a[b].d * a[b].qs[i];
    ref->dot_tokens(n, g, a, 0, 1, y1, 1);
    for (int j = 0; j < 8; j++) {
        double dot = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) dot += (double)want[j * n + i] * af[i], mag += fabs((double)want[j * n + i] * af[i]);
        CHECK_NEAR(y1[j], dot, 1e-5 * mag + 1e-30);
    }
    free(a);
    check_packed_on_first_use(TYPE_Q4_K, TYPE_Q4_KX8, 24, n);
}

static int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* A Q4_0 model that ran (its matrices packed) converts to the same files
 * as the same model freshly loaded. */
static void test_convert_after_run(const char *shared) {
    char tmp[] = "/tmp/olmoe-test-pack-XXXXXX", src[512], hf[512];
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(hf, sizeof hf, "%s/reference/models/olmoe-tiny", shared);
    snprintf(src, sizeof src, "%s/src-q4_0.gguf", tmp);
    olmoe_model_params mp = olmoe_model_default_params();
    olmoe_model *m = NULL;
    CHECK_MSG(olmoe_model_load(hf, &mp, &m) == OLMOE_OK, "%s: %s", hf, olmoe_last_error());
    if (!m) return;
    CHECK_MSG(olmoe_convert(m, src, "q4_0", NULL, NULL) == OLMOE_OK, "%s", olmoe_last_error());
    olmoe_model_free(m);
    const char *types[] = {"q4_0", "q8_0"};
    for (int i = 0; i < 2; i++) {
        char fresh[600], ran[600];
        snprintf(fresh, sizeof fresh, "%s/fresh-%s.gguf", tmp, types[i]);
        snprintf(ran, sizeof ran, "%s/ran-%s.gguf", tmp, types[i]);
        olmoe_model *a = NULL, *b = NULL;
        CHECK(olmoe_model_load(src, &mp, &a) == OLMOE_OK && olmoe_model_load(src, &mp, &b) == OLMOE_OK);
        if (!a || !b) break;
        CHECK(olmoe_convert(a, fresh, types[i], NULL, NULL) == OLMOE_OK);
        olmoe_context_params cp = olmoe_context_default_params();
        cp.n_ctx = 64;
        olmoe_context *ctx = NULL;
        CHECK(olmoe_context_new(b, &cp, &ctx) == OLMOE_OK);
        const int32_t tokens[] = {12, 345, 678, 9, 1011, 1213, 14, 15};
        CHECK(ctx && olmoe_decode(ctx, tokens, 8, 0) == OLMOE_OK);
        olmoe_context_free(ctx);
        CHECK(olmoe_convert(b, ran, types[i], NULL, NULL) == OLMOE_OK);
        CHECK_MSG(files_equal(fresh, ran), "%s: converting after a run differs from converting fresh", types[i]);
        olmoe_model_free(a), olmoe_model_free(b);
        unlink(fresh), unlink(ran);
    }
    unlink(src);
    rmdir(tmp);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../../shared";
    test_layout();
    test_q8_0s();
    test_kernels();
    test_tensor();
    test_unwritable();
    test_q8_0x8();
    test_q4_Kx8();
    test_convert_after_run(shared);
    return check_report("test_pack");
}
