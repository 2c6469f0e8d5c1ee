/* Test fixtures for corpus indexes, written independently of src/trace:
 * a deliberately naive index writer (qsort of every token-aligned suffix
 * with memcmp) and brute-force answers computed from the documents
 * themselves. Small corpora only. */
#ifndef OLMOE_TEST_INDEX_FIXTURE_H
#define OLMOE_TEST_INDEX_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *ids;
    size_t n;
} fx_doc;

/* Options of one written shard. */
enum { FX_METADATA = 1, FX_UNIGRAM_PAIRS = 2, FX_UNIGRAM_LINES = 4 };

/* ------------------------------------------------------------- writer */

static const unsigned char *fx_text;
static size_t fx_text_len;

/* memcmp order of the suffixes at two byte offsets, to the end of the text. */
static inline int fx_suffix_cmp(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    size_t lx = fx_text_len - x, ly = fx_text_len - y;
    int c = memcmp(fx_text + x, fx_text + y, lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly;
}

static inline void fx_put_le(FILE *f, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++) fputc((int)(v >> (8 * b) & 0xFF), f);
}

static inline FILE *fx_open(const char *dir, const char *kind, const char *suffix) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.%s", dir, kind, suffix);
    return fopen(path, "wb");
}

/* Writes shard `suffix` of docs; doc_numbers[i] goes into document i's
 * metadata ({"doc": N}) so tests can check global numbering. ptr_size 0:
 * the fewest bytes that address the text. Returns 0 on success. */
static inline int fx_write_shard(const char *dir, const char *suffix, int width, const fx_doc *docs,
                          size_t n_docs, int ptr_size, int flags, const uint64_t *doc_numbers) {
    size_t n_tokens = 0;
    for (size_t d = 0; d < n_docs; d++) n_tokens += docs[d].n + 1;
    unsigned char *text = malloc(n_tokens * (size_t)width + 1);
    uint64_t *offsets = malloc((n_docs + 1) * sizeof *offsets);
    size_t *pos = malloc((n_tokens + 1) * sizeof *pos), at = 0;
    for (size_t d = 0; d < n_docs; d++) {
        offsets[d] = at;
        for (int b = 0; b < width; b++) text[at++] = 0xFF;
        for (size_t i = 0; i < docs[d].n; i++)
            for (int b = 0; b < width; b++) text[at++] = (unsigned char)((uint32_t)docs[d].ids[i] >> (8 * b));
    }
    for (size_t k = 0; k < n_tokens; k++) pos[k] = k * (size_t)width;
    fx_text = text;
    fx_text_len = at;
    qsort(pos, n_tokens, sizeof *pos, fx_suffix_cmp);
    if (!ptr_size)
        for (ptr_size = 1; ptr_size < 8 && at > ((size_t)1 << (8 * ptr_size)); ptr_size++) {}
    FILE *f = fx_open(dir, "tokenized", suffix);
    fwrite(text, 1, at, f);
    fclose(f);
    f = fx_open(dir, "table", suffix);
    for (size_t k = 0; k < n_tokens; k++) fx_put_le(f, pos[k], ptr_size);
    fclose(f);
    f = fx_open(dir, "offset", suffix);
    for (size_t d = 0; d < n_docs; d++) fx_put_le(f, offsets[d], 8);
    fclose(f);
    if (flags & FX_METADATA) {
        FILE *m = fx_open(dir, "metadata", suffix), *mo = fx_open(dir, "metaoff", suffix);
        for (size_t d = 0; d < n_docs; d++) {
            fx_put_le(mo, (uint64_t)ftell(m), 8);
            fprintf(m, "{\"path\": \"fx.jsonl\", \"linenum\": %zu, \"metadata\": {\"doc\": %llu}}\n",
                    d, (unsigned long long)doc_numbers[d]);
        }
        fclose(m);
        fclose(mo);
    }
    if (flags & (FX_UNIGRAM_PAIRS | FX_UNIGRAM_LINES)) {
        /* Counts by id, the separator included; pairs or one count per line. */
        uint64_t max = width == 2 ? 0xFFFF : 0, sep = width == 2 ? 0xFFFF : 0xFFFFFFFF;
        for (size_t d = 0; d < n_docs; d++)
            for (size_t i = 0; i < docs[d].n; i++) if ((uint64_t)docs[d].ids[i] > max) max = (uint64_t)docs[d].ids[i];
        uint64_t *counts = calloc(max + 1, sizeof *counts);
        for (size_t d = 0; d < n_docs; d++)
            for (size_t i = 0; i < docs[d].n; i++) counts[docs[d].ids[i]]++;
        f = fx_open(dir, "unigram", suffix);
        for (uint64_t id = 0; id <= max; id++) {
            uint64_t c = id == sep ? n_docs : counts[id];
            if (flags & FX_UNIGRAM_LINES) fprintf(f, "%llu\n", (unsigned long long)c);
            else if (c) fprintf(f, "%llu %llu\n", (unsigned long long)id, (unsigned long long)c);
        }
        if (width == 4) fprintf(f, "%llu %llu\n", (unsigned long long)sep, (unsigned long long)n_docs);
        fclose(f);
        free(counts);
    }
    free(text);
    free(offsets);
    free(pos);
    return 0;
}

