/* olmoe_index_build: a corpus -> an index directory in infini-gram's v4
 * layout (see index_format.h).
 *
 * Two passes, so that memory only has to hold one batch of documents while
 * tokenizing and a few shards while sorting:
 *  1. tokenize: documents are read in input order in batches, parsed and
 *     tokenized in parallel, then appended in order to the open shard
 *     (tokenized, offset, metadata, metaoff; unigram when it closes). A new
 *     shard starts when the next document would overflow the token budget.
 *  2. sort: each shard's suffix array (table.s), as many shards at once as
 *     threads and memory allow.
 * The manifest is written last; every file goes through NAME.tmp. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "trace/corpus.h"
#include "trace/index_format.h"
#include "trace/index_tokenizer.h"
#include "util/clock.h"
#include "trace/shard_writer.h"
#include "trace/suffix_sort.h"
#include "util/error.h"
#include "util/file.h"

#define BUILDER "olmoe.c 0.1"
#define BATCH_DOCS 4096          /* documents tokenized in parallel at once... */
#define BATCH_BYTES (16u << 20)  /* ...or this many bytes of raw input */

static const char *const shard_kinds[] = {"tokenized", "table", "offset", "metadata",
                                          "metaoff", "unigram"};
#define N_KINDS (int)(sizeof shard_kinds / sizeof shard_kinds[0])

olmoe_index_build_params olmoe_index_build_default_params(void) {
    olmoe_index_build_params p = {0};
    return p;
}

typedef struct {
    const olmoe_index_build_params *p;
    index_tokenizer tok;
    int width, vocab_size, n_threads;
    uint64_t shard_tokens;
    corpus *corpus;
    shard_writer w;
    int w_open;
    uint64_t *shard_tokens_done; /* tokens of each closed shard */
    int n_shards;
    uint64_t n_docs, n_tokens, bytes_written;
} index_build;

/* A document on its way from the reader to the shard writer. */
typedef struct {
    corpus_record rec;
    corpus_doc doc;      /* its text is freed once tokenized */
    int32_t *ids;
    size_t n_ids;
    olmoe_status st;
    char *err;           /* a worker's message (messages are kept per thread) */
} doc_job;

/* ------------------------------------------------------------ output dir */

/* 1 for the files a build writes: the manifest, KIND.N, and their .tmp. */
static int is_index_file(const char *name) {
    size_t len = strlen(name);
    if (len > 4 && !strcmp(name + len - 4, ".tmp")) len -= 4;
    if (len == strlen(INDEX_MANIFEST) && !strncmp(name, INDEX_MANIFEST, len)) return 1;
    if (len == strlen(INDEX_TOKENIZER_COPY) && !strncmp(name, INDEX_TOKENIZER_COPY, len))
        return len < strlen(name); /* only its .tmp: a tokenizer.json may be someone else's */
    for (int k = 0; k < N_KINDS; k++) {
        size_t kl = strlen(shard_kinds[k]);
        if (len <= kl + 1 || strncmp(name, shard_kinds[k], kl) || name[kl] != '.') continue;
        size_t i = kl + 1;
        while (i < len && name[i] >= '0' && name[i] <= '9') i++;
        if (i == len) return 1;
    }
    return 0;
}

/* Removes the index files in dir, the manifest first so that an
 * interruption cannot leave a manifest over missing shards. With
 * `found`, only reports the first one's name instead. */
static olmoe_status remove_index_files(const char *dir, char *found, size_t found_cap) {
    char *manifest = path_join(dir, INDEX_MANIFEST);
    if (!manifest) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    int had_manifest = file_exists(manifest);
    if (!found && had_manifest && remove(manifest) != 0) {
        olmoe_status st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", manifest, strerror(errno));
        free(manifest);
        return st;
    }
    free(manifest);
    DIR *d = opendir(dir);
    if (!d) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", dir, strerror(errno));
    olmoe_status st = OLMOE_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        int ours = is_index_file(e->d_name) ||
                   (had_manifest && !strcmp(e->d_name, INDEX_TOKENIZER_COPY));
        if (!ours) continue;
        if (found) {
            snprintf(found, found_cap, "%s", e->d_name);
            break;
        }
        char *path = path_join(dir, e->d_name);
        if (!path) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        else if (remove(path) != 0) st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
        free(path);
    }
    closedir(d);
    return st;
}

/* Creates the directory (*created = 1), or checks that it holds no index
 * (force: removes the old index's files, and nothing else). */
