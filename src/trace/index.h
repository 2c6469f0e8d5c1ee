/* A loaded corpus index: the mapped files of every shard (infini-gram v4
 * layout, see index_format.h) and the helpers every query shares.
 *
 * Positions are byte offsets into a shard's tokenized file ("pointers", as
 * infini-gram calls them); ranks are indexes into its suffix array. All
 * on-disk integers are little-endian and read byte by byte, so the code
 * does not depend on the host's byte order. */
#ifndef OLMOE_TRACE_INDEX_H
#define OLMOE_TRACE_INDEX_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "io/mapped_file.h"
#include "olmoe.h"
#include "trace/index_tokenizer.h"

typedef struct {
    mapped_file tokenized; /* separator + document tokens, per document */
    mapped_file table;     /* suffix array: n_tokens pointers of ptr_size bytes */
    mapped_file offset;    /* u64 pointer of each document's separator */
    mapped_file metadata;  /* optional: one JSON line per document */
    mapped_file metaoff;   /* optional: u64 offset of each metadata line */
    uint64_t n_tokens;     /* tokenized bytes / width, separators included */
    uint64_t n_docs;
    uint64_t first_doc;    /* global number of this shard's document 0 */
    int ptr_size;
} index_shard;

/* Token counts: a dense array for the ids of real vocabularies, sorted
 * (id, count) pairs above that, so a stray huge u32 id costs 16 bytes, not
 * gigabytes. */
#define UNIGRAM_DENSE_IDS (1u << 22)
typedef struct {
    uint64_t *dense;
    size_t n_dense;
    struct unigram_pair { uint64_t id, count; } *sparse;
    size_t n_sparse, cap_sparse, n_sorted; /* sparse[0..n_sorted) sorted, unique */
} unigram_table;

struct olmoe_index {
    index_shard *shards;
    int n_shards;
    int width;             /* bytes per token: 2 or 4 */
    uint64_t n_tokens, n_docs;
    char *tokenizer_path;  /* NULL when unknown */
    int32_t eos_id;        /* -1 when unknown */
    int32_t vocab_size;    /* 0 when unknown */

    /* Built on first use, under `lock` (queries are otherwise read-only). */
    pthread_mutex_t lock;
    index_tokenizer tok;    /* tok.tok is NULL until loaded */
    unigram_table unigram;  /* separators excluded */
    int unigram_ready;      /* every shard's counts are in `unigram` */
};

/* Little-endian unsigned integer of `size` (1..8) bytes. */
static inline uint64_t read_le(const unsigned char *p, int size) {
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The pointer stored at `rank` of the suffix array. */
static inline uint64_t shard_ptr(const index_shard *s, uint64_t rank) {
    const unsigned char *p = s->table.data + rank * (uint64_t)s->ptr_size;
    if (s->ptr_size == 4) return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                                 (uint64_t)p[3] << 24;
    return read_le(p, s->ptr_size);
}

/* The separator token: all bits set, 0xFFFF for 2-byte tokens. */
static inline uint64_t separator_id(int width) { return width == 2 ? 0xFFFFu : 0xFFFFFFFFu; }

/* Next-token keys in ntd: a token id, or this for "end of file". */
#define INDEX_TOKEN_EOF UINT64_MAX

/* The token starting at byte `ptr`, or INDEX_TOKEN_EOF past the end. */
static inline uint64_t shard_token_at(const index_shard *s, int width, uint64_t ptr) {
    if (ptr >= s->tokenized.size || s->tokenized.size - ptr < (uint64_t)width)
        return INDEX_TOKEN_EOF;
    return read_le(s->tokenized.data + ptr, width);
}

/* A query as the index compares it: the ids as little-endian bytes of the
 * index's token width. Short queries use the inline buffer, so the hot
 * path does not allocate (hence: never copy an index_query). */
typedef struct {
    unsigned char *bytes;
    size_t n_ids, n_bytes;
    unsigned char inline_buf[1024];
} index_query;

/* Fails (OLMOE_ERR_ARG) on ids that do not fit the token width. */
olmoe_status index_query_encode(const olmoe_index *ix, const int32_t *ids, size_t n,
                                index_query *q);
void index_query_release(index_query *q);

/* Rank range [*start, *end) of the suffixes of shard s that begin with
 * q[0..nb), searched within [lo, hi). */
void shard_find(const index_shard *s, const unsigned char *q, size_t nb, uint64_t lo, uint64_t hi,
                uint64_t *start, uint64_t *end);

/* Occurrences of the n-gram made of tokens [from, to) of q (none if it
 * holds a separator), with each shard's rank range in `ranges` (if not
 * NULL). With `within`, each shard is searched only inside within[i]
 * (which may be `ranges` itself: refining a prompt's ranges). */
uint64_t index_find_window(const olmoe_index *ix, const index_query *q, size_t from, size_t to,
                           const olmoe_index_range *within, olmoe_index_range *ranges);

/* Maps and checks the files of shard `suffix` ("0", "1", ...) of an index
 * directory (metadata and metaoff too if with_metadata). */
olmoe_status shard_open(const char *dir, const char *suffix, int width, int with_metadata,
                        index_shard *s);
void shard_close(index_shard *s);

/* Token bytes [*start, *end) of document `doc` (< n_docs) of shard s,
 * separator excluded; fails naming the offset file when inconsistent. */
olmoe_status shard_doc_bounds(const index_shard *s, int width, uint64_t doc, uint64_t *start,
                              uint64_t *end);

/* The document of shard s that holds byte `ptr`: its number within the
 * shard and its token bytes [*start, *end) (separator excluded). Fails
 * naming the offset file when it is inconsistent. */
olmoe_status shard_locate_doc(const index_shard *s, int width, uint64_t ptr, uint64_t *doc,
                              uint64_t *start, uint64_t *end);

/* Document `doc`'s metadata line without its newline ("" without
 * metadata files). */
olmoe_status shard_doc_metadata(const index_shard *s, uint64_t doc, const char **text,
                                size_t *len);

void unigram_table_free(unigram_table *u);

/* Adds the counts of a unigram file (one "id count" pair, or one count,
 * per line) to the index's; they must sum to the shard's n_tokens. */
olmoe_status index_add_unigram_file(olmoe_index *ix, const char *path, uint64_t n_tokens);

/* The index's tokenizer, loaded on first use. */
olmoe_status index_get_tokenizer(const olmoe_index *ix, const tokenizer **tok);

#endif
