/* `olmoe index` as a user runs it, on a small index of real text tokenized
 * with OLMoE's tokenizer (written by index_fixture.h's naive writer, the
 * tokenizer copied beside it as the manifest names it): each subcommand's
 * JSON output checked against the library, text queries through the
 * manifest's tokenizer, and usage / input errors (exit 2 / 1, one line on
 * stderr naming the flag or file). */
#include <stdlib.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli_run.h"
#include "index_fixture.h"
#include "olmoe.h"
#include "tokenizer/tokenizer.h"
#include "util/file.h"

static const char *cli;

static const char *sentences[] = {
    "The cat sat on the mat.",
    "The cat sat on the hat, and the dog sat on the cat.",
    "Open language models matter because they can be studied.",
    "A cat is not a dog.",
    "The cat sat on the mat.",
    "Deep learning and natural language processing go together.",
    "Natural language processing is a field of study.",
};
#define N_SENTENCES (sizeof sentences / sizeof *sentences)

/* Runs the CLI and parses its stdout as JSON (NULL, with a failed check,
 * if it exits non-zero or prints something else). */
static cJSON *run_json(const char *const *args) {
    run_result r = run_cli(cli, NULL, args, 0);
    CHECK_MSG(r.status == 0, "index %s exited with %d", args[1], r.status);
    cJSON *j = r.status == 0 ? cJSON_Parse(r.out) : NULL;
    CHECK_MSG(j != NULL, "index %s: not JSON: %.200s", args[1], r.out);
    free(r.out);
    return j;
}

/* Expects exit status `status` and exactly one line on stderr containing
 * `pattern`. */
static void expect_error(int status, const char *pattern, const char *const *args) {
    run_result r = run_cli(cli, NULL, args, 1);
    size_t lines = 0;
    for (const char *p = r.err; p && *p; p++) lines += *p == '\n';
    CHECK_MSG(r.status == status && lines == 1 && r.err && strstr(r.err, pattern),
              "%s %s: exit %d (want %d), stderr '%s' (want '%s')", args[0], args[1], r.status,
              status, r.err ? r.err : "", pattern);
    free(r.out);
    free(r.err);
}

