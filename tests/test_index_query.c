/* Corpus index loading and queries against brute force: random corpora with
 * many repeated n-grams (u16 and u32 tokens, several shards and index
 * directories, written by the naive writer of index_fixture.h), then
 * count, prob, ntd, infini-gram, longest prefix, CNF and document queries
 * compared with scans of the documents; global document numbering with 12
 * shards; corrupt files; concurrent queries. (The CLI: test_index_cli.c.) */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "index_fixture.h"
#include "olmoe.h"
#include "util/rng.h"

static uint64_t rng = 42;
static uint64_t rnd(uint64_t n) { return splitmix64_below(&rng, n); }

static char *make_temp_dir(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dir = malloc(strlen(base) + 32);
    sprintf(dir, "%s/olmoe-index-XXXXXX", base);
    return mkdtemp(dir) ? dir : NULL;
}

static void remove_tree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static char *subdir(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    mkdir(p, 0755);
    return p;
}

/* ------------------------------------------------------------ corpora */

/* Token alphabets: a few frequent ids, ids whose little-endian bytes sort
 * differently from their values, and rare ones. */
static const int32_t alphabet16[] = {1, 2, 3, 0x0100, 0x00FF, 0xFF00, 0x0101, 0xFFFE, 50279, 7};
static const int32_t alphabet32[] = {1, 2, 3, 0x0100, 0x010000, 0x01000000, 0xFFFFFF, 0x7FFFFFFE,
                                     100257, 0x00FF00FF};
#define ALPHABET 10
#define N_PHRASES 4

typedef struct {
    int width;
    const int32_t *alphabet;
    int32_t phrases[N_PHRASES][12];
} corpus_gen;

static int32_t gen_token(const corpus_gen *g) {
    return g->alphabet[rnd(10) < 7 ? rnd(4) : rnd(ALPHABET)];
}

/* A document of 0..29 tokens: random tokens and copies of phrases, so
 * that long n-grams repeat too. */
static fx_doc gen_doc(const corpus_gen *g) {
    fx_doc d = {malloc(64 * sizeof(int32_t)), 0};
    size_t len = rnd(6) == 0 ? 0 : rnd(30);
    while (d.n < len) {
        if (rnd(3) == 0) {
            const int32_t *p = g->phrases[rnd(N_PHRASES)];
            for (size_t i = rnd(4); i < 12 && d.n < len; i++) d.ids[d.n++] = p[i];
        } else {
            d.ids[d.n++] = gen_token(g);
        }
    }
    return d;
}

/* An index of several directories; `all` holds every document in global
 * order, `shard_docs` each shard's in shard order. */
typedef struct {
    char *root;
    char *dirs[4];
    int n_dirs;
    int width;
    fx_corpus all;
    int n_shards;
    size_t shard_first[16], shard_n[16];
    olmoe_index *ix;
} test_index;

/* Writes dirs with the given shard counts (< 10 each); shard s of the
 * whole index gets ptr size ptr_sizes[s % 3]. */
static void build_test_index(test_index *t, int width, const int *shards, int n_dirs, int flags,
                             int manifests) {
    memset(t, 0, sizeof *t);
    t->root = make_temp_dir();
    t->width = width;
    t->n_dirs = n_dirs;
    corpus_gen g = {width, width == 2 ? alphabet16 : alphabet32, {{0}}};
    for (int p = 0; p < N_PHRASES; p++)
        for (int i = 0; i < 12; i++) g.phrases[p][i] = gen_token(&g);
    t->all.docs = malloc(1000 * sizeof(fx_doc));
    static const int ptr_sizes[3] = {0, 5, 8};
    for (int d = 0; d < n_dirs; d++) {
        char name[16];
        snprintf(name, sizeof name, "dir%d", d);
        t->dirs[d] = subdir(t->root, name);
        /* Every directory but dir1 has a manifest when asked (dir1 relies on the others'). */
        if (manifests && d != 1) fx_write_manifest(t->dirs[d], width, NULL, -1);
        for (int s = 0; s < shards[d]; s++) {
            size_t n = 5 + rnd(40), first = t->all.n;
            uint64_t numbers[64];
            for (size_t i = 0; i < n; i++) {
                t->all.docs[t->all.n] = gen_doc(&g);
                numbers[i] = t->all.n++;
            }
            char suffix[16];
            snprintf(suffix, sizeof suffix, "%d", s);
            fx_write_shard(t->dirs[d], suffix, width, t->all.docs + first, n,
                           ptr_sizes[t->n_shards % 3], flags, numbers);
            t->shard_first[t->n_shards] = first;
            t->shard_n[t->n_shards++] = n;
        }
    }
    olmoe_index_open_params p = olmoe_index_default_open_params();
    if (!manifests) p.token_width = width;
    olmoe_status st = olmoe_index_open((const char *const *)t->dirs, n_dirs, &p, &t->ix);
    CHECK_MSG(st == OLMOE_OK, "open: %s", olmoe_last_error());
}

