/* olmoe index bench: query latency of a corpus index, warm and cold.
 *
 * Queries are n-grams (n uniform in 1..max-n) read at uniformly random
 * token positions of the corpus, a quarter of them with one token replaced
 * by a random id (mostly absent n-grams, which cost the most: the search
 * runs to the bottom). Warm: every query runs once untimed, then each is
 * timed. Cold (--cold N): for each of the first N queries the index is
 * closed, its files dropped from the page cache (posix_fadvise DONTNEED:
 * no privileges needed for clean, unmapped pages) and reopened, and that
 * one query is timed: the latency of a query that must read the disk.
 * With --trace-file, the OLMoTrace of that text is timed the same ways
 * (cold: the tokenizer already loaded, every index file dropped).  The same queries can be written out (--dump-queries) so another
 * engine can be timed on exactly them. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "util/rng.h"

static const char *usage_text =
    "usage: olmoe index bench --index DIR [--index DIR ...] [options]\n"
    "  --queries N          how many n-grams (10000)\n"
    "  --max-n N            longest n-gram (20)\n"
    "  --seed N             query sampling seed (1)\n"
    "  --cold N             also time N queries, each on a page cache emptied of the index\n"
    "  --dump-queries FILE  write the queries, one per line as space-separated ids\n"
    "  --trace-file FILE    also time olmoe trace of this text (warm p50 of --trace-reps, and cold)\n"
    "  --trace-reps N       warm trace repetitions (20)\n"
    "  -t N                 threads for trace (default: all cores)\n"
    "  --json               one JSON object\n";

typedef struct {
    int32_t *ids;
    size_t n;
} bench_query;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double p50, p95, mean;
} latency;

static latency summarize(double *us, size_t n) {
    latency l = {0, 0, 0};
    if (!n) return l;
    qsort(us, n, sizeof *us, cmp_double);
    for (size_t i = 0; i < n; i++) l.mean += us[i] / (double)n;
    l.p50 = us[n / 2];
    l.p95 = us[(size_t)((double)(n - 1) * 0.95)];
    return l;
}

/* n-grams at random positions: a global rank is drawn uniformly, its
 * suffix's first tokens read from the document window around it. */
static int sample_queries(olmoe_index *ix, size_t n_queries, int max_n, uint64_t seed,
                          bench_query *qs) {
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    olmoe_index_range *ranges = calloc((size_t)info.n_shards, sizeof *ranges);
    uint64_t total = 0;
    if (!ranges || olmoe_index_find(ix, NULL, 0, &total, ranges) || total == 0) {
        free(ranges);
        fprintf(stderr, "olmoe index bench: the index holds no tokens\n");
        return EXIT_RUNTIME;
    }
    int32_t vocab = info.vocab_size > 0 ? info.vocab_size : 50000;
    uint64_t rng = seed;
    for (size_t q = 0; q < n_queries; q++) {
        uint64_t r = splitmix64_below(&rng, total);
        int shard = 0;
        while (r >= ranges[shard].end) r -= ranges[shard++].end;
        size_t want = 1 + (size_t)splitmix64_below(&rng, (uint64_t)max_n);
        olmoe_index_doc *d = NULL;
        if (olmoe_index_get_doc_by_rank(ix, shard, r, 2 * want, &d)) {
            free(ranges);
            return report("olmoe index bench");
        }
        size_t avail = d->disp_len - d->needle_offset, n = want < avail ? want : avail;
        if (n == 0) { /* a separator's rank: try again */
            olmoe_free(d);
            q--;
            continue;
        }
        qs[q].ids = malloc(n * sizeof(int32_t));
        memcpy(qs[q].ids, d->token_ids + d->needle_offset, n * sizeof(int32_t));
        qs[q].n = n;
        olmoe_free(d);
        if (splitmix64_below(&rng, 4) == 0)
            qs[q].ids[splitmix64_below(&rng, n)] = (int32_t)splitmix64_below(&rng, (uint64_t)vocab);
    }
    free(ranges);
    return 0;
}

static int time_query(olmoe_index *ix, const bench_query *q, double *us, uint64_t *found) {
    uint64_t count;
    double t0 = now_us();
    if (olmoe_index_count(ix, q->ids, q->n, &count)) return report("olmoe index bench");
    *us = now_us() - t0;
    *found += count > 0;
    return 0;
}

static int time_pass(olmoe_index *ix, const bench_query *qs, size_t n, double *us,
                     uint64_t *found) {
    *found = 0;
    for (size_t q = 0; q < n; q++)
        if (time_query(ix, &qs[q], &us[q], found)) return EXIT_RUNTIME;
    return 0;
}

