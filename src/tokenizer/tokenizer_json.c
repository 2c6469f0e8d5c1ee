/* tokenizer.json (Hugging Face `tokenizers` serialization) -> tokenizer_spec. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util/error.h"
#include "util/file.h"

typedef struct {
    const char *path;
    tokenizer_spec spec;
    const char **tokens;
    const char **left, **right;
    char **owned; /* split legacy merge lines */
    size_t n_owned;
    tokenizer_added_token *added;
    int32_t prefix[16], suffix[16];
} json_ctx;

static int get_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static const char *get_type(const cJSON *obj) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int as_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (d < 0 || d > 2147483646.0 || floor(d) != d) return 0;
    *id = (int32_t)d;
    return 1;
}

/* ------------------------------------------------------------ normalizer */

static olmoe_status parse_normalizer(json_ctx *c, const cJSON *j, const char *field) {
    if (!j || cJSON_IsNull(j)) return OLMOE_OK;
    const char *type = cJSON_IsObject(j) ? get_type(j) : NULL;
    if (!type) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s: missing \"type\"", c->path, field);
    tokenizer_norm kind = 0;
    if (!strcmp(type, "NFC")) kind = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) kind = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) kind = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) kind = TOK_NORM_NFKD;
    else if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s.normalizers: missing or not an array",
                              c->path, field);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            olmoe_status st = parse_normalizer(c, it, "normalizer.normalizers[]");
            if (st) return st;
        }
        return OLMOE_OK;
    } else {
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: unsupported normalizer type \"%s\"",
                          c->path, field, type);
    }
    if (c->spec.n_normalizers >= TOKENIZER_MAX_STEPS)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: too many normalizers", c->path, field);
    c->spec.normalizers[c->spec.n_normalizers++] = kind;
    return OLMOE_OK;
}

/* ------------------------------------------------------------ pre-tokenizer */

static olmoe_status parse_pretok(json_ctx *c, const cJSON *j, const char *field) {
    if (!j || cJSON_IsNull(j)) return OLMOE_OK;
    const char *type = cJSON_IsObject(j) ? get_type(j) : NULL;
    if (!type) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s: missing \"type\"", c->path, field);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s.pretokenizers: missing or not an array",
                              c->path, field);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            olmoe_status st = parse_pretok(c, it, "pre_tokenizer.pretokenizers[]");
            if (st) return st;
        }
        return OLMOE_OK;
    }
    if (c->spec.n_pretok >= TOKENIZER_MAX_STEPS)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: too many pre-tokenizers", c->path, field);
    tokenizer_pretok_step *ps = &c->spec.pretok[c->spec.n_pretok];
    memset(ps, 0, sizeof *ps);
    if (!strcmp(type, "ByteLevel")) {
        ps->kind = TOK_PRE_BYTE_LEVEL;
        ps->add_prefix_space = get_bool(j, "add_prefix_space", 1);
        ps->use_regex = get_bool(j, "use_regex", 1);
    } else if (!strcmp(type, "Split")) {
        ps->kind = TOK_PRE_SPLIT;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
        if (cJSON_IsString(re)) {
            ps->pattern = re->valuestring;
            ps->pattern_is_regex = 1;
        } else if (cJSON_IsString(str)) {
            ps->pattern = str->valuestring;
        } else {
            return olmoe_fail(OLMOE_ERR_FORMAT,
                              "%s: %s: Split.pattern must be {\"Regex\": ...} or {\"String\": ...}",
                              c->path, field);
        }
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        const char *bs = cJSON_IsString(b) ? b->valuestring : "";
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                      "Contiguous"};
        int found = -1;
        for (int i = 0; i < 5; i++)
            if (!strcmp(bs, names[i])) found = i;
        if (found < 0)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s: Split.behavior \"%s\" is not supported",
                              c->path, field, bs);
        ps->behavior = (tokenizer_split_behavior)found;
        ps->invert = get_bool(j, "invert", 0);
    } else {
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: unsupported pre-tokenizer type \"%s\"",
                          c->path, field, type);
    }
    c->spec.n_pretok++;
    return OLMOE_OK;
}