static void free_test_index(test_index *t) {
    olmoe_index_free(t->ix);
    for (size_t d = 0; d < t->all.n; d++) free(t->all.docs[d].ids);
    free(t->all.docs);
    remove_tree(t->root);
    for (int d = 0; d < t->n_dirs; d++) free(t->dirs[d]);
    free(t->root);
}

/* A query: from the corpus, mutated, random, across a document boundary,
 * or holding the separator (u16 only). */
static size_t gen_query(const test_index *t, int32_t *q) {
    const fx_corpus *c = &t->all;
    const int32_t *alpha = t->width == 2 ? alphabet16 : alphabet32;
    int kind = (int)rnd(t->width == 2 ? 5 : 4);
    size_t d = rnd(c->n), n = 1 + rnd(20);
    if (kind <= 1) {
        while (c->docs[d].n == 0) d = rnd(c->n);
        size_t at = rnd(c->docs[d].n);
        if (n > c->docs[d].n - at) n = c->docs[d].n - at;
        memcpy(q, c->docs[d].ids + at, n * sizeof *q);
        if (kind == 1) q[rnd(n)] = alpha[rnd(ALPHABET)];
        return n;
    }
    if (kind == 2) {
        n = 1 + rnd(6);
        for (size_t i = 0; i < n; i++) q[i] = rnd(8) ? alpha[rnd(ALPHABET)] : 4242;
        return n;
    }
    if (kind == 3 && d + 1 < c->n) { /* the end of one document, the start of the next */
        size_t a = c->docs[d].n < 3 ? c->docs[d].n : 3, b = c->docs[d + 1].n < 3 ? c->docs[d + 1].n : 3;
        memcpy(q, c->docs[d].ids + c->docs[d].n - a, a * sizeof *q);
        memcpy(q + a, c->docs[d + 1].ids, b * sizeof *q);
        if (a + b) return a + b;
    }
    q[0] = alpha[rnd(4)];
    q[1] = 0xFFFF; /* the u16 separator: never inside a document */
    q[2] = alpha[rnd(4)];
    return 3;
}

/* ------------------------------------------------------ n-gram queries */

/* The ntd result equals the brute-force tally. */
static void check_ntd_equal(const olmoe_index_ntd_result *r, const fx_tally *want, size_t n_want,
                            uint64_t prompt_cnt) {
    CHECK_INT_EQ(r->prompt_cnt, prompt_cnt);
    CHECK_INT_EQ(r->n_tokens, n_want);
    CHECK(!r->approx);
    for (size_t i = 0; i < r->n_tokens && r->n_tokens == n_want; i++) {
        size_t j = 0;
        while (j < n_want && want[j].id != r->tokens[i].id) j++;
        CHECK_MSG(j < n_want && want[j].count == r->tokens[i].count, "token %d count %" PRIu64
                  " vs %" PRIu64 " (prompt count %" PRIu64 ")", r->tokens[i].id, r->tokens[i].count,
                  j < n_want ? want[j].count : 0, prompt_cnt);
        CHECK_NEAR(r->tokens[i].prob, (double)r->tokens[i].count / (double)prompt_cnt, 1e-12);
        if (i) CHECK(r->tokens[i - 1].count >= r->tokens[i].count);
    }
}

