/* CNF queries (infini-gram's find_cnf / count_cnf): an AND of clauses,
 * each an OR of n-grams.
 *
 * A match is an occurrence p of the anchor clause (the one with the fewest
 * occurrences in the whole index, the first on ties) such that every other
 * clause has an occurrence within max_diff_tokens of p in the same
 * document. Within one shard, a clause with more than
 * ceil(max_clause_freq / n_shards) occurrences is subsampled: each of its
 * n-gram rank ranges keeps only its first part, and the shard's count is
 * scaled up by the factors dropped (approx). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "trace/index.h"
#include "util/error.h"

/* The n-grams of one clause and their rank ranges ([term * n_shards + shard]). */
typedef struct {
    index_query *terms;
    size_t n_terms;
    olmoe_index_range *ranges;
    uint64_t total; /* occurrences in the whole index */
} cnf_clause;

/* 1 if n-gram a is a prefix of n-gram b (or equal). */
static int is_prefix(const index_query *a, const index_query *b) {
    return a->n_bytes <= b->n_bytes && !memcmp(a->bytes, b->bytes, a->n_bytes);
}

/* 1 if term j of the clause is implied by another: some other n-gram is a
 * prefix of it (the first of equal ones is kept). */
static int redundant(const cnf_clause *c, size_t j) {
    for (size_t i = 0; i < c->n_terms; i++) {
        if (i == j || !is_prefix(&c->terms[i], &c->terms[j])) continue;
        if (c->terms[i].n_bytes < c->terms[j].n_bytes || i < j) return 1;
    }
    return 0;
}

/* Finds a clause's n-grams. One that extends another n-gram of the clause
 * is left out (its range stays empty): its occurrences are the shorter
 * one's already, so the remaining ranges are disjoint and their sizes add
 * up to the number of positions where the clause occurs. */
static olmoe_status clause_find(const olmoe_index *ix, const olmoe_index_clause *c,
                                cnf_clause *out) {
    memset(out, 0, sizeof *out);
    if (c->n_terms == 0) return olmoe_fail(OLMOE_ERR_ARG, "CNF query: a clause has no n-gram");
    out->terms = calloc(c->n_terms, sizeof *out->terms);
    out->ranges = calloc(c->n_terms * (size_t)ix->n_shards, sizeof *out->ranges);
    if (!out->terms || !out->ranges) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (; out->n_terms < c->n_terms; out->n_terms++) {
        const olmoe_index_ngram *t = &c->terms[out->n_terms];
        if (t->n == 0) return olmoe_fail(OLMOE_ERR_ARG, "CNF query: an n-gram is empty");
        olmoe_status st = index_query_encode(ix, t->ids, t->n, &out->terms[out->n_terms]);
        if (st) return st;
    }
    for (size_t t = 0; t < out->n_terms; t++)
        if (!redundant(out, t))
            out->total += index_find_window(ix, &out->terms[t], 0, out->terms[t].n_ids, NULL,
                                            out->ranges + t * (size_t)ix->n_shards);
    return OLMOE_OK;
}

static void clause_free(cnf_clause *c) {
    for (size_t t = 0; c->terms && t < c->n_terms; t++) index_query_release(&c->terms[t]);
    free(c->terms);
    free(c->ranges);
}

static int by_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted positions of a clause in shard s, its ranges subsampled to
 * about `cap` ranks; *factor receives occurrences / positions kept. */
static olmoe_status clause_ptrs(const olmoe_index *ix, const cnf_clause *c, int s, uint64_t cap,
                                uint64_t **ptrs, size_t *n, double *factor) {
    const index_shard *sh = &ix->shards[s];
    uint64_t count = 0, kept = 0;
    for (size_t t = 0; t < c->n_terms; t++) {
        const olmoe_index_range *r = &c->ranges[t * (size_t)ix->n_shards + (size_t)s];
        count += r->end - r->start;
    }
    size_t most = count <= cap ? (size_t)count : (size_t)cap + c->n_terms; /* ceil() per term */
    *ptrs = malloc((most ? most : 1) * sizeof **ptrs);
    if (!*ptrs) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (size_t t = 0; t < c->n_terms; t++) {
        const olmoe_index_range *r = &c->ranges[t * (size_t)ix->n_shards + (size_t)s];
        uint64_t size = r->end - r->start;
        if (count > cap) size = (uint64_t)ceil((double)size * (double)cap / (double)count);
        for (uint64_t i = 0; i < size; i++) {
            uint64_t p = shard_ptr(sh, r->start + i);
            if (p < sh->tokenized.size) (*ptrs)[kept++] = p; /* else a corrupt entry */
        }
    }
    qsort(*ptrs, kept, sizeof **ptrs, by_u64);
    *n = kept;
    *factor = kept ? (double)count / (double)kept : 1.0;
    return OLMOE_OK;
}

