/* GGUF files as models: configuration, tensors and tokenizer from the
 * metadata llama.cpp's converter writes. */
#ifndef OLMOE_MODEL_GGUF_MODEL_H
#define OLMOE_MODEL_GGUF_MODEL_H

#include "model/model.h"

/* Fills m->cfg, m->store, m->tok, m->chat_template and the special-token
 * strings from the GGUF file at path. */
olmoe_status model_load_gguf(olmoe_model *m, const char *path);

/* The tokenizer (tokenizer.ggml.*), chat template and eos/bos of a GGUF
 * file (gguf_tokenizer.c). */
olmoe_status gguf_load_tokenizer(olmoe_model *m, const gguf_file *g);

#endif
