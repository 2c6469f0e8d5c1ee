/* The in-memory model: configuration, typed weight views and tokenizer.
 * Shapes use the PyTorch convention: W[out, in], rows are outputs. */
#ifndef OLMOE_MODEL_MODEL_H
#define OLMOE_MODEL_MODEL_H

#include "io/hf_weights.h"
#include "model/config.h"
#include "quant/types.h"
#include "tokenizer/tokenizer.h"

/* Matrices stay typed views into the mapped files; the small vectors
 * (norm weights, biases) are converted to float32 once at load time. */
typedef struct {
    tensor gate, up, down; /* [d_ff, D], [d_ff, D], [D, d_ff] */
} ffn_weights;

typedef struct {
    float *attn_norm;                 /* [D]  OLMoE: before attention */
    float *ffn_norm;                  /* [D]  OLMoE: before the MoE */
    float *post_attn_norm;            /* [D]  OLMo 2: on the attention output */
    float *post_ffn_norm;             /* [D]  OLMo 2: on the MLP output */
    const tensor *wq, *wk, *wv, *wo;  /* [H*hd, D], [KV*hd, D], [KV*hd, D], [D, H*hd] */
    float *bq, *bk, *bv, *bo;         /* attention_bias only, else NULL */
    float *q_norm, *k_norm;           /* [H*hd], [KV*hd] */
    const tensor *router;             /* [E, D] (OLMoE) */
    ffn_weights *experts;             /* [E] (OLMoE) */
    ffn_weights mlp;                  /* dense MLP (OLMo 2) */
} layer_weights;

struct olmoe_model {
    model_config cfg;
    weight_store store;
    tokenizer *tok;
    const tensor *embed;    /* [V, D] */
    float *out_norm;        /* [D] */
    const tensor *lm_head;  /* [V, D]; the embedding when tied */
    layer_weights *layers;
    float **owned;          /* every float* above, freed with the model */
    tensor_packing *packings; /* one per matrix that matmul alone reads (quant/pack.h) */
    const tensor **packable;  /* those matrices, in the order of packings */
    int n_packable;
    int n_owned;
    char *chat_template;    /* NULL if the folder has none */
    char *bos_text, *eos_text;
    int32_t eos_id, bos_id;
    int n_threads;
    char dtype_name[64];
    char name[128];         /* the folder or file name, without extension */
};

/* Finds and shape-checks every tensor the configuration needs. */
olmoe_status model_bind_weights(olmoe_model *m);

/* Rearranges every matrix that has a faster layout now rather than at its
 * first product (olmoe_model_prepare). */
void model_prepare_weights(olmoe_model *m, olmoe_progress_fn progress, void *user);
/* olmoe_model_read_bandwidth. */
double model_weights_read_bandwidth(const olmoe_model *m, int n_threads);

#endif
