/* Tokenizer construction from a tokenizer_spec, encode/decode drivers and
 * accessors. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util/error.h"

#define GPT2_REGEX \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define CL100K_REGEX                                                                     \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "            \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

int tokenizer_pretok_preset(const char *name, tokenizer_pretok_step *steps, int max_steps) {
    static const tokenizer_pretok_step byte_level_regex = {TOK_PRE_BYTE_LEVEL, 0, 1, NULL, 0, 0, 0};
    static const tokenizer_pretok_step byte_level_plain = {TOK_PRE_BYTE_LEVEL, 0, 0, NULL, 0, 0, 0};
    static const tokenizer_pretok_step cl100k = {TOK_PRE_SPLIT, 0, 0, CL100K_REGEX, 1,
                                                 TOK_SPLIT_REMOVED, 1};
    if (!name) return -1;
    if (!strcmp(name, "gpt2") || !strcmp(name, "olmo") || !strcmp(name, "gpt-neox")) {
        if (max_steps < 1) return -1;
        steps[0] = byte_level_regex;
        return 1;
    }
    if (!strcmp(name, "dolma2") || !strcmp(name, "llama3") || !strcmp(name, "llama-bpe") ||
        !strcmp(name, "dbrx") || !strcmp(name, "cl100k")) {
        if (max_steps < 2) return -1;
        steps[0] = cl100k;
        steps[1] = byte_level_plain;
        return 2;
    }
    return -1;
}

/* llama.cpp's tokenizer.ggml.pre name for the pipelines it knows: "olmo"
 * (GPT-2 regex after NFC, OLMoE), "gpt2" (the same without NFC) and "dbrx"
 * (the cl100k Split regex, OLMo 2); "" for anything else. */
static void name_for_gguf(tokenizer *tok, const tokenizer_spec *spec) {
    const tokenizer_pretok_step *p = spec->pretok;
    int nfc = spec->n_normalizers == 1 && spec->normalizers[0] == TOK_NORM_NFC;
    tok->gguf_pre = "";
    if (spec->n_pretok == 1 && p[0].kind == TOK_PRE_BYTE_LEVEL && p[0].use_regex &&
        !p[0].add_prefix_space && (nfc || spec->n_normalizers == 0))
        tok->gguf_pre = nfc ? "olmo" : "gpt2";
    else if (spec->n_pretok == 2 && p[0].kind == TOK_PRE_SPLIT && p[0].pattern_is_regex &&
             p[0].pattern && !strcmp(p[0].pattern, CL100K_REGEX) &&
             p[0].behavior == TOK_SPLIT_REMOVED && p[0].invert && p[1].kind == TOK_PRE_BYTE_LEVEL &&
             !p[1].use_regex && !p[1].add_prefix_space && spec->n_normalizers == 0)
        tok->gguf_pre = "dbrx";
}

olmoe_status tok_buf_reserve(tok_buf *b, size_t n) {
    if (n <= b->cap) return OLMOE_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: cannot allocate %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return OLMOE_OK;
}

olmoe_status ctx_push_id(tok_ctx *ctx, int32_t id) {
    if (ctx->n_ids == ctx->cap_ids) {
        size_t cap = ctx->cap_ids ? ctx->cap_ids * 2 : 64;
        int32_t *p = realloc(ctx->ids, cap * sizeof *p);
        if (!p) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: cannot allocate %zu ids", cap);
        ctx->ids = p;
        ctx->cap_ids = cap;
    }
    ctx->ids[ctx->n_ids++] = id;
    return OLMOE_OK;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void tokenizer_free(tokenizer *tok) {
    if (!tok) return;
    for (int32_t i = 0; i < tok->n_tokens; i++) {
        if (tok->vocab) free(tok->vocab[i]);
        if (tok->dec) free(tok->dec[i]);
    }
    free(tok->vocab);
    free(tok->vocab_len);
    free(tok->dec);
    free(tok->dec_len);
    strmap_free(&tok->vocab_map);
    strmap_free(&tok->added_map);
    merge_map_free(&tok->merges);
    for (size_t i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].pattern);
    }
    free(tok->added);
    free(tok->added_index);
    added_trie_free(&tok->trie_raw);
    added_trie_free(&tok->trie_norm);
    for (int i = 0; i < tok->n_steps; i++)
        if (tok->steps[i].re.code) tok_regex_free(&tok->steps[i].re);
    free(tok->prefix_ids);
    free(tok->suffix_ids);
    free(tok->source);
    free(tok);
}

