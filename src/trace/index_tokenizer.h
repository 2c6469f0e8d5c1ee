/* The tokenizer of a corpus index, from any of the places a user names it:
 * a tokenizer.json file, a model folder holding one, or a GGUF file (whose
 * tokenizer comes with the model). */
#ifndef OLMOE_TRACE_INDEX_TOKENIZER_H
#define OLMOE_TRACE_INDEX_TOKENIZER_H

#include <stdint.h>

#include "olmoe.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    tokenizer *tok;
    olmoe_model *model; /* owns tok when it came from a GGUF file */
    char *json_path;    /* the tokenizer.json read, NULL for GGUF */
    int32_t eos_id;     /* -1 if unknown */
} index_tokenizer;

/* EOS: a folder's config.json eos_token_id, a GGUF file's, else the id of
 * "<|endoftext|>" (the EOS of OLMo's tokenizers). */
olmoe_status index_tokenizer_open(const char *path, index_tokenizer *out);
void index_tokenizer_close(index_tokenizer *t);

#endif
