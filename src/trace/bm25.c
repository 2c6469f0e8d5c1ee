/* BM25 Okapi over a handful of retrieved documents (see bm25.h). One hash
 * table holds every distinct word of the query and the documents, pointing
 * into the caller's text, so scoring allocates twice whatever the sizes. */
#include "trace/bm25.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* One distinct word. Document numbers are stored + 1 so that 0 means
 * "none yet". */
typedef struct {
    const char *word; /* NULL: empty slot */
    size_t len;
    size_t n_docs;    /* documents holding it */
    size_t last_doc;  /* the last document counted in n_docs */
    size_t in_query;  /* occurrences in the query */
    size_t tf_doc, tf; /* occurrences in document tf_doc */
    size_t scored_doc; /* the last document it was added to */
    double idf;
} word_entry;

typedef struct {
    word_entry *slots;
    size_t mask;
} word_table;

/* Splits like Python's str.split(" "): every single space ends a word. */
typedef struct {
    const char *at, *end;
    int done;
} word_iter;

static word_iter words_of(const char *s, size_t len) { return (word_iter){s, s + len, 0}; }

static int word_next(word_iter *it, const char **w, size_t *n) {
    if (it->done) return 0;
    const char *space = it->at < it->end ? memchr(it->at, ' ', (size_t)(it->end - it->at)) : NULL;
    *w = it->at;
    *n = (size_t)((space ? space : it->end) - it->at);
    if (space) it->at = space + 1;
    else it->done = 1;
    return 1;
}

size_t bm25_word_count(const char *s, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += s[i] == ' ';
    return n;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* The entry of word w, created if new (the table never fills: it has at
 * least twice as many slots as there are words). */
static word_entry *lookup(word_table *t, const char *w, size_t n) {
    size_t i = (size_t)hash_bytes(w, n) & t->mask;
    while (t->slots[i].word && !(t->slots[i].len == n && !memcmp(t->slots[i].word, w, n)))
        i = (i + 1) & t->mask;
    word_entry *e = &t->slots[i];
    if (!e->word) {
        e->word = w;
        e->len = n;
    }
    return e;
}

/* Document frequencies and lengths; returns the mean length. */
static double count_documents(word_table *t, const char *const *docs, const size_t *lens,
                              size_t n_docs, size_t *doc_len) {
    double total = 0;
    for (size_t d = 0; d < n_docs; d++) {
        word_iter it = words_of(docs[d], lens[d]);
        const char *w;
        size_t n;
        doc_len[d] = 0;
        while (word_next(&it, &w, &n)) {
            word_entry *e = lookup(t, w, n);
            if (e->last_doc != d + 1) {
                e->n_docs++;
                e->last_doc = d + 1;
            }
            doc_len[d]++;
        }
        total += (double)doc_len[d];
    }
    return total / (double)n_docs;
}

/* idf of every corpus word; negative ones become epsilon x the mean idf. */
static void compute_idf(word_table *t, size_t n_docs) {
    double sum = 0;
    size_t n_words = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        word_entry *e = &t->slots[i];
        if (!e->word || !e->n_docs) continue;
        e->idf = log((double)n_docs - (double)e->n_docs + 0.5) - log((double)e->n_docs + 0.5);
        sum += e->idf;
        n_words++;
    }
    double floor_idf = BM25_EPSILON * sum / (double)n_words;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].word && t->slots[i].n_docs && t->slots[i].idf < 0)
            t->slots[i].idf = floor_idf;
}

/* Score of document d: term frequencies of the query words first, then one
 * term per distinct query word. */
static double score_document(word_table *t, const char *doc, size_t len, size_t d, double dl,
                             double avgdl) {
    word_iter it = words_of(doc, len);
    const char *w;
    size_t n;
    while (word_next(&it, &w, &n)) {
        word_entry *e = lookup(t, w, n);
        if (!e->in_query) continue;
        if (e->tf_doc != d + 1) e->tf_doc = d + 1, e->tf = 0;
        e->tf++;
    }
    double score = 0, norm = BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl);
    it = words_of(doc, len);
    while (word_next(&it, &w, &n)) {
        word_entry *e = lookup(t, w, n);
        if (!e->in_query || e->scored_doc == d + 1) continue;
        e->scored_doc = d + 1;
        double tf = (double)e->tf;
        score += (double)e->in_query * e->idf * tf * (BM25_K1 + 1) / (tf + norm);
    }
    return score;
}

olmoe_status bm25_scores(const char *const *docs, const size_t *lens, size_t n_docs,
                         const char *query, size_t query_len, double *scores) {
    if (n_docs == 0) return OLMOE_OK;
    size_t n_words = bm25_word_count(query, query_len), cap = 16;
    for (size_t d = 0; d < n_docs; d++) n_words += bm25_word_count(docs[d], lens[d]);
    while (cap < 2 * n_words) cap *= 2;
    word_table t = {calloc(cap, sizeof(word_entry)), cap - 1};
    size_t *doc_len = malloc(n_docs * sizeof *doc_len);
    if (!t.slots || !doc_len) {
        free(t.slots);
        free(doc_len);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory ranking %zu documents", n_docs);
    }
    word_iter it = words_of(query, query_len);
    const char *w;
    size_t n;
    while (word_next(&it, &w, &n)) lookup(&t, w, n)->in_query++;
    double avgdl = count_documents(&t, docs, lens, n_docs, doc_len);
    compute_idf(&t, n_docs);
    for (size_t d = 0; d < n_docs; d++)
        scores[d] = score_document(&t, docs[d], lens[d], d, (double)doc_len[d], avgdl);
    free(t.slots);
    free(doc_len);
    return OLMOE_OK;
}
