/* OLMoTrace on a corpus index (the algorithm is described in olmoe.h):
 * spans of the text found in the corpus, the documents holding them, their
 * BM25 ranking, and merged spans (olmotrace_json.c prints a result).
 *
 * Everything goes through the public olmoe_index_* queries, which are
 * thread-safe, so the two costly steps (the longest match at every word
 * start, and fetching and decoding every document window) run in parallel. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "olmoe.h"
#include "trace/bm25.h"
#include "util/error.h"
#include "util/rng.h"
#include "util/utf8.h"

/* log-probability OLMoTrace gives a token the corpus never holds */
#define UNSEEN_LOGPROB (-10000.0)
/* relevance = bm25 / (RELEVANCE_SCALE x query words), as the OLMo playground */
#define RELEVANCE_SCALE 0.18
/* Tokens of the text a longest-match query starts with (doubled when the
 * match reaches its end): short enough to stay in the index's inline query
 * buffer, and it keeps a long text from costing quadratic work. */
#define MATCH_WINDOW 256

olmoe_trace_params olmoe_trace_default_params(void) {
    olmoe_trace_params p = {0};
    p.max_docs_per_span = 10;
    p.context_tokens = 250;
    p.snippet_tokens = 40;
    p.span_density = 0.05;
    p.max_count = 1000000;
    p.min_len = 1;
    p.seed = 42;
    return p;
}

/* ------------------------------------------------------------ the text */

/* The traced text as tokens, with where each token's bytes lie. */
typedef struct {
    const char *text; /* the caller's bytes, or `nfc` */
    size_t len;
    char *nfc;        /* owned NFC form when the caller's bytes did not match */
    int32_t *ids;
    size_t n;
    size_t *at;          /* n + 1 byte offsets: token i is text[at[i] .. at[i+1]) */
    unsigned char *bow;  /* token i starts a word */
} token_text;

static void token_text_free(token_text *t) {
    free(t->nfc);
    olmoe_free(t->ids);
    free(t->at);
    free(t->bow);
}

static int valid_utf8(const char *s, size_t len) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* Fills at[] and bow[] from the tokens' bytes; returns 1 if they spell
 * text[0..len) exactly. */
static int match_token_bytes(const olmoe_index *ix, token_text *t, const char *text, size_t len) {
    size_t pos = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *b;
        size_t k;
        if (olmoe_index_token_bytes(ix, t->ids[i], &b, &k) || k > len - pos ||
            memcmp(text + pos, b, k))
            return 0;
        t->at[i] = pos;
        t->bow[i] = i == 0 || (k > 0 && (b[0] == ' ' || b[0] == '\n'));
        pos += k;
    }
    t->at[t->n] = pos;
    return pos == len;
}

/* Tokenizes the text and finds each token's bytes in it: in the text as
 * given, or else (the tokenizer normalizes to NFC) in its NFC form. */
static olmoe_status tokenize_text(const olmoe_index *ix, const char *text, size_t len,
                                  token_text *t) {
    memset(t, 0, sizeof *t);
    if (!valid_utf8(text, len))
        return olmoe_fail(OLMOE_ERR_ARG, "trace: the text is not valid UTF-8");
    olmoe_status st = olmoe_index_tokenize(ix, text, len, &t->ids, &t->n);
    if (st) return st;
    t->at = malloc((t->n + 1) * sizeof *t->at);
    t->bow = malloc(t->n + 1);
    if (!t->at || !t->bow) return olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    t->text = text;
    t->len = len;
    if (match_token_bytes(ix, t, text, len)) return OLMOE_OK;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfc,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) return olmoe_fail(OLMOE_ERR_ARG, "trace: %s", utf8proc_errmsg(n));
    t->nfc = (char *)nfc;
    t->text = t->nfc;
    t->len = (size_t)n;
    if (match_token_bytes(ix, t, t->text, t->len)) return OLMOE_OK;
    return olmoe_fail(OLMOE_ERR_UNSUPPORTED,
                      "trace: the tokenizer's tokens do not spell the text (nor its NFC form)");
}

/* ------------------------------------------------------------ spans */