/* Drops every file of the index directories from the page cache. Works
 * without privileges for clean pages no process has mapped (the index is
 * closed first). */
static void drop_page_cache(const char **dirs, int n_dirs) {
    for (int i = 0; i < n_dirs; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
        if (d) closedir(d);
    }
}

static int dump_queries(const char *path, const bench_query *qs, size_t n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "olmoe index bench: cannot write %s\n", path);
        return EXIT_RUNTIME;
    }
    for (size_t q = 0; q < n; q++)
        for (size_t i = 0; i < qs[q].n; i++) fprintf(f, "%d%c", qs[q].ids[i], i + 1 < qs[q].n ? ' ' : '\n');
    return fclose(f) ? EXIT_RUNTIME : 0;
}

typedef struct {
    const char **dirs;
    int n_dirs, json;
    long queries, max_n, seed, cold, trace_reps, threads;
    const char *dump, *trace_file;
} bench_opts;

static int parse(int argc, char **argv, bench_opts *o) {
    arg_iter it = {argc, 0, argv, "olmoe index bench"};
    const char *name, *value;
    int r;
    o->dirs = calloc((size_t)argc + 1, sizeof *o->dirs);
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) == 1) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            fputs(usage_text, stdout);
            return -1;
        } else if (!strcmp(name, "--index")) o->dirs[o->n_dirs++] = value;
        else if (!strcmp(name, "--cold")) {
            if (parse_int(it.cmd, name, value, 0, 100000, &o->cold)) return EXIT_USAGE;
        }
        else if (!strcmp(name, "--json")) o->json = 1;
        else if (!strcmp(name, "--dump-queries")) o->dump = value;
        else if (!strcmp(name, "--trace-file")) o->trace_file = value;
        else if (!strcmp(name, "--trace-reps")) {
            if (parse_int(it.cmd, name, value, 1, 100000, &o->trace_reps)) return EXIT_USAGE;
        } else if (!strcmp(name, "-t")) {
            if (parse_int(it.cmd, name, value, 1, 4096, &o->threads)) return EXIT_USAGE;
        }
        else if (!strcmp(name, "--queries")) {
            if (parse_int(it.cmd, name, value, 1, 10000000, &o->queries)) return EXIT_USAGE;
        } else if (!strcmp(name, "--max-n")) {
            if (parse_int(it.cmd, name, value, 1, 1000, &o->max_n)) return EXIT_USAGE;
        } else if (!strcmp(name, "--seed")) {
            if (parse_int(it.cmd, name, value, 0, 0x7fffffffL, &o->seed)) return EXIT_USAGE;
        } else return unknown_option(it.cmd, name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!o->n_dirs) {
        fprintf(stderr, "olmoe index bench: --index DIR is required\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* Trace timings in ms: warm p50 of reps, and one cold run. */
typedef struct {
    double warm_ms, cold_ms;
    size_t n_tokens, n_spans, n_docs;
} trace_timing;

static int time_trace(olmoe_index *ix, const char *text, size_t len, int threads, double *ms,
                      trace_timing *tt) {
    olmoe_trace_params tp = olmoe_trace_default_params();
    tp.n_threads = threads;
    olmoe_trace_result *r = NULL;
    double t0 = now_us();
    if (olmoe_trace(ix, text, len, &tp, &r)) return report("olmoe index bench: trace");
    *ms = (now_us() - t0) / 1000;
    tt->n_tokens = r->n_tokens, tt->n_spans = r->n_spans, tt->n_docs = r->n_docs;
    olmoe_free(r);
    return 0;
}

/* Warm: one untimed run (it also loads the tokenizer), then reps timed.
 * Cold: the index reopened on an emptied page cache, the tokenizer loaded
 * before the cache is emptied (it is not part of the index's reads). */
static int bench_trace(olmoe_index **ix, const bench_opts *o, const olmoe_index_open_params *p,
                       trace_timing *tt) {
    size_t len;
    common_opts co = {.file = o->trace_file};
    char *text = input_text("index bench", &co, &len);
    if (!text) return EXIT_RUNTIME;
    double *ms = malloc((size_t)o->trace_reps * sizeof *ms), once;
    int rc = ms ? time_trace(*ix, text, len, (int)o->threads, &once, tt) : report("olmoe index bench");
    for (long i = 0; !rc && i < o->trace_reps; i++) rc = time_trace(*ix, text, len, (int)o->threads, &ms[i], tt);
    if (!rc) tt->warm_ms = summarize(ms, (size_t)o->trace_reps).p50;
    if (!rc) {
        olmoe_index_free(*ix);
        *ix = NULL;
        int32_t *ids = NULL;
        size_t n;
        if (olmoe_index_open(o->dirs, o->n_dirs, p, ix) || olmoe_index_tokenize(*ix, "a", 1, &ids, &n))
            rc = report("olmoe index bench");
        olmoe_free(ids);
        drop_page_cache(o->dirs, o->n_dirs);
        if (!rc) rc = time_trace(*ix, text, len, (int)o->threads, &tt->cold_ms, tt);
    }
    free(ms);
    free(text);
    return rc;
}

static void print_result(const bench_opts *o, size_t n, uint64_t found, latency warm, size_t cold,
                         latency cold_l, const trace_timing *tt) {
    if (o->json) {
        printf("{\"queries\": %zu, \"found\": %llu, \"max_n\": %ld, \"warm_count_us\": {\"p50\": %.2f, "
               "\"p95\": %.2f, \"mean\": %.2f}",
               n, (unsigned long long)found, o->max_n, warm.p50, warm.p95, warm.mean);
        if (cold)
            printf(", \"cold_queries\": %zu, \"cold_count_us\": {\"p50\": %.2f, \"p95\": %.2f, \"mean\": %.2f}",
                   cold, cold_l.p50, cold_l.p95, cold_l.mean);
        if (tt)
            printf(", \"trace\": {\"tokens\": %zu, \"spans\": %zu, \"documents\": %zu, \"warm_ms\": %.2f, "
                   "\"cold_ms\": %.2f}",
                   tt->n_tokens, tt->n_spans, tt->n_docs, tt->warm_ms, tt->cold_ms);
        printf("}\n");
        return;
    }
    printf("%zu queries (1..%ld tokens, %llu found)\n", n, o->max_n, (unsigned long long)found);
    printf("count, warm: p50 %.2f us, p95 %.2f us, mean %.2f us\n", warm.p50, warm.p95, warm.mean);
    if (cold)
        printf("count, cold (%zu queries): p50 %.2f us, p95 %.2f us, mean %.2f us\n", cold, cold_l.p50,
               cold_l.p95, cold_l.mean);
    if (tt)
        printf("trace of %zu tokens (%zu spans, %zu documents): warm p50 %.2f ms, cold %.2f ms\n",
               tt->n_tokens, tt->n_spans, tt->n_docs, tt->warm_ms, tt->cold_ms);
}

int cmd_index_bench(int argc, char **argv) {
    bench_opts o = {.queries = 10000, .max_n = 20, .seed = 1, .trace_reps = 20};
    int rc = parse(argc, argv, &o);
    olmoe_index *ix = NULL;
    olmoe_index_open_params p = olmoe_index_default_open_params();
    size_t n = (size_t)o.queries;
    bench_query *qs = rc ? NULL : calloc(n, sizeof *qs);
    double *us = rc ? NULL : malloc(n * sizeof *us);
    if (!rc && (!qs || !us)) rc = report("olmoe index bench");
    if (!rc && olmoe_index_open(o.dirs, o.n_dirs, &p, &ix)) rc = report("olmoe index bench");
    if (!rc) rc = sample_queries(ix, n, (int)o.max_n, (uint64_t)o.seed, qs);
    if (!rc && o.dump) rc = dump_queries(o.dump, qs, n);
    uint64_t found = 0;
    latency warm = {0}, cold = {0};
    size_t n_cold = (size_t)o.cold < n ? (size_t)o.cold : n;
    for (size_t q = 0; !rc && q < n_cold; q++) {
        olmoe_index_free(ix);
        ix = NULL;
        drop_page_cache(o.dirs, o.n_dirs);
        if (olmoe_index_open(o.dirs, o.n_dirs, &p, &ix)) rc = report("olmoe index bench");
        else rc = time_query(ix, &qs[q], &us[q], &found);
    }
    if (!rc) cold = summarize(us, n_cold);
    if (!rc) rc = time_pass(ix, qs, n, us, &found); /* warms the pages */
    if (!rc) rc = time_pass(ix, qs, n, us, &found);
    if (!rc) warm = summarize(us, n);
    trace_timing tt = {0};
    if (!rc && o.trace_file) rc = bench_trace(&ix, &o, &p, &tt);
    if (!rc) print_result(&o, n, found, warm, n_cold, cold, o.trace_file ? &tt : NULL);
    for (size_t q = 0; qs && q < n; q++) free(qs[q].ids);
    free(qs);
    free(us);
    olmoe_index_free(ix);
    free(o.dirs);
    return rc < 0 ? 0 : rc;
}