#define NOMEM(tok) olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", (tok)->source)

static olmoe_status build_vocab(tokenizer *tok, const tokenizer_spec *spec) {
    int32_t n = tok->n_tokens;
    tok->vocab = calloc((size_t)n, sizeof *tok->vocab);
    tok->vocab_len = calloc((size_t)n, sizeof *tok->vocab_len);
    if (!tok->vocab || !tok->vocab_len || strmap_init(&tok->vocab_map, (size_t)spec->n_tokens))
        return NOMEM(tok);
    for (int32_t i = 0; i < spec->n_tokens; i++) {
        if (!spec->tokens[i]) continue;
        size_t len = strlen(spec->tokens[i]);
        if (!(tok->vocab[i] = dup_bytes(spec->tokens[i], len))) return NOMEM(tok);
        tok->vocab_len[i] = (uint32_t)len;
        if (strmap_put(&tok->vocab_map, tok->vocab[i], len, i)) return NOMEM(tok);
    }
    for (int b = 0; b < 256; b++) {
        char c[4];
        size_t l = utf8_encode(byte_level_cp((uint8_t)b), c);
        tok->byte_id[b] = strmap_get(&tok->vocab_map, c, l);
    }
    olmoe_status st = merge_map_init(&tok->merges, spec->n_merges);
    if (st) return st;
    char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < spec->n_merges; i++) {
        const char *l = spec->merge_left[i], *r = spec->merge_right[i];
        if (!l || !r)
            return free(buf), olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.merges[%zu]: missing token",
                                         tok->source, i);
        size_t ll = strlen(l), rl = strlen(r);
        int32_t a = strmap_get(&tok->vocab_map, l, ll), b = strmap_get(&tok->vocab_map, r, rl);
        if (a < 0 || b < 0)
            return free(buf), olmoe_fail(OLMOE_ERR_FORMAT,
                                         "%s: model.merges[%zu]: token \"%s\" is not in model.vocab",
                                         tok->source, i, a < 0 ? l : r);
        if (ll + rl > cap) {
            cap = 2 * (ll + rl) + 16;
            char *p = realloc(buf, cap);
            if (!p) return free(buf), NOMEM(tok);
            buf = p;
        }
        memcpy(buf, l, ll);
        memcpy(buf + ll, r, rl);
        int32_t m = strmap_get(&tok->vocab_map, buf, ll + rl);
        if (m < 0)
            return free(buf), olmoe_fail(OLMOE_ERR_FORMAT,
                                         "%s: model.merges[%zu]: merged token \"%s%s\" is not in "
                                         "model.vocab", tok->source, i, l, r);
        merge_map_put(&tok->merges, a, b, (uint32_t)i, m);
    }
    free(buf);
    tok->ignore_merges = spec->ignore_merges;
    tok->fuse_unk = spec->fuse_unk;
    tok->unk_id = -1;
    if (spec->unk_token) {
        tok->unk_id = strmap_get(&tok->vocab_map, spec->unk_token, strlen(spec->unk_token));
        if (tok->unk_id < 0)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.unk_token \"%s\" is not in model.vocab",
                              tok->source, spec->unk_token);
    }
    return OLMOE_OK;
}