static inline void fx_write_manifest(const char *dir, int width, const char *tokenizer, int eos) {
    char path[2048];
    snprintf(path, sizeof path, "%s/olmoe-index.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"format\": \"infini-gram\", \"version\": 4, \"token_width\": %d", width);
    if (tokenizer) fprintf(f, ", \"tokenizer\": \"%s\"", tokenizer);
    if (eos >= 0) fprintf(f, ", \"eos_token_id\": %d", eos);
    fprintf(f, "}\n");
    fclose(f);
}

/* -------------------------------------------------------- brute force */

/* Every document of an index in global order. */
typedef struct {
    fx_doc *docs;
    size_t n;
} fx_corpus;

static inline int fx_match_at(const fx_doc *d, size_t i, const int32_t *q, size_t n) {
    return i + n <= d->n && (n == 0 || !memcmp(d->ids + i, q, n * sizeof *q));
}

static inline uint64_t fx_total_tokens(const fx_corpus *c) {
    uint64_t t = 0;
    for (size_t d = 0; d < c->n; d++) t += c->docs[d].n + 1;
    return t;
}

/* Occurrences inside documents; the empty n-gram: every token, separators
 * included (as infini-gram counts). */
static inline uint64_t fx_count(const fx_corpus *c, const int32_t *q, size_t n) {
    if (n == 0) return fx_total_tokens(c);
    uint64_t k = 0;
    for (size_t d = 0; d < c->n; d++)
        for (size_t i = 0; i + n <= c->docs[d].n; i++) k += fx_match_at(&c->docs[d], i, q, n);
    return k;
}

/* Adds `count` to id's entry of a small (id, count) list. */
typedef struct {
    int32_t id;
    uint64_t count;
} fx_tally;

static inline void fx_tally_add(fx_tally *t, size_t *n, int32_t id, uint64_t count) {
    for (size_t i = 0; i < *n; i++)
        if (t[i].id == id) { t[i].count += count; return; }
    t[*n].id = id;
    t[(*n)++].count = count;
}

/* The next-token tally after q (document ends count as eos); returns the
 * number of distinct tokens; t needs room for every token. */
static inline size_t fx_ntd(const fx_corpus *c, const int32_t *q, size_t n, int32_t eos, fx_tally *t) {
    size_t m = 0;
    for (size_t d = 0; d < c->n; d++) {
        const fx_doc *doc = &c->docs[d];
        /* With n = 0, position doc->n stands for the next separator. */
        for (size_t i = 0; i + n <= doc->n; i++)
            if (fx_match_at(doc, i, q, n)) fx_tally_add(t, &m, i + n < doc->n ? doc->ids[i + n] : eos, 1);
    }
    return m;
}

/* Length of the longest suffix of q[0..n) that occurs. */
static inline size_t fx_longest_suffix(const fx_corpus *c, const int32_t *q, size_t n) {
    size_t best = 0;
    for (size_t l = 1; l <= n; l++)
        if (fx_count(c, q + n - l, l) > 0) best = l;
        else break;
    return best;
}

/* Positions (doc << 20 | offset) where q occurs, ascending; returns how many. */
static inline size_t fx_positions(const fx_corpus *c, const int32_t *q, size_t n, uint64_t *out) {
    size_t k = 0;
    for (size_t d = 0; d < c->n; d++)
        for (size_t i = 0; i + n <= c->docs[d].n; i++)
            if (fx_match_at(&c->docs[d], i, q, n)) out[k++] = (uint64_t)d << 20 | i;
    return k;
}

#endif
