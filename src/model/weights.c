/* Binding Hugging Face tensor names to the model's layer structure, with a
 * shape check for each, so a wrong checkpoint fails at load time with the
 * tensor's name rather than producing garbage later. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/mapped_file.h"
#include "model/model.h"
#include "quant/bandwidth.h"
#include "quant/matmul.h"
#include "quant/pack.h"
#include "util/error.h"

#define NAME_MAX_LEN 256

static void shape_str(const int64_t *shape, int nd, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Looks up `name` and checks it has exactly the n_dims/shape given.
 * optional: a missing tensor yields *out = NULL without error. */
static olmoe_status find(olmoe_model *m, const char *name, int optional, const tensor **out,
                         int n_dims, ...) {
    int64_t want[4];
    va_list ap;
    va_start(ap, n_dims);
    for (int i = 0; i < n_dims; i++) want[i] = va_arg(ap, int64_t);
    va_end(ap);
    const tensor *t = weight_store_find(&m->store, name);
    *out = t;
    if (!t) {
        if (optional) return OLMOE_OK;
        return olmoe_fail(OLMOE_ERR_FORMAT, "tensor '%s' is missing from the checkpoint", name);
    }
    if (!tensor_type_is_weight(t->type))
        return olmoe_fail(OLMOE_ERR_FORMAT, "tensor '%s' has dtype %s, which is not a weight type",
                          name, tensor_type_name(t->type));
    int ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[96], exp[96];
        shape_str(t->shape, t->n_dims, got, sizeof got);
        shape_str(want, n_dims, exp, sizeof exp);
        return olmoe_fail(OLMOE_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", name, got,
                          exp);
    }
    return OLMOE_OK;
}

/* A 1-D parameter converted to float32 and owned by the model. */
static olmoe_status find_vector(olmoe_model *m, const char *name, int optional, int64_t n,
                                float **out) {
    const tensor *t;
    *out = NULL;
    olmoe_status st = find(m, name, optional, &t, 1, n);
    if (st || !t) return st;
    float *v = malloc((size_t)n * sizeof *v);
    float **grown = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown);
    if (!v || !grown) {
        free(v);
        if (grown) m->owned = grown;
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = v;
    row_to_f32(t->type, t->data, v, n);
    *out = v;
    return OLMOE_OK;
}

static const char *lname(char *buf, int layer, const char *suffix) {
    snprintf(buf, NAME_MAX_LEN, "model.layers.%d.%s", layer, suffix);
    return buf;
}

static olmoe_status bind_attention(olmoe_model *m, int l, layer_weights *w) {
    const model_config *c = &m->cfg;
    int64_t D = c->d_model, q = (int64_t)c->n_heads * c->head_dim,
            kv = (int64_t)c->n_kv_heads * c->head_dim;
    char n[NAME_MAX_LEN];
    olmoe_status st;
    if ((st = find(m, lname(n, l, "self_attn.q_proj.weight"), 0, &w->wq, 2, q, D)) ||
        (st = find(m, lname(n, l, "self_attn.k_proj.weight"), 0, &w->wk, 2, kv, D)) ||
        (st = find(m, lname(n, l, "self_attn.v_proj.weight"), 0, &w->wv, 2, kv, D)) ||
        (st = find(m, lname(n, l, "self_attn.o_proj.weight"), 0, &w->wo, 2, D, q)) ||
        (st = find_vector(m, lname(n, l, "self_attn.q_norm.weight"), 0, q, &w->q_norm)) ||
        (st = find_vector(m, lname(n, l, "self_attn.k_norm.weight"), 0, kv, &w->k_norm)))
        return st;
    if (!c->attention_bias) return OLMOE_OK;
    if ((st = find_vector(m, lname(n, l, "self_attn.q_proj.bias"), 0, q, &w->bq)) ||
        (st = find_vector(m, lname(n, l, "self_attn.k_proj.bias"), 0, kv, &w->bk)) ||
        (st = find_vector(m, lname(n, l, "self_attn.v_proj.bias"), 0, kv, &w->bv)) ||
        (st = find_vector(m, lname(n, l, "self_attn.o_proj.bias"), 0, D, &w->bo)))
        return st;
    return OLMOE_OK;
}

static olmoe_status bind_ffn(olmoe_model *m, const char *prefix, ffn_weights *f) {
    const model_config *c = &m->cfg;
    int64_t D = c->d_model, F = c->d_ff;
    char n[NAME_MAX_LEN];
    const tensor *g, *u, *d;
    olmoe_status st;
    snprintf(n, sizeof n, "%s.gate_proj.weight", prefix);
    if ((st = find(m, n, 0, &g, 2, F, D))) return st;
    snprintf(n, sizeof n, "%s.up_proj.weight", prefix);
    if ((st = find(m, n, 0, &u, 2, F, D))) return st;
    snprintf(n, sizeof n, "%s.down_proj.weight", prefix);
    if ((st = find(m, n, 0, &d, 2, D, F))) return st;
    f->gate = *g;
    f->up = *u;
    f->down = *d;
    return OLMOE_OK;
}

