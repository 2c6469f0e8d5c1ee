/* OLMoTrace (olmoe_trace) on a corpus of seeded filler text with planted
 * passages, indexed by the real builder: the spans found are exactly the
 * planted sentences (delimiter cut, word boundaries, merging of
 * overlapping spans), their documents are the planted ones, offsets are
 * code points even after non-ASCII text (and NFC), the K rarest spans are
 * kept, BM25 matches a hand computation, and the JSON and CLI forms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "corpus_fixture.h"
#include "olmoe.h"
#include "trace/bm25.h"

static const char *cli;

/* The planted passages and the documents that hold them. */
#define VIOLET " The violet hedgehog recited forty seven sonnets to a sleepy lighthouse keeper."
#define MARMALADE " Quantum marmalade tastes best when stirred counterclockwise at dawn."
#define COPPER " Copper kettles whistled loudly."
#define DROWNED " Drowned republics never answer letters."
#define CRIMSON " crimson walrus juggles turquoise pebbles"
#define TURQUOISE " turquoise pebbles sink slowly beneath amber glaciers."
#define LAVENDER " Lavender zeppelins hover above the quiet harbour."

typedef struct {
    const char *text;
    int docs[16];
    int n_docs;
} planted;

static const planted plants[] = {
    {VIOLET, {3, 17}, 2},
    {MARMALADE, {8}, 1},
    {COPPER DROWNED, {5, 12}, 2}, /* two sentences in a row: the span is cut after the first */
    {CRIMSON, {20}, 1},
    {TURQUOISE, {25, 26}, 2},     /* overlaps CRIMSON in the traced text */
    {LAVENDER, {27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 0, 1}, 15},
};
#define N_PLANTS (sizeof plants / sizeof *plants)
#define N_DOCS 40

/* The traced text: planted sentences between Greek words, which an ASCII
 * corpus cannot match, after "café — " (6 code points, 9 bytes). */
static const char *traced =
    "café —" VIOLET " αβγ δεζ" MARMALADE " ηθι" COPPER DROWNED " κλμ νξο" CRIMSON
    " sink slowly beneath amber glaciers. πρσ" LAVENDER " τυφ χψω";

/* The spans expected with every span kept (density 1): text, documents. */
typedef struct {
    const char *text;
    int docs[16];
    int n_docs;
    uint64_t count;
} expected_span;

static const expected_span expected[] = {
    {VIOLET, {3, 17}, 2, 2},
    {MARMALADE, {8}, 1, 1},
    {COPPER, {5, 12}, 2, 2},
    {DROWNED, {5, 12}, 2, 2},
    {CRIMSON " sink slowly beneath amber glaciers.", {20, 25, 26}, 3, 2}, /* merged */
    {LAVENDER, {0}, 10, 15}, /* documents: a sample of 10 of the 15 */
};
#define N_EXPECTED (sizeof expected / sizeof *expected)

static void write_corpus(corpus_fixture *f) {
    uint64_t rng = 7;
    for (int d = 0; d < N_DOCS; d++) {
        char text[8192] = "", title[32];
        filler(text, sizeof text, &rng, 120);
        for (size_t p = 0; p < N_PLANTS; p++)
            for (int k = 0; k < plants[p].n_docs; k++)
                if (plants[p].docs[k] == d) {
                    strcat(text, plants[p].text);
                    filler(text, sizeof text, &rng, 40);
                }
        snprintf(title, sizeof title, "document %d", d);
        fixture_add(f, text, title);
    }
}