static olmoe_status build_added(tokenizer *tok, const tokenizer_spec *spec) {
    tok->added = calloc(spec->n_added ? spec->n_added : 1, sizeof *tok->added);
    tok->added_index = malloc((size_t)tok->n_tokens * sizeof *tok->added_index);
    if (!tok->added || !tok->added_index || strmap_init(&tok->added_map, spec->n_added))
        return NOMEM(tok);
    for (int32_t i = 0; i < tok->n_tokens; i++) tok->added_index[i] = -1;
    for (size_t k = 0; k < spec->n_added; k++) {
        const tokenizer_added_token *in = &spec->added[k];
        if (!in->content || !in->content[0]) continue; /* HF ignores empty tokens */
        size_t len = strlen(in->content);
        /* HF keeps the vocabulary's id when the content is already a token */
        int32_t id = strmap_get(&tok->added_map, in->content, len);
        if (id >= 0) id = tok->added[id].id;
        else id = strmap_get(&tok->vocab_map, in->content, len);
        if (id < 0) id = in->id;
        if (id < 0 || id >= tok->n_tokens)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: added_tokens[%zu]: bad id %d", tok->source, k,
                              (int)in->id);
        added_token *at = &tok->added[tok->n_added];
        at->content = dup_bytes(in->content, len);
        at->len = len;
        at->id = id;
        at->special = in->special;
        at->normalized = in->normalized;
        at->lstrip = in->lstrip;
        at->rstrip = in->rstrip;
        at->single_word = in->single_word;
        if (!at->content) return NOMEM(tok);
        if (at->normalized) {
            char *norm;
            size_t nl;
            olmoe_status st = normalize_text(tok, at->content, len, &norm, &nl);
            if (st) return st;
            at->pattern = norm ? norm : dup_bytes(at->content, len);
            at->pattern_len = nl;
            if (!at->pattern) return NOMEM(tok);
        }
        int32_t old = tok->added_index[id];
        if (old >= 0) tok->added[old].len = 0, tok->added[old].pattern_len = 0; /* superseded */
        tok->added_index[id] = (int32_t)tok->n_added;
        if (strmap_put(&tok->added_map, at->content, len, (int32_t)tok->n_added)) return NOMEM(tok);
        tok->n_added++;
    }
    olmoe_status st = added_trie_build(&tok->trie_raw, tok->added, tok->n_added, 0);
    if (!st) st = added_trie_build(&tok->trie_norm, tok->added, tok->n_added, 1);
    return st;
}

static olmoe_status build_decoder(tokenizer *tok) {
    int32_t n = tok->n_tokens;
    tok->dec = calloc((size_t)n, sizeof *tok->dec);
    tok->dec_len = calloc((size_t)n, sizeof *tok->dec_len);
    if (!tok->dec || !tok->dec_len) return NOMEM(tok);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (tok->added_index[i] >= 0) {
            /* HF decodes a normalized added token from its normalized form */
            const added_token *at = &tok->added[tok->added_index[i]];
            s = at->normalized ? at->pattern : at->content;
            len = strlen(s);
        } else if (tok->vocab[i]) {
            s = tok->vocab[i];
            len = tok->vocab_len[i];
        } else {
            continue;
        }
        char *d = malloc(len + 1);
        if (!d) return NOMEM(tok);
        size_t k = 0;
        int mapped = tok->decoder == TOK_DECODER_BYTE_LEVEL;
        for (size_t j = 0; j < len && mapped;) {
            uint32_t cp;
            j += utf8_decode((const unsigned char *)s + j, len - j, &cp);
            int b = byte_level_byte(cp);
            if (b < 0) mapped = 0;
            else d[k++] = (char)b;
        }
        if (!mapped) { /* HF: a token with an unmapped char is kept as is */
            memcpy(d, s, len);
            k = len;
        }
        d[k] = '\0';
        tok->dec[i] = d;
        tok->dec_len[i] = (uint32_t)k;
    }
    return OLMOE_OK;
}

static olmoe_status copy_ids(tokenizer *tok, const int32_t *in, size_t n, int32_t **out,
                             const char *what) {
    if (!n) return OLMOE_OK;
    if (!(*out = malloc(n * sizeof **out))) return NOMEM(tok);
    for (size_t i = 0; i < n; i++) {
        if (in[i] < 0 || in[i] >= tok->n_tokens)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: post_processor: %s id %d out of range",
                              tok->source, what, (int)in[i]);
        (*out)[i] = in[i];
    }
    return OLMOE_OK;
}

