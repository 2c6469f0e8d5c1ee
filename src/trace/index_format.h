/* The on-disk layout of a corpus index: infini-gram's v4 files (so indexes
 * infini-gram publishes load unchanged, and ours load in infini-gram) plus
 * one small manifest of our own, because infini-gram's files record neither
 * the tokenizer nor the token width.
 *
 * Per shard s (decimal, no padding), in one index directory:
 *   tokenized.s  documents, each preceded by the separator (all-0xFF token:
 *                ff ff for u16, ff ff ff ff for u32), token ids little-endian
 *   table.s      suffix array over the token-aligned positions of
 *                tokenized.s, ordered by raw bytes (memcmp of the suffixes
 *                to the end of the file); each entry the byte offset into
 *                tokenized.s, `ptr_size` little-endian bytes, ptr_size =
 *                table bytes / tokens (the builder uses the bytes needed
 *                for tokenized.s's size)
 *   offset.s     u64 LE byte offset of each document's separator
 *   metadata.s   one JSON line per document:
 *                {"path": "<input, relative>", "linenum": N, "metadata": {...}}
 *   metaoff.s    u64 LE byte offset of each document's metadata line
 *   unigram.s    text, one "token_id count" pair per line (separator included;
 *                counts sum to the shard's tokens)
 *
 * Shard order and document numbering follow infini-gram's loader: each kind
 * of file sorted by path as strings (0, 1, 10, 11, ..., 2, ...), documents
 * numbered in that shard order, then across index directories in the order
 * given.
 *
 * INDEX_MANIFEST (JSON, written last, so a directory without it is an
 * unfinished build):
 *   {"format": "infini-gram", "version": 4, "token_width": 2,
 *    "tokenizer": "tokenizer.json",      (a copy inside the index directory,
 *                                         or a path as given at build time)
 *    "eos_token_id": 50279, "vocab_size": 50280,
 *    "n_shards": 3, "n_tokens": N, "n_docs": D,   (separators counted in N)
 *    "builder": "olmoe.c <version>"}
 * Indexes without a manifest (someone else's) load when the caller gives the
 * token width and tokenizer explicitly. */
#ifndef OLMOE_TRACE_INDEX_FORMAT_H
#define OLMOE_TRACE_INDEX_FORMAT_H

#define INDEX_MANIFEST "olmoe-index.json"
#define INDEX_TOKENIZER_COPY "tokenizer.json"

#endif