static olmoe_status prepare_out_dir(const char *dir, int force, int *created) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (mkdir(dir, 0755) != 0) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", dir, strerror(errno));
        *created = 1;
        return OLMOE_OK;
    }
    if (!S_ISDIR(sb.st_mode)) return olmoe_fail(OLMOE_ERR_IO, "%s: not a directory", dir);
    if (force) return remove_index_files(dir, NULL, 0);
    char found[256] = "";
    olmoe_status st = remove_index_files(dir, found, sizeof found);
    if (!st && found[0])
        st = olmoe_fail(OLMOE_ERR_ARG, "%s: holds an index already (%s); build with force "
                        "(--force) to replace it", dir, found);
    return st;
}

/* ---------------------------------------------------------------- sizing */

/* Bytes of memory free for use (MemAvailable), or 4 GiB if unknown. */
static uint64_t available_memory(void) {
    uint64_t kib = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", (unsigned long long *)&kib) == 1) break;
    if (f) fclose(f);
    return kib ? kib * 1024 : 4ull << 30;
}

/* Tokens per shard such that n_threads shards can be suffix-sorted at once
 * in 3/4 of the available memory (text + 4 or 8 bytes per byte of text). */
static uint64_t default_shard_tokens(int width, int n_threads) {
    uint64_t per_shard = available_memory() / 4 * 3 / (uint64_t)n_threads;
    uint64_t bytes = per_shard / 5;
    if (bytes > INT32_MAX) bytes = per_shard / 9 > INT32_MAX ? per_shard / 9 : INT32_MAX;
    uint64_t tokens = bytes / (uint64_t)width;
    return tokens < (1u << 20) ? 1u << 20 : tokens;
}

/* ------------------------------------------------------------- tokenize */

static void job_free(doc_job *j) {
    corpus_record_free(&j->rec);
    corpus_doc_free(&j->doc);
    free(j->ids);
    free(j->err);
    memset(j, 0, sizeof *j);
}

/* Parses and tokenizes one record (on any thread). */
static void job_run(doc_job *j, tokenizer_session *sess) {
    j->st = corpus_record_parse(&j->rec, &j->doc);
    free(j->rec.line);
    j->rec.line = NULL;
    if (!j->st) j->st = tokenizer_session_encode(sess, j->doc.text, j->doc.text_len, &j->ids, &j->n_ids);
    free(j->doc.text);
    j->doc.text = NULL;
    if (j->st) j->err = strdup(olmoe_last_error());
}

/* Closes the open shard, keeping its counts for the sort pass. */
static olmoe_status close_shard(index_build *b) {
    uint64_t *t = realloc(b->shard_tokens_done, (size_t)(b->n_shards + 1) * sizeof *t);
    if (!t) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    b->shard_tokens_done = t;
    t[b->n_shards++] = b->w.n_tokens;
    b->w_open = 0;
    return shard_writer_close(&b->w, &b->bytes_written);
}

/* Appends a tokenized document to the open shard, first closing a shard the
 * document would overflow (a document longer than a shard gets its own). */
static olmoe_status add_document(index_build *b, const doc_job *j) {
    uint64_t need = j->n_ids + 1; /* with its separator */
    olmoe_status st = OLMOE_OK;
    if (b->w_open && b->w.n_tokens && b->w.n_tokens + need > b->shard_tokens) st = close_shard(b);
    if (!st && !b->w_open) {
        st = shard_writer_open(&b->w, b->p->out_dir, b->n_shards, b->width, b->vocab_size);
        b->w_open = !st;
    }
    if (!st) st = shard_writer_add(&b->w, j->ids, j->n_ids, j->doc.meta_line, j->doc.meta_len);
    if (!st) {
        b->n_tokens += need;
        b->n_docs++;
    }
    return st;
}

/* Reads the next batch of records; *n = 0 at the end of the corpus. */
static olmoe_status read_batch(index_build *b, doc_job *jobs, int *n) {
    size_t bytes = 0;
    *n = 0;
    while (*n < BATCH_DOCS && bytes < BATCH_BYTES) {
        int got;
        olmoe_status st = corpus_next(b->corpus, &jobs[*n].rec, &got);
        if (st || !got) return st;
        bytes += jobs[*n].rec.len;
        (*n)++;
    }
    return OLMOE_OK;
}

