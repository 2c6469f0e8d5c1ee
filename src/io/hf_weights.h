/* The weights of a Hugging Face model folder: model.safetensors, or the
 * shards listed by model.safetensors.index.json, all memory-mapped and
 * looked up by tensor name. */
#ifndef OLMOE_IO_HF_WEIGHTS_H
#define OLMOE_IO_HF_WEIGHTS_H

#include "io/safetensors.h"

typedef struct {
    safetensors_file *files;
    int n_files;
    const tensor **sorted; /* every tensor of every file, by name */
    int n_tensors;
} weight_store;

olmoe_status weight_store_open_hf(const char *dir, weight_store *out);
void weight_store_close(weight_store *ws);
const tensor *weight_store_find(const weight_store *ws, const char *name);
/* Total bytes of the mapped tensor data. */
size_t weight_store_bytes(const weight_store *ws);

#endif