static size_t code_points(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int int_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The documents of span s as sorted doc_ix values; returns how many. */
static size_t span_doc_ixs(const olmoe_trace_result *r, const olmoe_trace_span *s, int *out) {
    for (size_t k = 0; k < s->n_docs; k++) out[k] = (int)r->docs[s->docs[k]].doc_ix;
    qsort(out, s->n_docs, sizeof *out, int_cmp);
    return s->n_docs;
}

static int in_list(int x, const int *list, int n) {
    for (int i = 0; i < n; i++) if (list[i] == x) return 1;
    return 0;
}

/* Every span with its offsets, documents and snippets, all spans kept. */
static void check_spans(const olmoe_index *ix) {
    olmoe_trace_params p = olmoe_trace_default_params();
    p.span_density = 1.0;
    olmoe_trace_result *r;
    CHECK_MSG(olmoe_trace(ix, traced, strlen(traced), &p, &r) == OLMOE_OK, "%s",
              olmoe_last_error());
    CHECK_INT_EQ(r->n_spans, N_EXPECTED);
    CHECK(r->normalized == 0);
    for (size_t i = 0; i < N_EXPECTED && i < r->n_spans; i++) {
        const olmoe_trace_span *s = &r->spans[i];
        const char *at = strstr(traced, expected[i].text);
        size_t byte = (size_t)(at - traced), len = strlen(expected[i].text);
        CHECK_STR_EQ(s->text, expected[i].text);
        CHECK_INT_EQ(s->byte_start, byte);
        CHECK_INT_EQ(s->byte_end, byte + len);
        CHECK_INT_EQ(s->start, code_points(traced, byte));
        CHECK_INT_EQ(s->end, code_points(traced, byte + len));
        CHECK_INT_EQ(s->count, expected[i].count);
        int docs[64];
        size_t n = span_doc_ixs(r, s, docs);
        CHECK_INT_EQ(n, expected[i].n_docs);
        for (size_t k = 0; k < n && k < (size_t)expected[i].n_docs; k++) {
            if (i + 1 < N_EXPECTED) CHECK_INT_EQ(docs[k], expected[i].docs[k]);
            else CHECK(in_list(docs[k], plants[5].docs, plants[5].n_docs) && /* a sample */
                       (k == 0 || docs[k] > docs[k - 1]));
        }
    }
    /* "café —" then the first span: hand-counted offsets. */
    CHECK_INT_EQ(r->spans[0].start, 6);
    CHECK_INT_EQ(r->spans[0].byte_start, 9);
    /* Each snippet shows a span's text where it says, inside the document's
     * words; documents come by relevance, each clamp(bm25 / (0.18 words)). */
    double words = (double)bm25_word_count(traced, strlen(traced));
    for (size_t d = 0; d < r->n_docs; d++) {
        const olmoe_trace_doc *doc = &r->docs[d];
        char shown[512] = "";
        size_t n = doc->snippet_span_end - doc->snippet_span_start;
        if (n < sizeof shown) {
            memcpy(shown, doc->snippet + doc->snippet_span_start, n);
            shown[n] = 0;
        }
        CHECK_MSG(n > 0 && strstr(traced, shown) != NULL, "snippet span '%s'", shown);
        CHECK(strlen(doc->snippet) > n + 100); /* 40 filler tokens either side */
        CHECK_NEAR(doc->relevance, fmin(fmax(doc->bm25 / (0.18 * words), 0), 1), 1e-12);
        if (d > 0) CHECK(doc->relevance <= r->docs[d - 1].relevance);
        CHECK(strstr(doc->metadata, "\"title\":\"document ") != NULL);
    }
    /* The same sample and order every time, with any number of threads. */
    olmoe_trace_result *again;
    p.n_threads = 1;
    CHECK(olmoe_trace(ix, traced, strlen(traced), &p, &again) == OLMOE_OK);
    char *a = NULL, *b = NULL;
    olmoe_trace_to_json(r, &a);
    olmoe_trace_to_json(again, &b);
    CHECK(a && b && !strcmp(a, b));
    olmoe_free(a);
    olmoe_free(b);
    olmoe_free(again);
    olmoe_free(r);
}

/* Decomposed "é" (e + U+0301): the tokenizer normalizes to NFC, so the NFC
 * text is traced and the offsets refer to it. */
static void check_nfc(const olmoe_index *ix) {
    const char *nfd = "cafe\xCC\x81 \xE2\x80\x94" VIOLET " αβγ";
    olmoe_trace_params p = olmoe_trace_default_params();
    p.span_density = 1.0;
    olmoe_trace_result *r;
    CHECK_MSG(olmoe_trace(ix, nfd, strlen(nfd), &p, &r) == OLMOE_OK, "%s", olmoe_last_error());
    CHECK(r->normalized == 1);
    CHECK(!strncmp(r->text, "café —", strlen("café —")));
    CHECK_INT_EQ(r->n_spans, 1);
    if (r->n_spans == 1) {
        CHECK_INT_EQ(r->spans[0].start, 6);
        CHECK_INT_EQ(r->spans[0].byte_start, 9);
        CHECK_STR_EQ(r->spans[0].text, VIOLET);
    }
    olmoe_free(r);
}

/* The unigram log-probability sum of a passage, from the public counts. */
static double rarity(const olmoe_index *ix, const char *text) {
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    int32_t *ids;
    size_t n;
    double sum = 0;
    CHECK(olmoe_index_tokenize(ix, text, strlen(text), &ids, &n) == OLMOE_OK);
    for (size_t i = 0; i < n; i++) {
        uint64_t c = 0;
        olmoe_index_unigram_count(ix, ids[i], &c);
        sum += c ? log((double)c / (double)info.n_tokens) : -10000.0;
    }
    olmoe_free(ids);
    return sum;
}

/* With the default density only ceil(0.05 L) spans stay: the rarest. A
 * candidate is kept exactly when a result span covers its bytes. */
static void check_k_limit(const olmoe_index *ix) {
    const char *cand[] = {VIOLET, MARMALADE, COPPER, DROWNED, CRIMSON, TURQUOISE, LAVENDER};
    enum { N = sizeof cand / sizeof *cand };
    double sum[N];
    for (int i = 0; i < N; i++) sum[i] = rarity(ix, cand[i]);
    olmoe_trace_result *r;
    CHECK(olmoe_trace(ix, traced, strlen(traced), NULL, &r) == OLMOE_OK);
    size_t k = (size_t)ceil(0.05 * (double)r->n_tokens);
    CHECK_MSG(k < N, "the test needs fewer than %d spans kept, got K = %zu", N, k);
    int kept[N], n_kept = 0;
    for (int i = 0; i < N; i++) { /* kept: fewer than k candidates are rarer */
        int rarer = 0;
        for (int j = 0; j < N; j++) rarer += sum[j] < sum[i];
        kept[i] = (size_t)rarer < k;
        n_kept += kept[i];
    }
    CHECK_INT_EQ(n_kept, k);
    for (int i = 0; i < N; i++) {
        size_t a = (size_t)(strstr(traced, cand[i]) - traced), b = a + strlen(cand[i]);
        int covered = 0;
        for (size_t s = 0; s < r->n_spans; s++)
            covered |= r->spans[s].byte_start <= a && b <= r->spans[s].byte_end;
        CHECK_MSG(covered == kept[i], "candidate %d: covered %d, kept %d", i, covered, kept[i]);
    }
    olmoe_free(r);
}

/* max_count drops frequent spans; min_len short ones; empty text and bad
 * UTF-8. */
static void check_filters(const olmoe_index *ix) {
    olmoe_trace_params p = olmoe_trace_default_params();
    p.span_density = 1.0;
    p.max_count = 1; /* only MARMALADE and CRIMSON occur once */
    olmoe_trace_result *r;
    CHECK(olmoe_trace(ix, traced, strlen(traced), &p, &r) == OLMOE_OK);
    CHECK_INT_EQ(r->n_spans, 2);
    if (r->n_spans == 2) {
        CHECK_STR_EQ(r->spans[0].text, MARMALADE);
        CHECK_STR_EQ(r->spans[1].text, CRIMSON);
    }
    olmoe_free(r);
    p.max_count = 1000000;
    p.min_len = 1000;
    CHECK(olmoe_trace(ix, traced, strlen(traced), &p, &r) == OLMOE_OK);
    CHECK_INT_EQ(r->n_spans, 0);
    CHECK_INT_EQ(r->n_docs, 0);
    olmoe_free(r);
    CHECK(olmoe_trace(ix, "", 0, NULL, &r) == OLMOE_OK);
    CHECK(r && r->n_tokens == 0 && r->n_spans == 0 && r->text_len == 0);
    olmoe_free(r);
    CHECK(olmoe_trace(ix, "bad \xFF byte", 10, NULL, &r) == OLMOE_ERR_ARG);
    CHECK(r == NULL);
}

/* BM25 Okapi against the formula worked by hand for three documents. */
static void check_bm25(void) {
    const char *docs[3] = {"the cat sat on the mat", "the dog sat", "a bird flew over the house"};
    size_t lens[3] = {strlen(docs[0]), strlen(docs[1]), strlen(docs[2])};
    double got[3];
    CHECK(bm25_scores(docs, lens, 3, "the cat sat", 11, got) == OLMOE_OK);
    /* N = 3 documents of 6, 3, 6 words: avgdl = 5. Document frequencies:
     * the 3, sat 2, and 1 for the 9 other words. idf = ln((N - n + .5) / (n + .5)):
     * "the" and "sat" are negative, so both become 0.25 x the mean idf of
     * the 11 distinct words. */
    double idf1 = log(2.5 / 1.5), idf_the = log(0.5 / 3.5), idf_sat = log(1.5 / 2.5);
    double floor_idf = 0.25 * (idf_the + idf_sat + 9 * idf1) / 11;
    double k0 = 1.5 * (1 - 0.75 + 0.75 * 6 / 5.0), k1 = 1.5 * (1 - 0.75 + 0.75 * 3 / 5.0);
    double want0 = floor_idf * 2 * 2.5 / (2 + k0) + idf1 * 2.5 / (1 + k0) +
                   floor_idf * 2.5 / (1 + k0);
    double want1 = floor_idf * 2.5 / (1 + k1) + floor_idf * 2.5 / (1 + k1);
    double want2 = floor_idf * 2.5 / (1 + k0);
    CHECK_NEAR(got[0], want0, 1e-12);
    CHECK_NEAR(got[1], want1, 1e-12);
    CHECK_NEAR(got[2], want2, 1e-12);
    /* A repeated query word counts twice; "a  b" has an empty word. */
    double twice[3];
    CHECK(bm25_scores(docs, lens, 3, "cat cat", 7, twice) == OLMOE_OK);
    CHECK_NEAR(twice[0], 2 * idf1 * 2.5 / (1 + k0), 1e-12);
    CHECK_NEAR(twice[1], 0, 0);
    CHECK_INT_EQ(bm25_word_count("a  b", 4), 3);
    CHECK_INT_EQ(bm25_word_count("", 0), 1);
}

/* The JSON form parsed back. */
static void check_json(const olmoe_index *ix) {
    olmoe_trace_params p = olmoe_trace_default_params();
    p.span_density = 1.0;
    p.prompt = "Tell me about hedgehogs.";
    olmoe_trace_result *r;
    char *text = NULL;
    CHECK(olmoe_trace(ix, traced, strlen(traced), &p, &r) == OLMOE_OK);
    CHECK(olmoe_trace_to_json(r, &text) == OLMOE_OK);
    cJSON *j = cJSON_Parse(text);
    const cJSON *spans = cJSON_GetObjectItemCaseSensitive(j, "spans");
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(j, "documents");
    CHECK(cJSON_IsArray(spans) && (size_t)cJSON_GetArraySize(spans) == r->n_spans);
    CHECK(cJSON_IsArray(docs) && (size_t)cJSON_GetArraySize(docs) == r->n_docs);
    for (size_t i = 0; i < r->n_spans; i++) {
        const cJSON *s = cJSON_GetArrayItem(spans, (int)i);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "docs");
        CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(s, "start")->valuedouble, r->spans[i].start);
        CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(s, "end")->valuedouble, r->spans[i].end);
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "text")),
                     r->spans[i].text);
        CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(s, "count")->valuedouble, r->spans[i].count);
        CHECK(cJSON_IsArray(d) && (size_t)cJSON_GetArraySize(d) == r->spans[i].n_docs);
        for (size_t k = 0; k < r->spans[i].n_docs; k++)
            CHECK_INT_EQ(cJSON_GetArrayItem(d, (int)k)->valuedouble,
                         r->docs[r->spans[i].docs[k]].doc_ix);
    }
    for (size_t i = 0; i < r->n_docs; i++) {
        const cJSON *d = cJSON_GetArrayItem(docs, (int)i);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(d, "metadata");
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(meta, "metadata");
        CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(d, "index")->valuedouble, r->docs[i].doc_ix);
        CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "snippet")),
                     r->docs[i].snippet);
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(inner, "title")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, "relevance")));
    }
    cJSON_Delete(j);
    olmoe_free(text);
    olmoe_free(r);
}

