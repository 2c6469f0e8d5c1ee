/* A small corpus written by a test and indexed with the real builder
 * (olmoe_index_build): a temporary folder, JSONL documents of seeded filler
 * text into which a test plants the passages it looks for, and helpers to
 * run the CLI with expected failures. */
#ifndef OLMOE_TEST_CORPUS_FIXTURE_H
#define OLMOE_TEST_CORPUS_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli_run.h"
#include "olmoe.h"
#include "util/rng.h"

typedef struct {
    char root[1024];   /* the temporary folder */
    char corpus[1100]; /* root/corpus.jsonl */
    char index[1100];  /* root/index */
    FILE *out;         /* the corpus while it is written */
} corpus_fixture;

/* Lower-case ASCII words only: tests plant capitalised or unusual words
 * and use non-ASCII text where nothing may match. */
static const char *const filler_words[] = {
    "the", "of", "and", "to", "in", "was", "he", "that", "it", "his", "her", "with", "as",
    "for", "had", "you", "not", "be", "on", "at", "by", "which", "have", "from", "this",
    "him", "but", "all", "she", "they", "were", "my", "are", "me", "one", "their", "so",
    "an", "said", "them", "we", "who", "would", "been", "will", "no", "when", "there",
    "if", "more", "out", "up", "into", "do", "any", "your", "what", "has", "man", "could",
    "other", "than", "our", "some", "very", "time", "upon", "about", "may", "its", "only",
    "now", "like", "little", "then", "can", "should", "made", "did", "us", "such", "great",
    "before", "must", "two", "these", "see", "know", "over", "much", "down", "after",
    "first", "good", "men", "own", "never", "most", "old", "shall", "day", "where",
};

static int fixture_open(corpus_fixture *f, const char *name) {
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->root, sizeof f->root, "%s/%s-XXXXXX", base, name);
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->corpus, sizeof f->corpus, "%s/corpus.jsonl", f->root);
    snprintf(f->index, sizeof f->index, "%s/index", f->root);
    f->out = fopen(f->corpus, "w");
    return f->out ? 0 : -1;
}

static void fixture_remove(const corpus_fixture *f) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    CHECK(system(cmd) == 0);
}

/* Appends n seeded filler words (each after a space) to buf. */
static void filler(char *buf, size_t cap, uint64_t *rng, int n) {
    size_t len = strlen(buf);
    const size_t n_words = sizeof filler_words / sizeof *filler_words;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, " %s",
                                filler_words[splitmix64_below(rng, n_words)]);
}

/* Writes one document: {"text": text, "title": title}. */
static void fixture_add(corpus_fixture *f, const char *text, const char *title) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddStringToObject(o, "title", title);
    char *line = cJSON_PrintUnformatted(o);
    fprintf(f->out, "%s\n", line);
    cJSON_free(line);
    cJSON_Delete(o);
}

/* Closes the corpus and indexes it with OLMoE's tokenizer. */
static olmoe_status fixture_build(corpus_fixture *f, const char *shared) {
    char tokenizer[1024];
    snprintf(tokenizer, sizeof tokenizer, "%s/tokenizers/olmo-gpt-neox.json", shared);
    fclose(f->out);
    f->out = NULL;
    const char *inputs[1] = {f->corpus};
    olmoe_index_build_params p = olmoe_index_build_default_params();
    p.tokenizer = tokenizer;
    p.out_dir = f->index;
    p.inputs = inputs;
    p.n_inputs = 1;
    p.n_threads = 2;
    return olmoe_index_build(&p, NULL);
}

/* Writes a small text file under the fixture's folder; returns its path
 * in `path`. */
static inline void fixture_write(const corpus_fixture *f, const char *name, const char *text,
                          char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", f->root, name);
    FILE *out = fopen(path, "w");
    CHECK(out != NULL);
    if (out) {
        fputs(text, out);
        fclose(out);
    }
}

/* Runs the CLI expecting exit status `status` and exactly one line on
 * stderr containing `pattern`. */
static inline void expect_cli_error(const char *cli, int status, const char *pattern,
                             const char *const *args) {
    run_result r = run_cli(cli, NULL, args, 1);
    size_t lines = 0;
    for (const char *p = r.err; p && *p; p++) lines += *p == '\n';
    CHECK_MSG(r.status == status && lines == 1 && r.err && strstr(r.err, pattern),
              "%s %s: exit %d (want %d), stderr '%s' (want one line with '%s')", args[0],
              args[1] ? args[1] : "", r.status, status, r.err ? r.err : "", pattern);
    free(r.out);
    free(r.err);
}

#endif
