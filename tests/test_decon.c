/* Contamination checks (olmoe_decon, olmoe_decon_file, `olmoe decon`) on a
 * corpus of seeded filler text with planted passages, indexed by the real
 * builder: a planted copy of an item is flagged and a fresh one is not,
 * coverage is the exact union of occurring n-grams (hand-checked with
 * n = 3), short items must occur whole, fields are read by dotted paths,
 * the JSON and CSV outputs have their shapes, a real OLMES request file is
 * read as it is, and bad inputs fail with one line naming the culprit. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "check.h"
#include "corpus_fixture.h"
#include "olmoe.h"

static const char *cli, *shared;

/* An evaluation item planted verbatim (its fields joined with "\n"). */
#define QUERY_A \
    "Question: Which gas do green plants absorb from the air to make their food?\nAnswer:"
static const char *const choices_a[] = {"carbon dioxide", "oxygen", "nitrogen", "helium"};
#define TEXT_A QUERY_A "\ncarbon dioxide\noxygen\nnitrogen\nhelium"
#define FRESH "Question: Which zorblat frimbles the quenchy dorp beside a glimmering vatch?"

static void write_corpus(corpus_fixture *f) {
    uint64_t rng = 11;
    for (int d = 0; d < 30; d++) {
        char text[8192] = "", title[32];
        filler(text, sizeof text, &rng, 150);
        if (d == 4) strcat(text, "\n" TEXT_A "\n");
        if (d == 10) strcat(text, " red green blue yellow");
        if (d == 11) strcat(text, " orange black white");
        if (d == 12) strcat(text, " spring summer autumn winter");
        if (d == 13) strcat(text, " autumn winter morning evening");
        filler(text, sizeof text, &rng, 50);
        snprintf(title, sizeof title, "document %d", d);
        fixture_add(f, text, title);
    }
}

/* eval.jsonl: the planted item (string id), a fresh one (number id) and
 * one without an id, OLMES-style. */
static void write_eval(const corpus_fixture *f, char *path, size_t cap) {
    static const char *const fresh_choices[] = {"x", "y"}, *const sky_choices[] = {"light"};
    cJSON *items[3], *doc[3];
    for (int i = 0; i < 3; i++) {
        items[i] = cJSON_CreateObject();
        doc[i] = cJSON_AddObjectToObject(items[i], "doc");
    }
    cJSON_AddStringToObject(items[0], "id", "q-a");
    cJSON_AddNumberToObject(items[1], "id", 17);
    cJSON_AddStringToObject(doc[0], "query", QUERY_A);
    cJSON_AddItemToObject(doc[0], "choices", cJSON_CreateStringArray(choices_a, 4));
    cJSON_AddStringToObject(doc[1], "query", FRESH);
    cJSON_AddItemToObject(doc[1], "choices", cJSON_CreateStringArray(fresh_choices, 2));
    cJSON_AddStringToObject(doc[2], "query", "Why is the sky blue?");
    cJSON_AddItemToObject(doc[2], "choices", cJSON_CreateStringArray(sky_choices, 1));
    cJSON_AddNumberToObject(items[0], "answer", 2);
    cJSON *meta = cJSON_AddObjectToObject(items[0], "meta");
    cJSON_AddNumberToObject(meta, "n", 3.5);
    cJSON_AddTrueToObject(meta, "ok");
    char text[4096] = "";
    for (int i = 0; i < 3; i++) {
        char *line = cJSON_PrintUnformatted(items[i]);
        strcat(strcat(text, line), "\n");
        cJSON_free(line);
        cJSON_Delete(items[i]);
    }
    fixture_write(f, "eval.jsonl", text, path, cap);
}

static size_t count_tokens(const olmoe_index *ix, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(olmoe_index_tokenize(ix, text, strlen(text), &ids, &n) == OLMOE_OK);
    olmoe_free(ids);
    return n;
}

