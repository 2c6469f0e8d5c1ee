/* Opening an index: find each directory's shard files by infini-gram's
 * loader rules, read our manifest, map and check every shard (index_shard.c),
 * and number documents globally in shard order. */
#include "trace/index.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "trace/index_format.h"
#include "util/error.h"
#include "util/file.h"

/* The file kinds of a shard, as infini-gram recognises them by name. */
enum { TOKENIZED, TABLE, OFFSET, METADATA, METAOFF, UNIGRAM, N_KINDS };
static const char *const kind_names[N_KINDS] = {"tokenized", "table",   "offset",
                                                "metadata",  "metaoff", "unigram"};

/* One directory's files: for each kind, the shard suffixes ("0", "1", ...;
 * "" for a bare name) sorted as strings, so 10 comes before 2 exactly as
 * infini-gram orders shards. */
typedef struct {
    char **suffixes[N_KINDS];
    size_t n[N_KINDS];
} dir_files;

/* What olmoe-index.json says; absent fields stay -1 / NULL. */
typedef struct {
    int64_t token_width, eos_id, vocab_size, n_shards, n_tokens, n_docs;
    char *tokenizer; /* resolved against the directory when a bare file name */
} manifest;

/* One directory as found before its shards are opened. */
typedef struct {
    const char *path;
    dir_files files;
    manifest m;
} index_dir;

olmoe_index_open_params olmoe_index_default_open_params(void) {
    olmoe_index_open_params p = {0, NULL};
    return p;
}

/* The kind of file `name` (kind or kind.DIGITS), or -1; *suffix points at
 * the digits. */
static int kind_of(const char *name, const char **suffix) {
    for (int k = 0; k < N_KINDS; k++) {
        size_t len = strlen(kind_names[k]);
        if (strncmp(name, kind_names[k], len)) continue;
        const char *s = name + len;
        if (*s == 0) { *suffix = s; return k; }
        if (*s != '.' || !s[1]) continue;
        if (strspn(s + 1, "0123456789") != strlen(s + 1)) continue;
        *suffix = s + 1;
        return k;
    }
    return -1;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dir_files_free(dir_files *f) {
    for (int k = 0; k < N_KINDS; k++) {
        for (size_t i = 0; i < f->n[k]; i++) free(f->suffixes[k][i]);
        free(f->suffixes[k]);
    }
    memset(f, 0, sizeof *f);
}

static olmoe_status list_dir(const char *dir, dir_files *f) {
    memset(f, 0, sizeof *f);
    DIR *d = opendir(dir);
    if (!d) return olmoe_fail(OLMOE_ERR_IO, "%s: cannot open index directory: %s", dir,
                              strerror(errno));
    struct dirent *e;
    olmoe_status st = OLMOE_OK;
    while (!st && (e = readdir(d)) != NULL) {
        const char *suffix;
        int k = kind_of(e->d_name, &suffix);
        if (k < 0) continue;
        char **grown = realloc(f->suffixes[k], (f->n[k] + 1) * sizeof *grown);
        char *copy = strdup(suffix);
        if (grown) f->suffixes[k] = grown;
        if (!grown || !copy) {
            free(copy);
            st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
            break;
        }
        f->suffixes[k][f->n[k]++] = copy;
    }
    closedir(d);
    for (int k = 0; k < N_KINDS; k++)
        if (f->n[k]) qsort(f->suffixes[k], f->n[k], sizeof(char *), by_string);
    if (!st && f->n[TOKENIZED] == 0)
        st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: no tokenized.* files: not an infini-gram index",
                        dir);
    if (st) dir_files_free(f);
    return st;
}

static int has_suffix(const dir_files *f, int kind, const char *suffix) {
    for (size_t i = 0; i < f->n[kind]; i++)
        if (!strcmp(f->suffixes[kind][i], suffix)) return 1;
    return 0;
}

static const char *dot(const char *suffix) { return *suffix ? "." : ""; }

/* Every shard has its table and offset file (and all or none have metadata,
 * metaoff and unigram files), and no file of those kinds lacks its shard. */
static olmoe_status check_shard_sets(const char *dir, const dir_files *f) {
    for (int k = TABLE; k < N_KINDS; k++) {
        int required = k <= OFFSET || f->n[k] > 0 || (k == METAOFF && f->n[METADATA] > 0) ||
                       (k == METADATA && f->n[METAOFF] > 0);
        for (size_t i = 0; required && i < f->n[TOKENIZED]; i++) {
            const char *s = f->suffixes[TOKENIZED][i];
            if (!has_suffix(f, k, s))
                return olmoe_fail(OLMOE_ERR_FORMAT, "%s/%s%s%s: missing (the directory has "
                                  "tokenized%s%s)", dir, kind_names[k], dot(s), s, dot(s), s);
        }
        for (size_t i = 0; i < f->n[k]; i++) {
            const char *s = f->suffixes[k][i];
            if (!has_suffix(f, TOKENIZED, s))
                return olmoe_fail(OLMOE_ERR_FORMAT, "%s/%s%s%s: no tokenized%s%s beside it", dir,
                                  kind_names[k], dot(s), s, dot(s), s);
        }
    }
    return OLMOE_OK;
}

