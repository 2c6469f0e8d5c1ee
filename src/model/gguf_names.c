#include "model/gguf_names.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *gguf; /* suffix after "blk.N." (or whole name for globals) */
    const char *hf;   /* suffix after "model.layers.N." (or whole name) */
    int arch;         /* -1: both, else the model_arch it applies to */
} name_pair;

static const name_pair GLOBALS[] = {
    {"token_embd.weight", "model.embed_tokens.weight", -1},
    {"output_norm.weight", "model.norm.weight", -1},
    {"output.weight", "lm_head.weight", -1},
};

static const name_pair LAYER[] = {
    {"attn_norm.weight", "input_layernorm.weight", ARCH_OLMOE},
    {"ffn_norm.weight", "post_attention_layernorm.weight", ARCH_OLMOE},
    {"post_attention_norm.weight", "post_attention_layernorm.weight", ARCH_OLMO2},
    {"post_ffw_norm.weight", "post_feedforward_layernorm.weight", ARCH_OLMO2},
    {"attn_q.weight", "self_attn.q_proj.weight", -1},
    {"attn_k.weight", "self_attn.k_proj.weight", -1},
    {"attn_v.weight", "self_attn.v_proj.weight", -1},
    {"attn_output.weight", "self_attn.o_proj.weight", -1},
    {"attn_q.bias", "self_attn.q_proj.bias", -1},
    {"attn_k.bias", "self_attn.k_proj.bias", -1},
    {"attn_v.bias", "self_attn.v_proj.bias", -1},
    {"attn_output.bias", "self_attn.o_proj.bias", -1},
    {"attn_q_norm.weight", "self_attn.q_norm.weight", -1},
    {"attn_k_norm.weight", "self_attn.k_norm.weight", -1},
    {"ffn_gate_inp.weight", "mlp.gate.weight", ARCH_OLMOE},
    {"ffn_gate.weight", "mlp.gate_proj.weight", ARCH_OLMO2},
    {"ffn_up.weight", "mlp.up_proj.weight", ARCH_OLMO2},
    {"ffn_down.weight", "mlp.down_proj.weight", ARCH_OLMO2},
};

static const name_pair EXPERTS[] = {
    {"ffn_gate_exps.weight", "gate_proj", ARCH_OLMOE},
    {"ffn_up_exps.weight", "up_proj", ARCH_OLMOE},
    {"ffn_down_exps.weight", "down_proj", ARCH_OLMOE},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *gguf_arch_name(model_arch arch) { return arch == ARCH_OLMOE ? "olmoe" : "olmo2"; }

static int applies(const name_pair *p, model_arch arch) { return p->arch < 0 || p->arch == (int)arch; }

/* Splits "<prefix><N>.<rest>" into N and rest. */
static int layer_of(const char *name, const char *prefix, int *layer, const char **rest) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n)) return 0;
    int l, used = 0;
    if (sscanf(name + n, "%d.%n", &l, &used) != 1 || used == 0 || l < 0) return 0;
    *layer = l;
    *rest = name + n + used;
    return 1;
}

int gguf_to_hf_name(model_arch arch, const char *gguf, char *out, size_t cap,
                    const char **expert_part) {
    *expert_part = NULL;
    for (size_t i = 0; i < COUNT(GLOBALS); i++)
        if (!strcmp(gguf, GLOBALS[i].gguf))
            return snprintf(out, cap, "%s", GLOBALS[i].hf) < (int)cap;
    int l;
    const char *rest;
    if (!layer_of(gguf, "blk.", &l, &rest)) return 0;
    for (size_t i = 0; i < COUNT(LAYER); i++)
        if (applies(&LAYER[i], arch) && !strcmp(rest, LAYER[i].gguf))
            return snprintf(out, cap, "model.layers.%d.%s", l, LAYER[i].hf) < (int)cap;
    for (size_t i = 0; i < COUNT(EXPERTS); i++)
        if (applies(&EXPERTS[i], arch) && !strcmp(rest, EXPERTS[i].gguf)) {
            *expert_part = EXPERTS[i].hf;
            return snprintf(out, cap, "model.layers.%d.mlp.experts", l) < (int)cap;
        }
    return 0;
}
