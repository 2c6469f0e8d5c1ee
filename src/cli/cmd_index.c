/* olmoe index: queries on infini-gram corpus indexes (count, prob, ntd,
 * their infini-gram forms, documents, info), and `index build`. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"

static const char *usage_text =
    "usage: olmoe index SUBCOMMAND --index DIR [--index DIR ...] (--text T | --ids 1,2,3) [options]\n"
    "  count          occurrences of the n-gram, or of a CNF query (--cnf / --cnf-ids)\n"
    "  prob           P(last token | the tokens before it)\n"
    "  ntd            distribution of the token after the n-gram\n"
    "  infgram-prob   prob given the longest suffix of the prompt that occurs (infini-gram)\n"
    "  infgram-ntd    ntd after the longest suffix that occurs\n"
    "  docs           documents containing the n-gram\n"
    "  doc            one document: --doc-ix N (no query)\n"
    "  info           shards, tokens, documents, token width, tokenizer (no query)\n"
    "  build          build an index (olmoe index build --help)\n"
    "  bench          count latency, warm and cold (olmoe index bench --help)\n"
    "options:\n"
    "  --index DIR          index directory; repeat to join several (shards in the order given)\n"
    "  --text T             the query as text, tokenized with the index's tokenizer\n"
    "  --ids 1,2,3          the query as token ids\n"
    "  --tokenizer PATH     tokenizer.json, model folder or GGUF (default: the index manifest's)\n"
    "  --token-width 2|4    bytes per token, for an index without olmoe-index.json\n"
    "  --json               one JSON object (count: {\"count\": N}, plus \"approx\": true if so)\n"
    "  --cnf EXPR           count: AND ('&') of OR ('|') of text n-grams, e.g.\n"
    "                       --cnf 'natural language | NLP & deep learning'; each n-gram is\n"
    "                       tokenized alone, trimmed; \"double quotes\" keep its spaces\n"
    "  --cnf-ids EXPR       the same with ids, e.g. --cnf-ids '12,7 | 99 & 5'\n"
    "  --max-clause-freq N  CNF: subsample clauses more frequent than this (50000)\n"
    "  --max-diff-tokens N  CNF: most tokens between the clauses' matches (100)\n"
    "  --max-support N      ntd: exact up to N occurrences, sampled above (1000)\n"
    "  --eos ID             ntd: the id reported for a document end (default: the manifest's)\n"
    "  --max-docs N         docs: how many (10)\n"
    "  --max-disp-len N     docs, doc: tokens shown per document (1000)\n"
    "  --seed N             docs: sampling seed (0)\n"
    "  --doc-ix N           doc: the document's number (shards in order, then directories)\n";

typedef struct {
    const char *sub;
    const char **dirs;
    int n_dirs;
    const char *text, *ids, *cnf, *cnf_ids, *tokenizer;
    int json;
    long token_width;
    long max_support, max_docs, max_disp_len, seed, eos, doc_ix;
    long max_clause_freq, max_diff_tokens;
} index_opts;

/* Numeric options: name, field, smallest and largest value. */
typedef struct {
    const char *name;
    size_t field;
    long lo, hi;
} num_option;

static const num_option num_options[] = {
    {"--token-width", offsetof(index_opts, token_width), 2, 4},
    {"--max-support", offsetof(index_opts, max_support), 1, 1L << 40},
    {"--max-docs", offsetof(index_opts, max_docs), 0, 1000000},
    {"--max-disp-len", offsetof(index_opts, max_disp_len), 0, 1L << 40},
    {"--seed", offsetof(index_opts, seed), 0, 1L << 62},
    {"--eos", offsetof(index_opts, eos), 0, INT32_MAX},
    {"--doc-ix", offsetof(index_opts, doc_ix), 0, 1L << 62},
    {"--max-clause-freq", offsetof(index_opts, max_clause_freq), 1, 1L << 40},
    {"--max-diff-tokens", offsetof(index_opts, max_diff_tokens), 1, 1L << 30},
};

