/* Documents: the ones that contain an n-gram (sampled reproducibly), and
 * one by rank, by pointer or by global number, each shown as a window of
 * its tokens with its metadata line. */
#include <inttypes.h>
#include <stdlib.h>

#include "trace/index.h"
#include "util/error.h"
#include "util/rng.h"

/* Where one document window lies, before it is copied out. Byte
 * positions are in the shard's tokenized file. */
typedef struct {
    int shard;
    uint64_t doc;                  /* within the shard */
    uint64_t doc_start, doc_end;   /* the document's tokens */
    uint64_t disp_start, disp_end; /* the tokens shown */
    uint64_t needle;               /* where the match starts */
    const char *meta;
    size_t meta_len;
} doc_window;

/* The window of the document holding byte ptr: `before` tokens before ptr
 * and `after` tokens from it, clipped to the document. */
static olmoe_status locate_window(const olmoe_index *ix, int shard, uint64_t ptr, uint64_t before,
                                  uint64_t after, doc_window *w) {
    if (shard < 0 || shard >= ix->n_shards)
        return olmoe_fail(OLMOE_ERR_ARG, "shard %d does not exist (%d shards)", shard,
                          ix->n_shards);
    const index_shard *s = &ix->shards[shard];
    uint64_t width = (uint64_t)ix->width;
    if (ptr % width)
        return olmoe_fail(OLMOE_ERR_ARG, "pointer %" PRIu64 " is not at a token of %s", ptr,
                          s->tokenized.path);
    w->shard = shard;
    olmoe_status st = shard_locate_doc(s, ix->width, ptr, &w->doc, &w->doc_start, &w->doc_end);
    if (st) return st;
    w->needle = ptr > w->doc_start ? ptr : w->doc_start; /* a pointer at the separator */
    uint64_t back = before < w->needle / width ? before * width : w->needle;
    w->disp_start = w->needle - back > w->doc_start ? w->needle - back : w->doc_start;
    uint64_t room = (w->doc_end - w->needle) / width;
    w->disp_end = w->needle + (after < room ? after : room) * width;
    return shard_doc_metadata(s, w->doc, &w->meta, &w->meta_len);
}

/* Copies the windows into one allocation: the structs, then every token
 * array, then every metadata string. */
static olmoe_status copy_windows(const olmoe_index *ix, const doc_window *w, size_t n,
                                 olmoe_index_doc **out) {
    uint64_t width = (uint64_t)ix->width;
    size_t bytes = n * sizeof(olmoe_index_doc);
    for (size_t i = 0; i < n; i++)
        bytes += (w[i].disp_end - w[i].disp_start) / width * sizeof(int32_t) + w[i].meta_len + 1;
    olmoe_index_doc *docs = malloc(bytes ? bytes : 1);
    if (!docs) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for %zu documents", n);
    int32_t *ids = (int32_t *)(docs + n);
    for (size_t i = 0; i < n; i++) {
        const index_shard *s = &ix->shards[w[i].shard];
        olmoe_index_doc *d = &docs[i];
        d->doc_ix = s->first_doc + w[i].doc;
        d->shard = w[i].shard;
        d->doc_len = (w[i].doc_end - w[i].doc_start) / width;
        d->disp_start = (w[i].disp_start - w[i].doc_start) / width;
        d->disp_len = (size_t)((w[i].disp_end - w[i].disp_start) / width);
        d->needle_offset = (size_t)((w[i].needle - w[i].disp_start) / width);
        d->token_ids = ids;
        for (size_t t = 0; t < d->disp_len; t++)
            ids[t] = (int32_t)read_le(s->tokenized.data + w[i].disp_start + t * width, ix->width);
        ids += d->disp_len;
    }
    char *text = (char *)ids;
    for (size_t i = 0; i < n; i++) {
        memcpy(text, w[i].meta, w[i].meta_len);
        text[w[i].meta_len] = 0;
        docs[i].metadata = text;
        text += w[i].meta_len + 1;
    }
    *out = docs;
    return OLMOE_OK;
}

static olmoe_status one_window(const olmoe_index *ix, int shard, uint64_t ptr, uint64_t before,
                               uint64_t after, olmoe_index_doc **doc) {
    doc_window w;
    olmoe_status st = locate_window(ix, shard, ptr, before, after, &w);
    return st ? st : copy_windows(ix, &w, 1, doc);
}

olmoe_status olmoe_index_get_doc_by_ptr(const olmoe_index *ix, int shard, uint64_t ptr,
                                        size_t max_disp_len, olmoe_index_doc **doc) {
    return one_window(ix, shard, ptr, max_disp_len / 2, max_disp_len - max_disp_len / 2, doc);
}

olmoe_status olmoe_index_get_doc_context(const olmoe_index *ix, int shard, uint64_t ptr,
                                         size_t needle_len, size_t ctx_len,
                                         olmoe_index_doc **doc) {
    return one_window(ix, shard, ptr, ctx_len, (uint64_t)needle_len + ctx_len, doc);
}

