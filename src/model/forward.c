/* The forward pass of OLMoE and OLMo 2, in float32, over a chunk of tokens.
 *
 * OLMoE (pre-norm):   x += Attn(norm(x));        x += MoE(norm(x))
 * OLMo 2 (post-norm): x += norm(Attn(x));        x += norm(MLP(x))
 * Attn: q,k,v projections, QK-norm over the whole q / k vectors (before the
 * split into heads), optional clip_qkv (OLMoE), RoPE, causal softmax
 * attention over the KV cache, output projection.
 * MoE: router softmax, top-k, optional renormalisation, SwiGLU experts; the
 * tokens of the chunk routed to one expert go through it together, so each
 * expert's weights are read once per chunk.
 *
 * A chunk may hold tokens of several contexts (olmoe_decode_batch): every
 * token carries its place (context and position), attention reads that
 * context's KV cache, and everything else (projections, experts, norms)
 * runs over all the chunk's tokens together, so the weights are read once
 * for all the sequences. */
#include <math.h>
#include <string.h>

#include "model/context.h"
#include "quant/kernels.h"
#include "quant/matmul.h"

#include <omp.h>

/* out = x / sqrt(mean(x²) + eps) * w, as transformers' RMSNorm. */
static void rmsnorm(float *out, const float *x, const float *w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void rmsnorm_rows(float *out, const float *x, const float *w, int T, int n, double eps) {
    for (int t = 0; t < T; t++) rmsnorm(out + (size_t)t * n, x + (size_t)t * n, w, n, eps);
}

static void add_bias(float *y, const float *b, int T, int n) {
    if (!b) return;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += b[i];
}

static void clamp_all(float *x, size_t n, float c) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] < -c ? -c : (x[i] > c ? c : x[i]);
}

/* Rotates each head of x (non-interleaved halves, as transformers'
 * rotate_half) by the angles pos * inv_freq. */
static void rope(float *x, int n_heads, int hd, int pos, const double *inv_freq, double pos_scale) {
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        double angle = pos * pos_scale * inv_freq[i];
        float c = (float)cos(angle), s = (float)sin(angle);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * hd;
            float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    }
}

static void softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Where token t's keys and values of `layer` live in its context's cache. */
static float *cache_row(float *cache, const token_place *p, int layer, int kv_dim) {
    return cache + ((size_t)layer * p->ctx->n_ctx + p->pos) * kv_dim;
}

/* s->tmp = Attn(in) for T tokens at their places. */
static void attention(olmoe_context *ctx, int layer, const float *in, const token_place *place, int T) {
    const model_config *c = &ctx->model->cfg;
    const layer_weights *w = &ctx->model->layers[layer];
    forward_scratch *s = &ctx->s;
    const int nt = ctx->n_threads, hd = c->head_dim;
    const int q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    matmul_job qkv[3] = {{s->q, in, w->wq, T}, {s->k, in, w->wk, T}, {s->v, in, w->wv, T}};
    matmul_many(qkv, 3, nt);
    add_bias(s->q, w->bq, T, q_dim);
    add_bias(s->k, w->bk, T, kv_dim);
    add_bias(s->v, w->bv, T, kv_dim);
    rmsnorm_rows(s->q, s->q, w->q_norm, T, q_dim, c->rms_eps);
    rmsnorm_rows(s->k, s->k, w->k_norm, T, kv_dim, c->rms_eps);
    if (c->clip_qkv > 0) {
        clamp_all(s->q, (size_t)T * q_dim, (float)c->clip_qkv);
        clamp_all(s->k, (size_t)T * kv_dim, (float)c->clip_qkv);
        clamp_all(s->v, (size_t)T * kv_dim, (float)c->clip_qkv);
    }
    double pos_scale = c->rope.kind == ROPE_LINEAR ? 1.0 / c->rope.factor : 1.0;
    for (int t = 0; t < T; t++) {
        const token_place *p = &place[t];
        rope(s->q + (size_t)t * q_dim, c->n_heads, hd, p->pos, s->inv_freq, pos_scale);
        rope(s->k + (size_t)t * kv_dim, c->n_kv_heads, hd, p->pos, s->inv_freq, pos_scale);
        memcpy(cache_row(p->ctx->k_cache, p, layer, kv_dim), s->k + (size_t)t * kv_dim,
               (size_t)kv_dim * sizeof(float));
        memcpy(cache_row(p->ctx->v_cache, p, layer, kv_dim), s->v + (size_t)t * kv_dim,
               (size_t)kv_dim * sizeof(float));
    }
    attend(ctx, layer, place, T);
    matmul(s->tmp, s->att, w->wo, T, nt);
    add_bias(s->tmp, w->bo, T, c->d_model);
}

/* gate = silu(gate) * up (vec_silu_mul: SIMD where there is), split
 * between the threads in chunks once there is more than one: a prompt's
 * 4 M elements per layer for OLMoE, where a token's 8192 take microseconds,
 * less than waking the other threads would. */
static void silu_mul(float *gate, const float *up, size_t n, int n_threads) {
    enum { CHUNK = 16384 };
    const int64_t chunks = (int64_t)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for num_threads(n_threads) schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const size_t i0 = (size_t)c * CHUNK;
        vec_silu_mul((int64_t)(n - i0 < CHUNK ? n - i0 : CHUNK), gate + i0, up + i0);
    }
}

/* out[n, D] = down(silu(gate(x)) * up(x)) for n rows of x (dense MLP). */
static void swiglu(olmoe_context *ctx, const ffn_weights *f, const float *x, int n, float *out) {
    forward_scratch *s = &ctx->s;
    const int F = ctx->model->cfg.d_ff;
    matmul_job gate_up[2] = {{s->gate, x, &f->gate, n}, {s->up, x, &f->up, n}};
    matmul_many(gate_up, 2, ctx->n_threads);
    silu_mul(s->gate, s->up, (size_t)n * F, ctx->n_threads);
    matmul(out, s->gate, &f->down, n, ctx->n_threads);
}