static double number(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    CHECK_MSG(cJSON_IsNumber(v), "no number '%s'", key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Writes the fixture: two shards, metadata, the tokenizer copied in. */
static olmoe_status write_fixture(const char *dir, const char *tokenizer_json) {
    tokenizer *tok;
    olmoe_status st = tokenizer_load_json(tokenizer_json, &tok);
    if (st) return st;
    fx_doc docs[N_SENTENCES];
    uint64_t numbers[N_SENTENCES];
    for (size_t i = 0; i < N_SENTENCES; i++) {
        numbers[i] = i;
        tokenizer_encode(tok, sentences[i], strlen(sentences[i]), &docs[i].ids, &docs[i].n);
    }
    fx_write_shard(dir, "0", 2, docs, 4, 0, FX_METADATA, numbers);
    fx_write_shard(dir, "1", 2, docs + 4, N_SENTENCES - 4, 0, FX_METADATA, numbers + 4);
    fx_write_manifest(dir, 2, "tokenizer.json", 50279);
    for (size_t i = 0; i < N_SENTENCES; i++) free(docs[i].ids);
    tokenizer_free(tok);
    char *data, *copy = path_join(dir, "tokenizer.json");
    size_t len;
    if (!(st = file_read_all(tokenizer_json, &data, &len))) {
        FILE *f = fopen(copy, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        free(data);
    }
    free(copy);
    return st;
}

static void check_queries(const char *dir, olmoe_index *ix) {
    int32_t *ids;
    size_t n;
    uint64_t count;
    CHECK(olmoe_index_tokenize(ix, "The cat sat", 11, &ids, &n) == OLMOE_OK);
    CHECK(olmoe_index_count(ix, ids, n, &count) == OLMOE_OK);
    CHECK_INT_EQ(count, 3);

    /* count --json prints exactly {"count": N}, from text or ids. */
    const char *text_args[] = {"index", "count", "--index", dir, "--text", "The cat sat", "--json", NULL};
    run_result r = run_cli(cli, NULL, text_args, 0);
    CHECK_STR_EQ(r.out, "{\"count\": 3}\n");
    free(r.out);
    char id_list[256] = "";
    for (size_t i = 0; i < n; i++) snprintf(id_list + strlen(id_list), sizeof id_list - strlen(id_list), "%s%d", i ? "," : "", ids[i]);
    const char *id_args[] = {"index", "count", "--index", dir, "--ids", id_list, "--json", NULL};
    r = run_cli(cli, NULL, id_args, 0);
    CHECK_STR_EQ(r.out, "{\"count\": 3}\n");
    free(r.out);
    const char *human[] = {"index", "count", "--index", dir, "--ids", id_list, NULL};
    r = run_cli(cli, NULL, human, 0);
    CHECK_STR_EQ(r.out, "count: 3\n");
    free(r.out);

    /* prob: the last token is the continuation. */
    olmoe_index_prob_result p;
    CHECK(olmoe_index_prob(ix, ids, n - 1, ids[n - 1], &p) == OLMOE_OK);
    const char *prob[] = {"index", "prob", "--index", dir, "--text", "The cat sat", "--json", NULL};
    cJSON *j = run_json(prob);
    CHECK_INT_EQ(number(j, "prompt_cnt"), p.prompt_cnt);
    CHECK_INT_EQ(number(j, "cont_cnt"), p.cont_cnt);
    CHECK_NEAR(number(j, "prob"), p.prob, 1e-12);
    cJSON_Delete(j);
    int32_t *zebra;
    size_t nz;
    CHECK(olmoe_index_tokenize(ix, "Zebras sat on the", 17, &zebra, &nz) == OLMOE_OK);
    CHECK(olmoe_index_infgram_prob(ix, zebra, nz - 1, zebra[nz - 1], &p) == OLMOE_OK);
    CHECK(p.suffix_len == 2 && p.prompt_cnt == 4 && p.cont_cnt == 4); /* " sat on" -> " the" */
    olmoe_free(zebra);
    const char *infgram[] = {"index", "infgram-prob", "--index", dir, "--text", "Zebras sat on the", "--json", NULL};
    j = run_json(infgram);
    CHECK_INT_EQ(number(j, "suffix_len"), p.suffix_len);
    CHECK_INT_EQ(number(j, "prompt_cnt"), p.prompt_cnt);
    CHECK_NEAR(number(j, "prob"), p.prob, 1e-12);
    cJSON_Delete(j);

    /* ntd after "The cat sat": " on" three times. */
    const char *ntd[] = {"index", "ntd", "--index", dir, "--text", "The cat sat", "--json", NULL};
    j = run_json(ntd);
    CHECK_INT_EQ(number(j, "prompt_cnt"), 3);
    const cJSON *by_id = cJSON_GetObjectItem(j, "result_by_token_id");
    CHECK(cJSON_GetArraySize(by_id) == 1 && number(by_id->child, "cont_cnt") == 3);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "approx")));
    cJSON_Delete(j);
    const char *ntd_eos[] = {"index", "infgram-ntd", "--index", dir, "--text", "dog.", "--json", NULL};
    j = run_json(ntd_eos); /* the end of a document is the manifest's eos */
    by_id = cJSON_GetObjectItem(j, "result_by_token_id");
    CHECK(cJSON_GetObjectItem(by_id, "50279") != NULL);
    cJSON_Delete(j);

    /* docs: every match, decoded; doc: by number. */
    const char *docs[] = {"index", "docs", "--index", dir, "--text", "The cat sat", "--max-docs", "10", "--json", NULL};
    j = run_json(docs);
    CHECK_INT_EQ(number(j, "count"), 3);
    const cJSON *list = cJSON_GetObjectItem(j, "docs");
    CHECK_INT_EQ(cJSON_GetArraySize(list), 3);
    for (const cJSON *d = list ? list->child : NULL; d; d = d->next) {
        const cJSON *text = cJSON_GetObjectItem(d, "text");
        CHECK(cJSON_IsString(text) && strstr(text->valuestring, "The cat sat"));
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(d, "metadata")));
    }
    cJSON_Delete(j);
    const char *doc[] = {"index", "doc", "--index", dir, "--doc-ix", "5", "--json", NULL};
    j = run_json(doc);
    const cJSON *text = cJSON_GetObjectItem(j, "text");
    CHECK(cJSON_IsString(text) && !strcmp(text->valuestring, sentences[5]));
    cJSON_Delete(j);

    /* CNF: both clauses within 100 tokens in the same document; quotes keep
     * the leading space of a word inside a sentence. */
    const char *cnf[] = {"index", "count", "--index", dir, "--cnf",
                         "Natural language | \" natural language\" & \" processing\"", "--json", NULL};
    r = run_cli(cli, NULL, cnf, 0);
    CHECK_STR_EQ(r.out, "{\"count\": 2}\n");
    free(r.out);
    const char *info[] = {"index", "info", "--index", dir, "--json", NULL};
    j = run_json(info);
    CHECK_INT_EQ(number(j, "n_docs"), N_SENTENCES);
    CHECK_INT_EQ(number(j, "n_shards"), 2);
    CHECK_INT_EQ(number(j, "eos_token_id"), 50279);
    cJSON_Delete(j);
    olmoe_free(ids);
}

