/* Causal attention over the KV cache, a block of ATTN_BLOCK keys at a time.
 *
 * For every head, a block of keys gives a partial result: its highest
 * score m, l = Σ e^(s−m) and o = Σ e^(s−m)·v. A token's blocks are merged
 * in order, each rescaled by e^(m_old − m_new) (flash attention's online
 * softmax), and o / l is the head's output. The blocks are fixed (keys
 * 0-15, 16-31, ...), so a token's output has the same bits however the
 * work is shared out, in a batch or alone, on any number of threads:
 *  - few tokens (decoding): the (token, block) pairs are shared among the
 *    threads in contiguous runs, so each thread reads one contiguous stretch
 *    of the cache (a position's keys for all heads are contiguous), and the
 *    partials are merged afterwards;
 *  - many tokens (prompts): a token per task, its blocks merged as they are
 *    computed.
 * Reading a head's keys across positions is a stride of a whole cache row,
 * which the hardware prefetcher does not follow; each block therefore asks
 * for the next four rows of keys and this block's values as it goes.
 * Measured on the development machine (OLMoE, 2 threads) against the loop
 * this replaced, a task per (token, head) walking that stride: decoding at
 * 512 cached positions, attention 14.5-15.4 -> 10.0 ms per token (9 -> 14
 * GB/s of cache read); a 512-token prompt's attention 6-10% slower (the
 * merges), 1% of its time. */
#include <math.h>

#include "model/context.h"
#include "quant/kernels.h"

#include <omp.h>

/* Rows of keys scored together (vec_dot_rows_f32's own grouping). */
enum { ROW_GROUP = 4 };

typedef struct {
    int layer, H, hd, group, kv_dim;
    float scale;
    const float *q; /* [T, H*hd] */
} attn_job;

/* A partial result: m[H], l[H], then o[H][hd]. */
static size_t partial_floats(const attn_job *j) { return (size_t)j->H * (size_t)(j->hd + 2); }

static void ask_for(const float *p, size_t floats) {
    for (size_t o = 0; o < floats * sizeof(float); o += 64) __builtin_prefetch((const char *)p + o);
}

/* The partial of keys [j0, j1) (j1 - j0 <= ATTN_BLOCK) for token t at
 * place p; scores: H * ATTN_BLOCK floats of scratch. */
static void block_partial(const attn_job *j, const token_place *p, int t, int j0, int j1, float *scores,
                          float *part) {
    const int H = j->H, hd = j->hd, n = j1 - j0, kv_dim = j->kv_dim;
    const size_t layer_rows = (size_t)j->layer * p->ctx->n_ctx;
    const float *K = p->ctx->k_cache + (layer_rows + (size_t)j0) * kv_dim;
    const float *V = p->ctx->v_cache + (layer_rows + (size_t)j0) * kv_dim;
    const float *q = j->q + (size_t)t * H * hd;
    float *m = part, *l = part + H, *o = part + 2 * H;
    /* Scores, ROW_GROUP positions at a time, head by head; meanwhile the
     * next group's keys and this group's values are asked for, a slice
     * per head. (Past the block's end this asks for rows that may not be
     * read, which a prefetch allows.) */
    for (int r = 0; r < n; r += ROW_GROUP) {
        const int rows = n - r < ROW_GROUP ? n - r : ROW_GROUP;
        const size_t ahead = (size_t)ROW_GROUP * kv_dim / (size_t)H;
        for (int h = 0; h < H; h++) {
            ask_for(K + (size_t)(r + ROW_GROUP) * kv_dim + h * ahead, ahead);
            ask_for(V + (size_t)r * kv_dim + h * ahead, ahead);
            vec_dot_rows_f32(hd, q + (size_t)h * hd, K + (size_t)r * kv_dim + (size_t)(h / j->group) * hd, kv_dim,
                             rows, scores + (size_t)h * ATTN_BLOCK + r);
        }
    }
    for (int h = 0; h < H; h++) {
        float *s = scores + (size_t)h * ATTN_BLOCK, max = -INFINITY;
        for (int k = 0; k < n; k++) {
            s[k] *= j->scale;
            max = s[k] > max ? s[k] : max;
        }
        double sum = 0;
        for (int k = 0; k < n; k++) sum += s[k] = expf(s[k] - max);
        m[h] = max;
        l[h] = (float)sum;
        vec_weighted_rows_f32(hd, s, V + (size_t)(h / j->group) * hd, kv_dim, n, o + (size_t)h * hd);
    }
}

/* Head h of acc (m, l, o as in a partial) merged with head h of the next
 * block's partial. An empty acc (m = -inf, l = 0, o = 0) takes the
 * partial's values exactly; e^0 = 1 is not computed. */
