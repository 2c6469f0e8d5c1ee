#include "quant/matmul.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant/formats.h"
#include "quant/kernels.h"
#include "quant/pack.h"

void row_to_f32(tensor_type type, const void *row, float *out, int64_t n) {
    const quant_ops *ops = quant_ops_for(type);
    if (ops) ops->to_f32(row, out, n);
}

static void quantize_activations(tensor_type t, const float *x, void *dst, int64_t n) {
    if (t == TYPE_Q8_K) quantize_activations_q8_K(x, dst, n);
    else if (t == TYPE_Q8_0X2) quantize_row_q8_0x2(x, dst, n);
    else if (t == TYPE_Q8_0R) quantize_row_q8_0r(x, dst, n);
    else if (t == TYPE_Q8_0S) quantize_row_q8_0s(x, dst, n);
    else quantize_activations_q8_0(x, dst, n);
}

/* Work is cut into tiles of ROWS output rows (a multiple of every
 * layout's interleave); a tile walks the tokens in groups of TOKENS so that
 * its weight rows stay in cache while they meet every token. */
enum { ROWS = 16, TOKENS = 64 };

typedef struct {
    const quant_ops *ops;
    const void *act;  /* activations in ops->act_type, T rows */
    size_t w_row, a_row;
    int rows_per_call; /* rows one dot_tokens call covers: the interleave, or 1 */
    int64_t n_tiles;
} job_plan;

/* Output rows [r0, r1) of j for all its tokens. */
static void run_rows(const matmul_job *j, const job_plan *p, int64_t r0, int64_t r1) {
    const int64_t n_out = j->w->shape[0], n_in = j->w->shape[1];
    for (int t0 = 0; t0 < j->T; t0 += TOKENS) {
        int t1 = t0 + TOKENS < j->T ? t0 + TOKENS : j->T;
        const char *a = (const char *)p->act + (size_t)t0 * p->a_row;
        for (int64_t r = r0; r < r1; r += p->rows_per_call) {
            const void *wr = (const char *)j->w->data + (size_t)r * p->w_row;
            float *y = j->y + (size_t)t0 * n_out + r;
            /* For kernels that do not prefetch as they stream (kernels.h), each
             * row asks for its bytes ahead of it on its first pass. */
            if (t0 == 0 && !p->ops->prefetches) prefetch_stream(wr, p->w_row * (size_t)p->rows_per_call);
            if (p->ops->dot_tokens) {
                p->ops->dot_tokens(n_in, wr, a, p->a_row, t1 - t0, y, n_out);
                continue;
            }
            for (int t = 0; t < t1 - t0; t++) y[(size_t)t * n_out] = p->ops->vec_dot(n_in, wr, a + (size_t)t * p->a_row);
        }
    }
}

static int64_t tile_end(const matmul_job *j, int64_t r0) {
    return r0 + ROWS < j->w->shape[0] ? r0 + ROWS : j->w->shape[0];
}

static void run_tile(const matmul_job *j, const job_plan *p, int64_t tile) {
    run_rows(j, p, tile * ROWS, tile_end(j, tile * ROWS));
}

/* Converts each job's activations (reusing the conversion of an earlier job
 * with the same input and format). Returns the buffer to free, or NULL on
 * allocation failure. */
static void *prepare(const matmul_job *jobs, int n, job_plan *plans, int n_threads, int *ok) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const tensor *w = jobs[i].w;
        plans[i].ops = tensor_matmul_ops(w); /* packs w's rows on first use */
        plans[i].w_row = tensor_type_bytes(plans[i].ops->type, w->shape[1]);
        plans[i].rows_per_call = plans[i].ops->interleave ? plans[i].ops->interleave : 1;
        plans[i].a_row = tensor_type_bytes(plans[i].ops->act_type, w->shape[1]);
        plans[i].n_tiles = (w->shape[0] + ROWS - 1) / ROWS;
        if (plans[i].ops->act_type != TYPE_F32) total += (size_t)jobs[i].T * plans[i].a_row;
    }
    char *buf = total ? malloc(total) : NULL;
    *ok = !total || buf;
    size_t used = 0;
    for (int i = 0; i < n && *ok; i++) {
        tensor_type at = plans[i].ops->act_type;
        plans[i].act = jobs[i].x;
        if (at == TYPE_F32) continue;
        /* The same rows (one token's input copied to each of its experts,
         * in decoding) are converted once. */
        int shared = -1;
        const size_t x_bytes = (size_t)jobs[i].T * (size_t)jobs[i].w->shape[1] * sizeof(float);
        for (int k = 0; k < i && shared < 0; k++)
            if (jobs[k].T == jobs[i].T && plans[k].ops->act_type == at && plans[k].a_row == plans[i].a_row &&
                (jobs[k].x == jobs[i].x || !memcmp(jobs[k].x, jobs[i].x, x_bytes)))
                shared = k;
        if (shared >= 0) {
            plans[i].act = plans[shared].act;
            continue;
        }
        char *dst = buf + used;
        const int64_t n_in = jobs[i].w->shape[1];
        /* Tokens in parallel when there are enough of them (prompts). */
#pragma omp parallel for num_threads(n_threads) schedule(static) if (jobs[i].T >= 16)
        for (int t = 0; t < jobs[i].T; t++)
            quantize_activations(at, jobs[i].x + (size_t)t * n_in, dst + (size_t)t * plans[i].a_row, n_in);
        plans[i].act = dst;
        used += (size_t)jobs[i].T * plans[i].a_row;
    }
    return buf;
}

