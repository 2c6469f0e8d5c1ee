/* olmoe.h — the public C API of libolmoe, and the only seam between the
 * engine and its users (the `olmoe` CLI, tests, future servers and bindings).
 *
 * Conventions
 *  - Handles are opaque. Every fallible call returns an olmoe_status; on
 *    failure olmoe_last_error() holds a one-line reason naming the file,
 *    tensor or field at fault (kept per thread).
 *  - The library never prints, never calls exit(), and keeps no global
 *    mutable state besides that per-thread message.
 *  - Buffers the library allocates for the caller are released with
 *    olmoe_free().
 */
#ifndef OLMOE_H
#define OLMOE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum {
    OLMOE_OK = 0,
    OLMOE_ERR_IO,           /* missing/unreadable file */
    OLMOE_ERR_FORMAT,       /* malformed file, JSON, tensor shape or dtype */
    OLMOE_ERR_UNSUPPORTED,  /* valid input this engine does not implement */
    OLMOE_ERR_ARG,          /* bad argument from the caller */
    OLMOE_ERR_NOMEM,        /* allocation failed */
    OLMOE_ERR_CONTEXT_FULL, /* tokens do not fit the context window */
} olmoe_status;

const char *olmoe_last_error(void);
const char *olmoe_status_name(olmoe_status s);
void olmoe_free(void *p);

/* ---------------------------------------------------------------- models */

typedef struct olmoe_model olmoe_model;

typedef struct {
    int n_threads; /* threads for compute; <= 0 means all cores */
} olmoe_model_params;

olmoe_model_params olmoe_model_default_params(void);

/* Loads a Hugging Face model folder (config.json, safetensors weights,
 * tokenizer.json, optional tokenizer_config.json / generation_config.json).
 * Weights stay memory-mapped. */
olmoe_status olmoe_model_load(const char *path, const olmoe_model_params *params,
                              olmoe_model **out);
void olmoe_model_free(olmoe_model *model);

typedef struct {
    const char *architecture; /* "OlmoeForCausalLM" or "Olmo2ForCausalLM" */
    const char *dtype;        /* storage type of the matrices: "f32", "bf16", "f16", mixed */
    int n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff;
    int n_experts, n_experts_active; /* 0 and 0 for dense models */
    int vocab_size, max_context;
    double rope_theta;
    int64_t n_params_total;   /* every weight */
    int64_t n_params_active;  /* weights used for one token */
    uint64_t weight_bytes;    /* bytes of weights on disk / mapped */
    uint64_t bytes_per_token; /* weight bytes read to generate one token: every
                                 matrix but the embedding table and the unused
                                 experts, plus one embedding row */
} olmoe_model_info;

void olmoe_model_get_info(const olmoe_model *model, olmoe_model_info *info);

/* ------------------------------------------------------------- tokenizer */

int olmoe_vocab_size(const olmoe_model *model);  /* rows of the logits */
int32_t olmoe_token_eos(const olmoe_model *model);
int32_t olmoe_token_bos(const olmoe_model *model); /* -1 if none */
/* 1 if generation ends at this id (config.json and generation_config.json). */
int olmoe_token_is_eos(const olmoe_model *model, int32_t id);

/* Text -> ids, exactly as Hugging Face `tokenizers` encodes (special tokens
 * in the text are recognised; nothing is prepended). *ids is allocated. */
olmoe_status olmoe_tokenize(const olmoe_model *model, const char *text, size_t len,
                            int32_t **ids, size_t *n_ids);

/* Ids -> text as Hugging Face `decode(ids, skip_special_tokens)`; ids the
 * tokenizer does not know (padding rows of the embedding) are skipped.
 * *text is allocated and NUL-terminated. */
olmoe_status olmoe_detokenize(const olmoe_model *model, const int32_t *ids, size_t n_ids,
                              int skip_special, char **text);

/* Raw bytes one token stands for (special tokens: their text), for
 * streaming output. Bytes may be a partial UTF-8 sequence. Returns NULL and
 * *len = 0 for an id out of range. */
const char *olmoe_token_bytes(const olmoe_model *model, int32_t id, size_t *len);
int olmoe_token_is_special(const olmoe_model *model, int32_t id);

/* ----------------------------------------------------------- chat format */

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} olmoe_chat_message;

/* Renders the model's chat template (tokenizer_config.json `chat_template`)
 * like transformers' apply_chat_template(tokenize=False). */
