/* olmoe_convert: a loaded model -> a GGUF file in the layout llama.cpp's
 * own converter and quantizer write (architecture names, metadata keys,
 * tensor names, stacked experts, the per-tensor type choices of each file
 * type), so llama.cpp loads and runs it. Tensors are converted and written
 * one at a time (expert by expert), so the model never has to fit in memory
 * twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "model/gguf_names.h"
#include "model/model.h"
#include "quant/formats.h"
#include "quant/kernels.h"
#include "quant/matmul.h"
#include "quant/pack.h"
#include "util/error.h"

/* llama_ftype values for general.file_type. */
enum { FTYPE_F32 = 0, FTYPE_Q4_0 = 2, FTYPE_Q8_0 = 7, FTYPE_Q4_K_M = 15, FTYPE_BF16 = 32 };

typedef struct {
    int ftype;
    tensor_type base; /* type of most matrices */
} file_kind;

static int parse_kind(const char *name, file_kind *k) {
    if (!strcmp(name, "f32")) *k = (file_kind){FTYPE_F32, TYPE_F32};
    else if (!strcmp(name, "bf16")) *k = (file_kind){FTYPE_BF16, TYPE_BF16};
    else if (!strcmp(name, "q8_0")) *k = (file_kind){FTYPE_Q8_0, TYPE_Q8_0};
    else if (!strcmp(name, "q4_0")) *k = (file_kind){FTYPE_Q4_0, TYPE_Q4_0};
    else if (!strcmp(name, "q4_k_m")) *k = (file_kind){FTYPE_Q4_K_M, TYPE_Q4_K};
    else return 0;
    return 1;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
 * every third in between get more bits in Q4_K_M. */
static int use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* One output tensor: its GGUF name and type, and where its data comes from. */
typedef struct {
    char name[64];
    tensor_type type;
    int n_dims;
    int64_t shape[3];
    const tensor *src;        /* a matrix, or */
    const ffn_weights *experts; /* a stack: experts[e].{gate,up,down} */
    int part;                 /* 0 gate, 1 up, 2 down */
    const float *vec;         /* a 1-D vector (already float) */
} out_tensor;

/* The type llama.cpp would pick for a 2-D or stacked matrix. */
static tensor_type pick_type(const file_kind *k, const char *name, int layer, int n_layers,
                             int64_t ne0) {
    if (strstr(name, "ffn_gate_inp")) return TYPE_F32; /* routers are never quantized */
    tensor_type t = k->base;
    if (k->ftype == FTYPE_Q4_0 || k->ftype == FTYPE_Q4_K_M) {
        if (!strcmp(name, "output.weight")) t = TYPE_Q6_K;
    }
    if (k->ftype == FTYPE_Q4_K_M && layer >= 0 && (strstr(name, "attn_v.") || strstr(name, "ffn_down")) &&
        use_more_bits(layer, n_layers))
        t = TYPE_Q6_K;
    /* A row length the block does not divide: K-quants fall back to Q8_0,
     * and anything else to F32 (as the reference files do). */
    if (ne0 % tensor_type_block_elems(t)) t = ne0 % 32 == 0 && t != TYPE_Q8_0 ? TYPE_Q8_0 : TYPE_F32;
    if (ne0 % tensor_type_block_elems(t)) t = TYPE_F32;
    return t;
}

static olmoe_status add_out(out_tensor **v, int *n, out_tensor t) {
    out_tensor *g = realloc(*v, (size_t)(*n + 1) * sizeof *g);
    if (!g) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    g[(*n)++] = t;
    *v = g;
    return OLMOE_OK;
}

static out_tensor matrix(const file_kind *k, const char *name, int layer, int n_layers, const tensor *t) {
    out_tensor o = {.src = t, .n_dims = 2, .shape = {t->shape[0], t->shape[1]}};
    snprintf(o.name, sizeof o.name, "%s", name);
    o.type = pick_type(k, name, layer, n_layers, t->shape[1]);
    return o;
}

static out_tensor vector(const char *name, const float *v, int64_t n) {
    out_tensor o = {.vec = v, .n_dims = 1, .shape = {n}, .type = TYPE_F32};
    snprintf(o.name, sizeof o.name, "%s", name);
    return o;
}

/* Tensor list in llama.cpp's order: token_embd, each block, output_norm, output. */
static olmoe_status plan(const olmoe_model *m, const file_kind *k, out_tensor **out, int *n) {
    const model_config *c = &m->cfg;
    char nm[64];
    olmoe_status st = add_out(out, n, matrix(k, "token_embd.weight", -1, c->n_layers, m->embed));
    for (int l = 0; !st && l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        const struct { const char *n; const tensor *t; } mats[] = {
            {"attn_q", w->wq}, {"attn_k", w->wk}, {"attn_v", w->wv}, {"attn_output", w->wo}};
        for (int i = 0; !st && i < 4; i++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, mats[i].n);
            st = add_out(out, n, matrix(k, nm, l, c->n_layers, mats[i].t));
        }
        const struct { const char *n; const float *v; int64_t len; } vecs[] = {
            {"attn_q.bias", w->bq, w->wq->shape[0]}, {"attn_k.bias", w->bk, w->wk->shape[0]},
            {"attn_v.bias", w->bv, w->wv->shape[0]}, {"attn_output.bias", w->bo, c->d_model},
            {"attn_q_norm.weight", w->q_norm, w->wq->shape[0]},
            {"attn_k_norm.weight", w->k_norm, w->wk->shape[0]},
            {"attn_norm.weight", w->attn_norm, c->d_model}, {"ffn_norm.weight", w->ffn_norm, c->d_model},
            {"post_attention_norm.weight", w->post_attn_norm, c->d_model},
            {"post_ffw_norm.weight", w->post_ffn_norm, c->d_model}};
        for (size_t i = 0; !st && i < sizeof vecs / sizeof vecs[0]; i++) {
            if (!vecs[i].v) continue;
            snprintf(nm, sizeof nm, "blk.%d.%s", l, vecs[i].n);
            st = add_out(out, n, vector(nm, vecs[i].v, vecs[i].len));
        }
        if (st) break;
        if (c->arch == ARCH_OLMOE) {
            snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", l);
            st = add_out(out, n, matrix(k, nm, l, c->n_layers, w->router));
            const char *parts[] = {"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"};
            const int part_of[] = {0, 2, 1};
            for (int i = 0; !st && i < 3; i++) {
                const tensor *e0 = part_of[i] == 0 ? &w->experts[0].gate
                                   : part_of[i] == 1 ? &w->experts[0].up : &w->experts[0].down;
                snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, parts[i]);
                out_tensor o = matrix(k, nm, l, c->n_layers, e0);
                o.src = NULL;
                o.experts = w->experts;
                o.part = part_of[i];
                o.n_dims = 3;
                o.shape[0] = c->n_experts, o.shape[1] = e0->shape[0], o.shape[2] = e0->shape[1];
                st = add_out(out, n, o);
            }
        } else {
            const struct { const char *n; const tensor *t; } ffn[] = {
                {"ffn_gate", &w->mlp.gate}, {"ffn_down", &w->mlp.down}, {"ffn_up", &w->mlp.up}};
            for (int i = 0; !st && i < 3; i++) {
                snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, ffn[i].n);
                st = add_out(out, n, matrix(k, nm, l, c->n_layers, ffn[i].t));
            }
        }
    }
    if (!st) st = add_out(out, n, vector("output_norm.weight", m->out_norm, c->d_model));
    if (!st && m->lm_head != m->embed)
        st = add_out(out, n, matrix(k, "output.weight", -1, c->n_layers, m->lm_head));
    return st;
}