typedef struct {
    size_t l, len;  /* tokens [l, l + len) */
    uint64_t count;
    double rarity;  /* sum of the tokens' unigram log-probabilities */
    size_t merged;  /* the merged span it belongs to */
} span;

/* The ids of the tokens that are exactly "." and "\n" (-1 if none). */
static void delimiter_ids(const olmoe_index *ix, int32_t delim[2]) {
    const char *text[2] = {".", "\n"};
    for (int k = 0; k < 2; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        delim[k] = !olmoe_index_tokenize(ix, text[k], 1, &ids, &n) && n == 1 ? ids[0] : -1;
        olmoe_free(ids);
    }
}

/* The span starting at token l: the longest match ending by `stop`, just
 * after the first "." or "\n" token from l on (OLMoTrace's delimiter cut,
 * done by not looking further), then shortened until the next token starts
 * a word (or the text ends). */
static olmoe_status span_at(const olmoe_index *ix, const token_text *t, size_t stop, size_t l,
                            span *s) {
    size_t len, window = MATCH_WINDOW;
    uint64_t count;
    for (;;) {
        size_t end = stop - l > window ? l + window : stop;
        olmoe_status st = olmoe_index_longest_prefix(ix, t->ids, end, l, &len, &count);
        if (st) return st;
        if (end == stop || len < end - l) break;
        window *= 2;
    }
    size_t cut = len;
    while (cut > 0 && l + cut < t->n && !t->bow[l + cut]) cut--;
    olmoe_status st = OLMOE_OK;
    if (cut > 0 && cut != len) st = olmoe_index_count(ix, t->ids + l, cut, &count);
    s->len = cut;
    s->count = cut ? count : 0;
    return st;
}

static int by_rarity(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->rarity != y->rarity) return x->rarity < y->rarity ? -1 : 1;
    return x->l < y->l ? -1 : x->l > y->l;
}

static int by_start(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->l != y->l) return x->l < y->l ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Steps 1 and 2 of olmoe.h: the kept spans, by start, into s (n entries
 * of room); returns how many through *n_spans. */
static olmoe_status find_spans(const olmoe_index *ix, const token_text *t,
                               const olmoe_trace_params *p, int threads, span *s,
                               size_t *n_spans) {
    int32_t delim[2];
    delimiter_ids(ix, delim);
    /* stop[l]: where a span starting at l must end at the latest */
    size_t *stop = malloc((t->n + 1) * sizeof *stop);
    if (!stop) return olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    stop[t->n] = t->n;
    for (size_t l = t->n; l-- > 0;)
        stop[l] = t->ids[l] == delim[0] || t->ids[l] == delim[1] ? l + 1 : stop[l + 1];
    error_slot err = {0};
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (size_t l = 0; l < t->n; l++) {
        s[l] = (span){.l = l};
        if (t->bow[l] && !err.st) error_slot_catch(&err, span_at(ix, t, stop[l], l, &s[l]));
    }
    free(stop);
    if (err.st) return error_slot_raise(&err);
    /* Filters, then maximality: each span must end past every earlier one. */
    size_t kept = 0, right = 0, min_len = p->min_len ? p->min_len : 1;
    for (size_t l = 0; l < t->n; l++) {
        if (s[l].len < min_len || s[l].count > p->max_count || l + s[l].len <= right) continue;
        right = s[l].l + s[l].len;
        s[kept++] = s[l];
    }
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    for (size_t i = 0; i < kept; i++) {
        s[i].rarity = 0;
        for (size_t k = s[i].l; k < s[i].l + s[i].len; k++) {
            uint64_t c = 0;
            olmoe_status st = olmoe_index_unigram_count(ix, t->ids[k], &c);
            if (st) return st;
            s[i].rarity += c ? log((double)c / (double)info.n_tokens) : UNSEEN_LOGPROB;
        }
    }
    double want = ceil(p->span_density * (double)t->n);
    size_t k = want <= 0 ? 0 : want >= (double)kept ? kept : (size_t)want;
    qsort(s, kept, sizeof *s, by_rarity);
    qsort(s, k, sizeof *s, by_start);
    *n_spans = k;
    return OLMOE_OK;
}