/* ------------------------------------------------------------ decoder, post-processor */

static olmoe_status parse_decoder(json_ctx *c, const cJSON *j, const char *field) {
    if (!j || cJSON_IsNull(j)) return OLMOE_OK;
    const char *type = cJSON_IsObject(j) ? get_type(j) : NULL;
    if (!type) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s: missing \"type\"", c->path, field);
    if (!strcmp(type, "ByteLevel")) {
        c->spec.decoder = TOK_DECODER_BYTE_LEVEL;
        return OLMOE_OK;
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders"), *it;
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 1)
            return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: only a Sequence of one decoder is supported",
                              c->path, field);
        cJSON_ArrayForEach(it, arr) return parse_decoder(c, it, "decoder.decoders[]");
        return OLMOE_OK;
    }
    return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s: unsupported decoder type \"%s\"", c->path,
                      field, type);
}

static olmoe_status parse_template(json_ctx *c, const cJSON *j) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    if (!cJSON_IsArray(single))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: post_processor.single: missing or not an array", c->path);
    int seen_seq = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, single) {
        if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) {
            seen_seq = 1;
            continue;
        }
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
        const cJSON *def = cJSON_IsString(name)
                               ? cJSON_GetObjectItemCaseSensitive(specials, name->valuestring) : NULL;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids"), *v;
        if (!cJSON_IsArray(ids))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: post_processor.single: bad SpecialToken entry",
                              c->path);
        cJSON_ArrayForEach(v, ids) {
            int32_t id;
            size_t *n = seen_seq ? &c->spec.n_suffix : &c->spec.n_prefix;
            int32_t *arr = seen_seq ? c->suffix : c->prefix;
            if (!as_id(v, &id) || *n >= 16)
                return olmoe_fail(OLMOE_ERR_FORMAT, "%s: post_processor.special_tokens: bad ids",
                                  c->path);
            arr[(*n)++] = id;
        }
    }
    return OLMOE_OK;
}

static olmoe_status parse_post(json_ctx *c, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) return OLMOE_OK;
    const char *type = cJSON_IsObject(j) ? get_type(j) : NULL;
    if (!type) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: post_processor: missing \"type\"", c->path);
    if (!strcmp(type, "ByteLevel")) return OLMOE_OK; /* offsets only */
    if (!strcmp(type, "TemplateProcessing")) return parse_template(c, j);
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors"), *it;
        cJSON_ArrayForEach(it, arr) {
            olmoe_status st = parse_post(c, it);
            if (st) return st;
        }
        return OLMOE_OK;
    }
    return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: post_processor: unsupported type \"%s\"", c->path,
                      type);
}

/* ------------------------------------------------------------ model */

