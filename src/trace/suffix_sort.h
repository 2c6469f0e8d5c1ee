/* infini-gram's `table` file: the suffix array of a tokenized shard over its
 * token-aligned positions, ordered by the raw bytes of the suffixes (memcmp
 * to the end of the shard), each entry a byte offset of `ptr_size` bytes,
 * little-endian. */
#ifndef OLMOE_TRACE_SUFFIX_SORT_H
#define OLMOE_TRACE_SUFFIX_SORT_H

#include <stdint.h>

#include "olmoe.h"

/* Bytes per table entry for a tokenized file of n bytes: the fewest bytes
 * (at least 1) that hold every offset, i.e. ceil(log2(n) / 8). */
int table_ptr_size(uint64_t n);

/* 1 if sorting n bytes needs 64-bit suffix array entries. */
int suffix_sort_wide(uint64_t n);

/* Peak memory of suffix_table_write for n bytes of text (the text included). */
uint64_t suffix_sort_memory(uint64_t n);

/* Sorts the suffixes of text[0..n) that start at multiples of width (n is a
 * multiple of width) and writes the table to path (atomically). With
 * wide = 0 text must be shorter than 2 GiB; tests pass wide = 1 on small
 * texts to exercise the 64-bit sorter. */
olmoe_status suffix_table_write(const uint8_t *text, uint64_t n, int width, int wide,
                                const char *path);

#endif
