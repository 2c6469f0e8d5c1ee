/* Contamination of evaluation items by a corpus (olmoe_decon in olmoe.h):
 * the share of each item's tokens that lie inside an n-gram the corpus
 * holds, and the reading of JSONL evaluation files (OLMES request files
 * among them) into items. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <omp.h>

#include <cjson/cJSON.h>

#include "olmoe.h"
#include "trace/corpus.h"
#include "util/error.h"

olmoe_decon_params olmoe_decon_default_params(void) {
    olmoe_decon_params p = {0};
    p.n = 13;
    p.threshold = 0.8;
    return p;
}

/* ------------------------------------------------------------ coverage */

/* Tokens each longest-match query looks ahead (see covered_tokens). */
#define DECON_WINDOW 256

/* Tokens of ids[0..n_ids) covered by occurring n-grams. The longest match
 * at i, when it is at least n tokens long, occurs, so every n-gram inside it
 * does: the matches [i, i + len) cover exactly the union of the occurring
 * n-grams, and the next n-gram that can add anything starts at
 * i + len - n + 1. Matches only grow to the right, so one running right end
 * counts the union. Each query looks at most `window` tokens ahead (any
 * window of n or more gives the same union). */
static olmoe_status covered_tokens(const olmoe_index *ix, const int32_t *ids, size_t n_ids,
                                   size_t n, size_t *covered) {
    *covered = 0;
    if (n_ids == 0) return OLMOE_OK;
    if (n_ids < n) { /* too short for an n-gram: the whole item must occur */
        uint64_t count;
        olmoe_status st = olmoe_index_count(ix, ids, n_ids, &count);
        if (!st && count > 0) *covered = n_ids;
        return st;
    }
    size_t reach = 0, window = n > DECON_WINDOW ? n : DECON_WINDOW;
    for (size_t i = 0; i + n <= n_ids;) {
        size_t len, end = n_ids - i > window ? i + window : n_ids;
        uint64_t count;
        olmoe_status st = olmoe_index_longest_prefix(ix, ids, end, i, &len, &count);
        if (st) return st;
        if (len < n) {
            i++;
            continue;
        }
        size_t from = i > reach ? i : reach;
        if (i + len > from) *covered += i + len - from, reach = i + len;
        i += len - n + 1;
    }
    return OLMOE_OK;
}

static olmoe_status check_item(const olmoe_index *ix, const char *text, size_t len,
                               const olmoe_decon_params *p, olmoe_decon_result *r) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    memset(r, 0, sizeof *r);
    olmoe_status st = olmoe_index_tokenize(ix, text, len, &ids, &n_ids);
    if (!st) st = covered_tokens(ix, ids, n_ids, (size_t)p->n, &r->n_covered);
    olmoe_free(ids);
    r->n_tokens = n_ids;
    r->coverage = n_ids ? (double)r->n_covered / (double)n_ids : 0.0;
    r->contaminated = n_ids > 0 && r->coverage >= p->threshold;
    return st;
}

olmoe_status olmoe_decon(const olmoe_index *ix, const char *const *texts, const size_t *lens,
                         size_t n_items, const olmoe_decon_params *params,
                         olmoe_decon_result *results) {
    olmoe_decon_params p = params ? *params : olmoe_decon_default_params();
    if (!ix || (n_items && (!texts || !results)) || p.n < 1)
        return olmoe_fail(OLMOE_ERR_ARG, "decon: needs an index, items and n >= 1");
    int threads = p.n_threads > 0 ? p.n_threads : 0;
    error_slot err = {0};
    size_t done = 0;
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads ? threads : omp_get_max_threads())
    for (size_t i = 0; i < n_items; i++) {
        if (err.st) continue;
        size_t len = lens ? lens[i] : strlen(texts[i]);
        error_slot_catch(&err, check_item(ix, texts[i], len, &p, &results[i]));
        if (p.progress) {
#pragma omp critical(decon_progress)
            p.progress((double)++done, (double)n_items, p.user);
        }
    }
    return error_slot_raise(&err);
}

/* ------------------------------------------------------------ items of a file */

/* A growing string; `failed` after an allocation failure. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} text_buf;

static void buf_add(text_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *g = realloc(b->data, cap);
        if (!g) { b->failed = 1; return; }
        b->data = g;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* A JSON number as text: integers without a decimal point. */
static void number_text(double v, char out[40]) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(out, 40, "%.0f", v);
    else snprintf(out, 40, "%.17g", v);
}

/* A field's value as text: strings as they are, arrays element by element
 * joined with "\n", numbers and booleans as JSON writes them, objects as
 * JSON, null as nothing. */
