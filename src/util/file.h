/* Whole-file reading and JSON loading with errors that name the file. */
#ifndef OLMOE_UTIL_FILE_H
#define OLMOE_UTIL_FILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "olmoe.h"

/* Reads the whole file into a malloc'ed, NUL-terminated buffer. */
olmoe_status file_read_all(const char *path, char **data, size_t *len);

/* Parses a JSON file; on a syntax error the message names the file and the
 * byte offset. *out must be released with cJSON_Delete. */
olmoe_status json_load_file(const char *path, cJSON **out);

/* Joins dir and name with one '/'; malloc'ed. */
char *path_join(const char *dir, const char *name);

int file_exists(const char *path);

#endif