static olmoe_status parse_model(json_ctx *c, const cJSON *model) {
    const char *path = c->path;
    if (!cJSON_IsObject(model))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: \"model\" is missing or not an object", path);
    const char *type = get_type(model);
    if (type && strcmp(type, "BPE"))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: model.type \"%s\" is not supported (only BPE)",
                          path, type);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.vocab is missing or not an object", path);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.merges is missing or not an array", path);

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0.0))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: model.dropout is not supported", path);
    if (get_bool(model, "byte_fallback", 0))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: model.byte_fallback is not supported", path);
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0] == '\0'))
            return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: model.%s must be empty or null", path,
                              affixes[i]);
    }
    v = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(v)) c->spec.unk_token = v->valuestring;
    c->spec.fuse_unk = get_bool(model, "fuse_unk", 0);
    c->spec.ignore_merges = get_bool(model, "ignore_merges", 0);

    /* vocab: token -> id */
    int32_t max_id = -1, id;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!as_id(it, &id))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.vocab[\"%s\"]: id is not a valid integer",
                              path, it->string);
        if (id > max_id) max_id = id;
    }
    c->spec.n_tokens = max_id + 1;
    c->tokens = calloc((size_t)max_id + 2, sizeof *c->tokens);
    if (!c->tokens) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    cJSON_ArrayForEach(it, vocab) {
        as_id(it, &id);
        if (c->tokens[id])
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: model.vocab: id %d is used by \"%s\" and \"%s\"",
                              path, (int)id, c->tokens[id], it->string);
        c->tokens[id] = it->string;
    }
    c->spec.tokens = c->tokens;

    /* merges: "a b" strings or ["a", "b"] pairs */
    size_t n = (size_t)cJSON_GetArraySize(merges), i = 0;
    c->left = calloc(n + 1, sizeof *c->left);
    c->right = calloc(n + 1, sizeof *c->right);
    c->owned = calloc(n + 1, sizeof *c->owned);
    if (!c->left || !c->right || !c->owned) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    cJSON_ArrayForEach(it, merges) {
        if (cJSON_IsString(it)) {
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return olmoe_fail(OLMOE_ERR_FORMAT,
                                  "%s: model.merges[%zu]: \"%s\" is not two tokens separated by one space",
                                  path, i, s);
            size_t len = strlen(s);
            char *cp = malloc(len + 1);
            if (!cp) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
            memcpy(cp, s, len + 1);
            cp[sp - s] = '\0';
            c->owned[c->n_owned++] = cp;
            c->left[i] = cp;
            c->right[i] = cp + (sp - s) + 1;
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            c->left[i] = cJSON_GetArrayItem(it, 0)->valuestring;
            c->right[i] = cJSON_GetArrayItem(it, 1)->valuestring;
        } else {
            return olmoe_fail(OLMOE_ERR_FORMAT,
                              "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", path, i);
        }
        i++;
    }
    c->spec.merge_left = c->left;
    c->spec.merge_right = c->right;
    c->spec.n_merges = n;
    return OLMOE_OK;
}

static olmoe_status parse_added(json_ctx *c, const cJSON *arr) {
    if (!arr || cJSON_IsNull(arr)) return OLMOE_OK;
    if (!cJSON_IsArray(arr))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: added_tokens is not an array", c->path);
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    c->added = calloc(n + 1, sizeof *c->added);
    if (!c->added) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", c->path);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        tokenizer_added_token *a = &c->added[i];
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(content) || !as_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &a->id))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: added_tokens[%zu]: needs \"id\" and \"content\"",
                              c->path, i);
        a->content = content->valuestring;
        a->special = get_bool(it, "special", 0);
        a->normalized = get_bool(it, "normalized", 1);
        a->lstrip = get_bool(it, "lstrip", 0);
        a->rstrip = get_bool(it, "rstrip", 0);
        a->single_word = get_bool(it, "single_word", 0);
        i++;
    }
    c->spec.added = c->added;
    c->spec.n_added = n;
    return OLMOE_OK;
}

olmoe_status tokenizer_load_json(const char *path, tokenizer **out) {
    *out = NULL;
    cJSON *root = NULL;
    olmoe_status st = json_load_file(path, &root);
    if (st) return st;
    json_ctx c;
    memset(&c, 0, sizeof c);
    c.path = path;
    c.spec.source = path;
    if (!cJSON_IsObject(root)) st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: top level is not a JSON object", path);
    if (!st) st = parse_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"));
    if (!st) st = parse_added(&c, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"));
    if (!st) st = parse_normalizer(&c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer");
    if (!st) st = parse_pretok(&c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pre_tokenizer");
    if (!st) st = parse_decoder(&c, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder");
    if (!st) st = parse_post(&c, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    if (!st && c.spec.unk_token) {
        int byte_level = 0;
        for (int i = 0; i < c.spec.n_pretok; i++) byte_level |= c.spec.pretok[i].kind == TOK_PRE_BYTE_LEVEL;
        if (!byte_level)
            st = olmoe_fail(OLMOE_ERR_UNSUPPORTED,
                            "%s: model.unk_token is set without a ByteLevel pre-tokenizer "
                            "(unk-dependent BPE is not supported)", path);
    }
    c.spec.prefix_ids = c.prefix;
    c.spec.suffix_ids = c.suffix;
    if (!st) st = tokenizer_build(&c.spec, out);
    for (size_t i = 0; i < c.n_owned; i++) free(c.owned[i]);
    free(c.owned);
    free(c.left);
    free(c.right);
    free(c.tokens);
    free(c.added);
    cJSON_Delete(root);
    return st;
}
