/* olmoe trace: the spans of a text found verbatim in a corpus index, and
 * the documents holding them (OLMoTrace). */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/trace_print.h"

static void usage(void) {
    printf("usage: olmoe trace --index DIR [--index DIR ...] (--text T | --file F) [options]\n"
           "Marks the spans of the text that occur in the corpus (OLMoTrace) and lists the\n"
           "documents holding them, most relevant first (BM25 against prompt + text).\n"
           "  --text T, -f/--file F  the text to trace (e.g. a model's answer)\n"
           "  --prompt P             the prompt that produced it (used for ranking only)\n"
           "  --max-docs N           documents per span (10)\n"
           "  -t, --threads N        threads (default: all cores)\n"
           "  --json                 {\"spans\": [...], \"documents\": [...]}\n");
    fputs(INDEX_OPTS_USAGE, stdout);
}

int cmd_trace(int argc, char **argv) {
    index_opts ix_opts = {0};
    common_opts o = {0};
    olmoe_trace_params p = olmoe_trace_default_params();
    arg_iter it = {argc, 0, argv, "trace"};
    const char *name, *value;
    long v;
    int r;
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) > 0) {
        int c = index_opt(&ix_opts, "trace", name, value);
        if (c < 0) return EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) { usage(); return 0; }
        if (!strcmp(name, "--text")) o.text = value;
        else if (!strcmp(name, "--file") || !strcmp(name, "-f")) o.file = value;
        else if (!strcmp(name, "--json")) o.json = 1;
        else if (!strcmp(name, "--prompt")) p.prompt = value;
        else if (!strcmp(name, "--max-docs")) {
            if (parse_int("trace", name, value, 0, 100000, &v)) return EXIT_USAGE;
            p.max_docs_per_span = (size_t)v;
        } else if (!strcmp(name, "-t") || !strcmp(name, "--threads")) {
            if (parse_int("trace", name, value, 1, 1024, &v)) return EXIT_USAGE;
            p.n_threads = (int)v;
        } else return unknown_option("trace", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (ix_opts.n_dirs == 0) {
        fprintf(stderr, "olmoe trace: --index DIR is required\n");
        return EXIT_USAGE;
    }
    size_t len;
    char *text = input_text("trace", &o, &len);
    if (!text) return !!o.text + !!o.file == 1 ? EXIT_RUNTIME : EXIT_USAGE;
    olmoe_index *ix = index_open_opts("trace", &ix_opts, &r);
    if (ix) r = trace_run("trace", ix, &p, text, len, o.json);
    olmoe_index_free(ix);
    free(text);
    return r;
}