static olmoe_status bind_experts(olmoe_model *m, int l, layer_weights *w) {
    const model_config *c = &m->cfg;
    int64_t D = c->d_model, F = c->d_ff, E = c->n_experts;
    char n[NAME_MAX_LEN];
    olmoe_status st;
    if ((st = find(m, lname(n, l, "mlp.gate.weight"), 0, &w->router, 2, E, D))) return st;
    w->experts = calloc((size_t)E, sizeof *w->experts);
    if (!w->experts) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    const tensor *gate_up, *down;
    if ((st = find(m, lname(n, l, "mlp.experts.gate_up_proj"), 1, &gate_up, 3, E, 2 * F, D)))
        return st;
    if (gate_up) { /* fused layout: gate rows first, then up rows */
        if ((st = find(m, lname(n, l, "mlp.experts.down_proj"), 0, &down, 3, E, D, F))) return st;
        for (int e = 0; e < E; e++) {
            w->experts[e].gate = tensor_stack_slice(gate_up, e, 0, F);
            w->experts[e].up = tensor_stack_slice(gate_up, e, F, F);
            w->experts[e].down = tensor_stack_slice(down, e, 0, D);
        }
        return OLMOE_OK;
    }
    for (int e = 0; e < E; e++) {
        char prefix[NAME_MAX_LEN];
        snprintf(prefix, sizeof prefix, "model.layers.%d.mlp.experts.%d", l, e);
        if ((st = bind_ffn(m, prefix, &w->experts[e]))) return st;
    }
    return OLMOE_OK;
}

static olmoe_status bind_layer(olmoe_model *m, int l) {
    const model_config *c = &m->cfg;
    layer_weights *w = &m->layers[l];
    char n[NAME_MAX_LEN];
    olmoe_status st;
    if ((st = bind_attention(m, l, w))) return st;
    if (c->arch == ARCH_OLMOE) {
        if ((st = find_vector(m, lname(n, l, "input_layernorm.weight"), 0, c->d_model,
                              &w->attn_norm)) ||
            (st = find_vector(m, lname(n, l, "post_attention_layernorm.weight"), 0, c->d_model,
                              &w->ffn_norm)))
            return st;
        return bind_experts(m, l, w);
    }
    if ((st = find_vector(m, lname(n, l, "post_attention_layernorm.weight"), 0, c->d_model,
                          &w->post_attn_norm)) ||
        (st = find_vector(m, lname(n, l, "post_feedforward_layernorm.weight"), 0, c->d_model,
                          &w->post_ffn_norm)))
        return st;
    snprintf(n, sizeof n, "model.layers.%d.mlp", l);
    return bind_ffn(m, n, &w->mlp);
}

/* Matrices that only matrix products read may have their rows rearranged
 * in place on first use (quant/pack.h). The embedding is also read row by
 * row (token lookup), so it stays as the file has it, and so does an
 * output projection tied to it. The store's tensors are the model's own
 * (const only to the rest of the code). */
static olmoe_status allow_packing(olmoe_model *m) {
    const model_config *c = &m->cfg;
    const int per_layer = 4 + (c->arch == ARCH_OLMOE ? 1 + 3 * c->n_experts : 3);
    const int n = c->n_layers * per_layer + 1;
    m->packings = calloc((size_t)n, sizeof *m->packings);
    m->packable = calloc((size_t)n, sizeof *m->packable);
    if (!m->packings || !m->packable) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    int i = 0;
#define ALLOW(t) (m->packable[i] = (t), ((tensor *)(t))->packing = &m->packings[i++])
    for (int l = 0; l < c->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        ALLOW(w->wq), ALLOW(w->wk), ALLOW(w->wv), ALLOW(w->wo);
        if (c->arch != ARCH_OLMOE) {
            ALLOW(&w->mlp.gate), ALLOW(&w->mlp.up), ALLOW(&w->mlp.down);
            continue;
        }
        ALLOW(w->router);
        for (int e = 0; e < c->n_experts; e++)
            ALLOW(&w->experts[e].gate), ALLOW(&w->experts[e].up), ALLOW(&w->experts[e].down);
    }
    if (m->lm_head != m->embed) ALLOW(m->lm_head);
#undef ALLOW
    for (int k = 0; k < i; k++) atomic_init(&m->packings[k].state, PACK_NOT_YET);
    m->n_packable = i;
    return OLMOE_OK;
}

double model_weights_read_bandwidth(const olmoe_model *m, int n_threads) {
    byte_range *r = malloc((size_t)(m->n_packable + 1) * sizeof *r);
    if (!r) return 0;
    int n = 0;
    for (int i = 0; i < m->n_packable; i++) r[n++] = (byte_range){m->packable[i]->data, m->packable[i]->nbytes};
    if (m->lm_head == m->embed) r[n++] = (byte_range){m->embed->data, m->embed->nbytes}; /* tied */
    const double rate = read_bandwidth_of(r, n, n_threads, 3);
    free(r);
    return rate;
}

void model_prepare_weights(olmoe_model *m, olmoe_progress_fn progress, void *user) {
    double total = 0, done = 0;
    for (int i = 0; i < m->n_packable; i++) total += (double)m->packable[i]->nbytes;
    for (int i = 0; i < m->n_packable; i++) {
        const tensor *w = m->packable[i];
        tensor_matmul_ops(w); /* packs it if it has not been yet */
        /* Packing read every page of the ones it rearranged; map the rest. */
        if (tensor_layout(w) == w->type) mapped_populate(w->data, w->nbytes);
        done += (double)w->nbytes;
        if (progress) progress(done, total, user);
    }
}

olmoe_status model_bind_weights(olmoe_model *m) {
    const model_config *c = &m->cfg;
    olmoe_status st;
    if ((st = find(m, "model.embed_tokens.weight", 0, &m->embed, 2, (int64_t)c->vocab_size,
                   (int64_t)c->d_model)) ||
        (st = find_vector(m, "model.norm.weight", 0, c->d_model, &m->out_norm)))
        return st;
    /* Tied models use the embedding as the output projection, as
     * transformers does, even if the file also holds an lm_head.weight. */
    if (c->tie_embeddings) m->lm_head = m->embed;
    else if ((st = find(m, "lm_head.weight", 0, &m->lm_head, 2, (int64_t)c->vocab_size,
                        (int64_t)c->d_model)))
        return st;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if ((st = bind_layer(m, l))) return st;
    return allow_packing(m);
}