/* Merges overlapping spans (sorted by start, then length): s[i].merged
 * receives the merged span's number; returns how many there are. */
static size_t merge_spans(span *s, size_t n, span *merged) {
    size_t m = 0, longest = 0; /* the longest member of merged[m - 1] */
    for (size_t i = 0; i < n; i++) {
        span *cur = m ? &merged[m - 1] : NULL;
        if (cur && s[i].l < cur->l + cur->len) {
            if (s[i].l + s[i].len > cur->l + cur->len) cur->len = s[i].l + s[i].len - cur->l;
            if (s[i].len > longest) longest = s[i].len, cur->count = s[i].count;
        } else {
            merged[m++] = s[i];
            longest = s[i].len;
        }
        s[i].merged = m - 1;
    }
    return m;
}

/* ------------------------------------------------------------ documents */

/* One occurrence of a span, shown as a window of its document. */
typedef struct {
    size_t span;
    int shard;
    uint64_t ptr;
    uint64_t doc_ix;
    char *metadata, *context, *snippet; /* owned */
    size_t snippet_start, snippet_end;  /* the span's bytes in the snippet */
    double bm25, relevance;
    size_t doc; /* its document's place in the result */
} window;

static void window_free(window *w) {
    free(w->metadata);
    olmoe_free(w->context);
    free(w->snippet);
}

/* m distinct occurrence numbers from [0, count), sorted (Floyd's algorithm:
 * each draw below j either is new or is replaced by j, which is). */
static void sample_occurrences(uint64_t count, size_t m, uint64_t seed, uint64_t *out) {
    uint64_t rng = seed;
    for (uint64_t j = count - m, k = 0; j < count; j++, k++) {
        uint64_t pick = splitmix64_below(&rng, j + 1);
        for (uint64_t i = 0; i < k; i++)
            if (out[i] == pick) { pick = j; break; }
        out[k] = pick;
        for (uint64_t i = k; i > 0 && out[i - 1] > out[i]; i--) { /* keep sorted */
            uint64_t x = out[i];
            out[i] = out[i - 1];
            out[i - 1] = x;
        }
    }
}

/* The occurrences each span gets documents from: all of them in rank order
 * when there are at most max_docs_per_span, else a sample. */
static olmoe_status pick_windows(const olmoe_index *ix, const token_text *t, const span *s,
                                 size_t n_spans, const olmoe_trace_params *p, window *w,
                                 size_t *n_windows) {
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    olmoe_index_range *ranges = malloc((size_t)info.n_shards * sizeof *ranges);
    uint64_t *picks = malloc((p->max_docs_per_span + 1) * sizeof *picks);
    olmoe_status st = ranges && picks ? OLMOE_OK
                                      : olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < n_spans && !st; i++) {
        uint64_t count;
        if ((st = olmoe_index_find(ix, t->ids + s[i].l, s[i].len, &count, ranges))) break;
        size_t m = count < p->max_docs_per_span ? (size_t)count : p->max_docs_per_span;
        if (m == count) for (size_t k = 0; k < m; k++) picks[k] = k;
        else sample_occurrences(count, m, p->seed, picks);
        int shard = 0;
        uint64_t before = 0; /* occurrences in the shards before `shard` */
        for (size_t k = 0; k < m && !st; k++) {
            while (picks[k] - before >= ranges[shard].end - ranges[shard].start)
                before += ranges[shard].end - ranges[shard].start, shard++;
            memset(&w[n], 0, sizeof w[n]);
            w[n].span = i;
            w[n].shard = shard;
            uint64_t rank = ranges[shard].start + picks[k] - before;
            st = olmoe_index_rank_ptr(ix, shard, rank, &w[n++].ptr);
        }
    }
    free(ranges);
    free(picks);
    *n_windows = n;
    return st;
}

/* ids[a..b) and ids[b..c) and ids[c..d) decoded one after the other: the
 * snippet and where its middle part lies. */
