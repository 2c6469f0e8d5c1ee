/* The tokenizer of a GGUF file: tokenizer.ggml.tokens / token_type /
 * merges / pre turned into a tokenizer_spec equivalent to the
 * tokenizer.json the file was converted from, so both give the same ids. */
#include <stdlib.h>
#include <string.h>

#include "model/gguf_model.h"
#include "tokenizer/tokenizer_spec.h"
#include "util/error.h"

enum { TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5 };

typedef struct {
    char **tokens;   /* NUL-terminated copies, NULL for unused ids */
    int32_t n;
    char **left, **right;
    size_t n_merges;
    tokenizer_added_token *added;
    size_t n_added;
} gguf_vocab;

static void vocab_free(gguf_vocab *v) {
    for (int32_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    for (size_t i = 0; v->left && i < v->n_merges; i++) free(v->left[i]);
    free(v->tokens);
    free(v->left);
    free(v->right);
    free(v->added);
}

static olmoe_status read_tokens(const gguf_file *g, gguf_vocab *v) {
    const gguf_kv *tokens = gguf_find_kv(g, "tokenizer.ggml.tokens");
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    gguf_type et;
    uint64_t n, n_types = 0;
    if (!tokens) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: no tokenizer.ggml.tokens", g->file.path);
    olmoe_status st = gguf_kv_arr(g, tokens, &et, &n);
    if (!st && types) st = gguf_kv_arr(g, types, &et, &n_types);
    if (st) return st;
    if (n == 0 || n > (1u << 24) || (types && n_types != n))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tokenizer.ggml.tokens / token_type sizes are wrong",
                          g->file.path);
    v->n = (int32_t)n;
    v->tokens = calloc(n, sizeof *v->tokens);
    v->added = calloc(n, sizeof *v->added);
    if (!v->tokens || !v->added) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n && !st; i++) {
        const char *s;
        size_t len;
        int64_t type = 1;
        if ((st = gguf_kv_arr_str(g, tokens, i, &s, &len))) break;
        if (types && (st = gguf_kv_arr_i64(g, types, i, &type))) break;
        if (type == TOKEN_UNUSED) continue; /* padding rows: not in the HF vocabulary */
        if (!(v->tokens[i] = strndup(s, len))) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        else if (type == TOKEN_CONTROL || type == TOKEN_USER_DEFINED)
            v->added[v->n_added++] = (tokenizer_added_token){
                .content = v->tokens[i], .id = (int32_t)i, .special = type == TOKEN_CONTROL,
                .normalized = type == TOKEN_USER_DEFINED};
    }
    return st;
}

static olmoe_status read_merges(const gguf_file *g, gguf_vocab *v) {
    const gguf_kv *merges = gguf_find_kv(g, "tokenizer.ggml.merges");
    gguf_type et;
    uint64_t n;
    if (!merges) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: no tokenizer.ggml.merges", g->file.path);
    olmoe_status st = gguf_kv_arr(g, merges, &et, &n);
    if (st) return st;
    v->left = calloc(n ? n : 1, sizeof *v->left);
    v->right = calloc(n ? n : 1, sizeof *v->right);
    if (!v->left || !v->right) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n && !st; i++) {
        const char *s;
        size_t len;
        if ((st = gguf_kv_arr_str(g, merges, i, &s, &len))) break;
        const char *sp = memchr(s, ' ', len);
        if (!sp || sp == s || sp == s + len - 1) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu] is not \"left right\"",
                            g->file.path, (unsigned long long)i);
            break;
        }
        /* One allocation holds both halves: "left\0right\0". */
        char *both = malloc(len + 1);
        if (!both) { st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory"); break; }
        memcpy(both, s, len);
        both[len] = 0;
        both[sp - s] = 0;
        v->left[i] = both;
        v->right[i] = both + (sp - s) + 1;
        v->n_merges = i + 1;
    }
    return st;
}

/* tokenizer.ggml.pre -> pre-tokenizer steps and normalizer. OLMoE's
 * tokenizer ("olmo") normalizes to NFC; OLMo 2's (dbrx-style) does not. */
static olmoe_status pre_tokenizer(const gguf_file *g, tokenizer_spec *spec) {
    char pre[64] = "gpt2";
    const char *s;
    size_t len;
    if (gguf_find_kv(g, "tokenizer.ggml.pre")) {
        olmoe_status st = gguf_get_str(g, "tokenizer.ggml.pre", &s, &len);
        if (st) return st;
        if (len >= sizeof pre) len = sizeof pre - 1;
        memcpy(pre, s, len);
        pre[len] = 0;
    }
    if (!strcmp(pre, "default")) strcpy(pre, "gpt2");
    spec->n_pretok = tokenizer_pretok_preset(pre, spec->pretok, TOKENIZER_MAX_STEPS);
    if (spec->n_pretok < 0)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not supported (olmo, "
                          "gpt2, dbrx, llama-bpe are)", g->file.path, pre);
    if (!strcmp(pre, "olmo")) spec->normalizers[spec->n_normalizers++] = TOK_NORM_NFC;
    return OLMOE_OK;
}

/* eos / bos ids and strings, chat template. */
static olmoe_status special_tokens(olmoe_model *m, const gguf_file *g) {
    const char *keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"};
    olmoe_status st = OLMOE_OK;
    for (int k = 0; k < 2 && !st; k++) {
        uint32_t id;
        if (!gguf_find_kv(g, keys[k]) || (st = gguf_get_u32(g, keys[k], &id))) continue;
        int dup = 0;
        for (int i = 0; i < m->cfg.n_eos; i++) dup |= m->cfg.eos_ids[i] == (int)id;
        if (!dup && m->cfg.n_eos < CONFIG_MAX_EOS) m->cfg.eos_ids[m->cfg.n_eos++] = (int)id;
    }
    uint32_t bos;
    if (!st && gguf_find_kv(g, "tokenizer.ggml.bos_token_id") &&
        !(st = gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos))) {
        size_t len;
        const char *b = tokenizer_token_bytes(m->tok, (int32_t)bos, &len);
        if (b && !(m->bos_text = strndup(b, len))) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    if (!st && gguf_find_kv(g, "tokenizer.chat_template")) {
        const char *t;
        size_t len;
        if (!(st = gguf_get_str(g, "tokenizer.chat_template", &t, &len)) &&
            !(m->chat_template = strndup(t, len)))
            st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    return st;
}

olmoe_status gguf_load_tokenizer(olmoe_model *m, const gguf_file *g) {
    const char *model;
    size_t len;
    olmoe_status st = gguf_get_str(g, "tokenizer.ggml.model", &model, &len);
    if (st) return st;
    if (!(len == 4 && !strncmp(model, "gpt2", 4)))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported "
                          "(gpt2, byte-level BPE, is)", g->file.path, (int)len, model);
    gguf_vocab v = {0};
    tokenizer_spec spec = {.source = g->file.path, .decoder = TOK_DECODER_BYTE_LEVEL};
    if (!(st = read_tokens(g, &v)) && !(st = read_merges(g, &v)) && !(st = pre_tokenizer(g, &spec))) {
        spec.tokens = (const char *const *)v.tokens;
        spec.n_tokens = v.n;
        spec.merge_left = (const char *const *)v.left;
        spec.merge_right = (const char *const *)v.right;
        spec.n_merges = v.n_merges;
        spec.added = v.added;
        spec.n_added = v.n_added;
        st = tokenizer_build(&spec, &m->tok);
    }
    vocab_free(&v);
    return st ? st : special_tokens(m, g);
}