static olmoe_status tokenize_corpus(index_build *b) {
    doc_job *jobs = calloc(BATCH_DOCS, sizeof *jobs);
    tokenizer_session **sess = calloc((size_t)b->n_threads, sizeof *sess);
    olmoe_status st = jobs && sess ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (int t = 0; !st && t < b->n_threads; t++) st = tokenizer_session_new(b->tok.tok, &sess[t]);
    uint64_t total = corpus_total_bytes(b->corpus);
    if (b->p->stage) b->p->stage("tokenize", b->p->user);
    int n = 0;
    while (!st && !(st = read_batch(b, jobs, &n)) && n > 0) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->n_threads)
        for (int i = 0; i < n; i++) job_run(&jobs[i], sess[omp_get_thread_num()]);
        for (int i = 0; !st && i < n; i++)
            st = jobs[i].st ? olmoe_fail(jobs[i].st, "%s", jobs[i].err ? jobs[i].err : "out of memory")
                            : add_document(b, &jobs[i]);
        for (int i = 0; i < n; i++) job_free(&jobs[i]);
        if (b->p->progress) b->p->progress((double)corpus_bytes_read(b->corpus), (double)total, b->p->user);
    }
    for (int i = 0; i < n; i++) job_free(&jobs[i]); /* after a read error mid-batch */
    if (!st && b->w_open) st = close_shard(b);
    if (!st && b->n_docs == 0) st = olmoe_fail(OLMOE_ERR_ARG, "no documents in the inputs");
    for (int t = 0; sess && t < b->n_threads; t++) tokenizer_session_free(sess[t]);
    free(sess);
    free(jobs);
    return st;
}

/* ------------------------------------------------------------------ sort */

/* The outcome of sorting one shard (on any thread). */
typedef struct {
    olmoe_status st;
    char *err;
    uint64_t table_bytes;
} shard_sort;

/* tokenized.s -> table.s. */
static void sort_shard(const index_build *b, int s, shard_sort *out) {
    char *in = shard_path(b->p->out_dir, "tokenized", s);
    char *table = shard_path(b->p->out_dir, "table", s);
    char *text = NULL;
    size_t len = 0;
    olmoe_status st = in && table ? file_read_all(in, &text, &len)
                                  : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st) st = suffix_table_write((const uint8_t *)text, len, b->width, suffix_sort_wide(len), table);
    if (!st) out->table_bytes = (uint64_t)table_ptr_size(len) * (len / (uint64_t)b->width);
    if (st) out->err = strdup(olmoe_last_error());
    out->st = st;
    free(text);
    free(in);
    free(table);
}

static olmoe_status sort_shards(index_build *b) {
    uint64_t biggest = 0;
    for (int s = 0; s < b->n_shards; s++)
        if (b->shard_tokens_done[s] > biggest) biggest = b->shard_tokens_done[s];
    uint64_t fit = available_memory() / 4 * 3 / suffix_sort_memory(biggest * (uint64_t)b->width);
    int parallel = fit < 1 ? 1 : fit < (uint64_t)b->n_threads ? (int)fit : b->n_threads;
    shard_sort *res = calloc((size_t)b->n_shards, sizeof *res);
    if (!res) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (b->p->stage) b->p->stage("sort", b->p->user);
    uint64_t sorted = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(parallel)
    for (int s = 0; s < b->n_shards; s++) {
        sort_shard(b, s, &res[s]);
#pragma omp critical(index_build_progress)
        {
            sorted += b->shard_tokens_done[s];
            if (b->p->progress) b->p->progress((double)sorted, (double)b->n_tokens, b->p->user);
        }
    }
    olmoe_status st = OLMOE_OK;
    for (int s = 0; s < b->n_shards; s++) {
        if (!st && res[s].st) st = olmoe_fail(res[s].st, "%s", res[s].err ? res[s].err : "out of memory");
        b->bytes_written += res[s].table_bytes;
        free(res[s].err);
    }
    free(res);
    return st;
}

/* -------------------------------------------------------------- finish */

