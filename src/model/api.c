/* Public entry points over the model's tokenizer, chat template and
 * metadata. */
#include <stdlib.h>
#include <string.h>

#include "model/chat_template.h"
#include "model/model.h"
#include "util/error.h"

void olmoe_free(void *p) { free(p); }

static uint64_t ffn_bytes(const ffn_weights *f) {
    return f->gate.nbytes + f->up.nbytes + f->down.nbytes;
}

/* Weight bytes one decoded token reads: each matrix once, the experts of a
 * layer in proportion top_k / n_experts (their average size), the lm_head,
 * and a single row of the embedding. */
static uint64_t bytes_per_token(const olmoe_model *m) {
    const model_config *c = &m->cfg;
    uint64_t b = m->lm_head->nbytes + m->embed->nbytes / (uint64_t)c->vocab_size;
    if (m->lm_head == m->embed) b = m->embed->nbytes;
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        b += w->wq->nbytes + w->wk->nbytes + w->wv->nbytes + w->wo->nbytes;
        if (c->arch == ARCH_OLMOE) {
            uint64_t all = 0;
            for (int e = 0; e < c->n_experts; e++) all += ffn_bytes(&w->experts[e]);
            b += w->router->nbytes + all * (uint64_t)c->top_k / (uint64_t)c->n_experts;
        } else {
            b += ffn_bytes(&w->mlp);
        }
    }
    return b;
}

void olmoe_model_prepare(olmoe_model *m, olmoe_progress_fn progress, void *user) {
    model_prepare_weights(m, progress, user);
}

double olmoe_model_read_bandwidth(const olmoe_model *m, int n_threads) {
    return model_weights_read_bandwidth(m, n_threads);
}

void olmoe_model_get_info(const olmoe_model *m, olmoe_model_info *info) {
    const model_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    info->architecture = model_arch_name(c->arch);
    info->dtype = m->dtype_name;
    info->n_layers = c->n_layers;
    info->d_model = c->d_model;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->d_ff = c->d_ff;
    info->n_experts = c->n_experts;
    info->n_experts_active = c->n_experts ? c->top_k : 0;
    info->vocab_size = c->vocab_size;
    info->max_context = c->max_position;
    info->rope_theta = c->rope.theta;
    int64_t total = 0;
    for (int i = 0; i < m->store.n_tensors; i++) total += tensor_numel(m->store.sorted[i]);
    /* Active: every weight except the experts a token does not use
     * (counting the embedding, as OLMoE's "1.3B active of 6.9B" does). */
    int64_t experts = 0, expert_one = 0;
    if (c->n_experts) {
        const ffn_weights *f = &m->layers[0].experts[0];
        expert_one = tensor_numel(&f->gate) + tensor_numel(&f->up) + tensor_numel(&f->down);
        experts = expert_one * c->n_experts * c->n_layers;
    }
    info->n_params_total = total;
    info->n_params_active = total - experts + expert_one * c->top_k * c->n_layers;
    info->weight_bytes = weight_store_bytes(&m->store);
    info->bytes_per_token = bytes_per_token(m);
}

int olmoe_vocab_size(const olmoe_model *m) { return m->cfg.vocab_size; }
int32_t olmoe_token_eos(const olmoe_model *m) { return m->eos_id; }
int32_t olmoe_token_bos(const olmoe_model *m) { return m->bos_id; }

int olmoe_token_is_eos(const olmoe_model *m, int32_t id) {
    for (int i = 0; i < m->cfg.n_eos; i++)
        if (m->cfg.eos_ids[i] == id) return 1;
    return 0;
}

olmoe_status olmoe_tokenize(const olmoe_model *m, const char *text, size_t len, int32_t **ids,
                            size_t *n_ids) {
    return tokenizer_encode(m->tok, text, len, ids, n_ids);
}

olmoe_status olmoe_detokenize(const olmoe_model *m, const int32_t *ids, size_t n_ids,
                              int skip_special, char **text) {
    size_t len;
    return tokenizer_decode(m->tok, ids, n_ids, skip_special, text, &len);
}

const char *olmoe_token_bytes(const olmoe_model *m, int32_t id, size_t *len) {
    *len = 0;
    return tokenizer_token_bytes(m->tok, id, len);
}

int olmoe_token_is_special(const olmoe_model *m, int32_t id) {
    return tokenizer_is_special(m->tok, id);
}

olmoe_status olmoe_chat_apply_template(const olmoe_model *m, const olmoe_chat_message *msgs,
                                       size_t n_msgs, int add_generation_prompt, char **text) {
    if (!m->chat_template)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "this model has no chat template "
                          "(tokenizer_config.json has no 'chat_template')");
    chat_template_vars vars = {m->bos_text ? m->bos_text : "", m->eos_text ? m->eos_text : "",
                               add_generation_prompt};
    return chat_template_render(m->chat_template, msgs, n_msgs, &vars, text);
}