static olmoe_status read_manifest(const char *dir, manifest *m) {
    memset(m, 0, sizeof *m);
    m->token_width = m->eos_id = m->vocab_size = m->n_shards = m->n_tokens = m->n_docs = -1;
    char *path = path_join(dir, INDEX_MANIFEST);
    if (!path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!file_exists(path)) { free(path); return OLMOE_OK; }
    cJSON *root = NULL;
    olmoe_status st = json_load_file(path, &root);
    if (!st && !cJSON_IsObject(root))
        st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: not a JSON object", path);
    if (!st) st = json_get_int64(root, path, "token_width", 1, 8, &m->token_width);
    if (!st && m->token_width != -1 && m->token_width != 2 && m->token_width != 4)
        st = olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: token_width %" PRId64 " is not supported "
                        "(2 or 4)", path, m->token_width);
    if (!st) st = json_get_int64(root, path, "eos_token_id", -1, INT32_MAX, &m->eos_id);
    if (!st) st = json_get_int64(root, path, "vocab_size", 0, INT32_MAX, &m->vocab_size);
    if (!st) st = json_get_int64(root, path, "n_shards", 1, INT32_MAX, &m->n_shards);
    if (!st) st = json_get_int64(root, path, "n_tokens", 0, INT64_MAX, &m->n_tokens);
    if (!st) st = json_get_int64(root, path, "n_docs", 0, INT64_MAX, &m->n_docs);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    if (!st && tok && !cJSON_IsNull(tok)) {
        if (!cJSON_IsString(tok) || !*tok->valuestring)
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'tokenizer' must be a path", path);
        else if (!(m->tokenizer = strchr(tok->valuestring, '/') ? strdup(tok->valuestring)
                                                                : path_join(dir, tok->valuestring)))
            st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(root);
    free(path);
    return st;
}

/* The manifest's totals, when it has them, must be what the files hold. */
static olmoe_status check_manifest_totals(const char *dir, const manifest *m, int n_shards,
                                          const index_shard *shards) {
    uint64_t tokens = 0, docs = 0;
    for (int i = 0; i < n_shards; i++) tokens += shards[i].n_tokens, docs += shards[i].n_docs;
    const char *what = NULL;
    int64_t said = 0;
    uint64_t found = 0;
    if (m->n_shards >= 0 && m->n_shards != n_shards)
        what = "n_shards", said = m->n_shards, found = (uint64_t)n_shards;
    else if (m->n_tokens >= 0 && (uint64_t)m->n_tokens != tokens)
        what = "n_tokens", said = m->n_tokens, found = tokens;
    else if (m->n_docs >= 0 && (uint64_t)m->n_docs != docs)
        what = "n_docs", said = m->n_docs, found = docs;
    if (!what) return OLMOE_OK;
    return olmoe_fail(OLMOE_ERR_FORMAT, "%s/%s: says %s %" PRId64 " but the shard files hold %"
                      PRIu64 " (missing or extra shard files?)", dir, INDEX_MANIFEST, what, said,
                      found);
}

/* Lists a directory's shard files and reads its manifest. */
static olmoe_status find_dir(const char *path, index_dir *d) {
    memset(d, 0, sizeof *d);
    d->path = path;
    olmoe_status st = list_dir(path, &d->files);
    if (!st) st = check_shard_sets(path, &d->files);
    if (!st) st = read_manifest(path, &d->m);
    return st;
}

static void index_dir_free(index_dir *d) {
    dir_files_free(&d->files);
    free(d->m.tokenizer);
}

/* Opens every shard of one directory and appends it to ix->shards. */
static olmoe_status open_dir(olmoe_index *ix, const index_dir *d, int *unigram_shards) {
    const dir_files *f = &d->files;
    size_t n = f->n[TOKENIZED];
    index_shard *grown = realloc(ix->shards, (ix->n_shards + n) * sizeof *grown);
    if (!grown) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    ix->shards = grown;
    index_shard *first = ix->shards + ix->n_shards;
    olmoe_status st;
    for (size_t i = 0; i < n; i++) {
        index_shard *s = ix->shards + ix->n_shards;
        if ((st = shard_open(d->path, f->suffixes[TOKENIZED][i], ix->width, f->n[METADATA] > 0, s)))
            return st;
        s->first_doc = ix->n_docs;
        ix->n_docs += s->n_docs;
        ix->n_tokens += s->n_tokens;
        ix->n_shards++;
    }
    if ((st = check_manifest_totals(d->path, &d->m, (int)n, first))) return st;
    for (size_t i = 0; i < f->n[UNIGRAM] && !st; i++) {
        char name[256];
        const char *suffix = f->suffixes[UNIGRAM][i];
        snprintf(name, sizeof name, "unigram%s%s", dot(suffix), suffix);
        char *path = path_join(d->path, name);
        st = path ? index_add_unigram_file(ix, path, first[i].n_tokens)
                  : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        free(path);
    }
    if (!st) *unigram_shards += (int)f->n[UNIGRAM];
    return st;
}

