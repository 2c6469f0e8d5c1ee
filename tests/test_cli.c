/* The CLI forms of the core engine, run as a user (or a held-out checker)
 * would run them, with their JSON output checked against the references:
 *   olmoe generate ... --temp 0 --json   vs greedy_24
 *   olmoe tokenize ... --json            vs the tokenizer references
 *   olmoe logits ... --top 64 --json     vs lse / top-64 logits
 *   olmoe template ... --json            vs transformers' apply_chat_template
 * plus the plain forms of info, generate and chat. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli_run.h"
#include "io/safetensors.h"
#include "util/file.h"

static const char *cli;
static const char *shared;

/* Runs cli with args, captures stdout (stderr goes to ours). */
static run_result run(const char *input, const char *const *args) {
    return run_cli(cli, input, args, 0);
}

static int ids_equal(const cJSON *a, const cJSON *b) {
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    for (int i = 0; i < cJSON_GetArraySize(a); i++)
        if (cJSON_GetArrayItem(a, i)->valueint != cJSON_GetArrayItem(b, i)->valueint) return 0;
    return 1;
}

static cJSON *run_json(const char *input, const char *const *args) {
    run_result r = run(input, args);
    CHECK_MSG(r.status == 0, "%s %s exited with %d", args[0], args[1], r.status);
    cJSON *j = cJSON_Parse(r.out);
    CHECK_MSG(j != NULL, "%s: output is not JSON: %.200s", args[0], r.out);
    free(r.out);
    return j;
}

/* Reference tensor "case<ci>.<what>", or NULL. */
static const tensor *ref_tensor(const safetensors_file *f, int ci, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "case%d.%s", ci, what);
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static void check_generate_and_logits(const char *model) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/reference/models/%s", shared, model);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cJSON *ref;
    if (json_load_file(path, &ref)) { CHECK(0); return; }
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    safetensors_file rt;
    CHECK(safetensors_open(path, &rt) == OLMOE_OK);
    int ci = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const char *gen[] = {"generate", "-m", dir, "-p", text, "-n", "24", "--temp", "0",
                             "--ignore-eos", "--json", NULL};
        cJSON *g = run_json(NULL, gen);
        CHECK_MSG(g && ids_equal(cJSON_GetObjectItem(g, "prompt_ids"), cJSON_GetObjectItem(c, "ids")),
                  "%s case %d: prompt_ids differ", model, ci);
        CHECK_MSG(g && ids_equal(cJSON_GetObjectItem(g, "ids"), cJSON_GetObjectItem(c, "greedy_24")),
                  "%s case %d: generated ids differ from greedy_24", model, ci);
        CHECK(g && cJSON_IsString(cJSON_GetObjectItem(g, "text")));
        cJSON_Delete(g);
        if (ci < 2) { /* the logits form; the library test covers every case */
            const char *lg[] = {"logits", "-m", dir, "--text", text, "--top", "64", "--json", NULL};
            cJSON *l = run_json(NULL, lg);
            const tensor *lse = ref_tensor(&rt, ci, "lse"), *tl = ref_tensor(&rt, ci, "top_logits"),
                         *tid = ref_tensor(&rt, ci, "top_ids");
            const cJSON *pos = cJSON_GetObjectItem(l, "positions");
            CHECK(lse && tl && tid && cJSON_GetArraySize(pos) == (int)lse->shape[0]);
            for (int p = 0; lse && tl && tid && p < cJSON_GetArraySize(pos); p++) {
                const cJSON *e = cJSON_GetArrayItem(pos, p);
                double got = cJSON_GetObjectItem(e, "lse")->valuedouble;
                CHECK_NEAR(got, ((const double *)lse->data)[p], 1e-3);
                const cJSON *top = cJSON_GetObjectItem(e, "top");
                CHECK_INT_EQ(cJSON_GetArraySize(top), 64);
                /* top-64 by logit, descending: same ids (up to ties) and values */
                for (int k = 0; k < cJSON_GetArraySize(top) && k < 64; k++) {
                    const cJSON *pair = cJSON_GetArrayItem(top, k);
                    CHECK_NEAR(cJSON_GetArrayItem(pair, 1)->valuedouble,
                               ((const float *)tl->data)[p * 64 + k], 1e-3);
                }
                CHECK_INT_EQ(cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 0)->valueint,
                             ((const int32_t *)tid->data)[p * 64]);
            }
            cJSON_Delete(l);
        }
        ci++;
    }
    safetensors_close(&rt);
    cJSON_Delete(ref);
}