static void check_one_query(const test_index *t, const int32_t *q, size_t n, int32_t eos) {
    const fx_corpus *c = &t->all;
    static fx_tally want[4096];
    uint64_t count;
    CHECK(olmoe_index_count(t->ix, q, n, &count) == OLMOE_OK);
    CHECK_MSG(count == fx_count(c, q, n), "count of a %zu-gram: %" PRIu64 " vs %" PRIu64, n, count,
              fx_count(c, q, n));

    olmoe_index_prob_result p;
    CHECK(olmoe_index_prob(t->ix, q, n - 1, q[n - 1], &p) == OLMOE_OK);
    CHECK_INT_EQ(p.prompt_cnt, fx_count(c, q, n - 1));
    CHECK_INT_EQ(p.cont_cnt, fx_count(c, q, n));
    CHECK_NEAR(p.prob, p.prompt_cnt ? (double)p.cont_cnt / (double)p.prompt_cnt : -1.0, 1e-12);

    size_t l = fx_longest_suffix(c, q, n - 1);
    CHECK(olmoe_index_infgram_prob(t->ix, q, n - 1, q[n - 1], &p) == OLMOE_OK);
    CHECK_INT_EQ(p.suffix_len, l);
    CHECK_INT_EQ(p.prompt_cnt, fx_count(c, q + n - 1 - l, l));
    CHECK_INT_EQ(p.cont_cnt, fx_count(c, q + n - 1 - l, l + 1));

    olmoe_index_ntd_result r;
    CHECK(olmoe_index_ntd(t->ix, q, n, 1 << 30, eos, &r) == OLMOE_OK);
    check_ntd_equal(&r, want, fx_ntd(c, q, n, eos, want), fx_count(c, q, n));
    olmoe_free(r.tokens);

    l = fx_longest_suffix(c, q, n);
    CHECK(olmoe_index_infgram_ntd(t->ix, q, n, 1 << 30, eos, &r) == OLMOE_OK);
    CHECK_INT_EQ(r.suffix_len, l);
    check_ntd_equal(&r, want, fx_ntd(c, q + n - l, l, eos, want), fx_count(c, q + n - l, l));
    olmoe_free(r.tokens);

    /* Sampled: the counts still add up, and only real next tokens appear. */
    size_t n_want = fx_ntd(c, q, n, eos, want);
    CHECK(olmoe_index_ntd(t->ix, q, n, 2, eos, &r) == OLMOE_OK);
    uint64_t sum = 0;
    for (size_t i = 0; i < r.n_tokens; i++) {
        size_t j = 0;
        while (j < n_want && want[j].id != r.tokens[i].id) j++;
        CHECK(j < n_want);
        sum += r.tokens[i].count;
    }
    CHECK_INT_EQ(sum, r.prompt_cnt);
    CHECK(r.approx == (r.prompt_cnt > 2));
    olmoe_free(r.tokens);

    /* Longest prefix from a random start. */
    size_t start = rnd(n + 1), want_len = 0, len;
    while (start + want_len < n && fx_count(c, q + start, want_len + 1) > 0) want_len++;
    CHECK(olmoe_index_longest_prefix(t->ix, q, n, start, &len, &count) == OLMOE_OK);
    CHECK_MSG(len == want_len, "longest prefix %zu vs %zu", len, want_len);
    CHECK_INT_EQ(count, fx_count(c, q + start, want_len));
}

static void check_queries(const test_index *t, int n_queries, int32_t eos) {
    int32_t q[64];
    for (int i = 0; i < n_queries; i++) check_one_query(t, q, gen_query(t, q), eos);

    uint64_t count;
    CHECK(olmoe_index_count(t->ix, NULL, 0, &count) == OLMOE_OK);
    CHECK_INT_EQ(count, fx_total_tokens(&t->all));
    olmoe_index_ntd_result r; /* the unigram distribution, documents ends as eos */
    static fx_tally want[4096];
    CHECK(olmoe_index_ntd(t->ix, NULL, 0, 1 << 30, eos, &r) == OLMOE_OK);
    check_ntd_equal(&r, want, fx_ntd(&t->all, NULL, 0, eos, want), count);
    olmoe_free(r.tokens);
    q[0] = 4242; /* absent: infini-gram falls back to the unigram estimate */
    olmoe_index_prob_result p;
    CHECK(olmoe_index_infgram_prob(t->ix, q, 1, t->all.docs[0].n ? t->all.docs[0].ids[0] : 1, &p) == OLMOE_OK);
    CHECK_INT_EQ(p.suffix_len, 0);
    CHECK_INT_EQ(p.prompt_cnt, count);

    q[0] = -1; /* outside the token width */
    CHECK(olmoe_index_count(t->ix, q, 1, &count) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "token id -1"));

    for (int i = 0; i < ALPHABET; i++) {
        int32_t id = (t->width == 2 ? alphabet16 : alphabet32)[i];
        CHECK(olmoe_index_unigram_count(t->ix, id, &count) == OLMOE_OK);
        CHECK_INT_EQ(count, fx_count(&t->all, &id, 1));
    }
    CHECK(olmoe_index_unigram_count(t->ix, 4242, &count) == OLMOE_OK && count == 0);
}