/* Coverage on items checked by hand (one token per word, n = 3 or 13). */
static void check_coverage(const olmoe_index *ix) {
    const char *items[] = {
        TEXT_A,                                                /* planted copy */
        FRESH,                                                 /* novel */
        "Imagine red green blue yellow purple orange black white",
        "Imagine spring summer autumn winter morning evening", /* overlapping matches */
        " red green blue",                                     /* shorter than n, occurs */
        " red purple",                                         /* shorter than n, does not */
        "",
    };
    enum { N = sizeof items / sizeof *items };
    olmoe_decon_result r[N];
    olmoe_decon_params p = olmoe_decon_default_params();
    CHECK_MSG(olmoe_decon(ix, items, NULL, 2, &p, r) == OLMOE_OK, "%s", olmoe_last_error());
    CHECK(r[0].n_tokens >= 13 && r[0].n_covered == r[0].n_tokens && r[0].coverage == 1.0);
    CHECK(r[0].contaminated == 1);
    CHECK(r[1].coverage < 0.2 && r[1].contaminated == 0);
    /* n = 3. Item 2's 3-grams that occur: red green blue, green blue yellow
     * (document 10) and orange black white (document 11): 7 of 9 tokens. */
    CHECK_INT_EQ(count_tokens(ix, items[2]), 9);
    CHECK_INT_EQ(count_tokens(ix, items[3]), 7);
    p.n = 3;
    CHECK(olmoe_decon(ix, items, NULL, N, &p, r) == OLMOE_OK);
    CHECK_INT_EQ(r[2].n_covered, 7);
    CHECK_NEAR(r[2].coverage, 7.0 / 9.0, 1e-15);
    CHECK(r[2].contaminated == 0);
    /* Item 3: spring summer autumn winter (12) and autumn winter morning evening
     * (13) overlap; every token but "Imagine" is covered. */
    CHECK_INT_EQ(r[3].n_covered, 6);
    /* Items shorter than n: all or nothing. */
    CHECK(r[4].n_tokens == 3 && r[4].n_covered == 3 && r[4].contaminated);
    CHECK(r[5].n_tokens == 2 && r[5].n_covered == 0 && !r[5].contaminated);
    CHECK(r[6].n_tokens == 0 && r[6].coverage == 0 && !r[6].contaminated);
    p.threshold = 0.7;
    CHECK(olmoe_decon(ix, items + 2, NULL, 1, &p, r) == OLMOE_OK);
    CHECK(r[0].contaminated == 1);
    p.n = 0;
    CHECK(olmoe_decon(ix, items, NULL, 1, &p, r) == OLMOE_ERR_ARG);
}

/* Fields by dotted path, arrays joined, numbers as text, default fields
 * and ids. */
static void check_fields(const olmoe_index *ix, const corpus_fixture *f, const char *eval) {
    olmoe_decon_report *rep = NULL;
    CHECK_MSG(olmoe_decon_file(ix, eval, "doc.query, doc.choices", NULL, &rep) == OLMOE_OK, "%s",
              olmoe_last_error());
    if (rep) {
        CHECK_INT_EQ(rep->n_items, 3);
        CHECK_STR_EQ(rep->items[0].text, TEXT_A);
        CHECK_STR_EQ(rep->items[0].id, "q-a");
        CHECK(rep->items[0].id_is_string == 1 && rep->items[0].result.contaminated == 1);
        CHECK_STR_EQ(rep->items[1].id, "17");
        CHECK(rep->items[1].id_is_string == 0 && rep->items[1].result.contaminated == 0);
        CHECK_STR_EQ(rep->items[2].id, "2"); /* no "id": the line number */
        CHECK_INT_EQ(rep->n_contaminated, 1);
    }
    olmoe_free(rep);
    const char *fields = "doc.choices.1,answer,meta.n,meta.ok";
    CHECK(olmoe_decon_file(ix, eval, fields, NULL, &rep) == OLMOE_OK);
    if (rep) {
        CHECK_STR_EQ(rep->items[0].text, "oxygen\n2\n3.5\ntrue");
        CHECK_STR_EQ(rep->items[1].text, "y"); /* the fields it has */
    }
    olmoe_free(rep);
    char path[1200];
    fixture_write(f, "defaults.jsonl",
                  "{\"text\": \"plain text item\", \"question\": \"ignored\"}\n"
                  "{\"doc\": {\"query\": \"Q?\", \"choices\": [\"a\", \"b\"]}, "
                  "\"question\": \"ignored\"}\n"
                  "\n"
                  "{\"question\": \"Why?\", \"choices\": [\"x\"], \"answer\": 0}\n",
                  path, sizeof path);
    CHECK(olmoe_decon_file(ix, path, NULL, NULL, &rep) == OLMOE_OK);
    if (rep) {
        CHECK_INT_EQ(rep->n_items, 3);
        CHECK_STR_EQ(rep->items[0].text, "plain text item");
        CHECK_STR_EQ(rep->items[1].text, "Q?\na\nb");
        CHECK_STR_EQ(rep->items[2].text, "Why?\nx\n0");
        CHECK_INT_EQ(rep->items[2].line, 3); /* the blank line counts */
    }
    olmoe_free(rep);
}

/* Lines of a gzip file. */
static size_t gz_lines(const char *path) {
    gzFile g = gzopen(path, "rb");
    size_t n = 0;
    int c;
    while (g && (c = gzgetc(g)) != -1) n += c == '\n';
    if (g) gzclose(g);
    return n;
}

