/* Writing safetensors files: the header is computed from the tensor list
 * first, then tensor data is streamed in order, so files larger than memory
 * can be produced. Written to PATH.tmp and renamed when complete. */
#ifndef OLMOE_IO_SAFETENSORS_WRITE_H
#define OLMOE_IO_SAFETENSORS_WRITE_H

#include <stdio.h>

#include "olmoe.h"
#include "quant/types.h"

typedef struct {
    const char *name;
    tensor_type type; /* F32, F16, BF16 */
    int n_dims;
    int64_t shape[4];
} st_tensor_info;

typedef struct {
    FILE *f;
    char *path, *tmp_path;
    const st_tensor_info *infos;
    int n, next;
} st_writer;

/* Writes the header for `infos` (kept by pointer until close). */
olmoe_status st_writer_open(st_writer *w, const char *path, const st_tensor_info *infos, int n);
/* Appends the data of the next tensor (bytes must match its shape). */
olmoe_status st_writer_write(st_writer *w, const void *data, size_t nbytes);
/* Finishes (all tensors written) and renames into place; on any earlier
 * failure call st_writer_abort instead. */
olmoe_status st_writer_close(st_writer *w);
void st_writer_abort(st_writer *w);

#endif
