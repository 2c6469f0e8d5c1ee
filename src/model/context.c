/* Context lifecycle and olmoe_decode: splits a batch into chunks, runs the
 * forward pass and computes the requested logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "model/context.h"
#include "quant/matmul.h"
#include "util/error.h"

olmoe_context_params olmoe_context_default_params(void) {
    olmoe_context_params p = {0};
    return p;
}

/* RoPE inverse frequencies, including llama3-style scaling (transformers'
 * _compute_llama3_parameters); linear scaling divides positions instead. */
static void rope_frequencies(const model_config *c, double *inv_freq) {
    const int hd = c->head_dim;
    const rope_config *r = &c->rope;
    for (int i = 0; i < hd / 2; i++) {
        double f = 1.0 / pow(r->theta, (2.0 * i) / hd);
        if (r->kind == ROPE_LLAMA3) {
            double old = r->original_max_position;
            double low_wavelen = old / r->low_freq_factor, high_wavelen = old / r->high_freq_factor;
            double wavelen = 2 * 3.14159265358979323846 / f;
            if (wavelen > low_wavelen) {
                f /= r->factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (old / wavelen - r->low_freq_factor) /
                                (r->high_freq_factor - r->low_freq_factor);
                f = (1 - smooth) * f / r->factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

static olmoe_status alloc_scratch(olmoe_context *ctx) {
    const model_config *c = &ctx->model->cfg;
    forward_scratch *s = &ctx->s;
    const size_t B = FORWARD_CHUNK, D = (size_t)c->d_model;
    const size_t q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim;
    const size_t E = (size_t)(c->n_experts ? c->n_experts : 1), K = (size_t)(c->top_k ? c->top_k : 1);
    s->x = malloc(B * D * sizeof(float));
    s->xn = malloc(B * D * sizeof(float));
    s->q = malloc(B * q * sizeof(float));
    s->k = malloc(B * kv * sizeof(float));
    s->v = malloc(B * kv * sizeof(float));
    s->att = malloc(B * q * sizeof(float));
    s->tmp = malloc(B * D * sizeof(float));
    s->ffn = malloc(B * D * sizeof(float));
    s->gate = malloc(B * K * (size_t)c->d_ff * sizeof(float));
    s->up = malloc(B * K * (size_t)c->d_ff * sizeof(float));
    s->gathered = malloc(B * K * D * sizeof(float));
    s->expert_out = malloc(B * K * D * sizeof(float));
    s->pair_token = malloc(B * K * sizeof(int));
    s->pair_weight = malloc(B * K * sizeof(float));
    s->router = malloc(B * E * sizeof(float));
    s->expert_of = malloc(B * K * sizeof(int));
    s->weight_of = malloc(B * K * sizeof(float));
    /* Attention's partials: room for two tokens' blocks at full context
     * (decoding); longer batches merge as they go (model/attention.c). */
    const size_t partial = (size_t)c->n_heads * (size_t)(c->head_dim + 2);
    s->att_cap = 2 * ((ctx->n_ctx + ATTN_BLOCK - 1) / ATTN_BLOCK);
    s->att_parts = malloc((size_t)s->att_cap * partial * sizeof(float));
    s->att_thread = malloc((size_t)ctx->n_threads * ((size_t)c->n_heads * ATTN_BLOCK + 2 * partial) * sizeof(float));
    s->inv_freq = malloc((size_t)c->head_dim / 2 * sizeof(double));
    if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->tmp || !s->ffn || !s->gate ||
        !s->up || !s->gathered || !s->expert_out || !s->pair_token || !s->pair_weight || !s->router || !s->expert_of || !s->weight_of || !s->att_parts || !s->att_thread ||
        !s->inv_freq)
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory allocating the forward buffers");
    rope_frequencies(c, s->inv_freq);
    return OLMOE_OK;
}

static void free_scratch(forward_scratch *s) {
    void *all[] = {s->x,    s->xn,  s->q,        s->k,      s->v,         s->att,
                   s->tmp,  s->ffn, s->gate,     s->up,     s->gathered,  s->router,
                   s->expert_out, s->pair_token, s->pair_weight,
                   s->expert_of, s->weight_of, s->att_parts, s->att_thread, s->inv_freq};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

olmoe_status olmoe_context_new(const olmoe_model *model, const olmoe_context_params *params,
                               olmoe_context **out) {
    *out = NULL;
    olmoe_context_params p = params ? *params : olmoe_context_default_params();
    const model_config *c = &model->cfg;
    olmoe_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    ctx->model = model;
    ctx->n_ctx = p.n_ctx > 0 ? p.n_ctx : c->max_position;
    ctx->n_threads = p.n_threads > 0 ? p.n_threads : model->n_threads;
    if (ctx->n_threads > omp_get_max_threads() * 4) ctx->n_threads = omp_get_max_threads() * 4;
    ctx->record_routing = p.record_routing && c->n_experts > 0;
    const size_t kv = (size_t)c->n_kv_heads * c->head_dim;
    const size_t cache = (size_t)c->n_layers * ctx->n_ctx * kv;
    ctx->k_cache = malloc(cache * sizeof(float));
    ctx->v_cache = malloc(cache * sizeof(float));
    olmoe_status st = (!ctx->k_cache || !ctx->v_cache)
                          ? olmoe_fail(OLMOE_ERR_NOMEM, "cannot allocate a KV cache of %d positions "
                                       "(%.1f MiB); use a smaller context",
                                       ctx->n_ctx, 2.0 * cache * sizeof(float) / (1 << 20))
                          : alloc_scratch(ctx);
    if (st) {
        olmoe_context_free(ctx);
        return st;
    }
    *out = ctx;
    return OLMOE_OK;
}

void olmoe_context_free(olmoe_context *ctx) {
    if (!ctx) return;
    free_scratch(&ctx->s);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->logits);
    free(ctx->routing);
    free(ctx);
}

/* Makes room for `rows` logit rows and, if recording, n tokens of routing. */
static olmoe_status reserve_outputs(olmoe_context *ctx, int rows, int n_tokens) {
    const model_config *c = &ctx->model->cfg;
    if (rows > ctx->logits_cap_rows) {
        float *l = realloc(ctx->logits, (size_t)rows * c->vocab_size * sizeof(float));
        if (!l) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for %d rows of logits", rows);
        ctx->logits = l;
        ctx->logits_cap_rows = rows;
    }
    if (ctx->record_routing && n_tokens > ctx->routing_cap_tokens) {
        int32_t *r = realloc(ctx->routing, (size_t)c->n_layers * n_tokens * c->top_k * sizeof(int32_t));
        if (!r) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for routing records");
        ctx->routing = r;
        ctx->routing_cap_tokens = n_tokens;
    }
    return OLMOE_OK;
}

/* Checks that n tokens fit ctx and are all in the vocabulary. */
static olmoe_status check_tokens(const olmoe_context *ctx, const int32_t *tokens, size_t n) {
    const int V = ctx->model->cfg.vocab_size;
    if (n == 0) return olmoe_fail(OLMOE_ERR_ARG, "olmoe_decode: no tokens");
    if (n > (size_t)(ctx->n_ctx - ctx->n_past))
        return olmoe_fail(OLMOE_ERR_CONTEXT_FULL, "%zu tokens do not fit the context: %d of %d "
                          "positions are used", n, ctx->n_past, ctx->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return olmoe_fail(OLMOE_ERR_ARG, "token id %d at position %zu is outside the vocabulary "
                              "(0..%d)", tokens[i], i, V - 1);
    return OLMOE_OK;
}

olmoe_status olmoe_decode(olmoe_context *ctx, const int32_t *tokens, size_t n_tokens, int all_logits) {
    const olmoe_model *m = ctx->model;
    olmoe_status st = check_tokens(ctx, tokens, n_tokens);
    int n = (int)n_tokens;
    if (st || (st = reserve_outputs(ctx, all_logits ? n : 1, n))) return st;
    ctx->logits_all = all_logits;
    ctx->n_logit_rows = all_logits ? n : 1;
    ctx->n_routing_tokens = ctx->record_routing ? n : 0;
    const int V = m->cfg.vocab_size, D = m->cfg.d_model;
    token_place place[FORWARD_CHUNK];
    for (int start = 0; start < n; start += FORWARD_CHUNK) {
        int T = n - start < FORWARD_CHUNK ? n - start : FORWARD_CHUNK;
        for (int t = 0; t < T; t++) place[t] = (token_place){ctx, ctx->n_past + t, start + t};
        forward_chunk(ctx, tokens + start, place, T);
        ctx->n_past += T;
        if (all_logits)
            matmul(ctx->logits + (size_t)start * V, ctx->s.xn, m->lm_head, T, ctx->n_threads);
        else if (start + T == n)
            matmul(ctx->logits, ctx->s.xn + (size_t)(T - 1) * D, m->lm_head, 1, ctx->n_threads);
    }
    return OLMOE_OK;
}

/* Validates a batch; returns the context whose scratch runs it (the one
 * with the longest cache, since attention's buffers need room for it). */
static olmoe_status check_batch(olmoe_context *const *ctxs, const int32_t *const *tokens,
                                const size_t *n_tokens, int n_seqs, olmoe_context **runner) {
    if (n_seqs < 1 || !ctxs || !tokens || !n_tokens)
        return olmoe_fail(OLMOE_ERR_ARG, "olmoe_decode_batch: no sequences");
    for (int i = 0; i < n_seqs; i++)
        if (!ctxs[i] || !tokens[i])
            return olmoe_fail(OLMOE_ERR_ARG, "olmoe_decode_batch: sequence %d has no %s", i,
                              ctxs[i] ? "tokens" : "context");
    *runner = ctxs[0];
    for (int i = 0; i < n_seqs; i++) {
        if (ctxs[i]->model != ctxs[0]->model)
            return olmoe_fail(OLMOE_ERR_ARG, "olmoe_decode_batch: sequence %d uses another model", i);
        for (int k = 0; k < i; k++)
            if (ctxs[k] == ctxs[i])
                return olmoe_fail(OLMOE_ERR_ARG, "olmoe_decode_batch: sequences %d and %d share a "
                                  "context", k, i);
        olmoe_status st = check_tokens(ctxs[i], tokens[i], n_tokens[i]);
        if (st) return st;
        if (ctxs[i]->n_ctx > (*runner)->n_ctx) *runner = ctxs[i];
    }
    for (int i = 0; i < n_seqs; i++) {
        olmoe_status st = reserve_outputs(ctxs[i], 1, (int)n_tokens[i]);
        if (st) return st;
    }
    return OLMOE_OK;
}

/* Logits of the chunk's rows that end a sequence: one product over all of
 * them (the output matrix is read once), copied to each context. */
static void chunk_logits(olmoe_context *run, const token_place *place, const int *ends, int n_ends,
                         float *rows) {
    const int V = run->model->cfg.vocab_size, D = run->model->cfg.d_model;
    float *x = run->s.tmp; /* free after the last layer */
    for (int i = 0; i < n_ends; i++)
        memcpy(x + (size_t)i * D, run->s.xn + (size_t)ends[i] * D, (size_t)D * sizeof(float));
    matmul(rows, x, run->model->lm_head, n_ends, run->n_threads);
    for (int i = 0; i < n_ends; i++)
        memcpy(place[ends[i]].ctx->logits, rows + (size_t)i * V, (size_t)V * sizeof(float));
}

olmoe_status olmoe_decode_batch(olmoe_context *const *ctxs, const int32_t *const *tokens,
                                const size_t *n_tokens, int n_seqs) {
    olmoe_context *run = NULL;
    olmoe_status st = check_batch(ctxs, tokens, n_tokens, n_seqs, &run);
    if (st) return st;
    const int V = run->model->cfg.vocab_size;
    float *rows = malloc((size_t)(n_seqs < FORWARD_CHUNK ? n_seqs : FORWARD_CHUNK) * V * sizeof(float));
    if (!rows) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for %d rows of logits", n_seqs);
    for (int i = 0; i < n_seqs; i++) {
        ctxs[i]->logits_all = 0;
        ctxs[i]->n_logit_rows = 1;
        ctxs[i]->n_routing_tokens = ctxs[i]->record_routing ? (int)n_tokens[i] : 0;
    }
    /* The sequences' tokens one after another, cut into chunks; a chunk
     * may end inside a sequence and the next one continues it. */
    token_place place[FORWARD_CHUNK];
    int32_t chunk[FORWARD_CHUNK];
    int ends[FORWARD_CHUNK], T = 0, n_ends = 0;
    for (int i = 0; i < n_seqs; i++) {
        const int base = ctxs[i]->n_past;
        for (size_t k = 0; k < n_tokens[i]; k++) {
            place[T] = (token_place){ctxs[i], base + (int)k, (int)k};
            chunk[T] = tokens[i][k];
            if (k + 1 == n_tokens[i]) ends[n_ends++] = T;
            if (++T < FORWARD_CHUNK && !(i == n_seqs - 1 && k + 1 == n_tokens[i])) continue;
            forward_chunk(run, chunk, place, T);
            for (int t = 0; t < T; t++) place[t].ctx->n_past = place[t].pos + 1;
            if (n_ends) chunk_logits(run, place, ends, n_ends, rows);
            T = n_ends = 0;
        }
    }
    free(rows);
    return OLMOE_OK;
}

const float *olmoe_get_logits(const olmoe_context *ctx, int i) {
    if (!ctx->logits || ctx->n_logit_rows == 0) return NULL;
    if (i < 0) i = ctx->n_logit_rows - 1;
    else if (!ctx->logits_all || i >= ctx->n_logit_rows) return NULL;
    return ctx->logits + (size_t)i * ctx->model->cfg.vocab_size;
}

int olmoe_context_n_past(const olmoe_context *ctx) { return ctx->n_past; }
int olmoe_context_n_ctx(const olmoe_context *ctx) { return ctx->n_ctx; }

void olmoe_context_truncate(olmoe_context *ctx, int n_past) {
    if (n_past >= 0 && n_past < ctx->n_past) ctx->n_past = n_past;
}

int olmoe_get_routing(const olmoe_context *ctx, int layer, int i, int32_t *experts, int cap) {
    const model_config *c = &ctx->model->cfg;
    if (!ctx->record_routing || layer < 0 || layer >= c->n_layers || i < 0 ||
        i >= ctx->n_routing_tokens)
        return 0;
    const int32_t *r = ctx->routing + ((size_t)layer * ctx->routing_cap_tokens + i) * c->top_k;
    int n = c->top_k < cap ? c->top_k : cap;
    memcpy(experts, r, (size_t)n * sizeof *r);
    return n;
}