/* --------------------------------------------------------------- CNF */

static int by_key(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The positions of a clause: where any of its n-grams starts, sorted, unique. */
static size_t clause_positions(const fx_corpus *c, const olmoe_index_clause *cl, uint64_t *out) {
    size_t n = 0;
    for (size_t t = 0; t < cl->n_terms; t++) n += fx_positions(c, cl->terms[t].ids, cl->terms[t].n, out + n);
    qsort(out, n, sizeof *out, by_key);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || out[m - 1] != out[i]) out[m++] = out[i];
    return m;
}

/* Brute force: anchor positions with every other clause nearby in the same
 * document; returns the matches in `out`. */
static size_t cnf_brute(const fx_corpus *c, const olmoe_index_clause *cl, size_t n_cl,
                        uint64_t diff, uint64_t **pos, size_t *n_pos, uint64_t *out) {
    size_t anchor = 0, m = 0;
    for (size_t k = 0; k < n_cl; k++) {
        n_pos[k] = clause_positions(c, &cl[k], pos[k]);
        if (n_pos[k] < n_pos[anchor]) anchor = k;
    }
    for (size_t i = 0; i < n_pos[anchor]; i++) {
        uint64_t p = pos[anchor][i];
        int ok = 1;
        for (size_t k = 0; k < n_cl && ok; k++) {
            if (k == anchor) continue;
            int near = 0;
            for (size_t j = 0; j < n_pos[k] && !near; j++) {
                uint64_t q = pos[k][j];
                near = q >> 20 == p >> 20 && (q > p ? q - p : p - q) <= diff;
            }
            ok = near;
        }
        if (ok) out[m++] = p;
    }
    return m;
}

static void check_cnf(const test_index *t, int n_queries) {
    const int32_t *alpha = t->width == 2 ? alphabet16 : alphabet32;
    static uint64_t pos_store[3][8192], matches[8192];
    uint64_t *pos[3] = {pos_store[0], pos_store[1], pos_store[2]};
    for (int qi = 0; qi < n_queries; qi++) {
        int32_t ids[3][3][3];
        olmoe_index_ngram terms[3][3];
        olmoe_index_clause cl[3];
        size_t n_cl = 1 + rnd(3);
        for (size_t k = 0; k < n_cl; k++) {
            cl[k].terms = terms[k];
            cl[k].n_terms = 1 + rnd(3);
            for (size_t i = 0; i < cl[k].n_terms; i++) {
                terms[k][i].ids = ids[k][i];
                terms[k][i].n = 1 + rnd(3);
                for (size_t j = 0; j < 3; j++) ids[k][i][j] = alpha[rnd(5)];
                if (i && rnd(3) == 0) memcpy(ids[k][i], ids[k][0], sizeof ids[k][i]); /* a prefix/duplicate */
            }
        }
        olmoe_index_cnf_params p = {1u << 30, 1 + rnd(8)};
        size_t n_pos[3];
        size_t want = cnf_brute(&t->all, cl, n_cl, p.max_diff_tokens, pos, n_pos, matches);
        olmoe_index_cnf_result r;
        CHECK(olmoe_index_find_cnf(t->ix, cl, n_cl, &p, &r) == OLMOE_OK);
        CHECK_MSG(r.count == want, "CNF of %zu clauses: %" PRIu64 " vs %zu", n_cl, r.count, want);
        CHECK(!r.approx);
        CHECK_INT_EQ(r.n_ptrs, n_cl == 1 ? r.n_ptrs : want);
        for (size_t i = 0; i < r.n_ptrs && n_cl > 1; i++) {
            olmoe_index_doc *d;
            CHECK(olmoe_index_get_doc_by_ptr(t->ix, r.ptrs[i].shard, r.ptrs[i].ptr, 0, &d) == OLMOE_OK);
            uint64_t key = d->doc_ix << 20 | d->disp_start;
            CHECK(bsearch(&key, matches, want, sizeof key, by_key) != NULL);
            olmoe_free(d);
        }
        olmoe_free(r.ptrs);
        /* A tiny clause budget subsamples (the count is an estimate then). */
        p.max_clause_freq = 1;
        uint64_t count;
        int approx;
        CHECK(olmoe_index_count_cnf(t->ix, cl, n_cl, &p, &count, &approx) == OLMOE_OK);
        if (n_cl == 1) CHECK(count == want && !approx);
    }
    olmoe_index_clause empty = {NULL, 0};
    uint64_t count;
    CHECK(olmoe_index_count_cnf(t->ix, &empty, 1, NULL, &count, NULL) == OLMOE_ERR_ARG);
}

