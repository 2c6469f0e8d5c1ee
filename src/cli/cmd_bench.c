/* olmoe bench: prompt processing (pp) and generation (tg) speed in
 * llama-bench's shape, plus generation as a share of the memory-bandwidth
 * bound (weight bytes read per token / this machine's measured read
 * bandwidth, which the benchmark measures itself, around each tg run). With
 * -np N, generation runs N sequences decoded together (olmoe_decode_batch,
 * as olmoe serve's slots are) and reports their aggregate tokens/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <omp.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"

typedef struct {
    const char *model;
    int n_prompt, n_gen, threads, reps, json, n_seq;
} bench_opts;

typedef struct {
    int n_prompt, n_gen, n_seq; /* tg: n_gen tokens for each of n_seq sequences */
    double *ns; /* per repetition */
    int reps;
    /* Single-sequence tg only (else NULL): read bandwidth probed before the
     * first repetition and after each one (reps + 1 readings), of a fresh
     * buffer (olmoe_read_bandwidth) and of the model's own weights. */
    double *probe_bw, *weights_bw;
} bench_result;

static void random_tokens(int32_t *ids, int n, int vocab, uint64_t *state) {
    for (int i = 0; i < n; i++) {
        *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
        ids[i] = (int32_t)(*state % (uint64_t)vocab);
    }
}

/* One timed run from empty contexts, as llama-bench does: n_prompt tokens
 * as one batch (pp), or n_gen tokens one at a time (tg) in each of n_seq
 * sequences, decoded together when there are several. */
static int run_once(olmoe_context **ctx, const int32_t *ids, int n_ctx, const bench_result *r, double *ns) {
    const int32_t *toks[64];
    size_t ones[64];
    for (int k = 0; k < r->n_seq; k++) olmoe_context_truncate(ctx[k], 0);
    double t0 = now_seconds();
    if (r->n_prompt && olmoe_decode(ctx[0], ids, (size_t)r->n_prompt, 0)) return report("decode");
    for (int i = 0; i < r->n_gen; i++) {
        if (r->n_seq == 1) {
            if (olmoe_decode(ctx[0], &ids[i], 1, 0)) return report("decode");
            continue;
        }
        for (int k = 0; k < r->n_seq; k++) { /* each sequence its own tokens */
            toks[k] = &ids[(i + 37 * k) % n_ctx];
            ones[k] = 1;
        }
        if (olmoe_decode_batch(ctx, toks, ones, r->n_seq)) return report("decode");
    }
    *ns = (now_seconds() - t0) * 1e9;
    return 0;
}

static void stats(const bench_result *r, double *avg_ts, double *sd_ts, double *avg_ns, double *sd_ns) {
    int tokens = r->n_prompt + r->n_gen * r->n_seq;
    double s = 0, s2 = 0, n = 0, n2 = 0;
    for (int i = 0; i < r->reps; i++) {
        double ts = tokens * 1e9 / r->ns[i];
        s += ts, s2 += ts * ts, n += r->ns[i], n2 += r->ns[i] * r->ns[i];
    }
    *avg_ts = s / r->reps;
    *avg_ns = n / r->reps;
    *sd_ts = r->reps > 1 ? sqrt(fmax(0, (s2 - s * s / r->reps) / (r->reps - 1))) : 0;
    *sd_ns = r->reps > 1 ? sqrt(fmax(0, (n2 - n * n / r->reps) / (r->reps - 1))) : 0;
}

/* The bound, paired: this machine's read bandwidth drifts by a third within
 * minutes (other tenants of the host), so a probe read at another moment
 * says little about the rate a given tg run had. Each repetition's
 * tokens/s x bytes per token is divided by the mean of the two probes read
 * just before and just after it; the result is the mean over repetitions. */
static double pct_of_bound(const bench_result *r, const double *bw, double bytes_per_token) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < r->reps; i++) {
        const double around = (bw[i] + bw[i + 1]) / 2;
        if (around <= 0) continue; /* a probe could not allocate its buffer */
        sum += 100 * (r->n_gen * 1e9 / r->ns[i]) * bytes_per_token / around;
        n++;
    }
    return n ? sum / n : 0;
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : 0;
}

