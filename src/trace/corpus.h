/* Reading a text corpus in Dolma's document format, one document at a time.
 *
 * Inputs are files or directories:
 *  - a file whose name contains ".json" (.jsonl, .json.gz, .jsonl.zst, ...)
 *    holds one JSON object per line with a string field "text";
 *  - any other file is one plain-text document (its metadata is {});
 *  - a directory contributes every file under it whose name contains
 *    ".json", recursively, in order of path (as strings); symbolic links to
 *    directories are not followed, so link cycles cannot loop.
 * Files compressed with gzip or zstd (recognised by their first bytes) are
 * decompressed while streaming; zstd frames may use windows up to 2 GiB
 * (`zstd --long=31`, as Dolma's shards are written).
 *
 * Reading is split in two so that documents can be parsed in parallel:
 * corpus_next() returns raw records in input order (one thread), and
 * corpus_record_parse() turns a record into text and a metadata line (any
 * thread). */
#ifndef OLMOE_TRACE_CORPUS_H
#define OLMOE_TRACE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"

typedef struct {
    char *path;     /* as opened: the input argument, joined with the path below it */
    char *rel;      /* recorded in metadata: relative to the input directory (or the
                       file's own directory when the input is a file) */
    int is_jsonl;   /* 0: one plain-text document */
    uint64_t bytes; /* size on disk */
} corpus_file;

typedef struct corpus corpus;

/* One JSON line, or a whole plain-text file. `line` is malloc'ed. */
typedef struct {
    const corpus_file *file; /* valid until corpus_close */
    uint64_t linenum;        /* 0-based line number in the file */
    char *line;
    size_t len;
} corpus_record;

/* A parsed document: the text to index and its metadata.s line
 * ({"path": ..., "linenum": N, "metadata": {every field but "text"}} + "\n"). */
typedef struct {
    char *text;
    size_t text_len;
    char *meta_line;
    size_t meta_len;
} corpus_doc;

/* Lists the files of every input (errors name a missing input). */
olmoe_status corpus_open(const char *const *inputs, int n_inputs, corpus **out);
void corpus_close(corpus *c);

/* The next record in input order; *got = 0 at the end of the corpus.
 * Errors (unreadable or truncated file) name the file. */
olmoe_status corpus_next(corpus *c, corpus_record *rec, int *got);
void corpus_record_free(corpus_record *rec);

/* Thread-safe. Errors name the file and 1-based line: bad JSON, a line that
 * is not an object, "text" missing or not a string. Frees nothing. */
olmoe_status corpus_record_parse(const corpus_record *rec, corpus_doc *doc);
void corpus_doc_free(corpus_doc *doc);

/* Bytes on disk of all files, and how many of them have been consumed (for
 * progress). */
uint64_t corpus_total_bytes(const corpus *c);
uint64_t corpus_bytes_read(const corpus *c);

#endif
