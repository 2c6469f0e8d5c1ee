/* What `olmoe trace`, `olmoe decon` and `olmoe generate --trace` share:
 * the options that open corpus indexes, and the printing of a trace (the
 * text with its spans marked, then the documents). */
#ifndef OLMOE_CLI_TRACE_PRINT_H
#define OLMOE_CLI_TRACE_PRINT_H

#include <stdio.h>

#include "olmoe.h"

#define TRACE_MAX_INDEXES 64

typedef struct {
    const char *dirs[TRACE_MAX_INDEXES]; /* --index, repeatable */
    int n_dirs;
    const char *tokenizer;               /* --tokenizer */
    int token_width;                     /* --token-width, 0: the manifest's */
} index_opts;

/* Handles --index, --tokenizer and --token-width: 1 consumed, 0 not one of
 * them, -1 bad value (message printed). */
int index_opt(index_opts *o, const char *cmd, const char *name, const char *value);
extern const char *const INDEX_OPTS_USAGE;

/* Opens the indexes (at least one --index is required: exit status 2 in
 * *rc) or prints a one-line error (exit status 1 in *rc); NULL on failure. */
olmoe_index *index_open_opts(const char *cmd, const index_opts *o, int *rc);

/* The text with the spans marked (bold and underlined on a terminal, «…»
 * otherwise), then up to max_docs documents with title, author, source,
 * relevance and snippet. */
void trace_print(FILE *out, const olmoe_trace_result *r, int terminal, size_t max_docs);

/* Traces text[0..len) and prints it (trace_print to stdout, or one JSON
 * line with json) with a timing line on stderr; returns the exit status. */
int trace_run(const char *cmd, const olmoe_index *ix, const olmoe_trace_params *p,
              const char *text, size_t len, int json);

/* Traces `text` (prompt for ranking) against the index in dir and prints
 * it: as trace_print to stdout, or one JSON line with json. Returns the
 * exit status. */
int trace_and_print(const char *cmd, const char *dir, const char *prompt, const char *text,
                    int json);

#endif
