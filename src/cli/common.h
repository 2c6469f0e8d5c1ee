/* Shared pieces of the olmoe subcommands: option parsing, model loading,
 * reading text arguments, and UTF-8-safe streaming of token bytes. */
#ifndef OLMOE_CLI_COMMON_H
#define OLMOE_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "olmoe.h"

/* Exit statuses: 1 runtime failure (bad model, bad input), 2 usage error. */
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Options most subcommands share. */
typedef struct {
    const char *model;  /* -m */
    int threads;        /* -t */
    int n_ctx;          /* -c */
    int json;           /* --json */
    const char *text;   /* -p, --text */
    const char *file;   /* -f, --file */
} common_opts;

/* Iterates argv: returns 1 and sets *name and *value for each option; options
 * listed in `flags` (space-separated) take no value. Returns 0 at the end,
 * -1 (after printing an error) on a missing value or a positional word. */
typedef struct {
    int argc, i;
    char **argv;
    const char *cmd;
} arg_iter;

int arg_next(arg_iter *it, const char *flags, const char **name, const char **value);
/* Handles -m, -t, -c, --json, -p, --text, -f and --file; returns 1 if it consumed the option, 0 if
 * not, -1 on a bad value. */
int common_opt(common_opts *o, const char *name, const char *value);
int parse_int(const char *cmd, const char *name, const char *value, long lo, long hi, long *out);
int parse_float(const char *cmd, const char *name, const char *value, double lo, double hi, double *out);
/* "1,2,3" -> ids (malloc'ed); returns the count, or -1 on a malformed list. */
long parse_ids(const char *s, int32_t **out);
int unknown_option(const char *cmd, const char *name);

/* Prints "olmoe: <what>: <last error>" and returns EXIT_RUNTIME. */
int report(const char *what);

/* Loads -m (required) and prints a one-line error on failure. */
olmoe_model *load_model(const char *cmd, const common_opts *o);

/* The text of --text or the contents of --file (malloc'ed); exactly one
 * must be given. */
char *input_text(const char *cmd, const common_opts *o, size_t *len);

/* Writes token bytes to `out`, holding back an incomplete UTF-8 sequence
 * until its remaining bytes arrive. */
typedef struct {
    char pending[8];
    int n_pending;
} utf8_stream;
void utf8_stream_write(utf8_stream *s, FILE *out, const char *bytes, size_t len);
void utf8_stream_flush(utf8_stream *s, FILE *out);

/* Streams generated tokens to stdout as text (special tokens skipped, as
 * llama.cpp prints them); matches generation.h's token_fn. */
typedef struct {
    const olmoe_model *m;
    utf8_stream out;
    int quiet; /* print nothing (e.g. --json) */
} token_printer;
void print_token(int32_t id, void *printer);

/* Prints an id list as a JSON array into a cJSON-free string buffer. */
struct cJSON;
struct cJSON *json_id_array(const int32_t *ids, size_t n);
/* Prints a cJSON value unformatted followed by a newline. */
void json_print(struct cJSON *v);

double now_seconds(void);

#endif
