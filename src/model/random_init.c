/* olmoe_random_init: a Hugging Face folder with the exact shapes of a real
 * model and seeded random weights, so full-size benchmarks need no
 * download. Weights are uniform with the standard deviation of OLMo's
 * initialisation (0.02); norm weights are 1. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "io/safetensors_write.h"
#include "model/config.h"
#include "util/error.h"
#include "util/file.h"

typedef struct {
    const char *name;
    model_config cfg;
} preset;

static int find_preset(const char *name, model_config *c) {
    memset(c, 0, sizeof *c);
    c->rms_eps = 1e-5;
    c->max_position = 4096;
    c->rope.kind = ROPE_DEFAULT;
    c->rope.factor = 1;
    c->bos_id = -1;
    c->n_eos = 1;
    if (!strcmp(name, "olmoe-1b-7b")) { /* allenai/OLMoE-1B-7B-0125 */
        c->arch = ARCH_OLMOE;
        c->vocab_size = 50304, c->d_model = 2048, c->n_layers = 16, c->n_heads = 16;
        c->n_kv_heads = 16, c->d_ff = 1024, c->n_experts = 64, c->top_k = 8;
        c->rope.theta = 10000, c->eos_ids[0] = 50279, c->pad_id = 1;
    } else if (!strcmp(name, "olmo2-1b")) { /* allenai/OLMo-2-0425-1B */
        c->arch = ARCH_OLMO2;
        c->vocab_size = 100352, c->d_model = 2048, c->n_layers = 16, c->n_heads = 16;
        c->n_kv_heads = 16, c->d_ff = 8192, c->rms_eps = 1e-6;
        c->rope.theta = 500000, c->eos_ids[0] = 100257, c->pad_id = 100277;
    } else if (!strcmp(name, "olmoe-mini")) { /* small but structurally complete, for tests */
        c->arch = ARCH_OLMOE;
        c->vocab_size = 50304, c->d_model = 256, c->n_layers = 2, c->n_heads = 4;
        c->n_kv_heads = 4, c->d_ff = 256, c->n_experts = 8, c->top_k = 2;
        c->rope.theta = 10000, c->eos_ids[0] = 50279, c->pad_id = 1;
    } else {
        return 0;
    }
    c->head_dim = c->d_model / c->n_heads;
    return 1;
}

static olmoe_status write_config(const model_config *c, const char *dir, const char *dtype) {
    cJSON *j = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(model_arch_name(c->arch)));
    cJSON_AddStringToObject(j, "model_type", c->arch == ARCH_OLMOE ? "olmoe" : "olmo2");
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(j, "intermediate_size", c->d_ff);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_position);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope.theta);
    cJSON_AddNullToObject(j, "rope_scaling");
    cJSON_AddBoolToObject(j, "attention_bias", 0);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", 0);
    cJSON_AddNumberToObject(j, "eos_token_id", c->eos_ids[0]);
    cJSON_AddNumberToObject(j, "pad_token_id", c->pad_id);
    cJSON_AddNullToObject(j, "bos_token_id");
    if (c->arch == ARCH_OLMOE) {
        cJSON_AddNumberToObject(j, "num_experts", c->n_experts);
        cJSON_AddNumberToObject(j, "num_experts_per_tok", c->top_k);
        cJSON_AddBoolToObject(j, "norm_topk_prob", 0);
        cJSON_AddNullToObject(j, "clip_qkv");
    }
    cJSON_AddStringToObject(j, "torch_dtype", dtype);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    char *path = path_join(dir, "config.json");
    FILE *f = path && text ? fopen(path, "w") : NULL;
    olmoe_status st = OLMOE_OK;
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        st = olmoe_fail(OLMOE_ERR_IO, "%s: cannot write", path ? path : dir);
    cJSON_free(text);
    free(path);
    return st;
}

