/* Model hyper-parameters from a Hugging Face config.json. Every field that
 * changes the computation is read; values this engine does not implement
 * (another architecture, activation or rope_scaling) are refused. */
#ifndef OLMOE_MODEL_CONFIG_H
#define OLMOE_MODEL_CONFIG_H

#include <cjson/cJSON.h>

#include "olmoe.h"

typedef enum { ARCH_OLMOE, ARCH_OLMO2 } model_arch;

typedef enum {
    ROPE_DEFAULT,
    ROPE_LINEAR, /* positions divided by factor */
    ROPE_LLAMA3, /* frequency-dependent wavelength scaling */
} rope_kind;

typedef struct {
    rope_kind kind;
    double theta;
    double factor;
    double low_freq_factor, high_freq_factor; /* llama3 */
    int original_max_position;                /* llama3 */
} rope_config;

#define CONFIG_MAX_EOS 8
#define CONFIG_MAX_EXPERTS 256

typedef struct {
    model_arch arch;
    int vocab_size;
    int d_model;    /* hidden_size */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int d_ff;       /* intermediate_size: per expert for OLMoE */
    int n_experts;  /* 0 for dense */
    int top_k;      /* num_experts_per_tok */
    int norm_topk_prob;
    double clip_qkv; /* 0: none */
    double rms_eps;
    rope_config rope;
    int tie_embeddings;
    int attention_bias;
    int max_position;
    int eos_ids[CONFIG_MAX_EOS];
    int n_eos;
    int bos_id; /* -1 if none */
    int pad_id; /* -1 if none */
} model_config;

const char *model_arch_name(model_arch a);

/* Parses a parsed config.json; `path` only names the file in errors. */
olmoe_status config_parse(const cJSON *root, const char *path, model_config *cfg);

/* Cross-field checks (heads divide, top-k within the experts, ...), for
 * configurations from any source; `path` names the source in errors. */
olmoe_status config_check(const char *path, const model_config *cfg);

/* Reads `eos_token_id` (one id or a list) of a config or
 * generation_config object into cfg->eos_ids. */
olmoe_status config_parse_eos(const cJSON *root, const char *path, model_config *cfg);

#endif
