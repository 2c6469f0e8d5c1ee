/* olmoe_model_load: a Hugging Face folder -> config, mapped weights,
 * tokenizer, chat template and special tokens. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf_model.h"
#include "model/model.h"
#include "util/error.h"
#include "util/file.h"

olmoe_model_params olmoe_model_default_params(void) {
    olmoe_model_params p = {0};
    return p;
}

static olmoe_status load_config(olmoe_model *m, const char *dir) {
    char *path = path_join(dir, "config.json");
    if (!path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    cJSON *root;
    olmoe_status st = json_load_file(path, &root);
    if (!st) {
        st = config_parse(root, path, &m->cfg);
        cJSON_Delete(root);
    }
    free(path);
    return st;
}

/* A special token in tokenizer_config.json is a string or an AddedToken
 * object {"content": ...}. */
static const char *token_string(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* chat_template is a string, or a list of {name, template} of which the one
 * named "default" is what apply_chat_template uses. */
static const char *template_string(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "template");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, "default") && cJSON_IsString(t))
            return t->valuestring;
    }
    return NULL;
}

static olmoe_status dup_into(char **dst, const char *src) {
    if (!src) return OLMOE_OK;
    free(*dst);
    *dst = strdup(src);
    return *dst ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
}

/* tokenizer_config.json (optional): chat template and bos/eos strings.
 * A separate chat_template.jinja (newer transformers) takes precedence. */
static olmoe_status load_tokenizer_config(olmoe_model *m, const char *dir) {
    char *path = path_join(dir, "tokenizer_config.json");
    char *jinja = path_join(dir, "chat_template.jinja");
    olmoe_status st = (path && jinja) ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st && file_exists(path)) {
        cJSON *root;
        st = json_load_file(path, &root);
        if (!st) {
            const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
            if (tmpl && !cJSON_IsNull(tmpl) && !template_string(tmpl))
                st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'chat_template' must be a string or "
                                "a list with a 'default' entry", path);
            if (!st) st = dup_into(&m->chat_template, template_string(tmpl));
            if (!st) st = dup_into(&m->bos_text, token_string(cJSON_GetObjectItemCaseSensitive(root, "bos_token")));
            if (!st) st = dup_into(&m->eos_text, token_string(cJSON_GetObjectItemCaseSensitive(root, "eos_token")));
            cJSON_Delete(root);
        }
    }
    if (!st && file_exists(jinja)) {
        char *text;
        st = file_read_all(jinja, &text, NULL);
        if (!st) {
            free(m->chat_template);
            m->chat_template = text;
        }
    }
    free(path);
    free(jinja);
    return st;
}

/* generation_config.json (optional) may list more end-of-sequence ids
 * than config.json (e.g. instruct models); generation stops at any. */