/* 1 if no separator lies in bytes [a, b) of the shard's text. */
static int same_document(const index_shard *s, int width, uint64_t a, uint64_t b) {
    for (uint64_t p = a; p < b; p += (uint64_t)width)
        if (shard_token_at(s, width, p) == separator_id(width)) return 0;
    return 1;
}

/* Keeps the anchor positions that have one of `near` (sorted) within
 * `diff` bytes in the same document; returns how many remain. */
static size_t keep_near(const index_shard *s, int width, uint64_t *anchor, size_t n,
                        const uint64_t *near, size_t n_near, uint64_t diff) {
    size_t kept = 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t p = anchor[i], lo = p > diff ? p - diff : 0;
        while (j < n_near && near[j] < lo) j++; /* anchors ascend, so j never goes back */
        int found = 0;
        for (size_t k = j; k < n_near && near[k] <= p + diff && !found; k++)
            found = near[k] < p ? same_document(s, width, near[k], p)
                                : same_document(s, width, p, near[k]);
        if (found) anchor[kept++] = p;
    }
    return kept;
}

/* The matches in shard s: appended to out->ptrs; returns the shard's
 * (scaled) count. */
static olmoe_status shard_cnf(const olmoe_index *ix, const cnf_clause *cl, const size_t *order,
                              size_t n_clauses, int s, uint64_t cap, uint64_t diff,
                              olmoe_index_cnf_result *out, double *count) {
    uint64_t *anchor = NULL, *near = NULL;
    size_t n = 0, n_near;
    double factor = 1.0, f;
    olmoe_status st = clause_ptrs(ix, &cl[order[0]], s, cap, &anchor, &n, &factor);
    for (size_t k = 1; k < n_clauses && !st && n; k++) {
        st = clause_ptrs(ix, &cl[order[k]], s, cap, &near, &n_near, &f);
        if (st) break;
        factor *= f;
        n = keep_near(&ix->shards[s], ix->width, anchor, n, near, n_near, diff);
        free(near);
    }
    if (!st && factor > 1.0) out->approx = 1;
    olmoe_index_ptr *g = st ? NULL : realloc(out->ptrs, (out->n_ptrs + n + 1) * sizeof *g);
    if (!st && !g) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        g[out->n_ptrs].shard = s;
        g[out->n_ptrs++].ptr = anchor[i];
    }
    if (g) out->ptrs = g;
    *count = (double)n * factor;
    free(anchor);
    return st;
}

olmoe_status olmoe_index_find_cnf(const olmoe_index *ix, const olmoe_index_clause *clauses,
                                  size_t n_clauses, const olmoe_index_cnf_params *params,
                                  olmoe_index_cnf_result *out) {
    memset(out, 0, sizeof *out);
    if (n_clauses == 0) return olmoe_fail(OLMOE_ERR_ARG, "CNF query: no clause");
    uint64_t max_freq = params && params->max_clause_freq ? params->max_clause_freq : 50000;
    uint64_t max_diff = params && params->max_diff_tokens ? params->max_diff_tokens : 100;
    if (max_diff > (1ull << 40)) max_diff = 1ull << 40; /* no overflow in bytes */
    uint64_t cap = (max_freq + (uint64_t)ix->n_shards - 1) / (uint64_t)ix->n_shards;
    cnf_clause *cl = calloc(n_clauses, sizeof *cl);
    size_t *order = calloc(n_clauses, sizeof *order);
    olmoe_status st = cl && order ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n_clauses && !st; k++) st = clause_find(ix, &clauses[k], &cl[k]);
    /* Rarest clause first (stable): the anchor, then the filters that
     * drop most anchors early. */
    for (size_t k = 0; !st && k < n_clauses; k++) {
        size_t j = k;
        for (; j > 0 && cl[order[j - 1]].total > cl[k].total; j--) order[j] = order[j - 1];
        order[j] = k;
    }
    double count = 0;
    for (int s = 0; s < ix->n_shards && !st; s++) {
        double c;
        st = shard_cnf(ix, cl, order, n_clauses, s, cap, max_diff * (uint64_t)ix->width, out, &c);
        count += c;
    }
    /* One clause is counted exactly: its ranges' sizes. */
    if (!st && n_clauses == 1) out->approx = 0, count = (double)cl[0].total;
    out->count = (uint64_t)llround(count);
    for (size_t k = 0; cl && k < n_clauses; k++) clause_free(&cl[k]);
    free(cl);
    free(order);
    if (st) {
        free(out->ptrs);
        memset(out, 0, sizeof *out);
    }
    return st;
}

olmoe_status olmoe_index_count_cnf(const olmoe_index *ix, const olmoe_index_clause *clauses,
                                   size_t n_clauses, const olmoe_index_cnf_params *params,
                                   uint64_t *count, int *approx) {
    olmoe_index_cnf_result r;
    olmoe_status st = olmoe_index_find_cnf(ix, clauses, n_clauses, params, &r);
    if (st) return st;
    *count = r.count;
    if (approx) *approx = r.approx;
    free(r.ptrs);
    return OLMOE_OK;
}
