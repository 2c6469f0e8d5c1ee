/* olmoe decon: which evaluation items a corpus contains, by the share of
 * their tokens covered by n-grams found in corpus indexes. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"
#include "cli/trace_print.h"

/* Bytes of an item's text shown next to a flagged item. */
#define PREVIEW_BYTES 70

static void usage(void) {
    printf("usage: olmoe decon --index DIR [--index DIR ...] --eval FILE.jsonl[.gz|.zst] [options]\n"
           "An item is contaminated when at least THRESHOLD of its tokens lie inside n-grams\n"
           "that occur in the corpus (an item shorter than n tokens: when all of it occurs).\n"
           "  --eval FILE            one JSON object per line (e.g. OLMES requests.jsonl.gz)\n"
           "  --fields a.b,c         dotted paths of the fields to check, joined with newlines\n"
           "                         (arrays: one element per line). Default, per item: text;\n"
           "                         else doc.query,doc.choices; else question,choices,answer\n"
           "  -n N                   n-gram length in tokens (13)\n"
           "  --threshold X          coverage at which an item is contaminated (0.8)\n"
           "  --json                 one {\"id\", \"coverage\", \"contaminated\"} per line, then\n"
           "                         {\"summary\": {...}}\n"
           "  --csv                  id,coverage,contaminated\n"
           "  -t, --threads N        threads (default: all cores)\n");
    fputs(INDEX_OPTS_USAGE, stdout);
}

static void print_json(const olmoe_decon_report *r, const olmoe_decon_params *p) {
    for (size_t i = 0; i < r->n_items; i++) {
        const olmoe_decon_item *it = &r->items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "id", it->id_is_string ? cJSON_CreateString(it->id)
                                                        : cJSON_CreateRaw(it->id));
        cJSON_AddNumberToObject(o, "coverage", it->result.coverage);
        cJSON_AddBoolToObject(o, "contaminated", it->result.contaminated);
        json_print(o);
        cJSON_Delete(o);
    }
    cJSON *o = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(o, "summary");
    cJSON_AddNumberToObject(s, "items", (double)r->n_items);
    cJSON_AddNumberToObject(s, "contaminated", (double)r->n_contaminated);
    cJSON_AddNumberToObject(s, "fraction",
                            r->n_items ? (double)r->n_contaminated / (double)r->n_items : 0.0);
    cJSON_AddNumberToObject(s, "n", p->n);
    cJSON_AddNumberToObject(s, "threshold", p->threshold);
    json_print(o);
    cJSON_Delete(o);
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void put_csv_field(const char *s) {
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const olmoe_decon_report *r) {
    puts("id,coverage,contaminated");
    for (size_t i = 0; i < r->n_items; i++) {
        put_csv_field(r->items[i].id);
        printf(",%.6g,%s\n", r->items[i].result.coverage,
               r->items[i].result.contaminated ? "true" : "false");
    }
}

/* The start of an item's text on one line, cut at a character boundary. */
static void print_preview(const char *text) {
    size_t n = strlen(text);
    int cut = n > PREVIEW_BYTES;
    if (cut) {
        n = PREVIEW_BYTES;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    for (size_t i = 0; i < n; i++) putchar(text[i] == '\n' || text[i] == '\t' ? ' ' : text[i]);
    if (cut) fputs("...", stdout);
}

static void print_human(const char *path, const olmoe_decon_report *r,
                        const olmoe_decon_params *p) {
    printf("%s: %zu items, %zu contaminated (%.2f%%): coverage by %d-grams >= %g\n", path,
           r->n_items, r->n_contaminated,
           r->n_items ? 100.0 * (double)r->n_contaminated / (double)r->n_items : 0.0, p->n,
           p->threshold);
    for (size_t i = 0; i < r->n_items; i++) {
        const olmoe_decon_item *it = &r->items[i];
        if (!it->result.contaminated) continue;
        printf("  id %s: coverage %.3f of %zu tokens: ", it->id, it->result.coverage,
               it->result.n_tokens);
        print_preview(it->text);
        putchar('\n');
    }
}

int cmd_decon(int argc, char **argv) {
    index_opts ix_opts = {0};
    olmoe_decon_params p = olmoe_decon_default_params();
    const char *eval = NULL, *fields = NULL, *name, *value;
    int json = 0, csv = 0, r;
    long v;
    arg_iter it = {argc, 0, argv, "decon"};
    while ((r = arg_next(&it, "--json --csv --help -h", &name, &value)) > 0) {
        int c = index_opt(&ix_opts, "decon", name, value);
        if (c < 0) return EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(); return 0; }
        if (!strcmp(name, "--eval")) eval = value;
        else if (!strcmp(name, "--fields")) fields = value;
        else if (!strcmp(name, "--json")) json = 1;
        else if (!strcmp(name, "--csv")) csv = 1;
        else if (!strcmp(name, "-n")) {
            if (parse_int("decon", name, value, 1, 100000, &v)) return EXIT_USAGE;
            p.n = (int)v;
        } else if (!strcmp(name, "--threshold")) {
            if (parse_float("decon", name, value, 0, 1, &p.threshold)) return EXIT_USAGE;
        } else if (!strcmp(name, "-t") || !strcmp(name, "--threads")) {
            if (parse_int("decon", name, value, 1, 1024, &v)) return EXIT_USAGE;
            p.n_threads = (int)v;
        } else return unknown_option("decon", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!eval || json + csv > 1) {
        fprintf(stderr, "olmoe decon: %s\n", !eval ? "--eval FILE is required"
                                                   : "give at most one of --json and --csv");
        return EXIT_USAGE;
    }
    olmoe_index *ix = index_open_opts("decon", &ix_opts, &r);
    if (!ix) return r;
    progress_line bar;
    progress_init(&bar, "decon", "items", 1);
    p.progress = progress_update;
    p.user = &bar;
    olmoe_decon_report *rep;
    olmoe_status st = olmoe_decon_file(ix, eval, fields, &p, &rep);
    progress_done(&bar);
    if (st) {
        fprintf(stderr, "olmoe decon: %s\n", olmoe_last_error());
        olmoe_index_free(ix);
        return EXIT_RUNTIME;
    }
    if (json) print_json(rep, &p);
    else if (csv) print_csv(rep);
    else print_human(eval, rep, &p);
    olmoe_free(rep);
    olmoe_index_free(ix);
    return 0;
}
