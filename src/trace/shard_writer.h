/* Writing one shard of an index while its documents stream in: tokenized.s,
 * offset.s, metadata.s and metaoff.s grow document by document (as .tmp
 * files), and unigram.s is written from the counts when the shard closes.
 * The suffix array (table.s) is built afterwards from tokenized.s. */
#ifndef OLMOE_TRACE_SHARD_WRITER_H
#define OLMOE_TRACE_SHARD_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"
#include "util/file.h"

typedef struct {
    const char *dir;         /* the index directory (borrowed) */
    int index;               /* the shard's number s */
    int width, vocab_size;
    atomic_file tokenized, offset, metadata, metaoff;
    uint64_t n_tokens;       /* separators counted */
    uint64_t n_docs;
    uint64_t *counts;        /* occurrences of each id, [vocab_size] */
    uint8_t *buf;            /* one document's token bytes */
    size_t buf_cap;
} shard_writer;

/* "dir/kind.s", malloc'ed. */
char *shard_path(const char *dir, const char *kind, int s);

olmoe_status shard_writer_open(shard_writer *w, const char *dir, int s, int width, int vocab_size);
/* Appends a document: the separator, then its ids (each < vocab_size). */
olmoe_status shard_writer_add(shard_writer *w, const int32_t *ids, size_t n_ids,
                              const char *meta_line, size_t meta_len);
/* Writes unigram.s and renames every file into place; adds the bytes of
 * the shard's files to *bytes_written. */
olmoe_status shard_writer_close(shard_writer *w, uint64_t *bytes_written);
/* Removes the .tmp files of a shard that will not be finished. */
void shard_writer_abort(shard_writer *w);

#endif