static olmoe_status write_manifest(index_build *b) {
    /* A GGUF tokenizer is not copied (it is the whole model): its absolute
     * path is recorded, as a bare name would be read as a file inside the
     * index directory. */
    char *abs = b->tok.json_path ? NULL : realpath(b->p->tokenizer, NULL);
    const char *tok_name = b->tok.json_path ? INDEX_TOKENIZER_COPY : abs ? abs : b->p->tokenizer;
    cJSON *m = cJSON_CreateObject();
    int ok = m && cJSON_AddStringToObject(m, "format", "infini-gram") &&
             cJSON_AddNumberToObject(m, "version", 4) &&
             cJSON_AddNumberToObject(m, "token_width", b->width) &&
             cJSON_AddStringToObject(m, "tokenizer", tok_name) &&
             cJSON_AddNumberToObject(m, "eos_token_id", b->tok.eos_id) &&
             cJSON_AddNumberToObject(m, "vocab_size", b->vocab_size) &&
             cJSON_AddNumberToObject(m, "n_shards", b->n_shards) &&
             cJSON_AddNumberToObject(m, "n_tokens", (double)b->n_tokens) &&
             cJSON_AddNumberToObject(m, "n_docs", (double)b->n_docs) &&
             cJSON_AddStringToObject(m, "builder", BUILDER);
    char *json = ok ? cJSON_Print(m) : NULL;
    cJSON_Delete(m);
    free(abs);
    size_t len = json ? strlen(json) : 0;
    char *text = json ? malloc(len + 1) : NULL;
    if (text) {
        memcpy(text, json, len);
        text[len++] = '\n';
    }
    cJSON_free(json);
    char *path = path_join(b->p->out_dir, INDEX_MANIFEST);
    olmoe_status st = text && path ? file_write_all(path, text, len)
                                   : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st) b->bytes_written += len;
    free(text);
    free(path);
    return st;
}

/* The tokenizer.json the index was built with, beside it. */
static olmoe_status copy_tokenizer(index_build *b) {
    if (!b->tok.json_path) return OLMOE_OK; /* a GGUF file: the manifest names it */
    char *data = NULL, *path = path_join(b->p->out_dir, INDEX_TOKENIZER_COPY);
    size_t len = 0;
    olmoe_status st = path ? file_read_all(b->tok.json_path, &data, &len)
                           : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st) st = file_write_all(path, data, len);
    if (!st) b->bytes_written += len;
    free(data);
    free(path);
    return st;
}

static olmoe_status check_params(const olmoe_index_build_params *p) {
    if (!p || !p->tokenizer || !p->out_dir || p->n_inputs <= 0 || !p->inputs)
        return olmoe_fail(OLMOE_ERR_ARG, "index build needs a tokenizer, an output directory "
                          "and at least one input");
    for (int i = 0; i < p->n_inputs; i++)
        if (!p->inputs[i]) return olmoe_fail(OLMOE_ERR_ARG, "index build: input %d is NULL", i);
    return OLMOE_OK;
}

olmoe_status olmoe_index_build(const olmoe_index_build_params *p, olmoe_index_build_stats *stats) {
    double start = monotonic_seconds();
    if (stats) memset(stats, 0, sizeof *stats);
    olmoe_status st = check_params(p);
    if (st) return st;
    index_build b = {.p = p};
    b.n_threads = p->n_threads > 0 ? p->n_threads : omp_get_num_procs();
    if ((st = index_tokenizer_open(p->tokenizer, &b.tok)) != OLMOE_OK) return st;
    b.vocab_size = tokenizer_n_tokens(b.tok.tok);
    b.width = b.vocab_size <= 0xffff ? 2 : 4; /* the all-0xFF id is the separator */
    b.shard_tokens = p->shard_tokens ? p->shard_tokens : default_shard_tokens(b.width, b.n_threads);
    st = corpus_open(p->inputs, p->n_inputs, &b.corpus);
    int created = 0;
    if (!st) st = prepare_out_dir(p->out_dir, p->force, &created);
    int started = !st;
    if (!st) st = tokenize_corpus(&b);
    if (!st) st = sort_shards(&b);
    if (!st) st = copy_tokenizer(&b);
    if (!st) st = write_manifest(&b);
    if (b.w_open) shard_writer_abort(&b.w);
    if (st && started) { /* leave no half-built index behind; keep the message */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", olmoe_last_error());
        remove_index_files(p->out_dir, NULL, 0);
        if (created) rmdir(p->out_dir);
        olmoe_fail(st, "%s", msg);
    }
    if (!st && stats) {
        stats->n_docs = b.n_docs;
        stats->n_tokens = b.n_tokens;
        stats->n_shards = b.n_shards;
        stats->token_width = b.width;
        stats->input_bytes = corpus_total_bytes(b.corpus);
        stats->bytes_written = b.bytes_written;
        stats->seconds = monotonic_seconds() - start;
    }
    corpus_close(b.corpus);
    free(b.shard_tokens_done);
    index_tokenizer_close(&b.tok);
    return st;
}