static olmoe_status load_generation_config(olmoe_model *m, const char *dir) {
    char *path = path_join(dir, "generation_config.json");
    if (!path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    olmoe_status st = OLMOE_OK;
    if (file_exists(path)) {
        cJSON *root;
        st = json_load_file(path, &root);
        if (!st) {
            model_config gen = {0};
            st = config_parse_eos(root, path, &gen);
            for (int i = 0; !st && i < gen.n_eos; i++) {
                int dup = 0;
                for (int j = 0; j < m->cfg.n_eos; j++) dup |= m->cfg.eos_ids[j] == gen.eos_ids[i];
                if (!dup && m->cfg.n_eos < CONFIG_MAX_EOS) m->cfg.eos_ids[m->cfg.n_eos++] = gen.eos_ids[i];
            }
            cJSON_Delete(root);
        }
    }
    free(path);
    return st;
}

/* Resolves the ids generation stops at and the bos/eos strings the chat
 * template uses, from whichever files provide them. */
static olmoe_status resolve_special_tokens(olmoe_model *m) {
    if (m->cfg.n_eos == 0 && m->eos_text) {
        int32_t id = tokenizer_find(m->tok, m->eos_text);
        if (id >= 0) m->cfg.eos_ids[m->cfg.n_eos++] = id;
    }
    m->eos_id = m->cfg.n_eos ? m->cfg.eos_ids[0] : -1;
    m->bos_id = m->cfg.bos_id;
    if (m->bos_id < 0 && m->bos_text) m->bos_id = tokenizer_find(m->tok, m->bos_text);
    size_t len;
    olmoe_status st = OLMOE_OK;
    if (!m->eos_text && m->eos_id >= 0) {
        const char *b = tokenizer_token_bytes(m->tok, m->eos_id, &len);
        if (b && !(m->eos_text = strndup(b, len))) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    return st;
}

/* "f32", "bf16", "q4_K+q6_K+f32": the storage types of the matrices. */
static void describe_dtype(olmoe_model *m) {
    static const tensor_type order[] = {TYPE_F32, TYPE_BF16, TYPE_F16, TYPE_Q8_0,
                                        TYPE_Q4_0, TYPE_Q4_K, TYPE_Q6_K};
    int seen[sizeof order / sizeof order[0]] = {0};
    for (int i = 0; i < m->store.n_tensors; i++) {
        const tensor *t = m->store.sorted[i];
        for (size_t k = 0; t->n_dims >= 2 && k < sizeof order / sizeof order[0]; k++)
            seen[k] |= t->type == order[k];
    }
    m->dtype_name[0] = 0;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (seen[k]) {
            if (m->dtype_name[0]) strcat(m->dtype_name, "+");
            strcat(m->dtype_name, tensor_type_name(order[k]));
        }
}

/* The last path component without a trailing slash or ".gguf". */
static void set_name(olmoe_model *m, const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t n = len - start;
    if (n > 5 && !strncmp(path + len - 5, ".gguf", 5)) n -= 5;
    if (n >= sizeof m->name) n = sizeof m->name - 1;
    memcpy(m->name, path + start, n);
    m->name[n] = 0;
}

/* A Hugging Face folder: config.json, safetensors, tokenizer.json and the
 * optional tokenizer_config.json / generation_config.json. */
static olmoe_status load_hf_folder(olmoe_model *m, const char *path) {
    char *tok_path = path_join(path, "tokenizer.json");
    olmoe_status st = tok_path ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st) st = load_config(m, path);
    if (!st) st = load_generation_config(m, path);
    if (!st) st = weight_store_open_hf(path, &m->store);
    if (!st) st = tokenizer_load_json(tok_path, &m->tok);
    if (!st) st = load_tokenizer_config(m, path);
    free(tok_path);
    return st;
}

olmoe_status olmoe_model_load(const char *path, const olmoe_model_params *params, olmoe_model **out) {
    *out = NULL;
    struct stat st_path;
    if (!path || stat(path, &st_path) != 0)
        return olmoe_fail(OLMOE_ERR_IO, "%s: no such model file or folder", path ? path : "(null)");
    olmoe_model *m = calloc(1, sizeof *m);
    if (!m) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    m->n_threads = params && params->n_threads > 0 ? params->n_threads : omp_get_num_procs();
    olmoe_status st = S_ISDIR(st_path.st_mode) ? load_hf_folder(m, path) : model_load_gguf(m, path);
    if (!st && (st = model_bind_weights(m)) != OLMOE_OK) olmoe_fail_prefix(st, "%s", path);
    if (!st) st = resolve_special_tokens(m);
    if (st) {
        olmoe_model_free(m);
        return st;
    }
    describe_dtype(m);
    set_name(m, path);
    *out = m;
    return OLMOE_OK;
}

void olmoe_model_free(olmoe_model *m) {
    if (!m) return;
    if (m->layers)
        for (int l = 0; l < m->cfg.n_layers; l++) free(m->layers[l].experts);
    free(m->layers);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->packings);
    free(m->packable);
    weight_store_close(&m->store);
    if (m->tok) tokenizer_free(m->tok);
    free(m->chat_template);
    free(m->bos_text);
    free(m->eos_text);
    free(m);
}