static olmoe_status decode_snippet(const olmoe_index *ix, const int32_t *ids, size_t a, size_t b,
                                   size_t c, size_t d, window *w) {
    char *part[3] = {NULL, NULL, NULL};
    size_t from[4] = {a, b, c, d}, len[3];
    olmoe_status st = OLMOE_OK;
    for (int k = 0; k < 3 && !st; k++)
        if (!(st = olmoe_index_detokenize(ix, ids + from[k], from[k + 1] - from[k], &part[k])))
            len[k] = strlen(part[k]);
    if (!st && !(w->snippet = malloc(len[0] + len[1] + len[2] + 1)))
        st = olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    if (!st) {
        memcpy(w->snippet, part[0], len[0]);
        memcpy(w->snippet + len[0], part[1], len[1]);
        memcpy(w->snippet + len[0] + len[1], part[2], len[2] + 1);
        w->snippet_start = len[0];
        w->snippet_end = len[0] + len[1];
    }
    for (int k = 0; k < 3; k++) olmoe_free(part[k]);
    return st;
}

/* The window's document: context_tokens either side of the match decoded
 * (for BM25), and the snippet around it. */
static olmoe_status fetch_window(const olmoe_index *ix, const span *s,
                                 const olmoe_trace_params *p, window *w) {
    olmoe_index_doc *d;
    olmoe_status st =
        olmoe_index_get_doc_context(ix, w->shard, w->ptr, s->len, p->context_tokens, &d);
    if (st) return st;
    w->doc_ix = d->doc_ix;
    size_t at = d->needle_offset < d->disp_len ? d->needle_offset : d->disp_len;
    size_t end = at + s->len < d->disp_len ? at + s->len : d->disp_len;
    size_t lo = at > p->snippet_tokens ? at - p->snippet_tokens : 0;
    size_t hi = d->disp_len - end > p->snippet_tokens ? end + p->snippet_tokens : d->disp_len;
    if (!(w->metadata = strdup(d->metadata)))
        st = olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    if (!st) st = olmoe_index_detokenize(ix, d->token_ids, d->disp_len, &w->context);
    if (!st) st = decode_snippet(ix, d->token_ids, lo, at, end, hi, w);
    olmoe_free(d);
    return st;
}

/* BM25 of every window's context against prompt + " " + text. */
static olmoe_status rank_windows(const token_text *t, const char *prompt, window *w, size_t n) {
    size_t plen = prompt ? strlen(prompt) : 0, qlen = prompt ? plen + 1 + t->len : t->len;
    char *query = malloc(qlen + 1);
    const char **docs = malloc((n + 1) * sizeof *docs);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    double *scores = malloc((n + 1) * sizeof *scores);
    olmoe_status st = query && docs && lens && scores
                          ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    if (!st) {
        if (prompt) memcpy(query, prompt, plen), query[plen] = ' ';
        memcpy(query + (prompt ? plen + 1 : 0), t->text, t->len);
        for (size_t i = 0; i < n; i++) docs[i] = w[i].context, lens[i] = strlen(w[i].context);
        st = bm25_scores(docs, lens, n, query, qlen, scores);
    }
    double scale = st ? 1 : RELEVANCE_SCALE * (double)bm25_word_count(query, qlen);
    for (size_t i = 0; i < n && !st; i++) {
        w[i].bm25 = scores[i];
        w[i].relevance = fmin(fmax(scores[i] / scale, 0), 1);
    }
    free(query);
    free(docs);
    free(lens);
    free(scores);
    return st;
}

