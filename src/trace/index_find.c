/* The hot path: binary search of the suffix arrays for the rank range of
 * the suffixes that start with a query, as infini-gram's find; count and
 * OLMoTrace's longest-prefix query on top of it.
 *
 * Suffixes are ordered by memcmp of their little-endian token bytes to the
 * end of the file, and a query of nb bytes matches the suffixes whose first
 * nb bytes equal it. No allocation for queries up to 256 u32 / 512 u16
 * tokens; nothing is written but the caller's outputs, so any number of
 * threads may search at once. */
#include <inttypes.h>
#include <stdlib.h>

#include "trace/index.h"
#include "util/error.h"

olmoe_status index_query_encode(const olmoe_index *ix, const int32_t *ids, size_t n,
                                index_query *q) {
    int w = ix->width;
    q->n_ids = n;
    q->n_bytes = n * (size_t)w;
    q->bytes = q->n_bytes <= sizeof q->inline_buf ? q->inline_buf : malloc(q->n_bytes);
    if (!q->bytes) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for a %zu-token query", n);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint64_t)ids[i] > separator_id(w)) {
            index_query_release(q);
            return olmoe_fail(OLMOE_ERR_ARG, "token id %" PRId32 " (position %zu) does not fit "
                              "the index's %d-byte tokens", ids[i], i, w);
        }
        for (int b = 0; b < w; b++)
            q->bytes[i * (size_t)w + (size_t)b] = (unsigned char)((uint32_t)ids[i] >> (8 * b));
    }
    return OLMOE_OK;
}

void index_query_release(index_query *q) {
    if (q->bytes != q->inline_buf) free(q->bytes);
    q->bytes = NULL;
}

/* 1 if tokens [from, to) of q hold a separator: such an n-gram never
 * occurs inside a document. */
static int has_separator(const index_query *q, int width, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const unsigned char *t = q->bytes + i * (size_t)width;
        int all_ones = 1;
        for (int b = 0; b < width; b++) all_ones &= t[b] == 0xFF;
        if (all_ones) return 1;
    }
    return 0;
}

/* Compares the suffix at byte ptr, cut to nb bytes, with q: 0 iff the
 * suffix starts with q; a suffix that ends before nb bytes sorts first. A
 * pointer outside the text (a corrupt table) reads as the empty suffix. */
static inline int suffix_cmp(const index_shard *s, uint64_t ptr, const unsigned char *q,
                             size_t nb) {
    uint64_t size = s->tokenized.size;
    if (ptr >= size) return -1;
    if (size - ptr >= nb) return memcmp(s->tokenized.data + ptr, q, nb);
    int c = memcmp(s->tokenized.data + ptr, q, (size_t)(size - ptr));
    return c ? c : -1;
}

/* Asks for the table entries of both possible next probes of a binary
 * search over [lo, hi) split at mid while the text at mid is compared: a
 * search waits on memory, not on comparisons. */
static inline void prefetch_next_probes(const index_shard *s, uint64_t lo, uint64_t mid,
                                        uint64_t hi) {
#if defined(__GNUC__)
    __builtin_prefetch(s->table.data + (lo + (mid - lo) / 2) * (uint64_t)s->ptr_size);
    __builtin_prefetch(s->table.data + (mid + 1 + (hi - mid - 1) / 2) * (uint64_t)s->ptr_size);
#endif
}

/* First rank in [lo, hi) whose suffix compares >= q (> q if `after`),
 * or hi. */