/* --------------------------------------------------------- documents */

static void check_doc_window(const test_index *t, const olmoe_index_doc *d) {
    CHECK(d->doc_ix < t->all.n);
    if (d->doc_ix >= t->all.n) return;
    const fx_doc *doc = &t->all.docs[d->doc_ix];
    CHECK_INT_EQ(d->doc_len, doc->n);
    CHECK(d->disp_start + d->disp_len <= doc->n);
    CHECK(d->disp_len == 0 || !memcmp(d->token_ids, doc->ids + d->disp_start, d->disp_len * 4));
    cJSON *m = cJSON_Parse(d->metadata);
    cJSON *num = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "metadata"), "doc");
    CHECK_MSG(cJSON_IsNumber(num) && (uint64_t)num->valuedouble == d->doc_ix, "metadata '%s' of doc %" PRIu64,
              d->metadata, d->doc_ix);
    cJSON_Delete(m);
}

static void check_docs(const test_index *t, int n_queries) {
    static uint64_t want[8192], got[8192];
    int32_t q[64];
    for (int i = 0; i < n_queries; i++) {
        size_t n = gen_query(t, q), disp = rnd(9);
        size_t n_want = fx_positions(&t->all, q, n, want);
        olmoe_index_doc *docs;
        size_t n_docs;
        CHECK(olmoe_index_search_docs(t->ix, q, n, 8192, disp, 7, &docs, &n_docs) == OLMOE_OK);
        CHECK_INT_EQ(n_docs, n_want);
        for (size_t k = 0; k < n_docs; k++) {
            const olmoe_index_doc *d = &docs[k];
            check_doc_window(t, d);
            uint64_t at = d->disp_start + d->needle_offset;
            got[k] = d->doc_ix << 20 | at;
            /* Half the window before the match, half from it, clipped. */
            uint64_t before = disp / 2, after = disp - disp / 2;
            CHECK_INT_EQ(d->disp_start, at > before ? at - before : 0);
            CHECK_INT_EQ(d->disp_start + d->disp_len, at + after < d->doc_len ? at + after : d->doc_len);
        }
        qsort(got, n_docs, sizeof *got, by_key);
        CHECK(n_docs != n_want || !memcmp(got, want, n_docs * sizeof *got));
        olmoe_free(docs);
        if (n_want < 3) continue;
        /* Sampling: distinct occurrences, reproducible for a seed. */
        olmoe_index_doc *a, *b;
        size_t na, nb;
        CHECK(olmoe_index_search_docs(t->ix, q, n, 2, 4, 99, &a, &na) == OLMOE_OK);
        CHECK(olmoe_index_search_docs(t->ix, q, n, 2, 4, 99, &b, &nb) == OLMOE_OK);
        CHECK(na == 2 && nb == 2);
        CHECK(a[0].doc_ix == b[0].doc_ix && a[1].doc_ix == b[1].doc_ix);
        CHECK(a[0].doc_ix != a[1].doc_ix || a[0].disp_start + a[0].needle_offset != a[1].disp_start + a[1].needle_offset);
        olmoe_free(a);
        olmoe_free(b);
    }
    for (size_t g = 0; g < t->all.n; g++) {
        olmoe_index_doc *d;
        size_t disp = rnd(12);
        CHECK(olmoe_index_get_doc_by_ix(t->ix, g, disp, &d) == OLMOE_OK);
        CHECK_INT_EQ(d->doc_ix, g);
        CHECK_INT_EQ(d->disp_start, 0);
        CHECK_INT_EQ(d->disp_len, t->all.docs[g].n < disp ? t->all.docs[g].n : disp);
        check_doc_window(t, d);
        olmoe_free(d);
    }
    olmoe_index_doc *d;
    CHECK(olmoe_index_get_doc_by_ix(t->ix, t->all.n, 5, &d) == OLMOE_ERR_ARG);
    for (int s = 0; s < t->n_shards; s++) { /* every rank of every shard lands in a document */
        olmoe_index_info info;
        olmoe_index_get_info(t->ix, &info);
        uint64_t rank = rnd(20), ptr;
        CHECK(olmoe_index_rank_ptr(t->ix, s, rank, &ptr) == OLMOE_OK);
        CHECK(olmoe_index_get_doc_by_rank(t->ix, s, rank, 6, &d) == OLMOE_OK);
        check_doc_window(t, d);
        CHECK(d->doc_ix >= t->shard_first[s] && d->doc_ix < t->shard_first[s] + t->shard_n[s]);
        olmoe_free(d);
        CHECK(olmoe_index_get_doc_context(t->ix, s, ptr, 2, 3, &d) == OLMOE_OK);
        check_doc_window(t, d);
        CHECK(d->needle_offset <= 3);
        olmoe_free(d);
    }
    CHECK(olmoe_index_get_doc_by_rank(t->ix, t->n_shards, 0, 5, &d) == OLMOE_ERR_ARG);
}

