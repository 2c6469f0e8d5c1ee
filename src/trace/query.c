/* n-gram probabilities and next-token distributions (infini-gram's prob,
 * ntd, infgram_prob and infgram_ntd) on top of the suffix-array search. */
#include <stdlib.h>

#include "trace/index.h"
#include "util/error.h"

static olmoe_index_range *alloc_ranges(const olmoe_index *ix) {
    olmoe_index_range *r = calloc((size_t)ix->n_shards, sizeof *r);
    if (!r) olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    return r;
}

/* The longest suffix [n - L, n) of q's first n tokens that occurs: its
 * length, found with O(log n) searches: lengths 1, 2, 4, ... until one does
 * not occur, then bisection (counts only shrink as the suffix grows). */
static size_t longest_suffix(const olmoe_index *ix, const index_query *q, size_t n) {
    size_t good = 0, bad = n + 1, len = 1;
    while (len <= n && index_find_window(ix, q, n - len, n, NULL, NULL) > 0) {
        good = len;
        len *= 2;
    }
    if (len <= n) bad = len;
    while (bad - good > 1) {
        size_t mid = good + (bad - good) / 2;
        if (index_find_window(ix, q, n - mid, n, NULL, NULL) > 0) good = mid;
        else bad = mid;
    }
    return good;
}

/* prob for the prompt made of tokens [from, n) of q and the continuation
 * token n: the continuation is searched inside the prompt's ranges. */
static olmoe_status prob_window(const olmoe_index *ix, const index_query *q, size_t from,
                                size_t n, olmoe_index_prob_result *out) {
    olmoe_index_range *r = alloc_ranges(ix);
    if (!r) return OLMOE_ERR_NOMEM;
    out->prompt_cnt = index_find_window(ix, q, from, n, NULL, r);
    out->cont_cnt = out->prompt_cnt ? index_find_window(ix, q, from, n + 1, r, r) : 0;
    out->prob = out->prompt_cnt ? (double)out->cont_cnt / (double)out->prompt_cnt : -1.0;
    out->suffix_len = n - from;
    free(r);
    return OLMOE_OK;
}

/* Encodes prompt + cont as one query. */
static olmoe_status encode_with_cont(const olmoe_index *ix, const int32_t *prompt, size_t n,
                                     int32_t cont, index_query *q) {
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (n) memcpy(ids, prompt, n * sizeof *ids);
    ids[n] = cont;
    olmoe_status st = index_query_encode(ix, ids, n + 1, q);
    free(ids);
    return st;
}

olmoe_status olmoe_index_prob(const olmoe_index *ix, const int32_t *prompt, size_t n,
                              int32_t cont, olmoe_index_prob_result *out) {
    index_query q;
    olmoe_status st = encode_with_cont(ix, prompt, n, cont, &q);
    if (st) return st;
    st = prob_window(ix, &q, 0, n, out);
    index_query_release(&q);
    return st;
}

olmoe_status olmoe_index_infgram_prob(const olmoe_index *ix, const int32_t *prompt, size_t n,
                                      int32_t cont, olmoe_index_prob_result *out) {
    index_query q;
    olmoe_status st = encode_with_cont(ix, prompt, n, cont, &q);
    if (st) return st;
    st = prob_window(ix, &q, n - longest_suffix(ix, &q, n), n, out);
    index_query_release(&q);
    return st;
}

/* ------------------------------------------------------------------ ntd */

/* The next tokens tallied so far. Ranks come in sorted order, so equal
 * next tokens of one shard arrive together and merge with the last entry. */
typedef struct {
    const index_shard *s;
    int width;
    size_t skip;   /* bytes of the prompt: the next token starts there */
    uint64_t unit; /* ranks represented by one sampled rank */
    uint64_t start, end; /* the shard's range */
    struct tally { uint64_t key, count; } *items;
    size_t n, cap;
    int failed;
} ntd_tally;

static void tally_add(ntd_tally *t, uint64_t key, uint64_t count) {
    if (t->n && t->items[t->n - 1].key == key) {
        t->items[t->n - 1].count += count;
        return;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        struct tally *g = realloc(t->items, cap * sizeof *g);
        if (!g) { t->failed = 1; return; }
        t->items = g;
        t->cap = cap;
    }
    t->items[t->n].key = key;
    t->items[t->n++].count = count;
}

/* The next token after the sample of block k (its first rank). */
static uint64_t block_key(const ntd_tally *t, uint64_t k) {
    uint64_t ptr = shard_ptr(t->s, t->start + k * t->unit);
    if (ptr >= t->s->tokenized.size) return INDEX_TOKEN_EOF; /* corrupt entry; no overflow below */
    return shard_token_at(t->s, t->width, ptr + t->skip);
}

/* Ranks in blocks [k0, k1). */
static uint64_t block_ranks(const ntd_tally *t, uint64_t k0, uint64_t k1) {
    uint64_t a = t->start + k0 * t->unit, b = t->start + k1 * t->unit;
    return (b < t->end ? b : t->end) - a;
}

