#include "trace/shard_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

char *shard_path(const char *dir, const char *kind, int s) {
    char name[64];
    snprintf(name, sizeof name, "%s.%d", kind, s);
    return path_join(dir, name);
}

static olmoe_status open_kind(atomic_file *a, const char *dir, const char *kind, int s) {
    char *path = shard_path(dir, kind, s);
    if (!path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    olmoe_status st = atomic_file_open(a, path);
    free(path);
    return st;
}

olmoe_status shard_writer_open(shard_writer *w, const char *dir, int s, int width, int vocab_size) {
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->index = s;
    w->width = width;
    w->vocab_size = vocab_size;
    w->counts = calloc((size_t)vocab_size, sizeof *w->counts);
    olmoe_status st = w->counts ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st) st = open_kind(&w->tokenized, dir, "tokenized", s);
    if (!st) st = open_kind(&w->offset, dir, "offset", s);
    if (!st) st = open_kind(&w->metadata, dir, "metadata", s);
    if (!st) st = open_kind(&w->metaoff, dir, "metaoff", s);
    if (st) shard_writer_abort(w);
    return st;
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

olmoe_status shard_writer_add(shard_writer *w, const int32_t *ids, size_t n_ids,
                              const char *meta_line, size_t meta_len) {
    size_t bytes = (n_ids + 1) * (size_t)w->width;
    if (bytes > w->buf_cap) {
        uint8_t *b = realloc(w->buf, bytes);
        if (!b) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for %zu tokens", n_ids);
        w->buf = b;
        w->buf_cap = bytes;
    }
    memset(w->buf, 0xff, (size_t)w->width); /* the separator precedes the document */
    uint8_t *p = w->buf + w->width;
    for (size_t i = 0; i < n_ids; i++, p += w->width) {
        uint32_t id = (uint32_t)ids[i];
        if (ids[i] < 0 || ids[i] >= w->vocab_size)
            return olmoe_fail(OLMOE_ERR_ARG, "token id %d outside the vocabulary", ids[i]);
        w->counts[id]++;
        for (int b = 0; b < w->width; b++) p[b] = (uint8_t)(id >> (8 * b));
    }
    uint8_t off[8], metaoff[8];
    put_u64(off, w->tokenized.bytes);
    put_u64(metaoff, w->metadata.bytes);
    olmoe_status st = atomic_file_write(&w->tokenized, w->buf, bytes);
    if (!st) st = atomic_file_write(&w->offset, off, 8);
    if (!st) st = atomic_file_write(&w->metadata, meta_line, meta_len);
    if (!st) st = atomic_file_write(&w->metaoff, metaoff, 8);
    w->n_tokens += n_ids + 1;
    w->n_docs++;
    return st;
}

/* "id count" lines in ascending id; the separator (the largest id) last. */
static olmoe_status write_unigram(shard_writer *w, uint64_t *bytes_written) {
    char *path = shard_path(w->dir, "unigram", w->index);
    atomic_file a;
    olmoe_status st = path ? atomic_file_open(&a, path) : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    free(path);
    if (st) return st;
    char line[64];
    for (int id = 0; !st && id < w->vocab_size; id++) {
        if (!w->counts[id]) continue;
        int n = snprintf(line, sizeof line, "%d %llu\n", id, (unsigned long long)w->counts[id]);
        st = atomic_file_write(&a, line, (size_t)n);
    }
    unsigned long long sep = w->width == 2 ? 0xffffull : 0xffffffffull;
    int n = snprintf(line, sizeof line, "%llu %llu\n", sep, (unsigned long long)w->n_docs);
    if (!st) st = atomic_file_write(&a, line, (size_t)n);
    *bytes_written += a.bytes;
    if (st) atomic_file_abort(&a);
    else st = atomic_file_commit(&a);
    return st;
}

olmoe_status shard_writer_close(shard_writer *w, uint64_t *bytes_written) {
    atomic_file *files[] = {&w->tokenized, &w->offset, &w->metadata, &w->metaoff};
    olmoe_status st = OLMOE_OK;
    for (int i = 0; i < 4; i++) *bytes_written += files[i]->bytes;
    for (int i = 0; !st && i < 4; i++) st = atomic_file_commit(files[i]);
    if (!st) st = write_unigram(w, bytes_written);
    shard_writer_abort(w);
    return st;
}

void shard_writer_abort(shard_writer *w) {
    atomic_file_abort(&w->tokenized);
    atomic_file_abort(&w->offset);
    atomic_file_abort(&w->metadata);
    atomic_file_abort(&w->metaoff);
    free(w->counts);
    free(w->buf);
    memset(w, 0, sizeof *w);
}