/* Picks the top_k experts of each token by router probability (ties to the
 * lower index, as torch.topk on distinct values). */
static void route(olmoe_context *ctx, int layer, const float *in, int T) {
    const model_config *c = &ctx->model->cfg;
    forward_scratch *s = &ctx->s;
    const int E = c->n_experts, K = c->top_k;
    matmul(s->router, in, ctx->model->layers[layer].router, T, ctx->n_threads);
    for (int t = 0; t < T; t++) {
        float *p = s->router + (size_t)t * E;
        softmax(p, E);
        int *ex = s->expert_of + (size_t)t * K;
        float *wt = s->weight_of + (size_t)t * K;
        float sum = 0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= ex[j] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            ex[k] = best;
            wt[k] = p[best];
            sum += p[best];
        }
        if (c->norm_topk_prob)
            for (int k = 0; k < K; k++) wt[k] /= sum;
    }
}

/* s->ffn = MoE(in): the (token, expert) pairs are sorted by expert so each
 * expert runs once over all its tokens, and all experts' products go
 * through two parallel regions (gate+up, then down). */
static void moe(olmoe_context *ctx, int layer, const float *in, const token_place *place, int T) {
    const model_config *c = &ctx->model->cfg;
    const ffn_weights *experts = ctx->model->layers[layer].experts;
    forward_scratch *s = &ctx->s;
    const int D = c->d_model, F = c->d_ff, K = c->top_k, E = c->n_experts;
    route(ctx, layer, in, T);
    for (int t = 0; t < T; t++) {
        const olmoe_context *owner = place[t].ctx;
        if (!owner->record_routing || place[t].route_row < 0) continue;
        int32_t *r = owner->routing + ((size_t)layer * owner->routing_cap_tokens + place[t].route_row) * K;
        for (int k = 0; k < K; k++) r[k] = s->expert_of[(size_t)t * K + k];
    }
    matmul_job jobs[2 * CONFIG_MAX_EXPERTS];
    int n_jobs = 0, pos = 0, first[CONFIG_MAX_EXPERTS + 1];
    for (int e = 0; e < E; e++) {
        first[e] = pos;
        for (int i = 0; i < T * K; i++)
            if (s->expert_of[i] == e) {
                s->pair_token[pos] = i / K;
                s->pair_weight[pos] = s->weight_of[i];
                memcpy(s->gathered + (size_t)pos * D, in + (size_t)(i / K) * D, (size_t)D * sizeof(float));
                pos++;
            }
    }
    first[E] = pos;
    for (int e = 0; e < E; e++) {
        int n = first[e + 1] - first[e];
        if (!n) continue;
        const float *x = s->gathered + (size_t)first[e] * D;
        jobs[n_jobs++] = (matmul_job){s->gate + (size_t)first[e] * F, x, &experts[e].gate, n};
        jobs[n_jobs++] = (matmul_job){s->up + (size_t)first[e] * F, x, &experts[e].up, n};
    }
    matmul_many(jobs, n_jobs, ctx->n_threads);
    silu_mul(s->gate, s->up, (size_t)pos * F, ctx->n_threads);
    n_jobs = 0;
    for (int e = 0; e < E; e++) {
        int n = first[e + 1] - first[e];
        if (n)
            jobs[n_jobs++] = (matmul_job){s->expert_out + (size_t)first[e] * D, s->gate + (size_t)first[e] * F,
                                          &experts[e].down, n};
    }
    matmul_many(jobs, n_jobs, ctx->n_threads);
    memset(s->ffn, 0, (size_t)T * D * sizeof(float));
    for (int p = 0; p < pos; p++) {
        float *dst = s->ffn + (size_t)s->pair_token[p] * D;
        const float *src = s->expert_out + (size_t)p * D;
        for (int d = 0; d < D; d++) dst[d] += s->pair_weight[p] * src[d];
    }
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void forward_chunk(olmoe_context *ctx, const int32_t *tokens, const token_place *place, int T) {
    const olmoe_model *m = ctx->model;
    const model_config *c = &m->cfg;
    forward_scratch *s = &ctx->s;
    const int D = c->d_model;
    const size_t n = (size_t)T * D;
    const size_t emb_row = tensor_type_bytes(m->embed->type, D);
    for (int t = 0; t < T; t++)
        row_to_f32(m->embed->type, (const char *)m->embed->data + (size_t)tokens[t] * emb_row,
                   s->x + (size_t)t * D, D);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        if (c->arch == ARCH_OLMOE) {
            rmsnorm_rows(s->xn, s->x, w->attn_norm, T, D, c->rms_eps);
            attention(ctx, l, s->xn, place, T);
            add_rows(s->x, s->tmp, n);
            rmsnorm_rows(s->xn, s->x, w->ffn_norm, T, D, c->rms_eps);
            moe(ctx, l, s->xn, place, T);
            add_rows(s->x, s->ffn, n);
        } else {
            attention(ctx, l, s->x, place, T);
            rmsnorm_rows(s->tmp, s->tmp, w->post_attn_norm, T, D, c->rms_eps);
            add_rows(s->x, s->tmp, n);
            swiglu(ctx, &w->mlp, s->x, T, s->ffn);
            rmsnorm_rows(s->ffn, s->ffn, w->post_ffn_norm, T, D, c->rms_eps);
            add_rows(s->x, s->ffn, n);
        }
    }
    rmsnorm_rows(s->xn, s->x, m->out_norm, T, D, c->rms_eps);
}
