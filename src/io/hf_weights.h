/* The weights of a Hugging Face model folder: model.safetensors, or the
 * shards listed by model.safetensors.index.json, all memory-mapped and
 * looked up by tensor name. */
#ifndef OLMOE_IO_HF_WEIGHTS_H
#define OLMOE_IO_HF_WEIGHTS_H

#include "io/gguf.h"
#include "io/safetensors.h"

/* Weights looked up by their Hugging Face name, whatever file holds them. */
typedef struct {
    safetensors_file *files; /* a HF folder's safetensors files */
    int n_files;
    gguf_file *gguf;         /* or one GGUF file, whose tensors... */
    tensor *views;           /* ...are given HF names here (names owned) */
    int n_views;
    const tensor **sorted;   /* every tensor, by name */
    int n_tensors;
} weight_store;

olmoe_status weight_store_open_hf(const char *dir, weight_store *out);
void weight_store_close(weight_store *ws);
/* A store over an open GGUF file and views of its tensors under new names;
 * takes ownership of both (also on error). */
olmoe_status weight_store_from_views(weight_store *ws, gguf_file *gguf, tensor *views, int n);
const tensor *weight_store_find(const weight_store *ws, const char *name);
/* Total bytes of the mapped tensor data. */
size_t weight_store_bytes(const weight_store *ws);

#endif