/* ------------------------------------------- numbering with 12 shards */

/* Shards 0..11 in one directory load in string order 0, 1, 10, 11, 2, ...
 * and documents are numbered in that order (then by directory). */
static void check_many_shards(void) {
    char *root = make_temp_dir(), *dir = subdir(root, "many"), *extra = subdir(root, "extra");
    corpus_gen g = {2, alphabet16, {{0}}};
    static const int order[12] = {0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9};
    fx_doc docs[12][6];
    size_t n_docs[12];
    uint64_t number = 0, numbers[12][6];
    for (int k = 0; k < 12; k++) { /* the k-th shard in load order */
        n_docs[order[k]] = 1 + rnd(6);
        for (size_t i = 0; i < n_docs[order[k]]; i++) numbers[order[k]][i] = number++;
    }
    for (int s = 0; s < 12; s++) {
        char suffix[8];
        snprintf(suffix, sizeof suffix, "%d", s);
        for (size_t i = 0; i < n_docs[s]; i++) docs[s][i] = gen_doc(&g);
        fx_write_shard(dir, suffix, 2, docs[s], n_docs[s], 0, FX_METADATA, numbers[s]);
    }
    fx_doc last = {(int32_t[]){5, 6, 7}, 3};
    uint64_t last_number = number;
    fx_write_shard(extra, "0", 2, &last, 1, 0, FX_METADATA, &last_number);
    fx_write_manifest(dir, 2, NULL, -1);
    const char *dirs[2] = {dir, extra};
    olmoe_index *ix;
    CHECK(olmoe_index_open(dirs, 2, NULL, &ix) == OLMOE_OK);
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    CHECK_INT_EQ(info.n_shards, 13);
    CHECK_INT_EQ(info.n_docs, number + 1);
    for (int s = 0; s < 12; s++)
        for (size_t i = 0; i < n_docs[s]; i++) {
            olmoe_index_doc *d;
            CHECK(olmoe_index_get_doc_by_ix(ix, numbers[s][i], 100, &d) == OLMOE_OK);
            CHECK_INT_EQ(d->disp_len, docs[s][i].n);
            CHECK(!memcmp(d->token_ids, docs[s][i].ids, docs[s][i].n * 4));
            char want[64];
            snprintf(want, sizeof want, "{\"doc\": %" PRIu64 "}", numbers[s][i]);
            CHECK_MSG(strstr(d->metadata, want) != NULL, "doc %" PRIu64 ": %s", numbers[s][i], d->metadata);
            olmoe_free(d);
            free(docs[s][i].ids);
        }
    olmoe_index_doc *d;
    CHECK(olmoe_index_get_doc_by_ix(ix, last_number, 2, &d) == OLMOE_OK);
    CHECK(d->disp_len == 2 && d->token_ids[0] == 5 && d->doc_len == 3);
    olmoe_free(d);
    olmoe_index_free(ix);
    remove_tree(root);
    free(root);
    free(dir);
    free(extra);
}

/* ------------------------------------------------------ corrupt files */

/* A fresh copy of the good index in root/NAME. */
static char *copy_index(const char *root, const char *good, const char *name) {
    char *dir = malloc(strlen(root) + strlen(name) + 2), cmd[2600];
    sprintf(dir, "%s/%s", root, name);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", good, dir);
    CHECK(system(cmd) == 0);
    return dir;
}

static void truncate_file(const char *dir, const char *name, long drop) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(truncate(path, st.st_size - drop) == 0);
}

static void write_file(const char *dir, const char *name, const char *text, long at) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, at < 0 ? "w" : "r+b");
    if (at >= 0) fseek(f, at, SEEK_SET);
    fputs(text, f);
    fclose(f);
}

