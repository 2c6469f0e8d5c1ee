/* Chat templates: renders a Hugging Face chat template (a Jinja2 subset)
 * the way transformers' apply_chat_template(tokenize=False) does.
 *
 * transformers compiles the template in an ImmutableSandboxedEnvironment
 * with trim_blocks=True, lstrip_blocks=True and the loopcontrols extension,
 * and renders it with messages, tools=None, documents=None,
 * add_generation_prompt and the tokenizer's special tokens; the globals
 * raise_exception and strftime_now are added to Jinja's own (range, dict,
 * namespace, ...). The interpreter itself is split into jinja_lex.c (tokens
 * and whitespace control), jinja_parse.c (AST), jinja_ops.c (Python value
 * semantics) and jinja_eval.c (rendering). */
#include "model/chat_template.h"

#include <string.h>

#include "model/jinja.h"
#include "util/error.h"

static olmoe_status check_text(const char *what, size_t index, const char *s) {
    if (!jinja_utf8_valid(s, strlen(s))) {
        if (index == (size_t)-1) return olmoe_fail(OLMOE_ERR_ARG, "chat template: %s is not valid UTF-8", what);
        return olmoe_fail(OLMOE_ERR_ARG, "chat template: message %zu %s is not valid UTF-8", index, what);
    }
    return OLMOE_OK;
}

static jvalue str_value(const char *s) { return jv_str(s, strlen(s)); }

/* messages as a list of {'role': ..., 'content': ...} dicts (content NULL is None). */
static olmoe_status build_messages(jarena *a, const olmoe_chat_message *msgs, size_t n, jvalue *out) {
    jlist *list = jarena_alloc(a, sizeof *list);
    if (!list || (n && !(list->v = jarena_alloc(a, n * sizeof *list->v)))) return OLMOE_ERR_NOMEM;
    list->n = n;
    for (size_t i = 0; i < n; i++) {
        jdict *d = jarena_alloc(a, sizeof *d);
        if (!d || !(d->keys = jarena_alloc(a, 2 * sizeof *d->keys)) || !(d->vals = jarena_alloc(a, 2 * sizeof *d->vals)))
            return OLMOE_ERR_NOMEM;
        if (!msgs[i].role) return olmoe_fail(OLMOE_ERR_ARG, "chat template: message %zu has no role", i);
        olmoe_status st = check_text("role", i, msgs[i].role);
        if (st == OLMOE_OK && msgs[i].content) st = check_text("content", i, msgs[i].content);
        if (st != OLMOE_OK) return st;
        d->n = 2;
        d->keys[0] = str_value("role");
        d->vals[0] = str_value(msgs[i].role);
        d->keys[1] = str_value("content");
        d->vals[1] = msgs[i].content ? str_value(msgs[i].content) : jv_none();
        list->v[i] = (jvalue){.kind = JV_DICT, .u.dict = d};
    }
    *out = (jvalue){.kind = JV_LIST, .u.list = list};
    return OLMOE_OK;
}

static jvalue func_value(const char *name) {
    jvalue v = jv_undef(name);
    v.kind = JV_FUNC;
    return v;
}

olmoe_status chat_template_render(const char *tmpl, const olmoe_chat_message *msgs, size_t n_msgs,
                                  const chat_template_vars *vars, char **out) {
    if (!out) return olmoe_fail(OLMOE_ERR_ARG, "chat template: no output pointer");
    *out = NULL;
    if (!tmpl) return olmoe_fail(OLMOE_ERR_ARG, "chat template: no template");
    if (n_msgs && !msgs) return olmoe_fail(OLMOE_ERR_ARG, "chat template: no messages");
    const char *bos = vars && vars->bos_token ? vars->bos_token : "";
    const char *eos = vars && vars->eos_token ? vars->eos_token : "";
    olmoe_status st = check_text("the template", (size_t)-1, tmpl);
    if (st == OLMOE_OK) st = check_text("bos_token", (size_t)-1, bos);
    if (st == OLMOE_OK) st = check_text("eos_token", (size_t)-1, eos);
    if (st != OLMOE_OK) return st;

    jarena arena = {0};
    jtoken *toks = NULL;
    size_t n_toks = 0;
    jnodes body = {0};
    jvalue messages;
    st = jinja_lex(&arena, tmpl, &toks, &n_toks);
    if (st == OLMOE_OK) st = jinja_parse(&arena, toks, n_toks, &body);
    if (st == OLMOE_OK) st = build_messages(&arena, msgs, n_msgs, &messages);
    if (st == OLMOE_OK) {
        const jinja_var globals[] = {
            /* Jinja's default globals and the ones transformers adds */
            {"range", func_value("range")},
            {"dict", func_value("dict")},
            {"lipsum", func_value("lipsum")},
            {"cycler", func_value("cycler")},
            {"joiner", func_value("joiner")},
            {"namespace", func_value("namespace")},
            {"raise_exception", func_value("raise_exception")},
            {"strftime_now", func_value("strftime_now")},
            /* render() arguments */
            {"messages", messages},
            {"tools", jv_none()},
            {"documents", jv_none()},
            {"add_generation_prompt", jv_bool(vars && vars->add_generation_prompt)},
            {"bos_token", str_value(bos)},
            {"eos_token", str_value(eos)},
        };
        st = jinja_render(&arena, &body, globals, sizeof globals / sizeof globals[0], out);
    }
    jarena_free(&arena);
    return st;
}