olmoe_status olmoe_index_rank_ptr(const olmoe_index *ix, int shard, uint64_t rank,
                                  uint64_t *ptr) {
    if (shard < 0 || shard >= ix->n_shards || rank >= ix->shards[shard].n_tokens)
        return olmoe_fail(OLMOE_ERR_ARG, "rank %" PRIu64 " of shard %d does not exist", rank,
                          shard);
    *ptr = shard_ptr(&ix->shards[shard], rank);
    return OLMOE_OK;
}

olmoe_status olmoe_index_get_doc_by_rank(const olmoe_index *ix, int shard, uint64_t rank,
                                         size_t max_disp_len, olmoe_index_doc **doc) {
    uint64_t ptr = 0;
    olmoe_status st = olmoe_index_rank_ptr(ix, shard, rank, &ptr);
    return st ? st : olmoe_index_get_doc_by_ptr(ix, shard, ptr, max_disp_len, doc);
}

olmoe_status olmoe_index_get_doc_by_ix(const olmoe_index *ix, uint64_t doc_ix,
                                       size_t max_disp_len, olmoe_index_doc **doc) {
    if (doc_ix >= ix->n_docs)
        return olmoe_fail(OLMOE_ERR_ARG, "document %" PRIu64 " does not exist (%" PRIu64
                          " documents)", doc_ix, ix->n_docs);
    int i = 0;
    while (i + 1 < ix->n_shards && ix->shards[i + 1].first_doc <= doc_ix) i++;
    const index_shard *s = &ix->shards[i];
    doc_window w = {.shard = i, .doc = doc_ix - s->first_doc};
    olmoe_status st = shard_doc_bounds(s, ix->width, w.doc, &w.doc_start, &w.doc_end);
    if (st) return st;
    uint64_t room = (w.doc_end - w.doc_start) / (uint64_t)ix->width;
    w.disp_start = w.needle = w.doc_start;
    w.disp_end = w.doc_start + (max_disp_len < room ? max_disp_len : room) * (uint64_t)ix->width;
    if ((st = shard_doc_metadata(s, w.doc, &w.meta, &w.meta_len))) return st;
    return copy_windows(ix, &w, 1, doc);
}

static int by_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* m distinct numbers drawn uniformly from [0, n) (Floyd's algorithm, with
 * a hash set of the numbers drawn), sorted; m <= n. */
static olmoe_status sample_distinct(uint64_t n, size_t m, uint64_t seed, uint64_t *out) {
    size_t cap = 16;
    while (cap < 2 * m) cap *= 2;
    uint64_t *set = calloc(cap, sizeof *set); /* value + 1; 0 is empty */
    if (!set) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    uint64_t rng = seed;
    size_t k = 0;
    for (uint64_t j = n - m; j < n; j++) {
        uint64_t t = splitmix64_below(&rng, j + 1);
        for (int pass = 0; pass < 2; pass++) { /* insert t, or j if t is taken */
            size_t h = (size_t)(t * 0x9E3779B97F4A7C15ull) & (cap - 1);
            while (set[h] && set[h] != t + 1) h = (h + 1) & (cap - 1);
            if (!set[h]) { set[h] = t + 1; break; }
            t = j;
        }
        out[k++] = t;
    }
    free(set);
    qsort(out, m, sizeof *out, by_u64);
    return OLMOE_OK;
}

olmoe_status olmoe_index_search_docs(const olmoe_index *ix, const int32_t *ids, size_t n,
                                     size_t maxnum, size_t max_disp_len, uint64_t seed,
                                     olmoe_index_doc **docs, size_t *n_docs) {
    *docs = NULL;
    *n_docs = 0;
    olmoe_index_range *r = calloc((size_t)ix->n_shards, sizeof *r);
    if (!r) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    uint64_t count;
    olmoe_status st = olmoe_index_find(ix, ids, n, &count, r);
    size_t m = count < maxnum ? (size_t)count : maxnum;
    uint64_t *picks = st || !m ? NULL : malloc(m * sizeof *picks);
    doc_window *w = picks ? calloc(m, sizeof *w) : NULL;
    if (!st && m && !w) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if (!st && m) {
        /* Occurrences numbered across shards: shard 0's ranks first. */
        if (m == count) for (size_t i = 0; i < m; i++) picks[i] = i;
        else st = sample_distinct(count, m, seed, picks);
        int s = 0;
        uint64_t before = 0; /* occurrences in shards before s */
        for (size_t i = 0; i < m && !st; i++) {
            while (picks[i] - before >= r[s].end - r[s].start) before += r[s].end - r[s].start, s++;
            uint64_t ptr = shard_ptr(&ix->shards[s], r[s].start + (picks[i] - before));
            uint64_t half = max_disp_len / 2;
            st = locate_window(ix, s, ptr, half, max_disp_len - half, &w[i]);
        }
        if (!st) st = copy_windows(ix, w, m, docs);
        if (!st) *n_docs = m;
    }
    free(w);
    free(picks);
    free(r);
    return st;
}