/* Opening dir fails with a message that names `file`. */
static void expect_open_error(const char *dir, int width, const char *file, const char *what) {
    olmoe_index_open_params p = olmoe_index_default_open_params();
    p.token_width = width;
    olmoe_index *ix = NULL;
    olmoe_status st = olmoe_index_open(&dir, 1, &p, &ix);
    CHECK_MSG(st != OLMOE_OK, "%s: opened", what);
    CHECK_MSG(strstr(olmoe_last_error(), file) != NULL, "%s: '%s' does not name %s", what,
              olmoe_last_error(), file);
    CHECK_MSG(!strchr(olmoe_last_error(), '\n'), "%s: more than one line", what);
    olmoe_index_free(ix);
}

static void check_corrupt(void) {
    char *root = make_temp_dir(), *good = subdir(root, "good"), *good32 = subdir(root, "good32");
    corpus_gen g = {2, alphabet16, {{0}}};
    fx_doc docs[40];
    uint64_t numbers[40];
    for (int i = 0; i < 40; i++) {
        docs[i] = gen_doc(&g);
        if (docs[i].n == 0) docs[i].ids[docs[i].n++] = 0x0101; /* first token never a separator */
        numbers[i] = (uint64_t)i;
    }
    fx_write_shard(good, "0", 2, docs, 20, 4, FX_METADATA | FX_UNIGRAM_PAIRS, numbers);
    fx_write_shard(good, "1", 2, docs + 20, 20, 4, FX_METADATA | FX_UNIGRAM_PAIRS, numbers + 20);
    fx_write_manifest(good, 2, NULL, -1);
    fx_write_shard(good32, "0", 4, docs, 40, 4, 0, numbers);
    fx_write_manifest(good32, 4, NULL, -1);
    olmoe_index *ix;
    CHECK(olmoe_index_open((const char *const *)&good, 1, NULL, &ix) == OLMOE_OK);
    olmoe_index_free(ix);

    char *d = copy_index(root, good, "trunc1");
    truncate_file(d, "table.1", 1);
    expect_open_error(d, 0, "table.1", "table one byte short");
    free(d);
    d = copy_index(root, good, "trunc4");
    truncate_file(d, "table.0", 4);
    expect_open_error(d, 0, "table.0", "table one entry short");
    free(d);
    d = copy_index(root, good, "tok");
    truncate_file(d, "tokenized.0", 1);
    expect_open_error(d, 0, "tokenized.0", "odd tokenized size");
    free(d);
    d = copy_index(root, good, "wide");
    fx_write_manifest(d, 4, NULL, -1);
    expect_open_error(d, 0, ".0", "u16 data read as u32");
    free(d);
    d = copy_index(root, good32, "narrow");
    fx_write_manifest(d, 2, NULL, -1);
    expect_open_error(d, 0, ".0", "u32 data read as u16");
    free(d);
    d = copy_index(root, good, "offset");
    write_file(d, "offset.0", "\xff\xff\xff\xff", 8 * 5);
    expect_open_error(d, 0, "offset.0", "offset out of range");
    free(d);
    d = copy_index(root, good, "ptr");
    write_file(d, "table.0", "\xff\xff\xff\x7f", 0);
    expect_open_error(d, 0, "table.0", "table entry out of range");
    free(d);
    d = copy_index(root, good, "missing");
    char path[1200];
    snprintf(path, sizeof path, "%s/table.1", d);
    remove(path);
    expect_open_error(d, 0, "table.1", "missing table file");
    free(d);
    d = copy_index(root, good, "json");
    write_file(d, "olmoe-index.json", "{\"token_width\": 2,", -1);
    expect_open_error(d, 0, "olmoe-index.json", "bad manifest JSON");
    free(d);
    d = copy_index(root, good, "shards");
    write_file(d, "olmoe-index.json", "{\"token_width\": 2, \"n_shards\": 3}", -1);
    expect_open_error(d, 0, "olmoe-index.json", "manifest shard count");
    free(d);
    d = copy_index(root, good, "metaoff");
    truncate_file(d, "metaoff.1", 8);
    expect_open_error(d, 0, "metaoff.1", "metaoff size");
    free(d);
    d = copy_index(root, good, "unigram");
    write_file(d, "unigram.0", "1 999999\n", -1);
    expect_open_error(d, 0, "unigram.0", "unigram sum");
    free(d);
    d = copy_index(root, good, "nomanifest");
    snprintf(path, sizeof path, "%s/olmoe-index.json", d);
    remove(path);
    expect_open_error(d, 0, "token width", "no manifest, no width");
    olmoe_index_open_params p = {2, NULL};
    CHECK(olmoe_index_open((const char *const *)&d, 1, &p, &ix) == OLMOE_OK);
    olmoe_index_free(ix);
    free(d);
    d = subdir(root, "empty");
    expect_open_error(d, 2, "empty", "empty directory");
    free(d);
    d = malloc(strlen(root) + 16);
    sprintf(d, "%s/no-such-dir", root);
    expect_open_error(d, 2, "no-such-dir", "missing directory");
    free(d);
    for (int i = 0; i < 40; i++) free(docs[i].ids);
    remove_tree(root);
    free(root);
    free(good);
    free(good32);
}

