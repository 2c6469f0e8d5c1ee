/* Inference state: the KV cache, the scratch buffers of one batch, and the
 * outputs (logits, routing) of the last olmoe_decode call. */
#ifndef OLMOE_MODEL_CONTEXT_H
#define OLMOE_MODEL_CONTEXT_H

#include "model/model.h"

/* Tokens processed together in one forward step; larger inputs are split. */
#define FORWARD_CHUNK 256

/* Attention reads the cache a block of this many positions at a time
 * (model/attention.c). */
#define ATTN_BLOCK 16

typedef struct {
    float *x;      /* [B, D]    residual stream */
    float *xn;     /* [B, D]    normalised input of a block */
    float *q;      /* [B, H*hd] */
    float *k, *v;  /* [B, KV*hd] */
    float *att;    /* [B, H*hd] attention output before o_proj */
    float *tmp;    /* [B, D]    block output */
    float *ffn;    /* [B, D]    MoE / MLP accumulator */
    float *gate;   /* [B*K, F]  one row per (token, expert) pair */
    float *up;     /* [B*K, F] */
    float *gathered;   /* [B*K, D] the pairs' inputs, grouped by expert */
    float *expert_out; /* [B*K, D] */
    int *pair_token;   /* [B*K] token of each pair */
    float *pair_weight; /* [B*K] its mixing weight */
    float *router; /* [B, E] */
    int *expert_of;  /* [B, top_k] chosen experts */
    float *weight_of; /* [B, top_k] their mixing weights */
    float *att_parts;  /* [att_cap, H*(hd+2)] attention's partials of key blocks */
    int att_cap;
    float *att_thread; /* [threads, H*ATTN_BLOCK + 2*H*(hd+2)] a block's scores, two partials */
    double *inv_freq; /* [hd/2] RoPE frequencies */
} forward_scratch;

struct olmoe_context {
    const olmoe_model *model;
    int n_ctx, n_threads, n_past;
    float *k_cache, *v_cache; /* [L, n_ctx, KV*hd] */
    forward_scratch s;
    float *logits;       /* [n_logit_rows, V] */
    int n_logit_rows, logits_cap_rows;
    int logits_all;      /* rows are per token of the last batch */
    int record_routing;
    int32_t *routing;    /* [L, n_routing_tokens, top_k] */
    int n_routing_tokens, routing_cap_tokens;
};

/* Where one token of a forward step belongs: the context whose KV cache
 * holds it, its position there, and its row in that context's routing
 * record (-1: none). */
typedef struct {
    olmoe_context *ctx;
    int pos;
    int route_row;
} token_place;

/* Runs tokens [0, T) (T <= FORWARD_CHUNK), each at its place, through all
 * layers using ctx's scratch and threads; leaves the final hidden states
 * (after the last norm) in ctx->s.xn. The tokens' contexts must share ctx's
 * model and have n_ctx <= ctx->n_ctx (attention's buffers are sized by it). */
void forward_chunk(olmoe_context *ctx, const int32_t *tokens, const token_place *place, int T);

/* ctx->s.att = softmax(q·Kᵀ/√hd)·V for T tokens at their places, with q in
 * ctx->s.q and their keys and values of `layer` already cached
 * (model/attention.c). */
void attend(olmoe_context *ctx, int layer, const token_place *place, int T);

#endif
