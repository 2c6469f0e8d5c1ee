/* olmoe index build: a corpus (Dolma JSONL, gz/zst, folders, plain text)
 * -> an index in infini-gram's layout, with a progress line and a summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"

static const char *usage_text =
    "usage: olmoe index build -m TOKENIZER -o INDEX_DIR [--shard-size N] [-t THREADS] [--force] "
    "INPUT...\n"
    "Indexes Dolma-style JSONL files (.jsonl, .jsonl.gz, .jsonl.zst; the \"text\" field, other\n"
    "fields kept as metadata), folders of them, and plain-text files (one document each), in\n"
    "infini-gram's format. TOKENIZER is a tokenizer.json, a model folder or a GGUF file.\n"
    "  --shard-size N  most tokens per shard (suffixes K, M, G); default: fits memory\n"
    "  --force         replace an index already in INDEX_DIR\n";

/* The progress line restarts for each stage of the build. */
typedef struct {
    progress_line line;
    int active;
} build_progress;

static void on_stage(const char *name, void *user) {
    build_progress *bp = user;
    if (bp->active) progress_done(&bp->line);
    if (!strcmp(name, "tokenize")) progress_init(&bp->line, "tokenize", "MB", 1e-6);
    else progress_init(&bp->line, "sort", "M tokens", 1e-6);
    bp->active = 1;
}

static void on_progress(double done, double total, void *user) {
    progress_update(done, total, &((build_progress *)user)->line);
}

/* "500000", "64M", "2G" -> tokens. */
static int parse_count(const char *value, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    uint64_t scale = 1;
    if (*end == 'K' || *end == 'k') scale = 1000, end++;
    else if (*end == 'M' || *end == 'm') scale = 1000000, end++;
    else if (*end == 'G' || *end == 'g') scale = 1000000000, end++;
    if (errno || end == value || *end || value[0] == '-' || v == 0 || v > UINT64_MAX / scale) {
        fprintf(stderr, "olmoe index build: --shard-size expects a positive number of tokens "
                        "(e.g. 500M), got '%s'\n", value);
        return -1;
    }
    *out = v * scale;
    return 0;
}

/* Options and inputs (words not starting with '-') in any order. Returns 0,
 * 1 after --help, or an exit status (EXIT_USAGE) after printing the error. */
static int parse_args(int argc, char **argv, olmoe_index_build_params *p, common_opts *o,
                      const char **inputs) {
    arg_iter it = {argc, 0, argv, "index build"};
    const char *name, *value;
    while (it.i < argc) {
        const char *a = argv[it.i];
        if (a[0] != '-' || a[1] == 0) {
            inputs[p->n_inputs++] = argv[it.i++];
            continue;
        }
        if (arg_next(&it, "--help -h --force", &name, &value) < 0) return EXIT_USAGE;
        int c = 1;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            fputs(usage_text, stdout);
            return 1;
        }
        if (!strcmp(name, "-o") || !strcmp(name, "--output")) p->out_dir = value;
        else if (!strcmp(name, "--force")) p->force = 1;
        else if (!strcmp(name, "--shard-size")) c = parse_count(value, &p->shard_tokens) ? -1 : 1;
        else if (!strcmp(name, "-m") || !strcmp(name, "--model") || !strcmp(name, "-t") ||
                 !strcmp(name, "--threads"))
            c = common_opt(o, name, value);
        else return unknown_option("index build", name);
        if (c < 0) return EXIT_USAGE;
    }
    if (!o->model || !p->out_dir || p->n_inputs == 0) {
        fprintf(stderr, "olmoe index build: -m TOKENIZER, -o INDEX_DIR and at least one INPUT are "
                        "required (see olmoe index build --help)\n");
        return EXIT_USAGE;
    }
    return 0;
}

int cmd_index_build(int argc, char **argv) {
    olmoe_index_build_params p = olmoe_index_build_default_params();
    common_opts o = {0};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return report("index build");
    int r = parse_args(argc, argv, &p, &o, inputs);
    if (r) {
        free(inputs);
        return r == 1 ? 0 : r;
    }
    p.tokenizer = o.model;
    p.n_threads = o.threads;
    p.inputs = inputs;
    build_progress bp = {0};
    p.stage = on_stage;
    p.progress = on_progress;
    p.user = &bp;
    olmoe_index_build_stats s;
    olmoe_status st = olmoe_index_build(&p, &s);
    if (bp.active) progress_done(&bp.line);
    free(inputs);
    if (st) return report("index build");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "olmoe index build: %llu docs, %.2f M tokens (%d-byte ids), %d shard%s, "
                    "%.2f M tokens/s, %.1f s, peak RSS %.0f MiB -> %s\n",
            (unsigned long long)s.n_docs, s.n_tokens * 1e-6, s.token_width, s.n_shards,
            s.n_shards == 1 ? "" : "s", s.seconds > 0 ? s.n_tokens * 1e-6 / s.seconds : 0.0,
            s.seconds, ru.ru_maxrss / 1024.0, p.out_dir);
    return 0;
}
