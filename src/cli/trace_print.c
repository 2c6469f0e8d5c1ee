#include "cli/trace_print.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/common.h"

/* Documents listed in the human form; --json lists them all. */
#define TRACE_DOCS_SHOWN 20

const char *const INDEX_OPTS_USAGE =
    "  --index DIR            corpus index; repeat to join several (shards in the order given)\n"
    "  --tokenizer PATH       tokenizer.json, model folder or GGUF (default: the manifest's)\n"
    "  --token-width 2|4      bytes per token, for an index without olmoe-index.json\n";

int index_opt(index_opts *o, const char *cmd, const char *name, const char *value) {
    long v;
    if (!strcmp(name, "--index")) {
        if (o->n_dirs == TRACE_MAX_INDEXES) {
            fprintf(stderr, "olmoe %s: at most %d --index options\n", cmd, TRACE_MAX_INDEXES);
            return -1;
        }
        o->dirs[o->n_dirs++] = value;
    } else if (!strcmp(name, "--tokenizer")) {
        o->tokenizer = value;
    } else if (!strcmp(name, "--token-width")) {
        if (parse_int(cmd, name, value, 2, 4, &v)) return -1;
        if (v == 3) {
            fprintf(stderr, "olmoe %s: --token-width must be 2 or 4\n", cmd);
            return -1;
        }
        o->token_width = (int)v;
    } else return 0;
    return 1;
}

olmoe_index *index_open_opts(const char *cmd, const index_opts *o, int *rc) {
    if (o->n_dirs == 0) {
        fprintf(stderr, "olmoe %s: --index DIR is required\n", cmd);
        *rc = EXIT_USAGE;
        return NULL;
    }
    olmoe_index_open_params p = olmoe_index_default_open_params();
    p.token_width = o->token_width;
    p.tokenizer = o->tokenizer;
    olmoe_index *ix;
    if (olmoe_index_open(o->dirs, o->n_dirs, &p, &ix)) {
        fprintf(stderr, "olmoe %s: cannot open index: %s\n", cmd, olmoe_last_error());
        *rc = EXIT_RUNTIME;
        return NULL;
    }
    return ix;
}

/* A field of infini-gram's metadata line ({"path", "linenum", "metadata":
 * {the Dolma fields, "metadata": {...}}}), looked up innermost first. */
static const char *meta_field(const cJSON *line, const char *key) {
    const cJSON *outer = cJSON_GetObjectItemCaseSensitive(line, "metadata");
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(outer, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(inner, key);
    if (!cJSON_IsString(v)) v = cJSON_GetObjectItemCaseSensitive(outer, key);
    if (!cJSON_IsString(v)) v = cJSON_GetObjectItemCaseSensitive(line, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Text on one line: newlines and tabs become spaces. */
static void put_flat(FILE *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        fputc(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i], out);
}

static void print_document(FILE *out, const olmoe_trace_result *r, size_t d, const char *open,
                           const char *close) {
    const olmoe_trace_doc *doc = &r->docs[d];
    cJSON *meta = cJSON_Parse(doc->metadata);
    const char *title = meta_field(meta, "title"), *author = meta_field(meta, "author");
    const char *source = meta_field(meta, "source");
    if (!source) source = meta_field(meta, "path");
    fprintf(out, "[%zu] relevance %.2f  doc %llu", d + 1, doc->relevance,
            (unsigned long long)doc->doc_ix);
    if (title) fprintf(out, "  %s", title);
    if (author) fprintf(out, " - %s", author);
    if (source) fprintf(out, " (%s)", source);
    fputs("\n    spans:", out);
    for (size_t i = 0; i < r->n_spans; i++)
        for (size_t k = 0; k < r->spans[i].n_docs; k++)
            if (r->spans[i].docs[k] == d) fprintf(out, " %zu", i + 1);
    fputs("\n    ", out);
    put_flat(out, doc->snippet, doc->snippet_span_start);
    fputs(open, out);
    put_flat(out, doc->snippet + doc->snippet_span_start,
             doc->snippet_span_end - doc->snippet_span_start);
    fputs(close, out);
    put_flat(out, doc->snippet + doc->snippet_span_end,
             strlen(doc->snippet + doc->snippet_span_end));
    fputc('\n', out);
    cJSON_Delete(meta);
}

void trace_print(FILE *out, const olmoe_trace_result *r, int terminal, size_t max_docs) {
    /* bold and underlined on a terminal, else guillemets */
    const char *open = terminal ? "\033[1;4m" : "\xC2\xAB";
    const char *close = terminal ? "\033[0m" : "\xC2\xBB";
    size_t at = 0;
    for (size_t i = 0; i < r->n_spans; i++) {
        const olmoe_trace_span *s = &r->spans[i];
        fwrite(r->text + at, 1, s->byte_start - at, out);
        fputs(open, out);
        fwrite(r->text + s->byte_start, 1, s->byte_end - s->byte_start, out);
        fputs(close, out);
        at = s->byte_end;
    }
    fwrite(r->text + at, 1, r->text_len - at, out);
    fprintf(out, "\n\n%zu span%s found in the corpus, %zu document%s\n", r->n_spans,
            r->n_spans == 1 ? "" : "s", r->n_docs, r->n_docs == 1 ? "" : "s");
    for (size_t d = 0; d < r->n_docs && d < max_docs; d++) print_document(out, r, d, open, close);
    if (r->n_docs > max_docs)
        fprintf(out, "... and %zu more documents (--json lists them all)\n", r->n_docs - max_docs);
    fflush(out);
}

int trace_run(const char *cmd, const olmoe_index *ix, const olmoe_trace_params *p,
              const char *text, size_t len, int json) {
    olmoe_trace_result *r;
    double t0 = now_seconds();
    if (olmoe_trace(ix, text, len, p, &r)) {
        fprintf(stderr, "olmoe %s: %s\n", cmd, olmoe_last_error());
        return EXIT_RUNTIME;
    }
    double ms = 1e3 * (now_seconds() - t0);
    int rc = 0;
    if (json) {
        char *s;
        if (olmoe_trace_to_json(r, &s)) rc = report("trace");
        else {
            puts(s);
            olmoe_free(s);
        }
    } else {
        trace_print(stdout, r, isatty(1), TRACE_DOCS_SHOWN);
    }
    fprintf(stderr, "olmoe %s: %zu tokens traced, %zu spans, %zu documents in %.1f ms\n", cmd,
            r->n_tokens, r->n_spans, r->n_docs, ms);
    olmoe_free(r);
    return rc;
}

int trace_and_print(const char *cmd, const char *dir, const char *prompt, const char *text,
                    int json) {
    index_opts o = {.dirs = {dir}, .n_dirs = 1};
    int rc;
    olmoe_index *ix = index_open_opts(cmd, &o, &rc);
    if (!ix) return rc;
    olmoe_trace_params p = olmoe_trace_default_params();
    p.prompt = prompt;
    rc = trace_run(cmd, ix, &p, text, strlen(text), json);
    olmoe_index_free(ix);
    return rc;
}
