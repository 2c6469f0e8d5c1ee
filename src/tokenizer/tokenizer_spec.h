/* In-memory description of a byte-level BPE tokenizer.
 *
 * tokenizer.json (tokenizer_json.c) and, later, GGUF metadata
 * (tokenizer.ggml.tokens / merges / token_type) are both turned into a
 * tokenizer_spec and handed to tokenizer_build(). The builder copies
 * everything it needs, so the spec's memory may be released afterwards. */
#ifndef OLMOE_TOKENIZER_SPEC_H
#define OLMOE_TOKENIZER_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"

typedef struct tokenizer tokenizer;

#define TOKENIZER_MAX_STEPS 16

/* Normalizers, applied in order (a JSON "Sequence" is flattened). */
typedef enum {
    TOK_NORM_NFC = 1,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
} tokenizer_norm;

/* HF SplitDelimiterBehavior. */
typedef enum {
    TOK_SPLIT_REMOVED = 0,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_WITH_PREVIOUS,
    TOK_SPLIT_MERGED_WITH_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tokenizer_split_behavior;

typedef enum {
    TOK_PRE_BYTE_LEVEL = 1, /* HF ByteLevel pre-tokenizer */
    TOK_PRE_SPLIT,          /* HF Split pre-tokenizer */
} tokenizer_pretok_kind;

typedef struct {
    tokenizer_pretok_kind kind;
    /* ByteLevel */
    int add_prefix_space;
    int use_regex; /* split with the GPT-2 regex first */
    /* Split */
    const char *pattern;  /* Oniguruma-style regex (as in tokenizer.json) or literal */
    int pattern_is_regex; /* 1: {"Regex": ...}, 0: {"String": ...} */
    tokenizer_split_behavior behavior;
    int invert;
} tokenizer_pretok_step;

typedef struct {
    const char *content;
    int32_t id;
    int special;    /* skipped by decode */
    int normalized; /* matched on the normalized text (else on the raw text) */
    int lstrip, rstrip, single_word;
} tokenizer_added_token;

typedef enum {
    TOK_DECODER_NONE = 0,   /* tokens joined with " " (HF with no decoder) */
    TOK_DECODER_BYTE_LEVEL, /* byte-to-unicode mapping undone */
} tokenizer_decoder_kind;

typedef struct {
    const char *source; /* shown in error messages (file name, "GGUF", ...) */

    /* Model vocabulary: tokens[id] is the token's string as it appears in
     * the vocabulary (byte-level form, e.g. "\xC4\xA0the" for " the");
     * NULL for ids the model vocabulary does not use. */
    const char *const *tokens;
    int32_t n_tokens;

    /* Merges in priority order (rank = index): merge_left[i] + merge_right[i]. */
    const char *const *merge_left;
    const char *const *merge_right;
    size_t n_merges;

    int ignore_merges; /* a piece that is itself in the vocabulary is one token */
    const char *unk_token; /* NULL: characters missing from the vocab are dropped */
    int fuse_unk;

    const tokenizer_added_token *added;
    size_t n_added;

    tokenizer_norm normalizers[TOKENIZER_MAX_STEPS];
    int n_normalizers;

    tokenizer_pretok_step pretok[TOKENIZER_MAX_STEPS];
    int n_pretok;

    tokenizer_decoder_kind decoder;

    /* Post-processor (TemplateProcessing "single"): ids put around the
     * encoded text. Empty for OLMoE / OLMo 2. */
    const int32_t *prefix_ids;
    size_t n_prefix;
    const int32_t *suffix_ids;
    size_t n_suffix;
} tokenizer_spec;

/* Builds a tokenizer from a spec. Errors name spec->source and the field. */
olmoe_status tokenizer_build(const tokenizer_spec *spec, tokenizer **out);

/* Fills steps with a known pre-tokenizer pipeline and returns the number of
 * steps, or -1 for an unknown name:
 *  "gpt2" (also "olmo", "gpt-neox"): ByteLevel with the GPT-2 regex;
 *  "dolma2" (also "llama3", "llama-bpe", "dbrx", "cl100k"): the cl100k-style
 *   Split regex, then ByteLevel without regex. */
int tokenizer_pretok_preset(const char *name, tokenizer_pretok_step *steps, int max_steps);

#endif