/* `olmoe trace` as a user runs it: JSON, the marked text, and errors. */
static void check_cli(const corpus_fixture *f) {
    const char *json_args[] = {"trace", "--index", f->index, "--text", traced, "--json", NULL};
    run_result r = run_cli(cli, NULL, json_args, 1);
    CHECK_INT_EQ(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "spans")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "documents")));
    cJSON_Delete(j);
    free(r.out);
    free(r.err);
    char path[1200];
    fixture_write(f, "answer.txt", traced, path, sizeof path);
    const char *human[] = {"trace", "--index", f->index, "--file", path, "--prompt", "hedgehogs",
                           NULL};
    r = run_cli(cli, NULL, human, 1);
    CHECK_INT_EQ(r.status, 0);
    CHECK_MSG(r.out && strstr(r.out, "\xC2\xAB" MARMALADE "\xC2\xBB"), "%s", r.out ? r.out : "");
    CHECK(r.out && strstr(r.out, "document 8"));
    free(r.out);
    free(r.err);
    const char *no_index[] = {"trace", "--text", "x", NULL};
    expect_cli_error(cli, 2, "--index", no_index);
    const char *bad_index[] = {"trace", "--index", "/nonexistent/olmoe-index", "--text", "x", NULL};
    expect_cli_error(cli, 1, "/nonexistent/olmoe-index", bad_index);
    const char *both[] = {"trace", "--index", f->index, "--text", "x", "--file", path, NULL};
    expect_cli_error(cli, 2, "--text", both);
    const char *missing[] = {"trace", "--index", f->index, "--file", "/nonexistent/a.txt", NULL};
    expect_cli_error(cli, 1, "/nonexistent/a.txt", missing);
    const char *bad_num[] = {"trace", "--index", f->index, "--text", "x", "--max-docs", "a", NULL};
    expect_cli_error(cli, 2, "--max-docs", bad_num);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_trace SHARED_DIR OLMOE_CLI\n");
        return 2;
    }
    cli = argv[2];
    check_bm25();
    corpus_fixture f;
    CHECK(fixture_open(&f, "olmoe-trace") == 0);
    write_corpus(&f);
    CHECK_MSG(fixture_build(&f, argv[1]) == OLMOE_OK, "%s", olmoe_last_error());
    const char *dirs[1] = {f.index};
    olmoe_index *ix = NULL;
    CHECK_MSG(olmoe_index_open(dirs, 1, NULL, &ix) == OLMOE_OK, "%s", olmoe_last_error());
    if (ix) {
        check_spans(ix);
        check_nfc(ix);
        check_k_limit(ix);
        check_filters(ix);
        check_json(ix);
        if (!cli_unavailable("test_trace")) check_cli(&f);
    }
    olmoe_index_free(ix);
    fixture_remove(&f);
    return check_report("test_trace");
}