/* Blocks [k0, k1) whose first and last samples have next tokens key0 and
 * key1. The suffixes are sorted, so when those agree every sample between
 * them has the same next token, and the whole stretch is tallied at once. */
static void tally_blocks(ntd_tally *t, uint64_t k0, uint64_t k1, uint64_t key0, uint64_t key1) {
    if (key0 == key1) {
        tally_add(t, key0, block_ranks(t, k0, k1));
        return;
    }
    if (k1 - k0 == 2) {
        tally_add(t, key0, block_ranks(t, k0, k0 + 1));
        tally_add(t, key1, block_ranks(t, k0 + 1, k1));
        return;
    }
    uint64_t mid = k0 + (k1 - k0) / 2;
    tally_blocks(t, k0, mid, key0, block_key(t, mid - 1));
    tally_blocks(t, mid, k1, block_key(t, mid), key1);
}

static int by_key(const void *a, const void *b) {
    uint64_t x = ((const struct tally *)a)->key, y = ((const struct tally *)b)->key;
    return x < y ? -1 : x > y;
}

static int by_count_desc(const void *a, const void *b) {
    const olmoe_index_next_token *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Merges the tallies of every shard into out->tokens: separators and the
 * end of the file become eos_id. */
static olmoe_status ntd_result(ntd_tally *t, int width, int32_t eos_id,
                               olmoe_index_ntd_result *out) {
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].key == INDEX_TOKEN_EOF || t->items[i].key == separator_id(width))
            t->items[i].key = (uint64_t)(uint32_t)eos_id;
    if (t->n) qsort(t->items, t->n, sizeof *t->items, by_key);
    out->tokens = malloc((t->n ? t->n : 1) * sizeof *out->tokens);
    if (!out->tokens) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (m && out->tokens[m - 1].id == (int32_t)(uint32_t)t->items[i].key) {
            out->tokens[m - 1].count += t->items[i].count;
            continue;
        }
        out->tokens[m].id = (int32_t)(uint32_t)t->items[i].key;
        out->tokens[m++].count = t->items[i].count;
    }
    for (size_t i = 0; i < m; i++)
        out->tokens[i].prob = (double)out->tokens[i].count / (double)out->prompt_cnt;
    qsort(out->tokens, m, sizeof *out->tokens, by_count_desc);
    out->n_tokens = m;
    return OLMOE_OK;
}

/* ntd for the prompt made of tokens [from, n) of q. */
static olmoe_status ntd_window(const olmoe_index *ix, const index_query *q, size_t from,
                               size_t n, int max_support, int32_t eos_id,
                               olmoe_index_ntd_result *out) {
    memset(out, 0, sizeof *out);
    out->suffix_len = n - from;
    olmoe_index_range *r = alloc_ranges(ix);
    if (!r) return OLMOE_ERR_NOMEM;
    out->prompt_cnt = index_find_window(ix, q, from, n, NULL, r);
    uint64_t support = max_support > 0 ? (uint64_t)max_support : 1000, unit = 1;
    while (out->prompt_cnt > unit * support) unit *= 2;
    out->approx = unit > 1;
    ntd_tally t = {.width = ix->width, .skip = (n - from) * (size_t)ix->width, .unit = unit};
    for (int i = 0; i < ix->n_shards && !t.failed; i++) {
        if (r[i].end == r[i].start) continue;
        t.s = &ix->shards[i];
        t.start = r[i].start;
        t.end = r[i].end;
        uint64_t blocks = (t.end - t.start + unit - 1) / unit;
        if (blocks == 1) tally_add(&t, block_key(&t, 0), t.end - t.start);
        else tally_blocks(&t, 0, blocks, block_key(&t, 0), block_key(&t, blocks - 1));
    }
    olmoe_status st = t.failed ? olmoe_fail(OLMOE_ERR_NOMEM, "out of memory")
                               : ntd_result(&t, ix->width, eos_id, out);
    free(t.items);
    free(r);
    return st;
}

olmoe_status olmoe_index_ntd(const olmoe_index *ix, const int32_t *prompt, size_t n,
                             int max_support, int32_t eos_id, olmoe_index_ntd_result *out) {
    index_query q;
    olmoe_status st = index_query_encode(ix, prompt, n, &q);
    if (st) return st;
    st = ntd_window(ix, &q, 0, n, max_support, eos_id, out);
    index_query_release(&q);
    return st;
}

olmoe_status olmoe_index_infgram_ntd(const olmoe_index *ix, const int32_t *prompt, size_t n,
                                     int max_support, int32_t eos_id,
                                     olmoe_index_ntd_result *out) {
    index_query q;
    olmoe_status st = index_query_encode(ix, prompt, n, &q);
    if (st) return st;
    st = ntd_window(ix, &q, n - longest_suffix(ix, &q, n), n, max_support, eos_id, out);
    index_query_release(&q);
    return st;
}