static int by_doc_then_score(const void *a, const void *b) {
    const window *x = *(const window *const *)a, *y = *(const window *const *)b;
    if (x->doc_ix != y->doc_ix) return x->doc_ix < y->doc_ix ? -1 : 1;
    if (x->bm25 != y->bm25) return x->bm25 > y->bm25 ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_relevance(const void *a, const void *b) {
    const window *x = *(const window *const *)a, *y = *(const window *const *)b;
    if (x->relevance != y->relevance) return x->relevance > y->relevance ? -1 : 1;
    if (x->bm25 != y->bm25) return x->bm25 > y->bm25 ? -1 : 1;
    return x->doc_ix < y->doc_ix ? -1 : x->doc_ix > y->doc_ix;
}

/* One document per doc_ix, shown by its best-scoring window, sorted by
 * relevance into best[0..*n_docs); every window's `doc` receives its
 * document's place there. */
static olmoe_status rank_documents(window *w, size_t n, window **best, size_t *n_docs) {
    for (size_t i = 0; i < n; i++) best[i] = &w[i];
    qsort(best, n, sizeof *best, by_doc_then_score);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || best[i]->doc_ix != best[k - 1]->doc_ix) best[k++] = best[i];
        best[i]->doc = k - 1; /* for now: the place in doc_ix order */
    }
    size_t *place = malloc((k + 1) * sizeof *place);
    if (!place) return olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    qsort(best, k, sizeof *best, by_relevance);
    for (size_t d = 0; d < k; d++) place[best[d]->doc] = d;
    for (size_t i = 0; i < n; i++) w[i].doc = place[w[i].doc];
    free(place);
    *n_docs = k;
    return OLMOE_OK;
}

/* Fetches every window (in parallel), then drops a window whose document
 * an earlier window of the same span already shows. */
static olmoe_status fetch_windows(const olmoe_index *ix, const span *s,
                                  const olmoe_trace_params *p, int threads, window *w,
                                  size_t *n) {
    error_slot err = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t i = 0; i < *n; i++)
        if (!err.st) error_slot_catch(&err, fetch_window(ix, &s[w[i].span], p, &w[i]));
    if (err.st) return error_slot_raise(&err);
    size_t kept = 0, first = 0; /* first: the span's first kept window */
    for (size_t i = 0; i < *n; i++) {
        if (kept == 0 || w[kept - 1].span != w[i].span) first = kept;
        int seen = 0;
        for (size_t j = first; j < kept && !seen; j++) seen = w[j].doc_ix == w[i].doc_ix;
        if (seen) window_free(&w[i]);
        else w[kept++] = w[i];
    }
    *n = kept;
    return OLMOE_OK;
}

/* ------------------------------------------------------------ the result */

typedef struct {
    size_t span, doc;
} span_doc;

