/* Chat templates: a faithful interpreter for the subset of Jinja2 that
 * Hugging Face chat templates of the OLMo / Tulu family use.
 *
 * Renders exactly what transformers' apply_chat_template(tokenize=False)
 * renders; templates using constructs outside the supported subset are
 * refused with an error naming the construct, never rendered approximately. */
#ifndef OLMOE_CHAT_TEMPLATE_H
#define OLMOE_CHAT_TEMPLATE_H

#include <stddef.h>

#include "olmoe.h"

typedef struct {
    const char *bos_token; /* "" if the model has none */
    const char *eos_token;
    int add_generation_prompt;
} chat_template_vars;

/* *out is malloc'ed and NUL-terminated. */
olmoe_status chat_template_render(const char *tmpl, const olmoe_chat_message *msgs,
                                  size_t n_msgs, const chat_template_vars *vars, char **out);

#endif