static void check_cli(const corpus_fixture *f, const char *eval) {
    const char *json[] = {"decon", "--index", f->index, "--eval", eval, "--fields",
                          "doc.query,doc.choices", "--json", NULL};
    run_result r = run_cli(cli, NULL, json, 1);
    CHECK_INT_EQ(r.status, 0);
    char *save, *line = r.out ? strtok_r(r.out, "\n", &save) : NULL;
    int n = 0, summary = 0;
    for (; line; line = strtok_r(NULL, "\n", &save), n++) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "summary");
        if (n == 0) {
            CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id")), "q-a");
            CHECK(cJSON_GetObjectItemCaseSensitive(o, "coverage")->valuedouble == 1.0);
            CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "contaminated")));
        } else if (n == 1) {
            CHECK(cJSON_GetObjectItemCaseSensitive(o, "id")->valuedouble == 17);
            CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "contaminated")));
        } else if (s) {
            summary = 1;
            CHECK(cJSON_GetObjectItemCaseSensitive(s, "items")->valuedouble == 3);
            CHECK(cJSON_GetObjectItemCaseSensitive(s, "contaminated")->valuedouble == 1);
            double fraction = cJSON_GetObjectItemCaseSensitive(s, "fraction")->valuedouble;
            CHECK_NEAR(fraction, 1 / 3.0, 1e-12);
            CHECK(cJSON_GetObjectItemCaseSensitive(s, "n")->valuedouble == 13);
            CHECK(cJSON_GetObjectItemCaseSensitive(s, "threshold")->valuedouble == 0.8);
        }
        cJSON_Delete(o);
    }
    CHECK(n == 4 && summary);
    free(r.out);
    free(r.err);
    const char *csv[] = {"decon", "--index", f->index, "--eval", eval, "--fields",
                         "doc.query,doc.choices", "--csv", NULL};
    r = run_cli(cli, NULL, csv, 1);
    CHECK_INT_EQ(r.status, 0);
    const char *head = "id,coverage,contaminated\nq-a,1,true\n17,";
    CHECK_MSG(r.out && !strncmp(r.out, head, strlen(head)), "%s", r.out);
    free(r.out);
    free(r.err);
    const char *human[] = {"decon", "--index", f->index, "--eval", eval, "--fields",
                           "doc.query,doc.choices", NULL};
    r = run_cli(cli, NULL, human, 1);
    CHECK(r.status == 0 && r.out && strstr(r.out, "3 items, 1 contaminated") &&
          strstr(r.out, "id q-a"));
    free(r.out);
    free(r.err);
    /* A real OLMES request file, as it is. */
    char olmes[1024], count[32];
    snprintf(olmes, sizeof olmes, "%s/eval/oe_eval_tasks/arc_easy/rc_0shot/requests.jsonl.gz",
             shared);
    const char *real[] = {"decon", "--index", f->index, "--eval", olmes, "--fields",
                          "doc.query,doc.choices", "--json", NULL};
    r = run_cli(cli, NULL, real, 1);
    CHECK_INT_EQ(r.status, 0);
    size_t lines = 0, want = gz_lines(olmes);
    for (const char *p = r.out; p && *p; p++) lines += *p == '\n';
    snprintf(count, sizeof count, "\"items\":%zu,", want);
    CHECK_MSG(want > 1000 && lines == want + 1 && strstr(r.out, count), "%zu lines for %zu items",
              lines, want);
    free(r.out);
    free(r.err);
}

static void check_errors(const corpus_fixture *f, const char *eval) {
    char bad[1200];
    fixture_write(f, "bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\n", bad, sizeof bad);
    const char *missing[] = {"decon", "--index", f->index, "--eval", "/nonexistent/e.jsonl", NULL};
    expect_cli_error(cli, 1, "/nonexistent/e.jsonl", missing);
    const char *broken[] = {"decon", "--index", f->index, "--eval", bad, NULL};
    expect_cli_error(cli, 1, "bad.jsonl:2", broken);
    const char *field[] = {"decon", "--index", f->index, "--eval", eval,
                           "--fields", "doc.query,doc.nope", NULL};
    expect_cli_error(cli, 1, "'doc.nope'", field);
    const char *no_eval[] = {"decon", "--index", f->index, NULL};
    expect_cli_error(cli, 2, "--eval", no_eval);
    const char *two[] = {"decon", "--index", f->index, "--eval", eval, "--json", "--csv", NULL};
    expect_cli_error(cli, 2, "--csv", two);
    const char *bad_n[] = {"decon", "--index", f->index, "--eval", eval, "-n", "0", NULL};
    expect_cli_error(cli, 2, "-n", bad_n);
    const char *no_index[] = {"decon", "--index", "/nonexistent/index", "--eval", eval, NULL};
    expect_cli_error(cli, 1, "/nonexistent/index", no_index);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_decon SHARED_DIR OLMOE_CLI\n");
        return 2;
    }
    shared = argv[1];
    cli = argv[2];
    corpus_fixture f;
    CHECK(fixture_open(&f, "olmoe-decon") == 0);
    write_corpus(&f);
    CHECK_MSG(fixture_build(&f, shared) == OLMOE_OK, "%s", olmoe_last_error());
    char eval[1200];
    write_eval(&f, eval, sizeof eval);
    const char *dirs[1] = {f.index};
    olmoe_index *ix = NULL;
    CHECK_MSG(olmoe_index_open(dirs, 1, NULL, &ix) == OLMOE_OK, "%s", olmoe_last_error());
    if (ix) {
        check_coverage(ix);
        check_fields(ix, &f, eval);
        if (!cli_unavailable("test_decon")) {
            check_cli(&f, eval);
            check_errors(&f, eval);
        }
    }
    olmoe_index_free(ix);
    fixture_remove(&f);
    return check_report("test_decon");
}