olmoe_status tokenizer_build(const tokenizer_spec *spec, tokenizer **out) {
    *out = NULL;
    const char *src = spec->source ? spec->source : "tokenizer";
    if (spec->n_tokens < 0 || (spec->n_tokens > 0 && !spec->tokens))
        return olmoe_fail(OLMOE_ERR_ARG, "%s: empty vocabulary", src);
    if (spec->n_normalizers > TOKENIZER_MAX_STEPS || spec->n_pretok > TOKENIZER_MAX_STEPS)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: too many normalizer/pre-tokenizer steps", src);
    tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok || !(tok->source = dup_bytes(src, strlen(src)))) {
        free(tok);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", src);
    }
    int64_t n = spec->n_tokens;
    for (size_t k = 0; k < spec->n_added; k++)
        if (spec->added[k].id >= n) n = (int64_t)spec->added[k].id + 1;
    tok->n_tokens = (int32_t)n;
    memcpy(tok->norms, spec->normalizers, sizeof tok->norms);
    tok->n_norms = spec->n_normalizers;
    tok->decoder = spec->decoder;
    olmoe_status st = build_vocab(tok, spec);
    if (!st) st = build_added(tok, spec);
    if (!st) st = build_decoder(tok);
    for (int i = 0; !st && i < spec->n_pretok; i++) {
        const tokenizer_pretok_step *in = &spec->pretok[i];
        pretok_step *ps = &tok->steps[i];
        ps->kind = in->kind;
        ps->add_prefix_space = in->add_prefix_space;
        ps->use_regex = in->use_regex;
        ps->behavior = in->behavior;
        ps->invert = in->invert;
        tok->n_steps = i + 1;
        if (in->kind == TOK_PRE_BYTE_LEVEL) {
            if (in->use_regex)
                st = tok_regex_compile(&ps->re, GPT2_REGEX, 1, tok->source, "pre_tokenizer");
        } else if (in->kind == TOK_PRE_SPLIT) {
            if (!in->pattern)
                st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: pre_tokenizer Split: missing pattern", tok->source);
            else if (in->behavior < TOK_SPLIT_REMOVED || in->behavior > TOK_SPLIT_CONTIGUOUS)
                st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: pre_tokenizer Split: bad behavior", tok->source);
            else
                st = tok_regex_compile(&ps->re, in->pattern, in->pattern_is_regex, tok->source,
                                       "pre_tokenizer Split pattern");
        } else {
            st = olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer kind %d", tok->source,
                            (int)in->kind);
        }
    }
    tok->defer_byte_map = tok->n_steps > 0 && tok->steps[tok->n_steps - 1].kind == TOK_PRE_BYTE_LEVEL;
    if (!st) name_for_gguf(tok, spec);
    if (!st) st = copy_ids(tok, spec->prefix_ids, spec->n_prefix, &tok->prefix_ids, "prefix");
    if (!st) st = copy_ids(tok, spec->suffix_ids, spec->n_suffix, &tok->suffix_ids, "suffix");
    tok->n_prefix = spec->n_prefix;
    tok->n_suffix = spec->n_suffix;
    if (st) {
        tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return OLMOE_OK;
}

int tokenizer_n_tokens(const tokenizer *tok) { return tok->n_tokens; }

static void ctx_release(tok_ctx *ctx) {
    pcre2_match_data_free(ctx->md);
    for (int i = 0; i < TOKENIZER_MAX_STEPS; i++) {
        free(ctx->step_buf[i][0].p);
        free(ctx->step_buf[i][1].p);
    }
    free(ctx->tmp.p);
    free(ctx->ids);
    bpe_ctx_free(ctx);
}

static olmoe_status ctx_init(tok_ctx *ctx, const tokenizer *tok, size_t cache_entries) {
    memset(ctx, 0, sizeof *ctx);
    ctx->tok = tok;
    ctx->cache_want = cache_entries;
    ctx->md = pcre2_match_data_create(1, NULL);
    return ctx->md ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: out of memory");
}

