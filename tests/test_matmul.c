/* matmul_many's sharing of tiles among threads (src/quant/matmul.c): every
 * output row is written exactly once and by the same kernel whatever the
 * thread count, so results are bit-identical to one thread's; with more
 * threads than tiles, with job lists whose sizes do not divide evenly, and
 * with more threads than the scheduler keeps on the stack. The one-thread
 * products are checked against a double-precision reference first. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/kernels.h"
#include "quant/matmul.h"
#include "util/rng.h"

static uint64_t rng_state = 1;
static float rng_sym(void) { /* uniform in [-1, 1) */
    return (float)(splitmix64_next(&rng_state) >> 40) / (float)(1 << 23) - 1.0f;
}

enum { N_IN = 512, MAX_JOBS = 5 };

typedef struct {
    tensor t;
    void *data;
    float *f; /* the weights as float, for the reference */
} test_weight;

static void weight_init(test_weight *w, tensor_type type, int64_t rows) {
    const quant_ops *ops = quant_ops_for(type);
    const size_t row_bytes = tensor_type_bytes(type, N_IN);
    w->data = malloc(row_bytes * (size_t)rows);
    w->f = malloc(sizeof(float) * (size_t)rows * N_IN);
    for (int64_t r = 0; r < rows; r++) {
        float *src = w->f + r * N_IN;
        for (int i = 0; i < N_IN; i++) src[i] = rng_sym();
        ops->from_f32(src, (char *)w->data + (size_t)r * row_bytes, N_IN);
        ops->to_f32((char *)w->data + (size_t)r * row_bytes, src, N_IN); /* the values actually stored */
    }
    w->t = (tensor){.name = "w", .type = type, .n_dims = 2, .shape = {rows, N_IN}, .data = w->data,
                    .nbytes = row_bytes * (size_t)rows};
}

/* Runs the same job list with 1 and with n_threads threads; T tokens. */
static void check_jobs(tensor_type type, const int64_t *rows, int n_jobs, int T, const int *threads, int n_t) {
    test_weight w[MAX_JOBS];
    matmul_job jobs[MAX_JOBS];
    float *y1[MAX_JOBS];
    float *x = malloc(sizeof(float) * (size_t)T * N_IN);
    for (int i = 0; i < T * N_IN; i++) x[i] = rng_sym();
    for (int j = 0; j < n_jobs; j++) {
        weight_init(&w[j], type, rows[j]);
        y1[j] = malloc(sizeof(float) * (size_t)T * rows[j]);
        jobs[j] = (matmul_job){y1[j], x, &w[j].t, T};
    }
    matmul_many(jobs, n_jobs, 1);
    /* One thread against float64. Quantized weights meet 8-bit activations,
     * each off by at most half a step (amax/127/2): the bound allows a step. */
    for (int j = 0; j < n_jobs; j++)
        for (int t = 0; t < T; t++) {
            float amax = 0;
            for (int i = 0; i < N_IN; i++) amax = fmaxf(amax, fabsf(x[t * N_IN + i]));
            for (int64_t r = 0; r < rows[j]; r++) {
                double ref = 0, abs_w = 0;
                for (int i = 0; i < N_IN; i++) {
                    ref += (double)w[j].f[r * N_IN + i] * x[t * N_IN + i];
                    abs_w += fabs(w[j].f[r * N_IN + i]);
                }
                double tol = type == TYPE_F32 ? 1e-4 * (1 + fabs(ref)) : abs_w * amax / 127 + 1e-4;
                CHECK_NEAR(y1[j][t * rows[j] + r], ref, tol);
            }
        }
    for (int k = 0; k < n_t; k++) {
        float *yn[MAX_JOBS];
        for (int j = 0; j < n_jobs; j++) {
            yn[j] = malloc(sizeof(float) * (size_t)T * rows[j]);
            for (int64_t i = 0; i < T * rows[j]; i++) yn[j][i] = NAN; /* an unwritten row stays NaN */
            jobs[j].y = yn[j];
        }
        matmul_many(jobs, n_jobs, threads[k]);
        for (int j = 0; j < n_jobs; j++) {
            CHECK_MSG(!memcmp(y1[j], yn[j], sizeof(float) * (size_t)T * rows[j]),
                      "type %d job %d of %d, %d threads: not the one-thread result", type, j, n_jobs, threads[k]);
            free(yn[j]);
        }
    }
    for (int j = 0; j < n_jobs; j++) free(w[j].data), free(w[j].f), free(y1[j]);
    free(x);
}

int main(void) {
    const int threads[] = {2, 3, 4, 7, 16, 17, 40};
    const int n_t = sizeof threads / sizeof *threads;
    /* Enough work that threads are used (matmul_many runs small products on
     * one thread); row counts that are not multiples of the 16-row tile. */
    const int64_t uneven[] = {1000, 37, 513, 16, 250};
    const int64_t one_tile[] = {200}; /* 13 tiles: fewer than most thread counts */
    const int64_t experts[] = {256, 256, 256, 256};
    check_jobs(TYPE_F32, uneven, 5, 1, threads, n_t);
    check_jobs(TYPE_F32, one_tile, 1, 3, threads, n_t);
    check_jobs(TYPE_Q8_0, experts, 4, 1, threads, n_t);
    check_jobs(TYPE_Q4_K, uneven, 5, 5, threads, n_t); /* several tokens per tile */
    return check_report("test_matmul");
}