/* Without memory for 8-bit activations: the exact float path, slowly,
 * through a row (or an interleaved group of rows) at a time. */
static void fallback(const matmul_job *j) {
    const int64_t n_out = j->w->shape[0], n_in = j->w->shape[1];
    const quant_ops *ops = quant_ops_for(tensor_layout(j->w));
    const int k = ops->interleave ? ops->interleave : 1;
    const size_t w_row = tensor_type_bytes(ops->type, n_in);
    float *rows = malloc((size_t)k * (size_t)n_in * sizeof *rows);
    for (int64_t r0 = 0; rows && r0 < n_out; r0 += k) {
        ops->to_f32((const char *)j->w->data + (size_t)r0 * w_row, rows, n_in);
        for (int r = 0; r < k; r++)
            for (int t = 0; t < j->T; t++) {
                float s = 0;
                for (int64_t i = 0; i < n_in; i++) s += rows[(size_t)r * n_in + i] * j->x[(size_t)t * n_in + i];
                j->y[(size_t)t * n_out + r0 + r] = s;
            }
    }
    free(rows);
}

/* Sharing the tiles among threads. The tiles of all jobs, in order, are cut
 * into one contiguous span per thread; each thread walks its own span front
 * to back, so its weights stream as one long run, and a thread that runs
 * out takes chunks from the back of the span with the most tiles left.
 * (Handing out small chunks first come, first served, as OpenMP's dynamic
 * schedule does, restarts every thread's memory stream at each chunk:
 * decoding was 10-25% slower that way on this project's benchmark.)
 * Decoding (one token per job), a thread walks the two halves of its span
 * side by side, tile i of each half together, through the kernels' dot_pair
 * where there is one: two streams far apart read faster than one
 * (kernels.h). The results do not depend on it. */
enum { CLAIM_TILES = 4 };

typedef struct {
    _Atomic uint64_t range; /* next unit (low 32 bits) and end (high 32 bits) */
    /* The span's tiles [first, end); with pairs, unit i is tiles first + i
     * and first + half + i (when below end), otherwise tile first + i. */
    int64_t first, half, end;
    char pad[64 - sizeof(uint64_t) - 3 * sizeof(int64_t)]; /* one span per cache line */
} tile_span;

/* Takes up to CLAIM_TILES units from the front or the back of s; returns
 * how many, the first in *first. */