static int by_span_doc(const void *a, const void *b) {
    const span_doc *x = a, *y = b;
    if (x->span != y->span) return x->span < y->span ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* Appends a NUL-terminated copy of s[0..n) at *at. */
static const char *put_string(char **at, const char *s, size_t n) {
    char *copy = *at;
    memcpy(copy, s, n);
    copy[n] = 0;
    *at += n + 1;
    return copy;
}

/* The (merged span, document) pairs, sorted and unique, into *pairs. */
static olmoe_status span_documents(const span *s, const window *w, size_t n_windows,
                                   span_doc **pairs, size_t *n_pairs) {
    span_doc *p = malloc((n_windows + 1) * sizeof *p);
    if (!p) return olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    for (size_t i = 0; i < n_windows; i++) p[i] = (span_doc){s[w[i].span].merged, w[i].doc};
    qsort(p, n_windows, sizeof *p, by_span_doc);
    size_t k = 0;
    for (size_t i = 0; i < n_windows; i++)
        if (k == 0 || by_span_doc(&p[k - 1], &p[i])) p[k++] = p[i];
    *pairs = p;
    *n_pairs = k;
    return OLMOE_OK;
}

/* Everything the caller sees in one allocation: the result, its spans,
 * documents and span-document lists, then every string. */
static olmoe_status pack_result(const token_text *t, const span *s, const span *merged,
                                size_t n_merged, window *const *best, size_t n_docs,
                                const window *w, size_t n_windows, olmoe_trace_result **out) {
    span_doc *pairs = NULL;
    size_t n_pairs = 0;
    olmoe_status st = span_documents(s, w, n_windows, &pairs, &n_pairs);
    if (st) return st;
    size_t bytes = sizeof(olmoe_trace_result) + n_merged * sizeof(olmoe_trace_span) +
                   n_docs * sizeof(olmoe_trace_doc) + n_pairs * sizeof(size_t) + t->len + 1;
    for (size_t i = 0; i < n_merged; i++)
        bytes += t->at[merged[i].l + merged[i].len] - t->at[merged[i].l] + 1;
    for (size_t d = 0; d < n_docs; d++)
        bytes += strlen(best[d]->metadata) + strlen(best[d]->snippet) + 2;
    olmoe_trace_result *r = malloc(bytes);
    if (!r) {
        free(pairs);
        return olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    }
    r->spans = (olmoe_trace_span *)(r + 1);
    r->docs = (olmoe_trace_doc *)(r->spans + n_merged);
    size_t *doc_lists = (size_t *)(r->docs + n_docs);
    char *chars = (char *)(doc_lists + n_pairs);
    r->text = put_string(&chars, t->text, t->len);
    r->text_len = t->len;
    r->normalized = t->nfc != NULL;
    r->n_tokens = t->n;
    r->n_spans = n_merged;
    r->n_docs = n_docs;
    for (size_t i = 0, k = 0; i < n_merged; i++) {
        olmoe_trace_span *o = &r->spans[i];
        o->token_start = merged[i].l;
        o->token_end = merged[i].l + merged[i].len;
        o->byte_start = t->at[o->token_start];
        o->byte_end = t->at[o->token_end];
        o->start = utf8_code_points(t->text, o->byte_start);
        o->end = o->start + utf8_code_points(t->text + o->byte_start, o->byte_end - o->byte_start);
        o->text = put_string(&chars, t->text + o->byte_start, o->byte_end - o->byte_start);
        o->count = merged[i].count;
        o->docs = doc_lists + k;
        for (o->n_docs = 0; k < n_pairs && pairs[k].span == i; k++, o->n_docs++)
            doc_lists[k] = pairs[k].doc;
    }
    for (size_t d = 0; d < n_docs; d++) {
        const window *b = best[d];
        olmoe_trace_doc *o = &r->docs[d];
        o->doc_ix = b->doc_ix;
        o->metadata = put_string(&chars, b->metadata, strlen(b->metadata));
        o->snippet = put_string(&chars, b->snippet, strlen(b->snippet));
        o->snippet_span_start = b->snippet_start;
        o->snippet_span_end = b->snippet_end;
        o->bm25 = b->bm25;
        o->relevance = b->relevance;
    }
    free(pairs);
    *out = r;
    return OLMOE_OK;
}

olmoe_status olmoe_trace(const olmoe_index *ix, const char *text, size_t len,
                         const olmoe_trace_params *params, olmoe_trace_result **out) {
    *out = NULL;
    if (!ix || (!text && len)) return olmoe_fail(OLMOE_ERR_ARG, "trace: no index or no text");
    olmoe_trace_params p = params ? *params : olmoe_trace_default_params();
    int threads = p.n_threads > 0 ? p.n_threads : omp_get_max_threads();
    token_text t;
    span *s = NULL, *merged = NULL;
    window *w = NULL, **best = NULL;
    size_t n_spans = 0, n_windows = 0, n_docs = 0;
    olmoe_status st = tokenize_text(ix, text ? text : "", len, &t);
    if (!st) {
        s = malloc((t.n + 1) * sizeof *s);
        merged = malloc((t.n + 1) * sizeof *merged);
        if (!s || !merged) st = olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    }
    if (!st) st = find_spans(ix, &t, &p, threads, s, &n_spans);
    if (!st) {
        size_t cap = n_spans * p.max_docs_per_span + 1;
        w = calloc(cap, sizeof *w);
        best = malloc(cap * sizeof *best);
        if (!w || !best) st = olmoe_fail(OLMOE_ERR_NOMEM, "trace: out of memory");
    }
    if (!st) st = pick_windows(ix, &t, s, n_spans, &p, w, &n_windows);
    if (!st) st = fetch_windows(ix, s, &p, threads, w, &n_windows);
    if (!st) st = rank_windows(&t, p.prompt, w, n_windows);
    if (!st) st = rank_documents(w, n_windows, best, &n_docs);
    if (!st) {
        size_t n_merged = merge_spans(s, n_spans, merged);
        st = pack_result(&t, s, merged, n_merged, best, n_docs, w, n_windows, out);
    }
    for (size_t i = 0; w && i < n_windows; i++) window_free(&w[i]);
    free(w);
    free(best);
    free(s);
    free(merged);
    token_text_free(&t);
    return st;
}