static uint64_t first_rank(const index_shard *s, const unsigned char *q, size_t nb, uint64_t lo,
                           uint64_t hi, int after) {
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        prefetch_next_probes(s, lo, mid, hi);
        int c = suffix_cmp(s, shard_ptr(s, mid), q, nb);
        if (c < 0 || (after && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void shard_find(const index_shard *s, const unsigned char *q, size_t nb, uint64_t lo, uint64_t hi,
                uint64_t *start, uint64_t *end) {
    /* One search narrows [lo, hi) until it hits a match; only then do the
     * two ends part ways, each searched on its own side of that match, so
     * most probes serve both ends. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        prefetch_next_probes(s, lo, mid, hi);
        int c = suffix_cmp(s, shard_ptr(s, mid), q, nb);
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            *start = first_rank(s, q, nb, lo, mid, 0);
            *end = first_rank(s, q, nb, mid + 1, hi, 1);
            return;
        }
    }
    *start = *end = lo;
}

uint64_t index_find_window(const olmoe_index *ix, const index_query *q, size_t from, size_t to,
                           const olmoe_index_range *within, olmoe_index_range *ranges) {
    int never = has_separator(q, ix->width, from, to);
    const unsigned char *bytes = q->bytes + from * (size_t)ix->width;
    size_t nb = (to - from) * (size_t)ix->width;
    uint64_t count = 0;
    for (int i = 0; i < ix->n_shards; i++) {
        const index_shard *s = &ix->shards[i];
        uint64_t lo = within ? within[i].start : 0, hi = within ? within[i].end : s->n_tokens;
        uint64_t a = lo, b = hi;
        if (never) b = a;
        else if (nb) shard_find(s, bytes, nb, lo, hi, &a, &b);
        if (ranges) ranges[i].start = a, ranges[i].end = b;
        count += b - a;
    }
    return count;
}

olmoe_status olmoe_index_find(const olmoe_index *ix, const int32_t *ids, size_t n,
                              uint64_t *count, olmoe_index_range *by_shard) {
    index_query q;
    olmoe_status st = index_query_encode(ix, ids, n, &q);
    if (st) return st;
    *count = index_find_window(ix, &q, 0, n, NULL, by_shard);
    index_query_release(&q);
    return OLMOE_OK;
}

olmoe_status olmoe_index_count(const olmoe_index *ix, const int32_t *ids, size_t n,
                               uint64_t *count) {
    return olmoe_index_find(ix, ids, n, count, NULL);
}

/* Bytes the suffix at ptr shares with q[0..nb). */
static size_t common_prefix(const index_shard *s, uint64_t ptr, const unsigned char *q,
                            size_t nb) {
    if (ptr >= s->tokenized.size) return 0;
    uint64_t avail = s->tokenized.size - ptr;
    size_t m = avail < nb ? (size_t)avail : nb, i = 0;
    const unsigned char *t = s->tokenized.data + ptr;
    while (i < m && t[i] == q[i]) i++;
    return i;
}

olmoe_status olmoe_index_longest_prefix(const olmoe_index *ix, const int32_t *ids, size_t n,
                                        size_t start, size_t *len, uint64_t *count) {
    if (start > n)
        return olmoe_fail(OLMOE_ERR_ARG, "longest prefix: start %zu is past the %zu ids", start, n);
    index_query q;
    olmoe_status st = index_query_encode(ix, ids + start, n - start, &q);
    if (st) return st;
    size_t w = (size_t)ix->width, m = 0;
    while (m < q.n_ids && !has_separator(&q, ix->width, m, m + 1)) m++;
    /* One search per shard for the whole query: if it fails, the longest
     * match is shared with a suffix next to where the query would sort,
     * at rank start-1 or start. */
    size_t best = 0;
    uint64_t full = 0;
    for (int i = 0; i < ix->n_shards && m > 0; i++) {
        const index_shard *s = &ix->shards[i];
        uint64_t a, b;
        shard_find(s, q.bytes, m * w, 0, s->n_tokens, &a, &b);
        full += b - a;
        if (b > a) { best = m * w; continue; }
        if (a > 0) {
            size_t l = common_prefix(s, shard_ptr(s, a - 1), q.bytes, m * w);
            if (l > best) best = l;
        }
        if (a < s->n_tokens) {
            size_t l = common_prefix(s, shard_ptr(s, a), q.bytes, m * w);
            if (l > best) best = l;
        }
    }
    *len = best / w;
    *count = *len == m && full ? full : index_find_window(ix, &q, 0, *len, NULL, NULL);
    index_query_release(&q);
    return OLMOE_OK;
}
