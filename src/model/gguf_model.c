/* Loading a llama.cpp GGUF file (architectures olmoe and olmo2): the
 * configuration from its metadata keys, the tokenizer and chat template
 * from tokenizer.ggml.* / tokenizer.chat_template, and its tensors renamed
 * to Hugging Face names (stacked experts split into per-expert views) so
 * the same binding code serves both formats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_model.h"
#include "model/gguf_names.h"
#include "util/error.h"

/* Optional integer key "<arch>.<suffix>": *out keeps its default if absent. */
static olmoe_status opt_int(const gguf_file *g, const char *arch, const char *suffix, int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return OLMOE_OK;
    uint32_t v;
    olmoe_status st = gguf_kv_u32(g, kv, &v);
    if (!st && v > 1u << 30) st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s is out of range", g->file.path, key);
    if (!st) *out = (int)v;
    return st;
}

static olmoe_status need_int(const gguf_file *g, const char *arch, const char *suffix, int *out) {
    *out = -1;
    olmoe_status st = opt_int(g, arch, suffix, out);
    if (!st && *out < 1)
        st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: metadata key '%s.%s' is missing or zero",
                        g->file.path, arch, suffix);
    return st;
}

static olmoe_status opt_float(const gguf_file *g, const char *arch, const char *suffix, double *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_kv *kv = gguf_find_kv(g, key);
    return kv ? gguf_kv_f64(g, kv, out) : OLMOE_OK;
}

static olmoe_status read_arch(const gguf_file *g, model_config *c, const char **arch) {
    const char *s;
    size_t len;
    olmoe_status st = gguf_get_str(g, "general.architecture", &s, &len);
    if (st) return st;
    if (len == 5 && !strncmp(s, "olmoe", 5)) c->arch = ARCH_OLMOE;
    else if (len == 5 && !strncmp(s, "olmo2", 5)) c->arch = ARCH_OLMO2;
    else
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (olmoe "
                          "and olmo2 are)", g->file.path, (int)len, s);
    *arch = gguf_arch_name(c->arch);
    return OLMOE_OK;
}

static olmoe_status read_config(const gguf_file *g, model_config *c) {
    memset(c, 0, sizeof *c);
    const char *a = NULL;
    olmoe_status st = read_arch(g, c, &a);
    if (st) return st;
    c->max_position = 4096;
    c->rms_eps = 1e-5;
    c->rope.theta = 10000;
    c->rope.factor = 1;
    c->bos_id = c->pad_id = -1;
    if ((st = need_int(g, a, "embedding_length", &c->d_model)) ||
        (st = need_int(g, a, "block_count", &c->n_layers)) ||
        (st = need_int(g, a, "feed_forward_length", &c->d_ff)) ||
        (st = need_int(g, a, "attention.head_count", &c->n_heads)))
        return st;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->d_model / c->n_heads;
    int norm = 0;
    if ((st = opt_int(g, a, "attention.head_count_kv", &c->n_kv_heads)) ||
        (st = opt_int(g, a, "attention.key_length", &c->head_dim)) ||
        (st = opt_int(g, a, "context_length", &c->max_position)) ||
        (st = opt_float(g, a, "attention.layer_norm_rms_epsilon", &c->rms_eps)) ||
        (st = opt_float(g, a, "rope.freq_base", &c->rope.theta)) ||
        (st = opt_float(g, a, "attention.clamp_kqv", &c->clip_qkv)))
        return st;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window", a);
    if (gguf_find_kv(g, key))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: sliding-window attention (%s) is not "
                          "supported", g->file.path, key);
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    const gguf_kv *scaling = gguf_find_kv(g, key);
    if (scaling) {
        const char *s;
        size_t len;
        if ((st = gguf_kv_str(g, scaling, &s, &len))) return st;
        if (len == 6 && !strncmp(s, "linear", 6)) {
            c->rope.kind = ROPE_LINEAR;
            if ((st = opt_float(g, a, "rope.scaling.factor", &c->rope.factor))) return st;
        } else if (!(len == 4 && !strncmp(s, "none", 4))) {
            return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported",
                              g->file.path, (int)len, s);
        }
    }
    if (c->arch == ARCH_OLMOE) {
        if ((st = need_int(g, a, "expert_count", &c->n_experts)) ||
            (st = need_int(g, a, "expert_used_count", &c->top_k)))
            return st;
        /* llama.cpp never renormalises OLMoE's top-k weights; files written
         * by olmoe convert from a norm_topk_prob model say so with this key. */
        snprintf(key, sizeof key, "%s.expert_weights_norm", a);
        const gguf_kv *kv = gguf_find_kv(g, key);
        if (kv && (st = gguf_kv_bool(g, kv, &norm))) return st;
        c->norm_topk_prob = norm;
    }
    const tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", g->file.path);
    c->vocab_size = (int)emb->shape[0];
    c->tie_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->attention_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    return config_check(g->file.path, c);
}

/* Views of every tensor under its Hugging Face name. */
static olmoe_status rename_tensors(const gguf_file *g, model_arch arch, tensor **out, int *n_out) {
    int cap = 0;
    for (int i = 0; i < g->n_tensors; i++)
        cap += g->tensors[i].n_dims == 3 ? (int)g->tensors[i].shape[0] : 1;
    tensor *v = calloc((size_t)(cap ? cap : 1), sizeof *v);
    if (!v) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    int n = 0;
    olmoe_status st = OLMOE_OK;
    for (int i = 0; i < g->n_tensors && !st; i++) {
        const tensor *t = &g->tensors[i];
        char name[256];
        const char *part;
        if (!gguf_to_hf_name(arch, t->name, name, sizeof name, &part)) continue; /* e.g. rope_freqs */
        if (!part) {
            v[n] = *t;
            v[n].name = strdup(name);
            if (!v[n++].name) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
            continue;
        }
        if (t->n_dims != 3) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' should have 3 dimensions (experts)",
                            g->file.path, t->name);
            break;
        }
        for (int64_t e = 0; e < t->shape[0] && !st; e++) {
            char full[300];
            snprintf(full, sizeof full, "%s.%lld.%s.weight", name, (long long)e, part);
            v[n] = tensor_stack_slice(t, e, 0, t->shape[1]);
            v[n].name = strdup(full);
            if (!v[n++].name) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        }
    }
    if (st) {
        for (int i = 0; i < n; i++) free((char *)v[i].name);
        free(v);
        return st;
    }
    *out = v;
    *n_out = n;
    return OLMOE_OK;
}

olmoe_status model_load_gguf(olmoe_model *m, const char *path) {
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    olmoe_status st = gguf_open(path, g);
    if (st) {
        free(g);
        return st;
    }
    tensor *views = NULL;
    int n = 0;
    if ((st = read_config(g, &m->cfg)) || (st = rename_tensors(g, m->cfg.arch, &views, &n))) {
        gguf_close(g);
        free(g);
        return st;
    }
    if ((st = weight_store_from_views(&m->store, g, views, n))) return st;
    return gguf_load_tokenizer(m, g);
}