static cJSON *number_array(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

static cJSON *record(const bench_opts *o, const olmoe_model_info *info, const bench_result *r) {
    double avg_ts, sd_ts, avg_ns, sd_ns;
    stats(r, &avg_ts, &sd_ts, &avg_ns, &sd_ns);
    cJSON *j = cJSON_CreateObject();
    char type[96], when[32];
    snprintf(type, sizeof type, "%s %s", info->architecture, info->dtype);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(j, "model_filename", o->model);
    cJSON_AddStringToObject(j, "model_type", type);
    cJSON_AddNumberToObject(j, "model_size", (double)info->weight_bytes);
    cJSON_AddNumberToObject(j, "model_n_params", (double)info->n_params_total);
    cJSON_AddNumberToObject(j, "n_threads", o->threads);
    cJSON_AddNumberToObject(j, "n_prompt", r->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", r->n_gen);
    cJSON_AddNumberToObject(j, "n_parallel", r->n_seq);
    cJSON_AddStringToObject(j, "test_time", when);
    cJSON_AddNumberToObject(j, "avg_ns", avg_ns);
    cJSON_AddNumberToObject(j, "stddev_ns", sd_ns);
    cJSON_AddNumberToObject(j, "avg_ts", avg_ts);
    cJSON_AddNumberToObject(j, "stddev_ts", sd_ts);
    cJSON *ns = cJSON_AddArrayToObject(j, "samples_ns"), *ts = cJSON_AddArrayToObject(j, "samples_ts");
    for (int i = 0; i < r->reps; i++) {
        cJSON_AddItemToArray(ns, cJSON_CreateNumber(r->ns[i]));
        cJSON_AddItemToArray(ts, cJSON_CreateNumber((r->n_prompt + r->n_gen * r->n_seq) * 1e9 / r->ns[i]));
    }
    return j;
}

/* The tg record's bound: bytes per token, the probes read around the
 * repetitions and the paired shares of both bounds. */
static void add_bound(cJSON *rec, const bench_result *r, double bytes_per_token) {
    const int n = r->reps + 1;
    const double bw = mean_of(r->probe_bw, n), wbw = mean_of(r->weights_bw, n);
    cJSON_AddNumberToObject(rec, "bytes_per_token", bytes_per_token);
    cJSON_AddNumberToObject(rec, "read_bandwidth", bw);
    cJSON_AddItemToObject(rec, "samples_read_bandwidth", number_array(r->probe_bw, n));
    cJSON_AddNumberToObject(rec, "bandwidth_bound_ts", bw / bytes_per_token);
    cJSON_AddNumberToObject(rec, "pct_of_bound", pct_of_bound(r, r->probe_bw, bytes_per_token));
    cJSON_AddNumberToObject(rec, "weights_read_bandwidth", wbw);
    cJSON_AddItemToObject(rec, "samples_weights_read_bandwidth", number_array(r->weights_bw, n));
    cJSON_AddNumberToObject(rec, "pct_of_weights_bound", pct_of_bound(r, r->weights_bw, bytes_per_token));
}

static void probe_bandwidth(const olmoe_model *m, int threads, bench_result *r, int i) {
    r->probe_bw[i] = olmoe_read_bandwidth(threads);
    r->weights_bw[i] = olmoe_model_read_bandwidth(m, threads);
}

/* pp, then tg, each o->reps times; tg (one sequence) between probes. */
static int run_tests(const bench_opts *o, olmoe_model *m, olmoe_context **ctx, const int32_t *ids, int n_ctx,
                     bench_result res[2]) {
    for (int k = 0; k < 2; k++) {
        bench_result *r = &res[k];
        if (r->n_prompt + r->n_gen == 0) continue;
        r->ns = calloc((size_t)o->reps, sizeof(double));
        if (!r->ns) return report("memory");
        if (r->n_gen && r->n_seq == 1) {
            r->probe_bw = calloc((size_t)o->reps + 1, sizeof(double));
            r->weights_bw = calloc((size_t)o->reps + 1, sizeof(double));
            if (!r->probe_bw || !r->weights_bw) return report("memory");
            probe_bandwidth(m, o->threads, r, 0);
        }
        for (int i = 0; i < o->reps; i++) {
            if (run_once(ctx, ids, n_ctx, r, &r->ns[i])) return 1;
            if (r->probe_bw) probe_bandwidth(m, o->threads, r, i + 1);
        }
    }
    return 0;
}

static void print_table(const bench_opts *o, const olmoe_model_info *info, const bench_result res[2],
                        const struct rusage *ru) {
    printf("| model | size | params | threads | test | t/s | %% of bandwidth bound |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    const bench_result *tg = NULL;
    for (int k = 0; k < 2; k++) {
        const bench_result *r = &res[k];
        if (!r->ns) continue;
        double avg_ts, sd_ts, a, b;
        stats(r, &avg_ts, &sd_ts, &a, &b);
        char test[48], pct[32] = "";
        snprintf(test, sizeof test, "%s%d", r->n_gen ? "tg" : "pp", r->n_gen ? r->n_gen : r->n_prompt);
        if (r->n_seq > 1) snprintf(test + strlen(test), sizeof test - strlen(test), " x%d seqs", r->n_seq);
        if (r->probe_bw) {
            tg = r;
            snprintf(pct, sizeof pct, "%.0f%%", pct_of_bound(r, r->probe_bw, (double)info->bytes_per_token));
        }
        printf("| %s %s | %.2f GiB | %.2f B | %d | %s | %.2f ± %.2f | %s |\n", info->architecture, info->dtype,
               info->weight_bytes / 1073741824.0, info->n_params_total / 1e9, o->threads, test, avg_ts, sd_ts, pct);
    }
    printf("\nweights read per token %.1f MB; peak resident %.2f GiB\n", info->bytes_per_token / 1e6,
           ru->ru_maxrss / 1048576.0);
    if (!tg) return;
    const double bpt = (double)info->bytes_per_token, bw = mean_of(tg->probe_bw, tg->reps + 1),
                 wbw = mean_of(tg->weights_bw, tg->reps + 1);
    printf("read bandwidth around the tg runs, %d threads: %.1f GB/s (bound %.1f tok/s); reading the model's "
           "own weights: %.1f GB/s (bound %.1f tok/s, tg at %.0f%%)\n", o->threads, bw / 1e9, bw / bpt, wbw / 1e9,
           wbw / bpt, pct_of_bound(tg, tg->weights_bw, bpt));
}

static int run(const bench_opts *o) {
    common_opts co = {.model = o->model, .threads = o->threads};
    olmoe_model *m = load_model("bench", &co);
    if (!m) return EXIT_RUNTIME;
    olmoe_model_info info;
    olmoe_model_get_info(m, &info);
    /* Every weight is readied (packed, mapped) before anything is timed, as
     * llama.cpp does while it loads; otherwise each expert's first use
     * (some first come up only during the tg runs) would be timed too. */
    progress_line pl;
    progress_init(&pl, "prepare weights", "GB", 1e-9);
    olmoe_model_prepare(m, progress_update, &pl);
    progress_done(&pl);
    int n_ctx = o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen;
    if (n_ctx < 16) n_ctx = 16; /* room for the warm-up run */
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = o->threads;
    olmoe_context *ctx[64] = {0};
    int rc = 0;
    for (int k = 0; k < o->n_seq && !rc; k++)
        if (olmoe_context_new(m, &cp, &ctx[k])) rc = report("context");
    int32_t *ids = malloc((size_t)n_ctx * sizeof *ids);
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    if (ids) random_tokens(ids, n_ctx, info.vocab_size, &rng);
    else rc = report("memory");
    bench_result res[2] = {{o->n_prompt, 0, 1, NULL, o->reps, NULL, NULL},
                           {0, o->n_gen, o->n_seq, NULL, o->reps, NULL, NULL}};
    double warm;
    /* Warm-up: pages in the weights and wakes the threads. */
    const bench_result warm_up = {8, 2, o->n_seq, NULL, 1, NULL, NULL};
    if (!rc && run_once(ctx, ids, n_ctx, &warm_up, &warm)) rc = 1;
    if (!rc) rc = run_tests(o, m, ctx, ids, n_ctx, res);
    /* Includes the probe's buffer (128 MiB, freed after each probe): the
     * figure errs high, never low. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (!rc && o->json) {
        cJSON *arr = cJSON_CreateArray();
        for (int k = 0; k < 2; k++) {
            if (!res[k].ns) continue;
            cJSON *rec = record(o, &info, &res[k]);
            if (res[k].probe_bw) add_bound(rec, &res[k], (double)info.bytes_per_token);
            cJSON_AddNumberToObject(rec, "peak_rss_bytes", (double)ru.ru_maxrss * 1024);
            cJSON_AddItemToArray(arr, rec);
        }
        json_print(arr);
        cJSON_Delete(arr);
    } else if (!rc) {
        print_table(o, &info, res, &ru);
    }
    for (int k = 0; k < 2; k++) {
        free(res[k].ns);
        free(res[k].probe_bw);
        free(res[k].weights_bw);
    }
    free(ids);
    for (int k = 0; k < o->n_seq; k++) olmoe_context_free(ctx[k]);
    olmoe_model_free(m);
    return rc ? EXIT_RUNTIME : 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {NULL, 512, 128, omp_get_num_procs(), 5, 0, 1};
    arg_iter it = {argc, 0, argv, "bench"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--help -h", &name, &value)) > 0) {
        long v;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [-np SEQS] [-o md|json]\n"
                   "  -np, --parallel N   generation decodes N sequences together (aggregate t/s)\n");
            return 0;
        }
        if (!strcmp(name, "-m") || !strcmp(name, "--model")) { o.model = value; continue; }
        if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
            if (strcmp(value, "md") && strcmp(value, "json")) {
                fprintf(stderr, "olmoe bench: -o takes md or json, not '%s'\n", value);
                return EXIT_USAGE;
            }
            o.json = !strcmp(value, "json");
            continue;
        }
        int *dst = !strcmp(name, "-p") || !strcmp(name, "--n-prompt") ? &o.n_prompt
                   : !strcmp(name, "-n") || !strcmp(name, "--n-gen")  ? &o.n_gen
                   : !strcmp(name, "-t") || !strcmp(name, "--threads") ? &o.threads
                   : !strcmp(name, "-r") || !strcmp(name, "--repetitions") ? &o.reps
                   : !strcmp(name, "-np") || !strcmp(name, "--parallel") ? &o.n_seq : NULL;
        if (!dst) return unknown_option("bench", name);
        long lo = dst == &o.threads || dst == &o.reps || dst == &o.n_seq ? 1 : 0;
        if (parse_int("bench", name, value, lo, dst == &o.n_seq ? 64 : 1 << 20, &v)) return EXIT_USAGE;
        *dst = (int)v;
    }
    if (r < 0) return EXIT_USAGE;
    if (!o.model) {
        fprintf(stderr, "olmoe bench: -m MODEL is required\n");
        return EXIT_USAGE;
    }
    return run(&o);
}