/* Runs a writer call only while everything before it succeeded (used by
 * write_metadata and write_tokenizer, both with a local `st`). */
#define PUT(call) do { if (!st) st = (call); } while (0)

/* Architecture and tokenizer metadata, as llama.cpp's converter writes it. */
static olmoe_status write_metadata(gguf_writer *w, const olmoe_model *m, const file_kind *k,
                                   const char *name) {
    const model_config *c = &m->cfg;
    const char *a = gguf_arch_name(c->arch);
    char key[128];
    olmoe_status st = OLMOE_OK;
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    PUT(gguf_writer_add_str(w, "general.architecture", a));
    PUT(gguf_writer_add_str(w, "general.name", name));
    PUT(gguf_writer_add_u32(w, "general.file_type", (uint32_t)k->ftype));
    PUT(gguf_writer_add_u32(w, "general.quantization_version", 2));
    PUT(gguf_writer_add_u32(w, "general.alignment", 32));
    PUT(gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)c->max_position));
    PUT(gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)c->d_model));
    PUT(gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)c->n_layers));
    PUT(gguf_writer_add_u32(w, KEY("feed_forward_length"), (uint32_t)c->d_ff));
    PUT(gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads));
    PUT(gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads));
    if (c->head_dim * c->n_heads != c->d_model) {
        PUT(gguf_writer_add_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim));
        PUT(gguf_writer_add_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim));
    }
    PUT(gguf_writer_add_f32(w, KEY("rope.freq_base"), (float)c->rope.theta));
    if (c->rope.kind == ROPE_LINEAR) {
        PUT(gguf_writer_add_str(w, KEY("rope.scaling.type"), "linear"));
        PUT(gguf_writer_add_f32(w, KEY("rope.scaling.factor"), (float)c->rope.factor));
    }
    PUT(gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)c->rms_eps));
    if (c->clip_qkv > 0) PUT(gguf_writer_add_f32(w, KEY("attention.clamp_kqv"), (float)c->clip_qkv));
    if (c->arch == ARCH_OLMOE) {
        PUT(gguf_writer_add_u32(w, KEY("expert_count"), (uint32_t)c->n_experts));
        PUT(gguf_writer_add_u32(w, KEY("expert_used_count"), (uint32_t)c->top_k));
        if (c->norm_topk_prob) PUT(gguf_writer_add_bool(w, KEY("expert_weights_norm"), 1));
    }
