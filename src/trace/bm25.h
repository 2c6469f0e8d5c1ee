/* BM25 Okapi scores, as OLMoTrace ranks the documents it retrieves
 * (Python's rank_bm25.BM25Okapi: k1 = 1.5, b = 0.75, epsilon = 0.25).
 *
 * Words are what Python's str.split(" ") gives: pieces between single
 * spaces, so "a  b" is "a", "", "b" and a newline does not separate words.
 * For a query word q (counted as often as it occurs in the query) and a
 * document d of |d| words,
 *
 *   score(d) = sum_q idf(q) * f(q,d) * (k1 + 1) / (f(q,d) + k1 * (1 - b + b * |d| / avgdl))
 *   idf(q)   = ln(N - n(q) + 0.5) - ln(n(q) + 0.5)
 *
 * with N documents, n(q) of them holding q, avgdl their mean length. A
 * negative idf becomes epsilon times the mean idf of every corpus word; a
 * query word that no document holds adds nothing. */
#ifndef OLMOE_TRACE_BM25_H
#define OLMOE_TRACE_BM25_H

#include <stddef.h>

#include "olmoe.h"

#define BM25_K1 1.5
#define BM25_B 0.75
#define BM25_EPSILON 0.25

/* Number of words of s[0..len) (separators + 1: "" is one word). */
size_t bm25_word_count(const char *s, size_t len);

/* scores[i] for docs[i] (lens[i] bytes each) against the query. */
olmoe_status bm25_scores(const char *const *docs, const size_t *lens, size_t n_docs,
                         const char *query, size_t query_len, double *scores);

#endif
