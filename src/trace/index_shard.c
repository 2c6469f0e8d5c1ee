/* One shard of an index: map its files and check that they fit together,
 * so that no later query can read outside a mapping. Checks that would
 * read a whole large file at open time (every suffix-array entry, millions
 * of document offsets) are done on a sample instead, and the readers stay
 * bounds-checked at use. */
#include "trace/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/error.h"
#include "util/file.h"

/* Offset files up to this many documents are checked entry by entry. */
#define FULL_CHECK_DOCS (1u << 22)
/* Entries checked in a larger offset file, and in every suffix array. */
#define SAMPLE_CHECKS 4096

static olmoe_status map_kind(const char *dir, const char *kind, const char *suffix,
                             mapped_file *f) {
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", kind, *suffix ? "." : "", suffix);
    char *path = path_join(dir, name);
    if (!path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    olmoe_status st = mapped_file_open(path, f);
    free(path);
    return st;
}

static olmoe_status check_tokenized(const index_shard *s, int width) {
    const mapped_file *f = &s->tokenized;
    if (f->size % (size_t)width)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %zu bytes is not a whole number of %d-byte tokens",
                          f->path, f->size, width);
    if (f->size > 0 && shard_token_at(s, width, 0) != separator_id(width))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: does not start with a %d-byte document separator "
                          "(all 0xff): wrong token width?", f->path, width);
    return OLMOE_OK;
}

/* 1 if the suffixes at pointers a and b are in order (a <= b), judged on
 * their first `bytes` bytes. */
static int suffixes_ordered(const index_shard *s, uint64_t a, uint64_t b, size_t bytes) {
    size_t size = s->tokenized.size, la = size - a, lb = size - b;
    size_t m = la < lb ? la : lb;
    if (m > bytes) m = bytes;
    int c = memcmp(s->tokenized.data + a, s->tokenized.data + b, m);
    return c < 0 || (c == 0 && (m == bytes || la <= lb));
}

/* A sample of adjacent entries must be in suffix order: catches a table
 * made for another text or read with the wrong token width. */
static olmoe_status check_table_order(const index_shard *s) {
    uint64_t step = s->n_tokens / SAMPLE_CHECKS + 1;
    for (uint64_t r = 0; r + 1 < s->n_tokens; r += step) {
        uint64_t a = shard_ptr(s, r), b = shard_ptr(s, r + 1);
        if (a >= s->tokenized.size || b >= s->tokenized.size || !suffixes_ordered(s, a, b, 256))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: entries %" PRIu64 " and %" PRIu64 " are not "
                              "in suffix order: not the suffix array of %s, or wrong token width?",
                              s->table.path, r, r + 1, s->tokenized.path);
    }
    return OLMOE_OK;
}

static olmoe_status check_table(index_shard *s, int width) {
    const mapped_file *t = &s->table;
    const char *text = s->tokenized.path;
    if (s->n_tokens == 0) {
        if (t->size) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: not empty but %s is", t->path, text);
        return OLMOE_OK;
    }
    if (t->size % s->n_tokens)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %zu bytes is not a multiple of the %" PRIu64
                          " tokens of %s (truncated?)", t->path, t->size, s->n_tokens, text);
    uint64_t ptr_size = t->size / s->n_tokens;
    if (ptr_size < 1 || ptr_size > 8)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %" PRIu64 " bytes per entry (expected 1 to 8) for "
                          "the %" PRIu64 " tokens of %s", t->path, ptr_size, s->n_tokens, text);
    s->ptr_size = (int)ptr_size;
    if (ptr_size < 8 && ((uint64_t)s->tokenized.size - 1) >> (8 * ptr_size))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %d-byte entries cannot address the %zu bytes of "
                          "%s (wrong token width?)", t->path, s->ptr_size, s->tokenized.size, text);
    uint64_t step = s->n_tokens / SAMPLE_CHECKS + 1;
    for (uint64_t r = 0; r < s->n_tokens; r += step) {
        uint64_t p = shard_ptr(s, r);
        if (p >= s->tokenized.size || p % (uint64_t)width)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: entry %" PRIu64 " points at byte %" PRIu64
                              ", not a token of %s (%zu bytes)", t->path, r, p, text,
                              s->tokenized.size);
    }
    return check_table_order(s);
}

static uint64_t offset_at(const mapped_file *f, uint64_t i) { return read_le(f->data + 8 * i, 8); }

/* Document offsets: strictly ascending token starts, inside the text, each
 * at a separator, the first at byte 0. */