#undef KEY
    return st;
}

static olmoe_status write_tokenizer(gguf_writer *w, const olmoe_model *m) {
    const tokenizer *tok = m->tok;
    const int V = m->cfg.vocab_size;
    const char *pre = tokenizer_gguf_pre(tok);
    if (!*pre)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "this tokenizer's pre-tokenizer has no llama.cpp "
                          "equivalent (OLMoE's and OLMo 2's have)");
    char **tokens = calloc((size_t)V, sizeof *tokens);
    int32_t *types = calloc((size_t)V, sizeof *types);
    char **merges = NULL;
    size_t n_merges = 0;
    olmoe_status st = tokens && types ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < V; i++) {
        size_t len;
        const char *s = tokenizer_vocab_entry(tok, i, &len);
        char pad[32];
        if (!s) { /* embedding rows past the tokenizer: padding, as llama.cpp's converter */
            len = (size_t)snprintf(pad, sizeof pad, "[PAD%d]", i);
            types[i] = 5; /* UNUSED */
        } else {
            types[i] = tokenizer_is_special(tok, i) ? 3   /* CONTROL */
                       : tokenizer_is_added(tok, i) ? 4   /* USER_DEFINED */
                                                    : 1;  /* NORMAL */
        }
        if (!(tokens[i] = strndup(s ? s : pad, len))) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    if (!st) st = tokenizer_export_merges(tok, &merges, &n_merges);
    PUT(gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
    PUT(gguf_writer_add_str(w, "tokenizer.ggml.pre", pre));
    PUT(gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)tokens, NULL, (size_t)V));
    PUT(gguf_writer_add_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (size_t)V));
    PUT(gguf_writer_add_str_array(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL, n_merges));
    if (m->bos_id >= 0) PUT(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->bos_id));
    else if (m->eos_id >= 0) PUT(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->eos_id));
    if (m->eos_id >= 0) PUT(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)m->eos_id));
    if (m->cfg.pad_id >= 0) PUT(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)m->cfg.pad_id));
    PUT(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 0));
    PUT(gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0));
    if (m->chat_template) PUT(gguf_writer_add_str(w, "tokenizer.chat_template", m->chat_template));
#undef PUT
    for (int i = 0; tokens && i < V; i++) free(tokens[i]);
    for (size_t i = 0; i < n_merges; i++) free(merges[i]);
    free(tokens);
    free(types);
    free(merges);
    return st;
}

/* Rows converted together, in parallel, before they are written. */
enum { ROW_CHUNK = 256 };