static void append_value(text_buf *b, const cJSON *v) {
    char num[40];
    if (cJSON_IsString(v)) buf_add(b, v->valuestring, strlen(v->valuestring));
    else if (cJSON_IsNumber(v)) number_text(v->valuedouble, num), buf_add(b, num, strlen(num));
    else if (cJSON_IsBool(v)) {
        const char *word = cJSON_IsTrue(v) ? "true" : "false";
        buf_add(b, word, strlen(word));
    } else if (cJSON_IsArray(v)) {
        const cJSON *e;
        int first = 1;
        cJSON_ArrayForEach(e, v) {
            if (!first) buf_add(b, "\n", 1);
            append_value(b, e);
            first = 0;
        }
    } else if (cJSON_IsObject(v)) {
        char *s = cJSON_PrintUnformatted(v);
        if (s) buf_add(b, s, strlen(s));
        else b->failed = 1;
        cJSON_free(s);
    }
}

/* The value at a dotted path ("doc.choices"; a number steps into an array),
 * or NULL. */
static const cJSON *resolve(const cJSON *v, const char *path) {
    const char *p = path;
    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        const cJSON *c, *hit = NULL;
        if (cJSON_IsArray(v) && n > 0 && strspn(p, "0123456789") >= n) {
            unsigned long k = strtoul(p, NULL, 10);
            hit = k < INT_MAX ? cJSON_GetArrayItem(v, (int)k) : NULL;
        } else if (cJSON_IsObject(v))
            cJSON_ArrayForEach(c, v) {
                if (c->string && strlen(c->string) == n && !memcmp(c->string, p, n)) {
                    hit = c;
                    break;
                }
            }
        v = hit;
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

/* The fields to read: the caller's paths, each marked once some item has it. */
typedef struct {
    char **paths;
    int *found;
    size_t n;
} field_list;

static void field_list_free(field_list *f) {
    for (size_t i = 0; i < f->n; i++) free(f->paths[i]);
    free(f->paths);
    free(f->found);
}

/* "a.b, c" -> {"a.b", "c"}; empty names are skipped. */
static olmoe_status parse_fields(const char *spec, field_list *f) {
    memset(f, 0, sizeof *f);
    size_t cap = 1;
    for (const char *s = spec; *s; s++) cap += *s == ',';
    f->paths = calloc(cap, sizeof *f->paths);
    f->found = calloc(cap, sizeof *f->found);
    if (!f->paths || !f->found) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (const char *s = spec; *s;) {
        s += strspn(s, " ");
        size_t n = strcspn(s, ",");
        size_t k = n;
        while (k > 0 && s[k - 1] == ' ') k--;
        if (k > 0 && !(f->paths[f->n++] = strndup(s, k)))
            return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        s += n + (s[n] == ',');
    }
    if (f->n == 0) return olmoe_fail(OLMOE_ERR_ARG, "decon: no field names in '%s'", spec);
    return OLMOE_OK;
}

/* Appends the fields present in `item`, joined with "\n". */
static void join_fields(text_buf *b, const cJSON *item, const char *const *paths, size_t n,
                        int *found) {
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = resolve(item, paths[i]);
        if (!v) continue;
        if (found) found[i] = 1;
        if (!first) buf_add(b, "\n", 1);
        append_value(b, v);
        first = 0;
    }
}

/* The item's text: the caller's fields, or the defaults (olmoe.h). */
static void item_text(text_buf *b, const cJSON *item, field_list *f) {
    static const char *const plain[] = {"text"}, *const olmes[] = {"doc.query", "doc.choices"},
                             *const qa[] = {"question", "choices", "answer"};
    if (f->n) join_fields(b, item, (const char *const *)f->paths, f->n, f->found);
    else if (resolve(item, "text")) join_fields(b, item, plain, 1, NULL);
    else if (resolve(item, "doc.query")) join_fields(b, item, olmes, 2, NULL);
    else join_fields(b, item, qa, 3, NULL);
}

/* One item as read, before checking. */
typedef struct {
    char *id, *text;
    size_t text_len;
    int id_is_string;
    uint64_t line;
} raw_item;

typedef struct {
    raw_item *items;
    size_t n, cap;
} raw_items;

static void raw_items_free(raw_items *r) {
    for (size_t i = 0; i < r->n; i++) free(r->items[i].id), free(r->items[i].text);
    free(r->items);
}