static olmoe_status check_offsets(index_shard *s, int width) {
    const mapped_file *f = &s->offset;
    if (f->size % 8)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %zu bytes is not a whole number of 8-byte offsets",
                          f->path, f->size);
    s->n_docs = f->size / 8;
    if ((s->n_docs == 0) != (s->n_tokens == 0))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %" PRIu64 " documents for the %" PRIu64
                          " tokens of %s", f->path, s->n_docs, s->n_tokens, s->tokenized.path);
    if (s->n_docs && offset_at(f, 0) != 0)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: the first document does not start at byte 0",
                          f->path);
    uint64_t step = s->n_docs <= FULL_CHECK_DOCS ? 1 : s->n_docs / SAMPLE_CHECKS;
    uint64_t prev = 0;
    for (uint64_t k = 0; s->n_docs; k++) {
        uint64_t d = k * step < s->n_docs ? k * step : s->n_docs - 1;
        uint64_t o = offset_at(f, d);
        int at_separator = shard_token_at(s, width, o) == separator_id(width);
        if ((d > 0 && o <= prev) || o % (uint64_t)width || !at_separator)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: offset %" PRIu64 " of document %" PRIu64
                              " is not a separator of %s after the previous document's",
                              f->path, o, d, s->tokenized.path);
        prev = o;
        if (d == s->n_docs - 1) break;
    }
    return OLMOE_OK;
}

static olmoe_status check_metaoff(const index_shard *s) {
    if (s->metaoff.size != 8 * s->n_docs)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %zu bytes, expected 8 per document of %s (%"
                          PRIu64 " documents)", s->metaoff.path, s->metaoff.size, s->offset.path,
                          s->n_docs);
    return OLMOE_OK;
}

olmoe_status shard_open(const char *dir, const char *suffix, int width, int with_metadata,
                        index_shard *s) {
    memset(s, 0, sizeof *s);
    olmoe_status st;
    if ((st = map_kind(dir, "tokenized", suffix, &s->tokenized)) ||
        (st = check_tokenized(s, width)))
        goto fail;
    s->n_tokens = s->tokenized.size / (size_t)width;
    if ((st = map_kind(dir, "table", suffix, &s->table)) || (st = check_table(s, width)) ||
        (st = map_kind(dir, "offset", suffix, &s->offset)) || (st = check_offsets(s, width)))
        goto fail;
    if (with_metadata && ((st = map_kind(dir, "metadata", suffix, &s->metadata)) ||
                          (st = map_kind(dir, "metaoff", suffix, &s->metaoff)) ||
                          (st = check_metaoff(s))))
        goto fail;
    /* Queries jump around the suffix array and the text: read-ahead would
     * only evict useful pages. */
    if (s->table.size) posix_madvise((void *)s->table.data, s->table.size, POSIX_MADV_RANDOM);
    if (s->tokenized.size)
        posix_madvise((void *)s->tokenized.data, s->tokenized.size, POSIX_MADV_RANDOM);
    return OLMOE_OK;
fail:
    shard_close(s);
    return st;
}

void shard_close(index_shard *s) {
    mapped_file_close(&s->tokenized);
    mapped_file_close(&s->table);
    mapped_file_close(&s->offset);
    mapped_file_close(&s->metadata);
    mapped_file_close(&s->metaoff);
}

olmoe_status shard_doc_bounds(const index_shard *s, int width, uint64_t doc, uint64_t *start,
                              uint64_t *end) {
    uint64_t a = offset_at(&s->offset, doc) + (uint64_t)width;
    uint64_t b = doc + 1 < s->n_docs ? offset_at(&s->offset, doc + 1) : s->tokenized.size;
    if (a > b || b > s->tokenized.size || (b - a) % (uint64_t)width)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: document %" PRIu64 " spans bytes %" PRIu64
                          "..%" PRIu64 ", not tokens of %s", s->offset.path, doc, a, b,
                          s->tokenized.path);
    *start = a;
    *end = b;
    return OLMOE_OK;
}

olmoe_status shard_locate_doc(const index_shard *s, int width, uint64_t ptr, uint64_t *doc,
                              uint64_t *start, uint64_t *end) {
    if (ptr >= s->tokenized.size)
        return olmoe_fail(OLMOE_ERR_ARG, "%s: pointer %" PRIu64 " is past the end (%zu bytes)",
                          s->tokenized.path, ptr, s->tokenized.size);
    /* The last document whose separator is at or before ptr. */
    uint64_t lo = 0, hi = s->n_docs;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (offset_at(&s->offset, mid) <= ptr) lo = mid;
        else hi = mid;
    }
    *doc = lo;
    return shard_doc_bounds(s, width, lo, start, end);
}

olmoe_status shard_doc_metadata(const index_shard *s, uint64_t doc, const char **text,
                                size_t *len) {
    *text = "";
    *len = 0;
    if (!s->metaoff.size) return OLMOE_OK;
    uint64_t a = offset_at(&s->metaoff, doc);
    uint64_t b = doc + 1 < s->n_docs ? offset_at(&s->metaoff, doc + 1) : s->metadata.size;
    if (a > b || b > s->metadata.size)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: metadata of document %" PRIu64 " at bytes %"
                          PRIu64 "..%" PRIu64 " is outside %s", s->metaoff.path, doc, a, b,
                          s->metadata.path);
    while (b > a && (s->metadata.data[b - 1] == '\n' || s->metadata.data[b - 1] == '\r')) b--;
    *text = (const char *)s->metadata.data + a;
    *len = (size_t)(b - a);
    return OLMOE_OK;
}