/* Every tokenizer reference line through `olmoe tokenize --json`. */
static void check_tokenize(const char *model, const char *ref_file) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/reference/models/%s", shared, model);
    snprintf(path, sizeof path, "%s/reference/tokenizer/%s", shared, ref_file);
    char *data;
    if (file_read_all(path, &data, NULL)) { CHECK(0); return; }
    int lines = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *want = cJSON_Parse(line);
        const char *text = cJSON_GetObjectItem(want, "text")->valuestring;
        const char *args[] = {"tokenize", "-m", dir, "--text", text, "--json", NULL};
        cJSON *got = run_json(NULL, args);
        CHECK_MSG(got && ids_equal(cJSON_GetObjectItem(got, "ids"), cJSON_GetObjectItem(want, "ids")),
                  "%s: ids differ for \"%s\"", ref_file, text);
        cJSON_Delete(got);
        cJSON_Delete(want);
        lines++;
    }
    CHECK(lines >= 50);
    free(data);
}

static void check_template(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/reference/models/olmoe-tiny", shared);
    snprintf(path, sizeof path, "%s/reference/chat/olmoe-instruct-template.jsonl", shared);
    char *data;
    if (file_read_all(path, &data, NULL)) { CHECK(0); return; }
    char tmp[] = "/tmp/olmoe-messages-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    close(fd);
    int lines = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *want = cJSON_Parse(line);
        char *msgs = cJSON_PrintUnformatted(cJSON_GetObjectItem(want, "messages"));
        FILE *f = fopen(tmp, "w");
        fputs(msgs, f);
        fclose(f);
        cJSON_free(msgs);
        int add = cJSON_IsTrue(cJSON_GetObjectItem(want, "add_generation_prompt"));
        const char *args[] = {"template", "-m", dir, "--messages", tmp, "--json",
                              add ? "--add-generation-prompt" : NULL, NULL};
        cJSON *got = run_json(NULL, args);
        const cJSON *text = cJSON_GetObjectItem(got, "text");
        CHECK_MSG(cJSON_IsString(text) && !strcmp(text->valuestring,
                                                   cJSON_GetObjectItem(want, "text")->valuestring),
                  "template line %d: text differs", lines);
        CHECK_MSG(ids_equal(cJSON_GetObjectItem(got, "ids"), cJSON_GetObjectItem(want, "ids")),
                  "template line %d: ids differ", lines);
        cJSON_Delete(got);
        cJSON_Delete(want);
        lines++;
    }
    CHECK(lines > 0);
    unlink(tmp);
    free(data);
}

/* info, plain generate and a two-turn chat from a pipe. */
static void check_plain_forms(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/reference/models/olmoe-tiny", shared);
    const char *info[] = {"info", "-m", dir, NULL};
    run_result r = run(NULL, info);
    CHECK_INT_EQ(r.status, 0);
    CHECK(strstr(r.out, "OlmoeForCausalLM") && strstr(r.out, "8, 2 active"));
    free(r.out);
    const char *gen[] = {"generate", "-m", dir, "-p", "Bitcoin is", "-n", "8", "--seed", "7", NULL};
    r = run(NULL, gen);
    CHECK_INT_EQ(r.status, 0);
    CHECK(strncmp(r.out, "Bitcoin is", 10) == 0 && strlen(r.out) > 11);
    free(r.out);
    /* Same seed, same text: sampling is reproducible. */
    run_result r2 = run(NULL, gen), r3 = run(NULL, gen);
    CHECK(r2.out && r3.out && !strcmp(r2.out, r3.out));
    free(r2.out);
    free(r3.out);
    const char *chat[] = {"chat", "-m", dir, "-n", "6", "--seed", "1", "--system", "Be brief.", NULL};
    r = run("Hello!\nAnd again?\n", chat);
    CHECK_INT_EQ(r.status, 0);
    int lines = 0;
    for (const char *p = r.out; *p; p++) lines += *p == '\n';
    CHECK_MSG(lines >= 2, "chat printed %d lines", lines);
    free(r.out);
}