/* 0 on success, else the exit status. */
static int parse_options(int argc, char **argv, index_opts *o, char *cmd, size_t cmd_size) {
    snprintf(cmd, cmd_size, "index %s", o->sub);
    o->max_support = 1000, o->max_docs = 10, o->max_disp_len = 1000, o->eos = -1, o->doc_ix = -1;
    o->dirs = calloc((size_t)argc + 1, sizeof *o->dirs);
    if (!o->dirs) return EXIT_RUNTIME;
    arg_iter it = {argc, 0, argv, cmd};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            fputs(usage_text, stdout);
            return -1;
        }
        const num_option *num = NULL;
        for (size_t i = 0; i < sizeof num_options / sizeof *num_options; i++)
            if (!strcmp(name, num_options[i].name)) num = &num_options[i];
        long v;
        if (num) {
            if (parse_int(cmd, name, value, num->lo, num->hi, &v)) return EXIT_USAGE;
            if (num->field == offsetof(index_opts, token_width) && v == 3) {
                fprintf(stderr, "olmoe %s: --token-width must be 2 or 4\n", cmd);
                return EXIT_USAGE;
            }
            *(long *)((char *)o + num->field) = v;
        } else if (!strcmp(name, "--index")) o->dirs[o->n_dirs++] = value;
        else if (!strcmp(name, "--text")) o->text = value;
        else if (!strcmp(name, "--ids")) o->ids = value;
        else if (!strcmp(name, "--cnf")) o->cnf = value;
        else if (!strcmp(name, "--cnf-ids")) o->cnf_ids = value;
        else if (!strcmp(name, "--tokenizer")) o->tokenizer = value;
        else if (!strcmp(name, "--json")) o->json = 1;
        else return unknown_option(cmd, name);
    }
    if (r < 0) return EXIT_USAGE;
    if (o->n_dirs == 0) {
        fprintf(stderr, "olmoe %s: --index DIR is required\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

/* Checks the query options a subcommand takes: `query` 1 needs exactly one
 * of --text / --ids (count also accepts --cnf / --cnf-ids instead). */
static int check_query_options(const index_opts *o, const char *cmd, int query, int cnf) {
    int given = !!o->text + !!o->ids + !!o->cnf + !!o->cnf_ids;
    if (!cnf && (o->cnf || o->cnf_ids)) {
        fprintf(stderr, "olmoe %s: --cnf and --cnf-ids are for count\n", cmd);
        return EXIT_USAGE;
    }
    if (query && given != 1) {
        fprintf(stderr, "olmoe %s: give exactly one of --text T or --ids 1,2,3%s\n", cmd,
                cnf ? " (or --cnf / --cnf-ids)" : "");
        return EXIT_USAGE;
    }
    if (!query && given) {
        fprintf(stderr, "olmoe %s: takes no query (--text / --ids)\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

/* The query's ids from --ids or --text; 0, or the exit status after
 * printing an error. */
static int query_ids(olmoe_index *ix, const index_opts *o, const char *cmd, int32_t **ids,
                     size_t *n) {
    *ids = NULL;
    *n = 0;
    if (o->ids) {
        long got = parse_ids(o->ids, ids);
        if (got >= 0) {
            *n = (size_t)got;
            return 0;
        }
        fprintf(stderr, "olmoe %s: --ids expects comma-separated token ids, got '%s'\n", cmd,
                o->ids);
        return EXIT_USAGE;
    }
    if (olmoe_index_tokenize(ix, o->text, strlen(o->text), ids, n)) {
        fprintf(stderr, "olmoe %s: --text: %s\n", cmd, olmoe_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ------------------------------------------------------------- printing */

/* Prints token bytes with newlines, tabs and quotes escaped. */
static void print_escaped(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') fputs("\\n", stdout);
        else if (s[i] == '\t') fputs("\\t", stdout);
        else if (s[i] == '\'' || s[i] == '\\') printf("\\%c", s[i]);
        else putchar(s[i]);
    }
}

/* The piece of a token for human output, if the index has a tokenizer. */
static void print_piece(const olmoe_index *ix, int32_t id) {
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    const char *bytes;
    size_t len;
    if (!info.tokenizer || olmoe_index_token_bytes(ix, id, &bytes, &len)) return;
    fputs(" '", stdout);
    print_escaped(bytes, len);
    putchar('\'');
}

static cJSON *doc_json(olmoe_index *ix, const olmoe_index_doc *d, int *failed) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "doc_ix", (double)d->doc_ix);
    cJSON_AddNumberToObject(o, "doc_len", (double)d->doc_len);
    cJSON_AddNumberToObject(o, "disp_len", (double)d->disp_len);
    cJSON_AddNumberToObject(o, "needle_offset", (double)d->needle_offset);
    cJSON *meta = cJSON_Parse(d->metadata);
    cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateString(d->metadata));
    cJSON_AddItemToObject(o, "token_ids", json_id_array(d->token_ids, d->disp_len));
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    char *text = NULL;
    if (info.tokenizer && olmoe_index_detokenize(ix, d->token_ids, d->disp_len, &text)) *failed = 1;
    if (text) cJSON_AddStringToObject(o, "text", text);
    olmoe_free(text);
    return o;
}

static void print_doc(olmoe_index *ix, const olmoe_index_doc *d, int *failed) {
    printf("doc %llu (shard %d, %llu tokens, showing %zu from token %llu)\n",
           (unsigned long long)d->doc_ix, d->shard, (unsigned long long)d->doc_len, d->disp_len,
           (unsigned long long)d->disp_start);
    if (*d->metadata) printf("metadata: %s\n", d->metadata);
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    char *text = NULL;
    if (!info.tokenizer) {
        for (size_t i = 0; i < d->disp_len; i++) printf("%s%d", i ? "," : "", d->token_ids[i]);
        putchar('\n');
    } else if (olmoe_index_detokenize(ix, d->token_ids, d->disp_len, &text)) {
        *failed = 1;
    } else {
        printf("%s\n", text);
    }
    olmoe_free(text);
    putchar('\n');
}

/* ---------------------------------------------------------- subcommands */

/* Splits EXPR at unquoted '&' (clauses) and '|' (n-grams) into
 * NUL-terminated terms in place; returns the number of terms (-1: out of
 * memory), and each clause's number of terms. */
static int split_cnf(char *expr, char ***terms, size_t **clause_sizes, size_t *n_clauses) {
    size_t n = 1, n_cl = 1;
    for (char *p = expr; *p; p++) n += *p == '|' || *p == '&', n_cl += *p == '&';
    *terms = calloc(n, sizeof **terms);
    *clause_sizes = calloc(n_cl, sizeof **clause_sizes);
    if (!*terms || !*clause_sizes) return -1;
    size_t t = 0, c = 0;
    int quoted = 0;
    (*terms)[t] = expr;
    for (char *p = expr; *p; p++) {
        if (*p == '"') quoted = !quoted;
        if (quoted || (*p != '|' && *p != '&')) continue;
        (*clause_sizes)[c]++;
        if (*p == '&') c++;
        *p = 0;
        (*terms)[++t] = p + 1;
    }
    (*clause_sizes)[c]++;
    *n_clauses = c + 1;
    return (int)(t + 1);
}

/* One CNF term: trimmed, unquoted, then tokenized or parsed as ids. */
static int cnf_term(olmoe_index *ix, char *s, int ids_form, const char *cmd,
                    olmoe_index_ngram *out) {
    while (*s == ' ') s++;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ') s[--len] = 0;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') s[--len] = 0, s++, len--;
    int32_t *ids = NULL;
    size_t n = 0;
    long got;
    if (ids_form && (got = parse_ids(s, &ids)) > 0) n = (size_t)got;
    else if (!ids_form && len && olmoe_index_tokenize(ix, s, len, &ids, &n)) return report(cmd);
    if (n == 0) {
        fprintf(stderr, "olmoe %s: --cnf%s: '%s' is not an n-gram\n", cmd, ids_form ? "-ids" : "",
                s);
        free(ids);
        return EXIT_USAGE;
    }
    out->ids = ids;
    out->n = n;
    return 0;
}

static int run_count_cnf(olmoe_index *ix, const index_opts *o, const char *cmd) {
    char *expr = strdup(o->cnf ? o->cnf : o->cnf_ids), **terms = NULL;
    size_t *sizes = NULL, n_clauses = 0;
    int n_terms = expr ? split_cnf(expr, &terms, &sizes, &n_clauses) : -1;
    olmoe_index_ngram *ngrams = n_terms > 0 ? calloc((size_t)n_terms, sizeof *ngrams) : NULL;
    olmoe_index_clause *clauses = n_terms > 0 ? calloc(n_clauses, sizeof *clauses) : NULL;
    int rc = ngrams && clauses ? 0 : report(cmd);
    for (int t = 0; t < n_terms && !rc; t++) rc = cnf_term(ix, terms[t], !o->cnf, cmd, &ngrams[t]);
    for (size_t c = 0, t = 0; c < n_clauses && !rc; t += sizes[c++]) {
        clauses[c].terms = ngrams + t;
        clauses[c].n_terms = sizes[c];
    }
    olmoe_index_cnf_params p = {(uint64_t)o->max_clause_freq, (uint64_t)o->max_diff_tokens};
    uint64_t count;
    int approx;
    if (!rc && olmoe_index_count_cnf(ix, clauses, n_clauses, &p, &count, &approx)) rc = report(cmd);
    if (!rc && o->json) printf("{\"count\": %llu%s}\n", (unsigned long long)count,
                               approx ? ", \"approx\": true" : "");
    else if (!rc) printf("count: %s%llu\n", approx ? "~" : "", (unsigned long long)count);
    for (int t = 0; ngrams && t < n_terms; t++) free((void *)ngrams[t].ids);
    free(ngrams);
    free(clauses);
    free(terms);
    free(sizes);
    free(expr);
    return rc;
}

static int run_count(olmoe_index *ix, const int32_t *ids, size_t n, const index_opts *o,
                     const char *cmd) {
    uint64_t count;
    if (olmoe_index_count(ix, ids, n, &count)) return report(cmd);
    if (o->json) printf("{\"count\": %llu}\n", (unsigned long long)count);
    else printf("count: %llu\n", (unsigned long long)count);
    return 0;
}

/* prob and infgram-prob: the last token is the continuation. */
static int run_prob(olmoe_index *ix, const int32_t *ids, size_t n, const index_opts *o,
                    const char *cmd, int infgram) {
    if (n == 0) {
        fprintf(stderr, "olmoe %s: the query needs at least one token (the continuation)\n", cmd);
        return EXIT_USAGE;
    }
    olmoe_index_prob_result r;
    olmoe_status st = infgram ? olmoe_index_infgram_prob(ix, ids, n - 1, ids[n - 1], &r)
                              : olmoe_index_prob(ix, ids, n - 1, ids[n - 1], &r);
    if (st) return report(cmd);
    if (o->json) {
        printf("{\"prompt_cnt\": %llu, \"cont_cnt\": %llu, \"prob\": %.17g",
               (unsigned long long)r.prompt_cnt, (unsigned long long)r.cont_cnt, r.prob);
        if (infgram) printf(", \"suffix_len\": %zu", r.suffix_len);
        printf("}\n");
        return 0;
    }
    printf("prob: %.6g (%llu of %llu occurrences of the %zu-token prompt", r.prob,
           (unsigned long long)r.cont_cnt, (unsigned long long)r.prompt_cnt, r.suffix_len);
    printf("%s)\n", infgram ? " suffix" : "");
    return 0;
}

static int run_ntd(olmoe_index *ix, const int32_t *ids, size_t n, const index_opts *o,
                   const char *cmd, int infgram) {
    olmoe_index_info info;
    olmoe_index_get_info(ix, &info);
    int32_t eos = o->eos >= 0 ? (int32_t)o->eos : info.eos_token_id;
    olmoe_index_ntd_result r;
    int support = o->max_support > (1L << 30) ? 1 << 30 : (int)o->max_support;
    olmoe_status st = infgram ? olmoe_index_infgram_ntd(ix, ids, n, support, eos, &r)
                              : olmoe_index_ntd(ix, ids, n, support, eos, &r);
    if (st) return report(cmd);
    if (o->json) {
        cJSON *out = cJSON_CreateObject(), *by_id = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "prompt_cnt", (double)r.prompt_cnt);
        for (size_t i = 0; i < r.n_tokens; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", r.tokens[i].id);
            cJSON *t = cJSON_AddObjectToObject(by_id, key);
            cJSON_AddNumberToObject(t, "cont_cnt", (double)r.tokens[i].count);
            cJSON_AddNumberToObject(t, "prob", r.tokens[i].prob);
        }
        cJSON_AddItemToObject(out, "result_by_token_id", by_id);
        cJSON_AddBoolToObject(out, "approx", r.approx);
        if (infgram) cJSON_AddNumberToObject(out, "suffix_len", (double)r.suffix_len);
        json_print(out);
        cJSON_Delete(out);
    } else {
        printf("%llu occurrences of the %zu-token %s%s\n", (unsigned long long)r.prompt_cnt,
               r.suffix_len, infgram ? "suffix" : "prompt", r.approx ? " (sampled)" : "");
        for (size_t i = 0; i < r.n_tokens; i++) {
            printf("%8d %10llu %.6f", r.tokens[i].id, (unsigned long long)r.tokens[i].count,
                   r.tokens[i].prob);
            print_piece(ix, r.tokens[i].id);
            putchar('\n');
        }
    }
    olmoe_free(r.tokens);
    return 0;
}

static int run_docs(olmoe_index *ix, const int32_t *ids, size_t n, const index_opts *o,
                    const char *cmd) {
    uint64_t count;
    olmoe_index_doc *docs = NULL;
    size_t n_docs = 0;
    if (olmoe_index_count(ix, ids, n, &count) ||
        olmoe_index_search_docs(ix, ids, n, (size_t)o->max_docs, (size_t)o->max_disp_len,
                                (uint64_t)o->seed, &docs, &n_docs))
        return report(cmd);
    int failed = 0;
    if (o->json) {
        cJSON *out = cJSON_CreateObject(), *list = cJSON_CreateArray();
        cJSON_AddNumberToObject(out, "count", (double)count);
        for (size_t i = 0; i < n_docs; i++)
            cJSON_AddItemToArray(list, doc_json(ix, &docs[i], &failed));
        cJSON_AddItemToObject(out, "docs", list);
        if (!failed) json_print(out);
        cJSON_Delete(out);
    } else {
        printf("%llu occurrences; %zu shown\n\n", (unsigned long long)count, n_docs);
        for (size_t i = 0; i < n_docs && !failed; i++) print_doc(ix, &docs[i], &failed);
    }
    olmoe_free(docs);
    return failed ? report(cmd) : 0;
}

static int run_doc(olmoe_index *ix, const index_opts *o, const char *cmd) {
    if (o->doc_ix < 0) {
        fprintf(stderr, "olmoe %s: --doc-ix N is required\n", cmd);
        return EXIT_USAGE;
    }
    olmoe_index_doc *d;
    if (olmoe_index_get_doc_by_ix(ix, (uint64_t)o->doc_ix, (size_t)o->max_disp_len, &d))
        return report(cmd);
    int failed = 0;
    if (o->json) {
        cJSON *out = doc_json(ix, d, &failed);
        if (!failed) json_print(out);
        cJSON_Delete(out);
    } else {
        print_doc(ix, d, &failed);
    }
    olmoe_free(d);
    return failed ? report(cmd) : 0;
}

static int run_info(olmoe_index *ix, const index_opts *o) {
    olmoe_index_info in;
    olmoe_index_get_info(ix, &in);
    if (o->json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "n_shards", in.n_shards);
        cJSON_AddNumberToObject(out, "n_tokens", (double)in.n_tokens);
        cJSON_AddNumberToObject(out, "n_docs", (double)in.n_docs);
        cJSON_AddNumberToObject(out, "token_width", in.token_width);
        if (in.tokenizer) cJSON_AddStringToObject(out, "tokenizer", in.tokenizer);
        else cJSON_AddNullToObject(out, "tokenizer");
        cJSON_AddNumberToObject(out, "eos_token_id", in.eos_token_id);
        json_print(out);
        cJSON_Delete(out);
        return 0;
    }
    printf("shards:      %d\ntokens:      %llu (separators included)\ndocuments:   %llu\n"
           "token width: %d bytes\ntokenizer:   %s\neos id:      %d\n",
           in.n_shards, (unsigned long long)in.n_tokens, (unsigned long long)in.n_docs,
           in.token_width, in.tokenizer ? in.tokenizer : "(none)", in.eos_token_id);
    return 0;
}

static int run_subcommand(olmoe_index *ix, const int32_t *ids, size_t n, const index_opts *o,
                          const char *cmd) {
    const char *sub = o->sub;
    if (!strcmp(sub, "count")) return run_count(ix, ids, n, o, cmd);
    if (!strcmp(sub, "prob")) return run_prob(ix, ids, n, o, cmd, 0);
    if (!strcmp(sub, "infgram-prob")) return run_prob(ix, ids, n, o, cmd, 1);
    if (!strcmp(sub, "ntd")) return run_ntd(ix, ids, n, o, cmd, 0);
    if (!strcmp(sub, "infgram-ntd")) return run_ntd(ix, ids, n, o, cmd, 1);
    if (!strcmp(sub, "docs")) return run_docs(ix, ids, n, o, cmd);
    if (!strcmp(sub, "doc")) return run_doc(ix, o, cmd);
    return run_info(ix, o);
}

static const char *const subcommands[] = {"count", "prob", "ntd", "infgram-prob", "infgram-ntd",
                                          "docs", "doc", "info"};

int cmd_index(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage_text, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[0], "build")) return cmd_index_build(argc - 1, argv + 1);
    if (!strcmp(argv[0], "bench")) return cmd_index_bench(argc - 1, argv + 1);
    index_opts o = {.sub = argv[0]};
    int known = 0;
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        known |= !strcmp(o.sub, subcommands[i]);
    if (!known) {
        fprintf(stderr, "olmoe index: unknown subcommand '%s' (olmoe index --help)\n", o.sub);
        return EXIT_USAGE;
    }
    char cmd[64];
    int rc = parse_options(argc - 1, argv + 1, &o, cmd, sizeof cmd);
    int needs_query = strcmp(o.sub, "doc") && strcmp(o.sub, "info");
    if (!rc) rc = check_query_options(&o, cmd, needs_query, !strcmp(o.sub, "count"));
    if (rc) {
        free(o.dirs);
        return rc < 0 ? 0 : rc;
    }
    olmoe_index_open_params p = olmoe_index_default_open_params();
    p.token_width = (int)o.token_width;
    p.tokenizer = o.tokenizer;
    olmoe_index *ix = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if (olmoe_index_open(o.dirs, o.n_dirs, &p, &ix)) rc = report(cmd);
    else if (o.cnf || o.cnf_ids) rc = run_count_cnf(ix, &o, cmd);
    else if (!needs_query || !(rc = query_ids(ix, &o, cmd, &ids, &n)))
        rc = run_subcommand(ix, ids, n, &o, cmd);
    free(ids);
    olmoe_index_free(ix);
    free(o.dirs);
    return rc;
}