/* Parses one JSON line into an item. */
static olmoe_status read_item(const corpus_record *rec, field_list *f, raw_items *out) {
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(rec->line, rec->len, &end, 0);
    int whole = o && end && strspn(end, " \t\r") == rec->len - (size_t)(end - rec->line);
    if (!whole || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s:%" PRIu64 ": %s", rec->file->path,
                          rec->linenum + 1, whole ? "not a JSON object" : "invalid JSON");
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 256;
        raw_item *g = realloc(out->items, cap * sizeof *g);
        if (!g) { cJSON_Delete(o); return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory"); }
        out->items = g;
        out->cap = cap;
    }
    raw_item *it = &out->items[out->n++];
    memset(it, 0, sizeof *it);
    it->line = rec->linenum;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    char num[40];
    it->id_is_string = cJSON_IsString(id);
    if (it->id_is_string) it->id = strdup(id->valuestring);
    else {
        number_text(cJSON_IsNumber(id) ? id->valuedouble : (double)rec->linenum, num);
        it->id = strdup(num);
    }
    text_buf b = {0};
    buf_add(&b, "", 0);
    item_text(&b, o, f);
    cJSON_Delete(o);
    it->text = b.data;
    it->text_len = b.len;
    return it->id && !b.failed ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
}

/* Every line of the file as an item. */
static olmoe_status read_items(const char *path, field_list *f, raw_items *out) {
    struct stat st_path;
    if (stat(path, &st_path) == 0 && S_ISDIR(st_path.st_mode))
        return olmoe_fail(OLMOE_ERR_ARG, "%s: is a directory, not a JSONL file", path);
    corpus *c = NULL;
    olmoe_status st = corpus_open(&path, 1, &c);
    corpus_record rec;
    int got = 1;
    while (!st && !(st = corpus_next(c, &rec, &got)) && got) {
        if (!rec.file->is_jsonl)
            st = olmoe_fail(OLMOE_ERR_ARG, "%s: not a JSONL file (.jsonl, .jsonl.gz, .jsonl.zst)",
                            path);
        else st = read_item(&rec, f, out);
        corpus_record_free(&rec);
    }
    corpus_close(c);
    for (size_t i = 0; !st && out->n && i < f->n; i++)
        if (!f->found[i])
            st = olmoe_fail(OLMOE_ERR_ARG, "%s: no item has the field '%s'", path, f->paths[i]);
    return st;
}

/* The report in one allocation: header, items, then the strings. */
static olmoe_status pack_report(const raw_items *r, const olmoe_decon_result *res,
                                olmoe_decon_report **out) {
    size_t bytes = sizeof(olmoe_decon_report) + r->n * sizeof(olmoe_decon_item);
    for (size_t i = 0; i < r->n; i++) bytes += strlen(r->items[i].id) + r->items[i].text_len + 2;
    olmoe_decon_report *rep = malloc(bytes);
    if (!rep) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    rep->items = (olmoe_decon_item *)(rep + 1);
    rep->n_items = r->n;
    rep->n_contaminated = 0;
    char *chars = (char *)(rep->items + r->n);
    for (size_t i = 0; i < r->n; i++) {
        const raw_item *it = &r->items[i];
        olmoe_decon_item *o = &rep->items[i];
        size_t id_len = strlen(it->id) + 1;
        o->id = memcpy(chars, it->id, id_len);
        chars += id_len;
        o->text = memcpy(chars, it->text, it->text_len + 1);
        chars += it->text_len + 1;
        o->id_is_string = it->id_is_string;
        o->line = it->line;
        o->result = res[i];
        rep->n_contaminated += res[i].contaminated != 0;
    }
    *out = rep;
    return OLMOE_OK;
}

olmoe_status olmoe_decon_file(const olmoe_index *ix, const char *path, const char *fields,
                              const olmoe_decon_params *params, olmoe_decon_report **out) {
    *out = NULL;
    if (!ix || !path) return olmoe_fail(OLMOE_ERR_ARG, "decon: needs an index and a file");
    field_list f = {0};
    raw_items items = {0};
    const char **texts = NULL;
    size_t *lens = NULL;
    olmoe_decon_result *res = NULL;
    olmoe_status st = fields ? parse_fields(fields, &f) : OLMOE_OK;
    if (!st) st = read_items(path, &f, &items);
    if (!st) {
        texts = malloc((items.n + 1) * sizeof *texts);
        lens = malloc((items.n + 1) * sizeof *lens);
        res = malloc((items.n + 1) * sizeof *res);
        if (!texts || !lens || !res) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < items.n; i++) {
        texts[i] = items.items[i].text;
        lens[i] = items.items[i].text_len;
    }
    if (!st) st = olmoe_decon(ix, texts, lens, items.n, params, res);
    if (!st) st = pack_report(&items, res, out);
    free(texts);
    free(lens);
    free(res);
    raw_items_free(&items);
    field_list_free(&f);
    return st;
}