/* A tg record's share of one bound: the probes read before the first and
 * after each of the 2 repetitions, each repetition's tokens/s set against
 * the mean of the two around it, averaged. */
static void check_paired_bound(const cJSON *tg, const char *samples_key, const char *pct_key) {
    const cJSON *bw = cJSON_GetObjectItem(tg, samples_key), *ts = cJSON_GetObjectItem(tg, "samples_ts"),
                *pct = cJSON_GetObjectItem(tg, pct_key), *bytes = cJSON_GetObjectItem(tg, "bytes_per_token");
    CHECK_MSG(bw && cJSON_GetArraySize(bw) == 3 && pct && bytes, "%s: 3 probes and %s", samples_key, pct_key);
    if (!bw || cJSON_GetArraySize(bw) != 3 || !pct || !bytes) return;
    double want = 0;
    for (int i = 0; i < 2; i++) {
        const double before = cJSON_GetArrayItem(bw, i)->valuedouble, after = cJSON_GetArrayItem(bw, i + 1)->valuedouble;
        CHECK_MSG(before > 1e8 && after > 1e8, "%s[%d] = %g B/s", samples_key, i, before);
        want += 100 * cJSON_GetArrayItem(ts, i)->valuedouble * bytes->valuedouble / ((before + after) / 2) / 2;
    }
    CHECK_NEAR(pct->valuedouble, want, 1e-9 * want);
}

/* olmoe bench -o json: llama-bench's records, one per test; with -np the
 * generation record counts every sequence's tokens and has no bound. */
static void check_bench_json(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/reference/models/olmoe-tiny", shared);
    for (int np = 1; np <= 3; np += 2) {
        char npv[8];
        snprintf(npv, sizeof npv, "%d", np);
        const char *args[] = {"bench", "-m", dir, "-p", "8", "-n", "4", "-r", "2", "-t", "1", "-np", npv,
                              "-o", "json", NULL};
        cJSON *j = run_json(NULL, args);
        CHECK_INT_EQ(cJSON_GetArraySize(j), 2);
        const cJSON *pp = cJSON_GetArrayItem(j, 0), *tg = cJSON_GetArrayItem(j, 1);
        if (!pp || !tg) { cJSON_Delete(j); continue; }
        CHECK_INT_EQ(cJSON_GetObjectItem(pp, "n_prompt")->valueint, 8);
        CHECK_INT_EQ(cJSON_GetObjectItem(pp, "n_parallel")->valueint, 1);
        CHECK_INT_EQ(cJSON_GetObjectItem(tg, "n_gen")->valueint, 4);
        CHECK_INT_EQ(cJSON_GetObjectItem(tg, "n_parallel")->valueint, np);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(tg, "samples_ns")), 2);
        /* avg_ts is the tokens of all sequences over the time of the run */
        double ns = cJSON_GetArrayItem(cJSON_GetObjectItem(tg, "samples_ns"), 0)->valuedouble;
        double ts = cJSON_GetArrayItem(cJSON_GetObjectItem(tg, "samples_ts"), 0)->valuedouble;
        CHECK_NEAR(ts, 4.0 * np * 1e9 / ns, 1e-6 * ts);
        if (np == 1) {
            check_paired_bound(tg, "samples_read_bandwidth", "pct_of_bound");
            check_paired_bound(tg, "samples_weights_read_bandwidth", "pct_of_weights_bound");
        } else {
            CHECK(!cJSON_GetObjectItem(tg, "pct_of_bound") && !cJSON_GetObjectItem(tg, "weights_read_bandwidth"));
        }
        cJSON_Delete(j);
    }
}

int main(int argc, char **argv) {
    shared = argc > 1 ? argv[1] : "../shared";
    cli = argc > 2 ? argv[2] : "olmoe";
    check_generate_and_logits("olmoe-tiny");
    check_generate_and_logits("olmoe-gqa-bf16");
    check_generate_and_logits("olmo2-tiny");
    check_tokenize("olmoe-tiny", "olmo-gpt-neox.jsonl");
    check_tokenize("olmo2-tiny", "dolma2.jsonl");
    check_template();
    check_plain_forms();
    check_bench_json();
    return check_report("test_cli");
}
