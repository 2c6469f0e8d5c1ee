/* Byte-level BPE tokenizer compatible with Hugging Face `tokenizers`
 * (tokenizer.json of OLMoE's gpt-neox tokenizer and OLMo 2's dolma2).
 *
 * The tokenizer is built from an in-memory description (tokenizer_spec) so
 * that both tokenizer.json and, later, GGUF metadata (tokenizer.ggml.*) can
 * feed it. */
#ifndef OLMOE_TOKENIZER_H
#define OLMOE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"
#include "tokenizer/tokenizer_spec.h" /* tokenizer_spec, tokenizer_build */

typedef struct tokenizer tokenizer;

/* Loads tokenizer.json. Errors name the file and the offending field. */
olmoe_status tokenizer_load_json(const char *path, tokenizer **out);
void tokenizer_free(tokenizer *tok);

/* Number of ids the tokenizer knows (max id + 1). */
int tokenizer_n_tokens(const tokenizer *tok);

/* Encodes like HF `Tokenizer.encode(text).ids` (no post-processor tokens are
 * added for these tokenizers). *ids is malloc'ed; caller frees. */
olmoe_status tokenizer_encode(const tokenizer *tok, const char *text, size_t len,
                              int32_t **ids, size_t *n_ids);

/* An encoding session: a thread-local scratch state (regex match data,
 * buffers, a cache of encoded words) reused across calls, for tokenizing
 * many documents quickly. Results equal tokenizer_encode's. One session
 * per thread; the tokenizer itself may be shared. */
typedef struct tokenizer_session tokenizer_session;
olmoe_status tokenizer_session_new(const tokenizer *tok, tokenizer_session **out);
olmoe_status tokenizer_session_encode(tokenizer_session *s, const char *text, size_t len,
                                      int32_t **ids, size_t *n_ids);
void tokenizer_session_free(tokenizer_session *s);

/* Decodes like HF `Tokenizer.decode(ids, skip_special_tokens)`. With 0,
 * special tokens are decoded like the others (as transformers' decode() does
 * by default, and as the shared reference files' `decoded` strings were
 * made). Ids the tokenizer does not know are skipped, as HF does.
 * *text is malloc'ed and NUL-terminated. */
olmoe_status tokenizer_decode(const tokenizer *tok, const int32_t *ids, size_t n_ids,
                              int skip_special_tokens, char **text, size_t *len);

/* The decoded bytes of one token (byte-level mapping undone; added tokens:
 * their content). NULL if id is out of range. */
const char *tokenizer_token_bytes(const tokenizer *tok, int32_t id, size_t *len);

/* 1 if id is an added token marked special. */
int tokenizer_is_special(const tokenizer *tok, int32_t id);

/* Id of the token whose (added or vocabulary) content is exactly `content`,
 * or -1. */
int32_t tokenizer_find(const tokenizer *tok, const char *content);

/* For writing the tokenizer into GGUF metadata (tokenizer_export.c). */

/* The vocabulary entry of id as stored (byte-level form, e.g. "Ġthe"),
 * NULL for ids outside the vocabulary. */
const char *tokenizer_vocab_entry(const tokenizer *tok, int32_t id, size_t *len);
/* 1 if id is an added token (special or not). */
int tokenizer_is_added(const tokenizer *tok, int32_t id);
/* The merges in rank order as malloc'ed "left right" strings (free each
 * and the array). */
olmoe_status tokenizer_export_merges(const tokenizer *tok, char ***merges, size_t *n);
/* llama.cpp's tokenizer.ggml.pre for this pipeline ("olmo", "gpt2",
 * "dbrx"), or "" if llama.cpp has none that matches. */
const char *tokenizer_gguf_pre(const tokenizer *tok);

#endif
