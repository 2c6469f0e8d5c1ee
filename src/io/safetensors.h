/* safetensors reading: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}}, then the raw tensor bytes. Every
 * offset is checked against the file size before any byte is used. */
#ifndef OLMOE_IO_SAFETENSORS_H
#define OLMOE_IO_SAFETENSORS_H

#include "io/mapped_file.h"
#include "quant/types.h"

typedef struct {
    mapped_file file;
    tensor *tensors; /* names are owned here */
    int n_tensors;
} safetensors_file;

olmoe_status safetensors_open(const char *path, safetensors_file *out);
void safetensors_close(safetensors_file *f);

#endif
