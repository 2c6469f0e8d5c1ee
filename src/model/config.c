#include "model/config.h"

#include <math.h>
#include <string.h>

#include "util/error.h"

const char *model_arch_name(model_arch a) {
    return a == ARCH_OLMOE ? "OlmoeForCausalLM" : "Olmo2ForCausalLM";
}

/* Reads an integer field; `required` fields must exist, others default. */
static olmoe_status get_int(const cJSON *root, const char *path, const char *key, int required,
                            int def, int lo, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' is missing", path, key);
        *out = def;
        return OLMOE_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > 1e9)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' must be an integer >= %d", path, key,
                          lo);
    *out = (int)v->valuedouble;
    return OLMOE_OK;
}

static olmoe_status get_double(const cJSON *root, const char *path, const char *key, double def,
                               double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return OLMOE_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' must be a number", path, key);
    *out = v->valuedouble;
    return OLMOE_OK;
}

static olmoe_status get_bool(const cJSON *root, const char *path, const char *key, int def,
                             int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return OLMOE_OK;
    }
    if (!cJSON_IsBool(v))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return OLMOE_OK;
}

/* eos_token_id may be one id or a list of ids. */
olmoe_status config_parse_eos(const cJSON *root, const char *path, model_config *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    c->n_eos = 0;
    if (!v || cJSON_IsNull(v)) return OLMOE_OK;
    if (cJSON_IsNumber(v)) {
        c->eos_ids[c->n_eos++] = v->valueint;
        return OLMOE_OK;
    }
    const cJSON *e;
    if (!cJSON_IsArray(v)) goto bad;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || c->n_eos == CONFIG_MAX_EOS) goto bad;
        c->eos_ids[c->n_eos++] = e->valueint;
    }
    return OLMOE_OK;
bad:
    return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'eos_token_id' must be an id or a list of at "
                      "most %d ids", path, CONFIG_MAX_EOS);
}

/* RoPE settings come either as transformers-4 `rope_theta` + `rope_scaling`
 * or as the transformers-5 `rope_parameters` object holding both. */
static olmoe_status get_rope(const cJSON *root, const char *path, rope_config *r) {
    memset(r, 0, sizeof *r);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    const char *where = "rope_scaling";
    olmoe_status st = get_double(root, path, "rope_theta", 10000.0, &r->theta);
    if (st) return st;
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'rope_parameters' must be an object",
                              path);
        if ((st = get_double(params, path, "rope_theta", r->theta, &r->theta))) return st;
        scaling = params;
        where = "rope_parameters";
    }
    if (!(r->theta > 0))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: rope theta must be positive", path);
    r->kind = ROPE_DEFAULT;
    r->factor = 1.0;
    if (!scaling || cJSON_IsNull(scaling)) return OLMOE_OK;
    if (!cJSON_IsObject(scaling))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' must be an object or null", path,
                          where);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(scaling, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(scaling, "type");
    const char *kind = cJSON_IsString(type) ? type->valuestring : "default";
    if ((st = get_double(scaling, path, "factor", 1.0, &r->factor))) return st;
    if (!strcmp(kind, "default")) return OLMOE_OK;
    if (!(r->factor > 0))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s.factor must be positive", path, where);
    if (!strcmp(kind, "linear")) {
        r->kind = ROPE_LINEAR;
        return OLMOE_OK;
    }
    if (!strcmp(kind, "llama3")) {
        r->kind = ROPE_LLAMA3;
        if ((st = get_double(scaling, path, "low_freq_factor", 1.0, &r->low_freq_factor)) ||
            (st = get_double(scaling, path, "high_freq_factor", 4.0, &r->high_freq_factor)) ||
            (st = get_int(scaling, path, "original_max_position_embeddings", 1, 0, 1,
                          &r->original_max_position)))
            return st;
        if (!(r->high_freq_factor > r->low_freq_factor))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s needs high_freq_factor > low_freq_factor",
                              path, where);
        return OLMOE_OK;
    }
    return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s type '%s' is not supported (default, "
                      "linear and llama3 are)", path, where, kind);
}