/* The token width: the caller's, or the manifests' (which must agree). */
static olmoe_status choose_width(const index_dir *ds, int n_dirs, int requested, int *width) {
    if (requested) {
        if (requested != 2 && requested != 4)
            return olmoe_fail(OLMOE_ERR_ARG, "token width %d is not supported (2 or 4)", requested);
        *width = requested;
        return OLMOE_OK;
    }
    *width = 0;
    for (int i = 0; i < n_dirs; i++) {
        int64_t w = ds[i].m.token_width;
        if (w < 0) continue;
        if (*width && *width != w)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s/%s: token_width %" PRId64 " differs from the "
                              "other directories' %d", ds[i].path, INDEX_MANIFEST, w, *width);
        *width = (int)w;
    }
    if (!*width)
        return olmoe_fail(OLMOE_ERR_ARG, "%s: no %s with a token_width: give the token width "
                          "(2 or 4) for an index without a manifest", ds[0].path, INDEX_MANIFEST);
    return OLMOE_OK;
}

/* Tokenizer, eos id and vocabulary size: the first manifest that has them. */
static olmoe_status take_vocab(olmoe_index *ix, index_dir *ds, int n_dirs, const char *tokenizer) {
    for (int i = n_dirs - 1; i >= 0; i--) {
        manifest *m = &ds[i].m;
        if (m->tokenizer) {
            free(ix->tokenizer_path);
            ix->tokenizer_path = m->tokenizer;
            m->tokenizer = NULL;
        }
        if (m->eos_id >= 0) ix->eos_id = (int32_t)m->eos_id;
        if (m->vocab_size > 0) ix->vocab_size = (int32_t)m->vocab_size;
    }
    if (tokenizer) {
        free(ix->tokenizer_path);
        if (!(ix->tokenizer_path = strdup(tokenizer)))
            return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    return OLMOE_OK;
}

olmoe_status olmoe_index_open(const char *const *dirs, int n_dirs,
                              const olmoe_index_open_params *params, olmoe_index **out) {
    *out = NULL;
    olmoe_index_open_params p = params ? *params : olmoe_index_default_open_params();
    if (n_dirs <= 0 || !dirs) return olmoe_fail(OLMOE_ERR_ARG, "no index directory given");
    index_dir *ds = calloc((size_t)n_dirs, sizeof *ds);
    olmoe_index *ix = calloc(1, sizeof *ix);
    if (!ds || !ix) {
        free(ds);
        free(ix);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&ix->lock, NULL);
    ix->eos_id = -1;
    olmoe_status st = OLMOE_OK;
    for (int i = 0; i < n_dirs && !st; i++) st = find_dir(dirs[i], &ds[i]);
    if (!st) st = choose_width(ds, n_dirs, p.token_width, &ix->width);
    if (!st) st = take_vocab(ix, ds, n_dirs, p.tokenizer);
    int unigram_shards = 0;
    for (int i = 0; i < n_dirs && !st; i++) st = open_dir(ix, &ds[i], &unigram_shards);
    /* Counts from files only if every shard has them; else one scan later. */
    ix->unigram_ready = unigram_shards == ix->n_shards;
    if (!ix->unigram_ready) unigram_table_free(&ix->unigram);
    for (int i = 0; i < n_dirs; i++) index_dir_free(&ds[i]);
    free(ds);
    if (st) {
        olmoe_index_free(ix);
        return st;
    }
    *out = ix;
    return OLMOE_OK;
}

void olmoe_index_free(olmoe_index *ix) {
    if (!ix) return;
    for (int i = 0; i < ix->n_shards; i++) shard_close(&ix->shards[i]);
    free(ix->shards);
    free(ix->tokenizer_path);
    unigram_table_free(&ix->unigram);
    index_tokenizer_close(&ix->tok);
    pthread_mutex_destroy(&ix->lock);
    free(ix);
}

void olmoe_index_get_info(const olmoe_index *ix, olmoe_index_info *info) {
    info->n_shards = ix->n_shards;
    info->token_width = ix->width;
    info->n_tokens = ix->n_tokens;
    info->n_docs = ix->n_docs;
    info->tokenizer = ix->tokenizer_path;
    info->eos_token_id = ix->eos_id;
    info->vocab_size = ix->vocab_size;
}