static void merge_head(const attn_job *j, int h, float *acc, const float *part) {
    const int H = j->H, hd = j->hd;
    const float m = acc[h] > part[h] ? acc[h] : part[h];
    const float a = acc[h] == m ? 1.0f : expf(acc[h] - m), b = part[h] == m ? 1.0f : expf(part[h] - m);
    float *o = acc + 2 * H + (size_t)h * hd;
    const float *po = part + 2 * H + (size_t)h * hd;
    for (int i = 0; i < hd; i++) o[i] = o[i] * a + po[i] * b;
    acc[H + h] = acc[H + h] * a + part[H + h] * b;
    acc[h] = m;
}

static void empty_head(const attn_job *j, int h, float *acc) {
    acc[h] = -INFINITY;
    acc[j->H + h] = 0;
    for (int i = 0; i < j->hd; i++) acc[2 * j->H + (size_t)h * j->hd + i] = 0;
}

static void finish_head(const attn_job *j, int h, const float *acc, float *out) {
    const float inv = 1.0f / acc[j->H + h];
    for (int i = 0; i < j->hd; i++) out[(size_t)h * j->hd + i] = acc[2 * j->H + (size_t)h * j->hd + i] * inv;
}

static int n_blocks(const token_place *p) { return (p->pos + 1 + ATTN_BLOCK - 1) / ATTN_BLOCK; }
static int block_end(const token_place *p, int b) {
    return (b + 1) * ATTN_BLOCK < p->pos + 1 ? (b + 1) * ATTN_BLOCK : p->pos + 1;
}

/* Scratch of the calling thread: a block's scores, then two partials (the
 * running merge and, for prompts, the block's own). */
static float *thread_scratch(const olmoe_context *ctx, const attn_job *j) {
    const size_t per = (size_t)j->H * ATTN_BLOCK + 2 * partial_floats(j);
    return ctx->s.att_thread + (size_t)omp_get_thread_num() * per;
}

/* Few tokens: every (token, block) pair is a task; then the merge, a
 * (token, head) pair per task. */
static void attend_blocks(olmoe_context *ctx, const attn_job *j, const token_place *place, int T,
                          const int *first) {
    const size_t P = partial_floats(j);
    const int units = first[T];
#pragma omp parallel num_threads(ctx->n_threads) if (units > 1)
    {
        float *scores = thread_scratch(ctx, j);
#pragma omp for schedule(static)
        for (int u = 0; u < units; u++) {
            int t = 0;
            while (first[t + 1] <= u) t++;
            const int b = u - first[t];
            block_partial(j, &place[t], t, b * ATTN_BLOCK, block_end(&place[t], b), scores,
                          ctx->s.att_parts + (size_t)u * P);
        }
#pragma omp for schedule(static)
        for (int th = 0; th < T * j->H; th++) {
            const int t = th / j->H, h = th % j->H;
            float *acc = scores + (size_t)j->H * ATTN_BLOCK;
            empty_head(j, h, acc);
            for (int u = first[t]; u < first[t + 1]; u++) merge_head(j, h, acc, ctx->s.att_parts + (size_t)u * P);
            finish_head(j, h, acc, ctx->s.att + (size_t)t * j->H * j->hd);
        }
    }
}

/* Many tokens: a token per task, blocks merged as they come. */
static void attend_tokens(olmoe_context *ctx, const attn_job *j, const token_place *place, int T) {
    const size_t P = partial_floats(j);
#pragma omp parallel for num_threads(ctx->n_threads) schedule(dynamic, 1)
    for (int t = 0; t < T; t++) {
        float *scores = thread_scratch(ctx, j), *acc = scores + (size_t)j->H * ATTN_BLOCK, *part = acc + P;
        for (int h = 0; h < j->H; h++) empty_head(j, h, acc);
        for (int b = 0; b < n_blocks(&place[t]); b++) {
            block_partial(j, &place[t], t, b * ATTN_BLOCK, block_end(&place[t], b), scores, part);
            for (int h = 0; h < j->H; h++) merge_head(j, h, acc, part);
        }
        for (int h = 0; h < j->H; h++) finish_head(j, h, acc, ctx->s.att + (size_t)t * j->H * j->hd);
    }
}

void attend(olmoe_context *ctx, int layer, const token_place *place, int T) {
    const model_config *c = &ctx->model->cfg;
    const attn_job j = {layer, c->n_heads, c->head_dim, c->n_heads / c->n_kv_heads,
                        c->n_kv_heads * c->head_dim, 1.0f / sqrtf((float)c->head_dim), ctx->s.q};
    int first[FORWARD_CHUNK + 1];
    first[0] = 0;
    for (int t = 0; t < T; t++) first[t + 1] = first[t] + n_blocks(&place[t]);
    if (first[T] <= ctx->s.att_cap) attend_blocks(ctx, &j, place, T, first);
    else attend_tokens(ctx, &j, place, T);
}
