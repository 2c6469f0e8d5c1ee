/* Tensor names: llama.cpp's GGUF names -> Hugging Face names for OLMoE
 * and OLMo 2, so a GGUF model binds through the same code as a HF folder.
 * llama.cpp stacks the experts of a layer into one tensor. */
#ifndef OLMOE_MODEL_GGUF_NAMES_H
#define OLMOE_MODEL_GGUF_NAMES_H

#include <stddef.h>

#include "model/config.h"

/* "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight".
 * For stacked expert tensors (ffn_{gate,up,down}_exps) *expert_part is set
 * to "gate_proj"/"up_proj"/"down_proj" and out receives the layer prefix
 * "model.layers.3.mlp.experts"; otherwise *expert_part is NULL.
 * Returns 0 for a name that has no HF counterpart. */
int gguf_to_hf_name(model_arch arch, const char *gguf, char *out, size_t cap,
                    const char **expert_part);

/* llama.cpp's architecture name: "olmoe" or "olmo2". */
const char *gguf_arch_name(model_arch arch);

#endif