/* Encodes into a fresh id array handed to the caller. */
static olmoe_status ctx_encode(tok_ctx *ctx, const char *text, size_t len, int32_t **ids,
                               size_t *n_ids) {
    const tokenizer *tok = ctx->tok;
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return olmoe_fail(OLMOE_ERR_ARG, "tokenizer_encode: NULL text");
    size_t bad;
    if (len && !utf8_valid(text, len, &bad))
        return olmoe_fail(OLMOE_ERR_ARG, "tokenizer_encode: text is not valid UTF-8 (byte %zu)", bad);
    ctx->ids = NULL;
    ctx->n_ids = ctx->cap_ids = 0;
    olmoe_status st = OLMOE_OK;
    for (size_t i = 0; !st && i < tok->n_prefix; i++) st = ctx_push_id(ctx, tok->prefix_ids[i]);
    if (!st && len) st = pipeline_encode(ctx, text, len);
    for (size_t i = 0; !st && i < tok->n_suffix; i++) st = ctx_push_id(ctx, tok->suffix_ids[i]);
    if (!st && !ctx->ids) st = ctx_push_id(ctx, 0), ctx->n_ids = 0; /* non-NULL result */
    if (st) {
        free(ctx->ids);
    } else {
        *ids = ctx->ids;
        *n_ids = ctx->n_ids;
    }
    ctx->ids = NULL;
    ctx->n_ids = ctx->cap_ids = 0;
    return st;
}

olmoe_status tokenizer_encode(const tokenizer *tok, const char *text, size_t len, int32_t **ids,
                              size_t *n_ids) {
    /* cache sized to the input: small calls stay cheap */
    size_t cache = 256;
    while (cache < len / 16 && cache < (1u << 15)) cache <<= 1;
    tok_ctx ctx;
    olmoe_status st = ctx_init(&ctx, tok, cache);
    if (!st) st = ctx_encode(&ctx, text, len, ids, n_ids);
    else *ids = NULL, *n_ids = 0;
    ctx_release(&ctx);
    return st;
}

struct tokenizer_session {
    tok_ctx ctx;
};

olmoe_status tokenizer_session_new(const tokenizer *tok, tokenizer_session **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: out of memory");
    olmoe_status st = ctx_init(&(*out)->ctx, tok, 1u << 15);
    if (st) {
        tokenizer_session_free(*out);
        *out = NULL;
    }
    return st;
}

olmoe_status tokenizer_session_encode(tokenizer_session *s, const char *text, size_t len,
                                      int32_t **ids, size_t *n_ids) {
    return ctx_encode(&s->ctx, text, len, ids, n_ids);
}

void tokenizer_session_free(tokenizer_session *s) {
    if (!s) return;
    ctx_release(&s->ctx);
    free(s);
}

olmoe_status tokenizer_decode(const tokenizer *tok, const int32_t *ids, size_t n_ids,
                                 int skip_special_tokens, char **text, size_t *len) {
    *text = NULL;
    if (len) *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_tokens || !tok->dec[id]) continue; /* HF skips unknown ids */
        total += tok->dec_len[id] + 1;
    }
    char *raw = malloc(total + 1);
    char *res = malloc(3 * total + 1);
    if (!raw || !res) {
        free(raw);
        free(res);
        return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer_decode: out of memory");
    }
    size_t k = 0;
    int first = 1;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_tokens || !tok->dec[id]) continue;
        if (skip_special_tokens && tokenizer_is_special(tok, id)) continue;
        if (tok->decoder == TOK_DECODER_NONE && !first) raw[k++] = ' ';
        memcpy(raw + k, tok->dec[id], tok->dec_len[id]);
        k += tok->dec_len[id];
        first = 0;
    }
    size_t out = utf8_lossy((const unsigned char *)raw, k, res);
    free(raw);
    res[out] = '\0';
    *text = res;
    if (len) *len = out;
    return OLMOE_OK;
}

const char *tokenizer_token_bytes(const tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_tokens || !tok->dec[id]) return NULL;
    if (len) *len = tok->dec_len[id];
    return tok->dec[id];
}

int tokenizer_is_special(const tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_tokens) return 0;
    int32_t k = tok->added_index[id];
    return k >= 0 && tok->added[k].special;
}

int32_t tokenizer_find(const tokenizer *tok, const char *content) {
    size_t len = strlen(content);
    int32_t k = strmap_get(&tok->added_map, content, len);
    if (k >= 0) return tok->added[k].id;
    return strmap_get(&tok->vocab_map, content, len);
}