static void check_errors(const char *dir, const char *root) {
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/no-such-index", root);
    const char *a1[] = {"index", "count", "--index", missing, "--ids", "1", NULL};
    expect_error(1, "no-such-index", a1);
    const char *a2[] = {"index", "count", "--index", dir, "--frobnicate", "1", NULL};
    expect_error(2, "unknown option '--frobnicate'", a2);
    const char *a3[] = {"index", "count", "--ids", "1", NULL};
    expect_error(2, "--index DIR is required", a3);
    const char *a4[] = {"index", "count", "--index", dir, NULL};
    expect_error(2, "exactly one of --text", a4);
    const char *a5[] = {"index", "count", "--index", dir, "--ids", "1,x", NULL};
    expect_error(2, "--ids expects", a5);
    const char *a6[] = {"index", "count", "--index", dir, "--ids", "1", "--token-width", "3", NULL};
    expect_error(2, "--token-width", a6);
    const char *a7[] = {"index", "frob", "--index", dir, NULL};
    expect_error(2, "unknown subcommand 'frob'", a7);
    const char *a8[] = {"index", "doc", "--index", dir, "--doc-ix", "99", NULL};
    expect_error(1, "document 99 does not exist", a8);
    const char *a9[] = {"index", "count", "--index", dir, "--cnf", "cat & ", NULL};
    expect_error(2, "--cnf", a9);
    const char *a10[] = {"index", "count", "--index", dir, "--ids", "70000", NULL};
    expect_error(1, "token id 70000", a10);
    const char *a11[] = {"index", "count", "--index", dir, "--text", "hi", "--tokenizer", missing, NULL};
    expect_error(1, "no-such-index", a11);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_index_cli SHARED_DIR OLMOE_CLI\n");
        return 2;
    }
    cli = argv[2];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char root[1024], dir[1100], tokenizer_json[1024];
    snprintf(root, sizeof root, "%s/olmoe-index-cli-XXXXXX", base);
    snprintf(tokenizer_json, sizeof tokenizer_json, "%s/tokenizers/olmo-gpt-neox.json", argv[1]);
    CHECK(mkdtemp(root) != NULL);
    snprintf(dir, sizeof dir, "%s/idx", root);
    mkdir(dir, 0755);
    olmoe_index *ix = NULL;
    CHECK_MSG(write_fixture(dir, tokenizer_json) == OLMOE_OK, "%s", olmoe_last_error());
    const char *dirs[1] = {dir};
    CHECK_MSG(olmoe_index_open(dirs, 1, NULL, &ix) == OLMOE_OK, "%s", olmoe_last_error());
    if (ix) {
        check_queries(dir, ix);
        check_errors(dir, root);
    }
    olmoe_index_free(ix);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_report("test_index_cli");
}