/* The tensors of a HF checkpoint of this configuration, in a stable order. */
static st_tensor_info *tensor_list(const model_config *c, tensor_type t, int *n, char ***names) {
    int per_layer = 6 + (c->arch == ARCH_OLMOE ? 2 + 1 + 3 * c->n_experts : 2 + 3);
    int total = 3 + per_layer * c->n_layers;
    st_tensor_info *v = calloc((size_t)total, sizeof *v);
    char **nm = calloc((size_t)total, sizeof *nm);
    if (!v || !nm) { free(v); free(nm); return NULL; }
    int k = 0;
    const int64_t D = c->d_model, V = c->vocab_size, F = c->d_ff;
    const int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
#define ADD(dims, s0, s1, ...)                                                   \
    do {                                                                         \
        char buf[160];                                                           \
        snprintf(buf, sizeof buf, __VA_ARGS__);                                  \
        nm[k] = strdup(buf);                                                     \
        v[k] = (st_tensor_info){nm[k], t, dims, {s0, s1}};                       \
        k++;                                                                     \
    } while (0)
    ADD(2, V, D, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(2, q, D, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(2, kv, D, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(2, kv, D, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(2, D, q, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(1, q, 0, "model.layers.%d.self_attn.q_norm.weight", l);
        ADD(1, kv, 0, "model.layers.%d.self_attn.k_norm.weight", l);
        if (c->arch == ARCH_OLMOE) {
            ADD(1, D, 0, "model.layers.%d.input_layernorm.weight", l);
            ADD(1, D, 0, "model.layers.%d.post_attention_layernorm.weight", l);
            ADD(2, c->n_experts, D, "model.layers.%d.mlp.gate.weight", l);
            for (int e = 0; e < c->n_experts; e++) {
                ADD(2, F, D, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
                ADD(2, F, D, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
                ADD(2, D, F, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
            }
        } else {
            ADD(1, D, 0, "model.layers.%d.post_attention_layernorm.weight", l);
            ADD(1, D, 0, "model.layers.%d.post_feedforward_layernorm.weight", l);
            ADD(2, F, D, "model.layers.%d.mlp.gate_proj.weight", l);
            ADD(2, F, D, "model.layers.%d.mlp.up_proj.weight", l);
            ADD(2, D, F, "model.layers.%d.mlp.down_proj.weight", l);
        }
    }
    ADD(1, D, 0, "model.norm.weight");
    ADD(2, V, D, "lm_head.weight");
#undef ADD
    *n = k;
    *names = nm;
    return v;
}

/* Fills n values of one tensor: norms are 1, everything else uniform with
 * std 0.02. Each 64K-element chunk has its own generator seeded from
 * (seed, tensor, chunk), so the result does not depend on thread count. */
static void fill(void *dst, tensor_type t, int64_t n, int is_norm, uint64_t seed, int index) {
    const int64_t CH = 65536;
#pragma omp parallel for schedule(static)
    for (int64_t c0 = 0; c0 < n; c0 += CH) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)index << 32) ^ (uint64_t)(c0 / CH + 1);
        for (int64_t i = c0; i < n && i < c0 + CH; i++) {
            float x = 1.0f;
            if (!is_norm) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
                x = ((float)(s >> 40) / 16777216.0f * 2 - 1) * 0.0346410f; /* std 0.02 */
            }
            if (t == TYPE_F32) ((float *)dst)[i] = x;
            else if (t == TYPE_BF16) ((uint16_t *)dst)[i] = f32_to_bf16(x);
            else ((uint16_t *)dst)[i] = f32_to_f16(x);
        }
    }
}

static olmoe_status write_weights(const model_config *c, const char *dir, tensor_type t,
                                  uint64_t seed, olmoe_progress_fn progress, void *user) {
    int n;
    char **names = NULL;
    st_tensor_info *infos = tensor_list(c, t, &n, &names);
    char *path = path_join(dir, "model.safetensors");
    if (!infos || !path) {
        free(infos);
        free(path);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    double total = 0, done = 0;
    for (int i = 0; i < n; i++)
        total += (double)infos[i].shape[0] * (infos[i].n_dims > 1 ? infos[i].shape[1] : 1);
    st_writer w;
    olmoe_status st = st_writer_open(&w, path, infos, n);
    void *buf = NULL;
    size_t cap = 0;
    for (int i = 0; !st && i < n; i++) {
        int64_t numel = infos[i].shape[0] * (infos[i].n_dims > 1 ? infos[i].shape[1] : 1);
        size_t bytes = tensor_type_bytes(t, numel);
        if (bytes > cap) {
            void *g = realloc(buf, bytes);
            if (!g) { st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory"); break; }
            buf = g;
            cap = bytes;
        }
        fill(buf, t, numel, infos[i].n_dims == 1, seed, i);
        st = st_writer_write(&w, buf, bytes);
        done += (double)numel;
        if (progress) progress(done, total, user);
    }
    st = st ? (st_writer_abort(&w), st) : st_writer_close(&w);
    free(buf);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(infos);
    free(path);
    return st;
}

static olmoe_status copy_file(const char *from, const char *dir, const char *name) {
    char *data;
    size_t len;
    olmoe_status st = file_read_all(from, &data, &len);
    if (st) return st;
    char *path = path_join(dir, name);
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        st = olmoe_fail(OLMOE_ERR_IO, "%s: cannot write", path ? path : name);
    free(data);
    free(path);
    return st;
}

olmoe_status olmoe_random_init(const olmoe_random_init_params *p, const char *out_dir) {
    model_config c;
    if (!p || !p->preset || !find_preset(p->preset, &c))
        return olmoe_fail(OLMOE_ERR_ARG, "unknown preset '%s' (olmoe-1b-7b, olmo2-1b, olmoe-mini)",
                          p && p->preset ? p->preset : "");
    const char *dtype = p->dtype ? p->dtype : "bf16";
    tensor_type t;
    if (!strcmp(dtype, "bf16")) t = TYPE_BF16;
    else if (!strcmp(dtype, "f16")) t = TYPE_F16;
    else if (!strcmp(dtype, "f32")) t = TYPE_F32;
    else return olmoe_fail(OLMOE_ERR_ARG, "dtype '%s': use bf16, f16 or f32", dtype);
    if (mkdir(out_dir, 0755) != 0 && !file_exists(out_dir))
        return olmoe_fail(OLMOE_ERR_IO, "%s: cannot create the folder", out_dir);
    const char *torch = t == TYPE_BF16 ? "bfloat16" : t == TYPE_F16 ? "float16" : "float32";
    olmoe_status st = write_config(&c, out_dir, torch);
    if (!st && p->tokenizer_json) st = copy_file(p->tokenizer_json, out_dir, "tokenizer.json");
    if (!st) st = write_weights(&c, out_dir, t, p->seed, p->progress, p->user);
    return st;
}