/* Converts one source matrix (any type) to `type` and appends it to tensor
 * i of the file; chunks of rows are quantized across threads. buf holds
 * ROW_CHUNK rows of the widest tensor as float32 and as the target type. */
static olmoe_status write_matrix(gguf_writer *w, int i, const tensor *src, tensor_type type,
                                 float *rows_f32, unsigned char *rows_out) {
    const int64_t rows = src->shape[0], cols = src->shape[1];
    const size_t out_row = tensor_type_bytes(type, cols);
    const quant_ops *ops = quant_ops_for(type);
    olmoe_status st = OLMOE_OK;
    if (tensor_layout(src) == type) /* already in the target type and layout: copy as is */
        return gguf_writer_write_tensor_part(w, i, src->data, src->nbytes);
    for (int64_t r0 = 0; r0 < rows && !st; r0 += ROW_CHUNK) {
        int64_t n = rows - r0 < ROW_CHUNK ? rows - r0 : ROW_CHUNK;
        if (src->type == type) { /* rows matmul packed: back to the file's bytes exactly */
            tensor_rows_as_file(src, r0, n, rows_out);
            st = gguf_writer_write_tensor_part(w, i, rows_out, (size_t)n * out_row);
            continue;
        }
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t r = 0; r < n; r++) {
            float *f = rows_f32 + (size_t)r * cols;
            tensor_row_to_f32(src, r0 + r, f); /* in whatever layout matmul left it */
            ops->from_f32(f, rows_out + (size_t)r * out_row, cols);
        }
        st = gguf_writer_write_tensor_part(w, i, rows_out, (size_t)n * out_row);
    }
    return st;
}

static olmoe_status write_data(gguf_writer *w, const out_tensor *t, int n, olmoe_progress_fn progress,
                               void *user) {
    int64_t widest = 0;
    double total = 0, done = 0;
    for (int i = 0; i < n; i++) {
        widest = t[i].shape[t[i].n_dims - 1] > widest ? t[i].shape[t[i].n_dims - 1] : widest;
        double elems = 1;
        for (int d = 0; d < t[i].n_dims; d++) elems *= (double)t[i].shape[d];
        total += elems;
    }
    float *row = malloc((size_t)ROW_CHUNK * widest * sizeof *row);
    unsigned char *qrow = malloc((size_t)ROW_CHUNK * widest * sizeof(float));
    olmoe_status st = row && qrow ? gguf_writer_begin_data(w) : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && !st; i++) {
        if (t[i].vec) {
            st = gguf_writer_write_tensor(w, i, t[i].vec, (size_t)t[i].shape[0] * sizeof(float));
        } else if (t[i].src) {
            st = write_matrix(w, i, t[i].src, t[i].type, row, qrow);
        } else {
            for (int64_t e = 0; e < t[i].shape[0] && !st; e++) {
                const ffn_weights *f = &t[i].experts[e];
                const tensor *src = t[i].part == 0 ? &f->gate : t[i].part == 1 ? &f->up : &f->down;
                st = write_matrix(w, i, src, t[i].type, row, qrow);
            }
        }
        double elems = 1;
        for (int d = 0; d < t[i].n_dims; d++) elems *= (double)t[i].shape[d];
        done += elems;
        if (progress) progress(done, total, user);
    }
    free(row);
    free(qrow);
    return st;
}

olmoe_status olmoe_convert(const olmoe_model *m, const char *out_path, const char *type,
                           olmoe_progress_fn progress, void *user) {
    file_kind k;
    if (!type || !parse_kind(type, &k))
        return olmoe_fail(OLMOE_ERR_ARG, "unknown type '%s' (f32, bf16, q8_0, q4_0, q4_k_m)",
                          type ? type : "");
    out_tensor *t = NULL;
    int n = 0;
    gguf_writer *w = NULL;
    olmoe_status st = plan(m, &k, &t, &n);
    if (!st) st = gguf_writer_open(out_path, &w);
    if (!st) st = write_metadata(w, m, &k, m->name);
    if (!st) st = write_tokenizer(w, m);
    for (int i = 0; i < n && !st; i++) st = gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].n_dims, t[i].shape);
    if (!st) st = write_data(w, t, n, progress, user);
    if (w) {
        if (st) gguf_writer_abort(w);
        else st = gguf_writer_close(w);
    }
    free(t);
    return st;
}