static int claim(tile_span *s, int from_back, int64_t *first) {
    uint64_t v = atomic_load_explicit(&s->range, memory_order_relaxed);
    for (;;) {
        uint32_t next = (uint32_t)v, end = (uint32_t)(v >> 32);
        if (next >= end) return 0;
        uint32_t n = end - next < CLAIM_TILES ? end - next : CLAIM_TILES;
        uint64_t nv = from_back ? (uint64_t)(end - n) << 32 | next : (uint64_t)end << 32 | (next + n);
        if (atomic_compare_exchange_weak_explicit(&s->range, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *first = from_back ? end - n : next;
            return (int)n;
        }
    }
}

/* The span with the most units left, or -1 when all are done. */
static int fullest(tile_span *spans, int n) {
    int best = -1;
    uint32_t most = 0;
    for (int i = 0; i < n; i++) {
        uint64_t v = atomic_load_explicit(&spans[i].range, memory_order_relaxed);
        uint32_t next = (uint32_t)v, end = (uint32_t)(v >> 32);
        if (next < end && end - next > most) most = end - next, best = i;
    }
    return best;
}

/* Job and tile within it of tile k of all jobs. */
static int locate(const job_plan *plans, int64_t *k) {
    int i = 0;
    while (*k >= plans[i].n_tiles) *k -= plans[i++].n_tiles;
    return i;
}

/* Tiles ka and kb (of all jobs), one token each, read together where their
 * matrices share a kernel with dot_pair. */
static void run_pair(const matmul_job *jobs, const job_plan *plans, int64_t ka, int64_t kb) {
    const int ia = locate(plans, &ka), ib = locate(plans, &kb);
    const matmul_job *ja = &jobs[ia], *jb = &jobs[ib];
    const job_plan *pa = &plans[ia], *pb = &plans[ib];
    int64_t ra = ka * ROWS, rb = kb * ROWS;
    const int64_t ea = tile_end(ja, ra), eb = tile_end(jb, rb);
    if (pa->ops == pb->ops && pa->ops->dot_pair && ja->w->shape[1] == jb->w->shape[1])
        for (; ra < ea && rb < eb; ra += pa->rows_per_call, rb += pa->rows_per_call)
            pa->ops->dot_pair(ja->w->shape[1], (const char *)ja->w->data + (size_t)ra * pa->w_row, pa->act,
                              ja->y + ra, (const char *)jb->w->data + (size_t)rb * pb->w_row, pb->act, jb->y + rb);
    run_rows(ja, pa, ra, ea);
    run_rows(jb, pb, rb, eb);
}

static void run_unit(const matmul_job *jobs, const job_plan *plans, const tile_span *s, int64_t u) {
    int64_t a = s->first + u, b = s->first + s->half + u;
    if (s->half && b < s->end) {
        run_pair(jobs, plans, a, b);
        return;
    }
    const int i = locate(plans, &a);
    run_tile(&jobs[i], &plans[i], a);
}

static void run_spans(const matmul_job *jobs, const job_plan *plans, int n_jobs, int64_t tiles, int n_threads) {
    int pairs = 1;
    for (int i = 0; i < n_jobs; i++) pairs &= jobs[i].T == 1;
    tile_span stack_spans[16];
    tile_span *spans = n_threads <= 16 ? stack_spans : aligned_alloc(64, (size_t)n_threads * sizeof *spans);
    if (!spans) spans = stack_spans, n_threads = 1;
    for (int t = 0; t < n_threads; t++) { /* tiles < 2^32: a tile is 16 rows of one matrix */
        tile_span *s = &spans[t];
        s->first = tiles * t / n_threads;
        s->end = tiles * (t + 1) / n_threads;
        s->half = pairs ? (s->end - s->first + 1) / 2 : 0;
        atomic_init(&s->range, (uint64_t)(pairs ? s->half : s->end - s->first) << 32);
    }
#pragma omp parallel num_threads(n_threads)
    {
        int span = omp_get_thread_num(), from_back = 0, n;
        int64_t first;
        for (;;) {
            if (!(n = claim(&spans[span], from_back, &first))) {
                if ((span = fullest(spans, n_threads)) < 0) break;
                from_back = 1;
                continue;
            }
            for (int64_t u = first; u < first + n; u++) run_unit(jobs, plans, &spans[span], u);
        }
    }
    if (spans != stack_spans) free(spans);
}

void matmul_many(const matmul_job *jobs, int n_jobs, int n_threads) {
    job_plan stack_plans[32];
    job_plan *plans = n_jobs <= 32 ? stack_plans : malloc((size_t)n_jobs * sizeof *plans);
    int ok = plans != NULL;
    void *buf = ok ? prepare(jobs, n_jobs, plans, n_threads < 1 ? 1 : n_threads, &ok) : NULL;
    if (!ok) {
        for (int i = 0; i < n_jobs; i++) fallback(&jobs[i]);
        if (plans != stack_plans) free(plans);
        return;
    }
    int64_t tiles = 0;
    double work = 0;
    for (int i = 0; i < n_jobs; i++) {
        tiles += plans[i].n_tiles;
        work += (double)jobs[i].w->shape[0] * jobs[i].w->shape[1] * jobs[i].T;
    }
    if (n_threads < 1 || work < 65536) n_threads = 1; /* not worth waking threads */
    run_spans(jobs, plans, n_jobs, tiles, n_threads);
    free(buf);
    if (plans != stack_plans) free(plans);
}

void matmul(float *y, const float *x, const tensor *w, int T, int n_threads) {
    matmul_job j = {y, x, w, T};
    matmul_many(&j, 1, n_threads);
}
