/* Whole-file reading and JSON loading with errors that name the file. */
#ifndef OLMOE_UTIL_FILE_H
#define OLMOE_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "olmoe.h"

/* Reads the whole file into a malloc'ed, NUL-terminated buffer. */
olmoe_status file_read_all(const char *path, char **data, size_t *len);

/* Parses a JSON file; on a syntax error the message names the file and the
 * byte offset. *out must be released with cJSON_Delete. */
olmoe_status json_load_file(const char *path, cJSON **out);

/* Reads the optional integer field `key` of a JSON object into *out when it
 * is present and not null (otherwise *out is left as it is); fails naming
 * the file and field when it is not an integer in [lo, hi]. */
olmoe_status json_get_int64(const cJSON *obj, const char *path, const char *key, int64_t lo,
                            int64_t hi, int64_t *out);

/* Joins dir and name with one '/'; malloc'ed. */
char *path_join(const char *dir, const char *name);

int file_exists(const char *path);

/* A file written as PATH.tmp and renamed to PATH only when complete, so an
 * interrupted writer never leaves a partial PATH behind. */
typedef struct {
    FILE *f;
    char *path, *tmp_path;
    unsigned long long bytes; /* written so far */
} atomic_file;

olmoe_status atomic_file_open(atomic_file *a, const char *path);
olmoe_status atomic_file_write(atomic_file *a, const void *data, size_t len);
/* Flushes, closes and renames into place; on failure removes PATH.tmp. */
olmoe_status atomic_file_commit(atomic_file *a);
/* Closes and removes PATH.tmp (after an earlier failure); safe to repeat. */
void atomic_file_abort(atomic_file *a);

/* Writes `len` bytes as PATH through an atomic_file. */
olmoe_status file_write_all(const char *path, const void *data, size_t len);

#endif