static olmoe_status get_arch(const cJSON *root, const char *path, model_arch *arch) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'architectures' is missing", path);
    if (!strcmp(a->valuestring, "OlmoeForCausalLM")) *arch = ARCH_OLMOE;
    else if (!strcmp(a->valuestring, "Olmo2ForCausalLM")) *arch = ARCH_OLMO2;
    else
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported "
                          "(OlmoeForCausalLM and Olmo2ForCausalLM are)", path, a->valuestring);
    return OLMOE_OK;
}

olmoe_status config_check(const char *path, const model_config *c) {
    if (c->n_heads % c->n_kv_heads)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: num_attention_heads (%d) is not a multiple of "
                          "num_key_value_heads (%d)", path, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: head_dim %d must be even for RoPE", path,
                          c->head_dim);
    if (c->arch == ARCH_OLMOE && c->n_experts > CONFIG_MAX_EXPERTS)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: num_experts %d exceeds the %d this engine "
                          "supports", path, c->n_experts, CONFIG_MAX_EXPERTS);
    if (c->arch == ARCH_OLMOE && (c->top_k < 1 || c->top_k > c->n_experts))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: num_experts_per_tok (%d) must be in 1..num_experts"
                          " (%d)", path, c->top_k, c->n_experts);
    return OLMOE_OK;
}

olmoe_status config_parse(const cJSON *root, const char *path, model_config *c) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(root))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: not a JSON object", path);
    olmoe_status st;
    if ((st = get_arch(root, path, &c->arch))) return st;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !cJSON_IsNull(act) && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (silu is)",
                          path, cJSON_IsString(act) ? act->valuestring : "?");
    if ((st = get_int(root, path, "vocab_size", 1, 0, 1, &c->vocab_size)) ||
        (st = get_int(root, path, "hidden_size", 1, 0, 1, &c->d_model)) ||
        (st = get_int(root, path, "num_hidden_layers", 1, 0, 1, &c->n_layers)) ||
        (st = get_int(root, path, "num_attention_heads", 1, 0, 1, &c->n_heads)) ||
        (st = get_int(root, path, "num_key_value_heads", 0, c->n_heads, 1, &c->n_kv_heads)) ||
        (st = get_int(root, path, "intermediate_size", 1, 0, 1, &c->d_ff)) ||
        (st = get_int(root, path, "max_position_embeddings", 0, 4096, 1, &c->max_position)) ||
        (st = get_int(root, path, "bos_token_id", 0, -1, 0, &c->bos_id)) ||
        (st = get_int(root, path, "pad_token_id", 0, -1, 0, &c->pad_id)) ||
        (st = get_double(root, path, "rms_norm_eps", 1e-5, &c->rms_eps)) ||
        (st = get_bool(root, path, "tie_word_embeddings", 0, &c->tie_embeddings)) ||
        (st = get_bool(root, path, "attention_bias", 0, &c->attention_bias)) ||
        (st = config_parse_eos(root, path, c)) || (st = get_rope(root, path, &c->rope)))
        return st;
    /* head_dim defaults to hidden_size / heads, which must then divide. */
    if ((st = get_int(root, path, "head_dim", 0, 0, 2, &c->head_dim))) return st;
    if (c->head_dim == 0) {
        if (c->d_model % c->n_heads)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: hidden_size (%d) is not a multiple of "
                              "num_attention_heads (%d)", path, c->d_model, c->n_heads);
        c->head_dim = c->d_model / c->n_heads;
    }
    if (c->arch == ARCH_OLMOE) {
        if ((st = get_int(root, path, "num_experts", 0, 64, 1, &c->n_experts)) ||
            (st = get_int(root, path, "num_experts_per_tok", 0, 8, 1, &c->top_k)) ||
            (st = get_bool(root, path, "norm_topk_prob", 0, &c->norm_topk_prob)) ||
            (st = get_double(root, path, "clip_qkv", 0.0, &c->clip_qkv)))
            return st;
        if (c->clip_qkv < 0)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: clip_qkv must be positive", path);
    }
    /* Olmo2 has no qkv clipping in transformers: a clip_qkv field there is
     * ignored by the reference implementation, and so here. */
    if (!(c->rms_eps > 0))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: rms_norm_eps must be positive", path);
    return config_check(path, c);
}