olmoe_status olmoe_chat_apply_template(const olmoe_model *model, const olmoe_chat_message *msgs,
                                       size_t n_msgs, int add_generation_prompt, char **text);

/* --------------------------------------------------------------- context */

typedef struct olmoe_context olmoe_context;

typedef struct {
    int n_ctx;          /* KV-cache positions; <= 0: the model's max_position_embeddings */
    int n_threads;      /* <= 0: the model's setting */
    int record_routing; /* keep the experts chosen for the last batch (tests, tracing) */
} olmoe_context_params;

olmoe_context_params olmoe_context_default_params(void);
olmoe_status olmoe_context_new(const olmoe_model *model, const olmoe_context_params *params,
                               olmoe_context **out);
void olmoe_context_free(olmoe_context *ctx);

/* Runs `tokens` through the model at positions n_past .. n_past+n-1,
 * appending to the KV cache. With all_logits, logits for every token of the
 * batch are kept; otherwise only the last token's. Fails with
 * OLMOE_ERR_CONTEXT_FULL (and changes nothing) if the tokens do not fit. */
olmoe_status olmoe_decode(olmoe_context *ctx, const int32_t *tokens, size_t n_tokens,
                          int all_logits);

/* Logits of token i of the last batch (i = -1: its last token), vocab_size
 * floats, or NULL if they were not kept. */
const float *olmoe_get_logits(const olmoe_context *ctx, int i);

int olmoe_context_n_past(const olmoe_context *ctx);
int olmoe_context_n_ctx(const olmoe_context *ctx);
/* Forgets cached positions >= n_past (to reuse a shared prefix or drop history). */
void olmoe_context_truncate(olmoe_context *ctx, int n_past);

/* With record_routing: the experts chosen in `layer` for token i of the last
 * batch, in descending router probability; returns how many were written
 * (top-k), or 0 if unavailable. */
int olmoe_get_routing(const olmoe_context *ctx, int layer, int i, int32_t *experts, int cap);

/* --------------------------------------------------------------- sampling */

typedef struct olmoe_sampler olmoe_sampler;

typedef struct {
    float temperature;    /* 0: greedy */
    int top_k;            /* 0: off */
    float top_p;          /* 1: off */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 1: off (llama.cpp/CTRL style) */
    int repeat_last_n;    /* tokens considered by the penalty; -1: all */
    uint64_t seed;
} olmoe_sampler_params;

olmoe_sampler_params olmoe_sampler_default_params(void);
olmoe_status olmoe_sampler_new(const olmoe_sampler_params *params, olmoe_sampler **out);
void olmoe_sampler_free(olmoe_sampler *s);
/* Picks the next token from `logits` given the ids so far (for the penalty);
 * -1 if there are no logits. */
int32_t olmoe_sampler_sample(olmoe_sampler *s, const float *logits, int n_vocab,
                             const int32_t *history, size_t n_history);

/* --------------------------------------------------------- model files */

/* Progress of long work (writing, converting): done and total are in the
 * task's own unit (elements or bytes). */
typedef void (*olmoe_progress_fn)(double done, double total, void *user);

typedef struct {
    const char *preset;         /* "olmoe-1b-7b", "olmo2-1b" or "olmoe-mini" */
    const char *dtype;          /* "bf16" (default), "f16", "f32" */
    uint64_t seed;
    const char *tokenizer_json; /* copied into the folder if given */
    olmoe_progress_fn progress;
    void *user;
} olmoe_random_init_params;

/* Writes a Hugging Face folder (config.json, model.safetensors, and the
 * tokenizer if given) with the exact shapes of the preset's model and
 * seeded random weights. */
olmoe_status olmoe_random_init(const olmoe_random_init_params *params, const char *out_dir);

/* Writes the model as a GGUF file llama.cpp loads (architecture olmoe or
 * olmo2, llama.cpp's metadata keys, tensor names and stacked experts) with
 * `type` one of "f32", "bf16", "q8_0", "q4_0", "q4_k_m" (llama.cpp's per-tensor
 * type choices for that file type; quantization bit-exact with ggml's). */
olmoe_status olmoe_convert(const olmoe_model *model, const char *out_path, const char *type,
                           olmoe_progress_fn progress, void *user);

/* ---- corpus indexes (infini-gram format): building (src/trace/index_build.c) ---- */

/* ---- corpus indexes: loading and queries (src/trace/index.c, query.c) ---- */

#ifdef __cplusplus
}
#endif
#endif
