/* A read-only memory mapping of a whole file. Weights are used in place
 * from the mapping, so only the pages actually touched become resident. */
#ifndef OLMOE_IO_MAPPED_FILE_H
#define OLMOE_IO_MAPPED_FILE_H

#include <stddef.h>

#include "olmoe.h"

typedef struct {
    char *path;
    const unsigned char *data;
    size_t size;
} mapped_file;

olmoe_status mapped_file_open(const char *path, mapped_file *out);
void mapped_file_close(mapped_file *f);

/* Maps every page under [p, p + n) into the process now (reading it in if
 * it is not in the page cache), so later reads take no page faults. */
void mapped_populate(const void *p, size_t n);

#endif