/* ------------------------------------------------------------ threads */

typedef struct {
    const test_index *t;
    int32_t q[64][64];
    size_t n[64];
    uint64_t want[64];
    int errors;
} thread_job;

static void *count_worker(void *arg) {
    thread_job *j = arg;
    uint64_t c;
    for (int rep = 0; rep < 20; rep++)
        for (int i = 0; i < 64; i++)
            if (olmoe_index_count(j->t->ix, j->q[i], j->n[i], &c) || c != j->want[i]) j->errors++;
    if (olmoe_index_unigram_count(j->t->ix, j->q[0][0], &c) || c != fx_count(&j->t->all, j->q[0], 1)) j->errors++;
    return NULL;
}

/* Queries from several threads at once (the lazily built unigram table too). */
static void check_threads(const test_index *t) {
    thread_job jobs[3];
    pthread_t th[3];
    for (int k = 0; k < 3; k++) {
        jobs[k].t = t;
        jobs[k].errors = 0;
        for (int i = 0; i < 64; i++) {
            jobs[k].n[i] = gen_query(t, jobs[k].q[i]);
            jobs[k].want[i] = fx_count(&t->all, jobs[k].q[i], jobs[k].n[i]);
        }
    }
    for (int k = 0; k < 3; k++) pthread_create(&th[k], NULL, count_worker, &jobs[k]);
    for (int k = 0; k < 3; k++) {
        pthread_join(th[k], NULL);
        CHECK_INT_EQ(jobs[k].errors, 0);
    }
}

/* Median and 95th percentile of count on corpus n-grams, for the log. */
static void time_counts(const test_index *t, const char *name) {
    enum { N = 2000 };
    static double us[N];
    int32_t q[64];
    for (int i = 0; i < N; i++) {
        size_t n = gen_query(t, q);
        uint64_t c;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        olmoe_index_count(t->ix, q, n, &c);
        clock_gettime(CLOCK_MONOTONIC, &b);
        us[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) * 1e-3;
    }
    for (int i = 1; i < N; i++) /* insertion sort: small N */
        for (int j = i; j > 0 && us[j - 1] > us[j]; j--) { double x = us[j]; us[j] = us[j - 1]; us[j - 1] = x; }
    printf("%s: count p50 %.2f us, p95 %.2f us (%" PRIu64 " tokens)\n", name, us[N / 2],
           us[N * 95 / 100], fx_total_tokens(&t->all));
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    /* u16: three directories (2, 1 and 3 shards), dir1 without a manifest,
     * metadata and unigram files; u32: two directories, no manifests (the
     * width given), unigram counts from a scan. */
    static const int shards16[3] = {2, 1, 3}, shards32[2] = {1, 2};
    test_index t;
    build_test_index(&t, 2, shards16, 3, FX_METADATA | FX_UNIGRAM_PAIRS, 1);
    if (t.ix) {
        check_queries(&t, 300, alphabet16[1]); /* eos = a real token: their counts merge */
        check_cnf(&t, 100);
        check_docs(&t, 100);
        check_threads(&t);
        time_counts(&t, "u16 index");
    }
    free_test_index(&t);
    build_test_index(&t, 4, shards32, 2, FX_METADATA, 0);
    if (t.ix) {
        check_queries(&t, 300, 100277);
        check_cnf(&t, 100);
        check_docs(&t, 100);
        time_counts(&t, "u32 index");
    }
    free_test_index(&t);
    /* One count per line in the unigram files (line number = id). */
    static const int one[1] = {1};
    build_test_index(&t, 2, one, 1, FX_METADATA | FX_UNIGRAM_LINES, 1);
    if (t.ix) check_queries(&t, 50, 0);
    free_test_index(&t);
    check_many_shards();
    check_corrupt();
    return check_report("test_index_query");
}
