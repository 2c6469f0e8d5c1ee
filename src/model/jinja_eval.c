/* Jinja evaluator: walks the AST with a chain of variable scopes and writes
 * the output text. Scoping mirrors Jinja: {% if %} has no scope of its own;
 * each for-loop iteration and each {% set %}...{% endset %} body gets a fresh
 * one whose names vanish afterwards. Value semantics live in jinja_ops.c. */
#include <stdlib.h>
#include <string.h>

#include "model/jinja.h"
#include "util/error.h"

typedef struct jscope {
    struct jscope *parent;
    jinja_var *vars; /* `local` until it overflows, then arena memory */
    size_t n, cap;
    jinja_var local[4];
} jscope;

typedef struct {
    char *p; /* malloc'ed */
    size_t n, cap;
} jbuf;

typedef struct {
    jarena *a;
    jbuf *out;
    long steps;
} jeval;

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static olmoe_status step(jeval *ev, const jnode *x) {
    if (++ev->steps > JINJA_MAX_STEPS)
        return jx_err(x, OLMOE_ERR_ARG, "rendering takes more than %ld steps", (long)JINJA_MAX_STEPS);
    return OLMOE_OK;
}

static olmoe_status emit(jbuf *b, const jnode *x, const char *s, size_t n) {
    if (n == 0) return OLMOE_OK;
    if (n > JINJA_MAX_OUTPUT - b->n)
        return jx_err(x, OLMOE_ERR_ARG, "rendered text exceeds %zu MiB", (size_t)(JINJA_MAX_OUTPUT >> 20));
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return olmoe_fail(OLMOE_ERR_NOMEM, "chat template: out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return OLMOE_OK;
}

/* ------------------------------------------------------------------ scopes */

static const jvalue *lookup(const jscope *s, const char *name) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (strcmp(s->vars[i].name, name) == 0) return &s->vars[i].val;
    return NULL;
}

static olmoe_status assign(jeval *ev, jscope *s, const char *name, jvalue v) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->vars[i].name, name) == 0) {
            s->vars[i].val = v;
            return OLMOE_OK;
        }
    if (!s->vars) {
        s->vars = s->local;
        s->cap = sizeof s->local / sizeof s->local[0];
    }
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        jinja_var *nv = jarena_alloc(ev->a, cap * sizeof *nv);
        if (!nv) return OLMOE_ERR_NOMEM;
        if (s->n) memcpy(nv, s->vars, s->n * sizeof *nv);
        s->vars = nv;
        s->cap = cap;
    }
    s->vars[s->n++] = (jinja_var){name, v};
    return OLMOE_OK;
}

/* ------------------------------------------------------------------ expressions */

static olmoe_status eval(jeval *ev, jscope *sc, const jnode *x, jvalue *out);

static olmoe_status eval_args(jeval *ev, jscope *sc, const jnodes *l, jvalue **vals) {
    *vals = NULL;
    if (l->n == 0) return OLMOE_OK;
    if (!(*vals = jarena_alloc(ev->a, l->n * sizeof **vals))) return OLMOE_ERR_NOMEM;
    for (size_t i = 0; i < l->n; i++) {
        olmoe_status st = eval(ev, sc, l->v[i], &(*vals)[i]);
        if (st != OLMOE_OK) return st;
    }
    return OLMOE_OK;
}

static olmoe_status eval_concat(jeval *ev, jscope *sc, const jnode *x, jvalue *out) {
    jbuf b = {0};
    olmoe_status st = OLMOE_OK;
    for (size_t i = 0; st == OLMOE_OK && i < x->list.n; i++) {
        jvalue v;
        const char *p;
        size_t n;
        char scratch[24];
        if ((st = eval(ev, sc, x->list.v[i], &v)) == OLMOE_OK &&
            (st = jx_to_text(ev->a, x, &v, scratch, &p, &n)) == OLMOE_OK)
            st = emit(&b, x, p, n);
    }
    if (st == OLMOE_OK) st = jx_str_concat(ev->a, x, b.p ? b.p : "", b.n, "", 0, out);
    free(b.p);
    return st;
}

static olmoe_status eval_dict(jeval *ev, jscope *sc, const jnode *x, jvalue *out) {
    jvalue *keys, *vals;
    olmoe_status st = eval_args(ev, sc, &x->list, &keys);
    if (st == OLMOE_OK) st = eval_args(ev, sc, &x->list2, &vals);
    if (st != OLMOE_OK) return st;
    jdict *d = jarena_alloc(ev->a, sizeof *d);
    if (!d || (x->list.n && (!(d->keys = jarena_alloc(ev->a, x->list.n * sizeof(jvalue))) ||
                             !(d->vals = jarena_alloc(ev->a, x->list.n * sizeof(jvalue))))))
        return OLMOE_ERR_NOMEM;
    for (size_t i = 0; i < x->list.n; i++) {
        if (!jx_hashable(&keys[i]))
            return jx_err(x->list.v[i], OLMOE_ERR_ARG, "unhashable type: '%s'", jx_type_name(&keys[i]));
        size_t j;
        for (j = 0; j < d->n; j++)
            if (jx_eq(&d->keys[j], &keys[i])) break;
        if (j == d->n) d->keys[d->n++] = keys[i]; /* a repeated key keeps its first position */
        d->vals[j] = vals[i];
    }
    *out = (jvalue){.kind = JV_DICT, .u.dict = d};
    return OLMOE_OK;
}

static olmoe_status eval(jeval *ev, jscope *sc, const jnode *x, jvalue *out) {
    olmoe_status st = step(ev, x);
    jvalue a, b;
    int r = 0;
    if (st != OLMOE_OK) return st;
    switch (x->kind) {
    case JN_CONST: *out = x->val; return OLMOE_OK;
    case JN_NAME: {
        const jvalue *v = lookup(sc, x->str);
        *out = v ? *v : jv_undef(x->str);
        return OLMOE_OK;
    }
    case JN_GETATTR:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        return jx_get_attr(x, &a, x->str, out);
    case JN_GETITEM:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        if (x->b->kind == JN_SLICE) {
            jvalue bounds[3];
            for (int k = 0; k < 3; k++) {
                bounds[k] = jv_none();
                if (x->b->list.v[k] && (st = eval(ev, sc, x->b->list.v[k], &bounds[k])) != OLMOE_OK) return st;
            }
            return jx_get_slice(ev->a, x, x->b, &a, bounds, out);
        }
        if ((st = eval(ev, sc, x->b, &b)) != OLMOE_OK) return st;
        return jx_get_item(ev->a, x, &a, &b, out);
    case JN_BINOP:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK || (st = eval(ev, sc, x->b, &b)) != OLMOE_OK) return st;
        return jx_arith(ev->a, x, x->op, &a, &b, out);
    case JN_NEG:
    case JN_POS:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        if (a.kind == JV_UNDEF) return jx_undefined_error(x, &a);
        if (a.kind != JV_INT && a.kind != JV_BOOL)
            return jx_err(x, OLMOE_ERR_ARG, "bad operand type for unary %c: '%s'", x->kind == JN_NEG ? '-' : '+',
                          jx_type_name(&a));
        if (x->kind == JN_NEG && a.u.i == (-9223372036854775807LL - 1))
            return jx_err(x, OLMOE_ERR_UNSUPPORTED, "integer beyond 64 bits");
        *out = jv_int(x->kind == JN_NEG ? -a.u.i : a.u.i);
        return OLMOE_OK;
    case JN_CONCAT: return eval_concat(ev, sc, x, out);
    case JN_COMPARE:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        for (size_t i = 0; i < x->list.n; i++) { /* a < b < c is a < b and b < c */
            if ((st = eval(ev, sc, x->list.v[i], &b)) != OLMOE_OK) return st;
            if ((st = jx_compare(x, x->ops[i], &a, &b, &r)) != OLMOE_OK) return st;
            if (!r) break;
            a = b;
        }
        *out = jv_bool(r);
        return OLMOE_OK;
    case JN_AND:
    case JN_OR:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        if (jx_truthy(&a) == (x->kind == JN_OR)) { /* Python returns the deciding operand */
            *out = a;
            return OLMOE_OK;
        }
        return eval(ev, sc, x->b, out);
    case JN_NOT:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        *out = jv_bool(!jx_truthy(&a));
        return OLMOE_OK;
    case JN_COND:
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK) return st;
        if (jx_truthy(&a)) return eval(ev, sc, x->b, out);
        if (x->c) return eval(ev, sc, x->c, out);
        *out = jv_undef(NULL);
        return OLMOE_OK;
    case JN_FILTER:
    case JN_TEST: {
        jvalue *args;
        if ((st = eval(ev, sc, x->a, &a)) != OLMOE_OK || (st = eval_args(ev, sc, &x->list, &args)) != OLMOE_OK)
            return st;
        if (x->kind == JN_FILTER) return jx_filter(ev->a, x, &a, args, x->list.n, out);
        if ((st = jx_test(x, &a, args, &r)) != OLMOE_OK) return st;
        *out = jv_bool(x->flag ? !r : r);
        return OLMOE_OK;
    }
    case JN_LIST: {
        jvalue *items;
        if ((st = eval_args(ev, sc, &x->list, &items)) != OLMOE_OK) return st;
        if ((st = jx_new_list(ev->a, 0, x->flag, out)) != OLMOE_OK) return st;
        out->u.list->v = items;
        out->u.list->n = x->list.n;
        return OLMOE_OK;
    }
    case JN_DICT: return eval_dict(ev, sc, x, out);
    case JN_RAISE: {
        jvalue *args;
        const char *p;
        size_t n;
        if ((st = eval_args(ev, sc, &x->list, &args)) != OLMOE_OK) return st;
        if (x->list.n != 1)
            return jx_err(x, OLMOE_ERR_ARG, "raise_exception() takes 1 argument (%zu given)", x->list.n);
        if ((st = jx_to_text(ev->a, x, &args[0], NULL, &p, &n)) != OLMOE_OK) return st;
        return jx_err(x, OLMOE_ERR_ARG, "template raised an exception: %.*s", (int)(n > 400 ? 400 : n), p);
    }
    default: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "statement used as an expression");
    }
}

/* ------------------------------------------------------------------ statements */

static olmoe_status exec_body(jeval *ev, jscope *sc, const jnodes *body, int *flow);

/* The items a for loop visits: list items, dict keys, string characters. */
static olmoe_status iter_items(jeval *ev, const jnode *x, const jvalue *v, const jvalue **items, size_t *n) {
    switch (v->kind) {
    case JV_LIST:
        *items = v->u.list->v;
        *n = v->u.list->n;
        return OLMOE_OK;
    case JV_DICT:
        *items = v->u.dict->keys;
        *n = v->u.dict->n;
        return OLMOE_OK;
    case JV_UNDEF:
        *items = NULL;
        *n = 0;
        return OLMOE_OK;
    case JV_STR: {
        size_t cnt = jinja_utf8_count(v->u.s.p, v->u.s.n), k = 0;
        jvalue *out = cnt ? jarena_alloc(ev->a, cnt * sizeof *out) : NULL;
        if (cnt && !out) return OLMOE_ERR_NOMEM;
        for (size_t i = 0; i < v->u.s.n;) {
            size_t j = i + 1;
            while (j < v->u.s.n && ((unsigned char)v->u.s.p[j] & 0xC0) == 0x80) j++;
            out[k++] = jv_str(v->u.s.p + i, j - i);
            i = j;
        }
        *items = out;
        *n = cnt;
        return OLMOE_OK;
    }
    case JV_LOOP:
    case JV_FUNC: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "iterating over a %s", jx_type_name(v));
    default: return jx_err(x, OLMOE_ERR_ARG, "'%s' object is not iterable", jx_type_name(v));
    }
}

static olmoe_status exec_for(jeval *ev, jscope *sc, const jnode *x) {
    jvalue seq;
    const jvalue *items = NULL;
    size_t n = 0;
    olmoe_status st = eval(ev, sc, x->a, &seq);
    if (st == OLMOE_OK) st = iter_items(ev, x->a, &seq, &items, &n);
    if (st != OLMOE_OK) return st;
    jscope inner = {.parent = sc};
    if (x->b && n) { /* {% for x in seq if cond %}: the loop only sees matching items */
        jvalue *kept = jarena_alloc(ev->a, n * sizeof *kept), c;
        size_t k = 0;
        if (!kept) return OLMOE_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) {
            inner.n = 0;
            if ((st = step(ev, x)) != OLMOE_OK || (st = assign(ev, &inner, x->str, items[i])) != OLMOE_OK ||
                (st = eval(ev, &inner, x->b, &c)) != OLMOE_OK)
                return st;
            if (jx_truthy(&c)) kept[k++] = items[i];
        }
        items = kept;
        n = k;
    }
    if (n == 0) {
        int flow = FLOW_NORMAL;
        inner.n = 0;
        return exec_body(ev, &inner, &x->list2, &flow);
    }
    /* `loop` values cannot outlive this frame: they can only be stored in
     * scopes nested inside it */
    jloop loop_state = {.length = n, .items = items}, *loop = &loop_state;
    for (size_t i = 0; i < n; i++) {
        int flow = FLOW_NORMAL;
        loop->index0 = i;
        inner.n = 0; /* a fresh scope per iteration */
        if ((st = step(ev, x)) != OLMOE_OK || (st = assign(ev, &inner, x->str, items[i])) != OLMOE_OK ||
            (st = assign(ev, &inner, "loop", (jvalue){.kind = JV_LOOP, .u.loop = loop})) != OLMOE_OK ||
            (st = exec_body(ev, &inner, &x->list, &flow)) != OLMOE_OK)
            return st;
        if (flow == FLOW_BREAK) break;
    }
    return OLMOE_OK;
}

static olmoe_status exec_stmt(jeval *ev, jscope *sc, const jnode *x, int *flow) {
    olmoe_status st = step(ev, x);
    jvalue v;
    const char *p;
    size_t n;
    char scratch[24];
    if (st != OLMOE_OK) return st;
    switch (x->kind) {
    case JN_TEXT: return emit(ev->out, x, x->val.u.s.p, x->val.u.s.n);
    case JN_OUTPUT:
        if ((st = eval(ev, sc, x->a, &v)) != OLMOE_OK || (st = jx_to_text(ev->a, x, &v, scratch, &p, &n)) != OLMOE_OK)
            return st;
        return emit(ev->out, x, p, n);
    case JN_IF:
        for (size_t i = 0; i < x->list.n; i++) {
            if ((st = eval(ev, sc, x->list.v[i], &v)) != OLMOE_OK) return st;
            if (jx_truthy(&v)) return exec_body(ev, sc, &x->bodies[i], flow);
        }
        return exec_body(ev, sc, &x->list2, flow);
    case JN_FOR: return exec_for(ev, sc, x);
    case JN_SET:
        if ((st = eval(ev, sc, x->a, &v)) != OLMOE_OK) return st;
        return assign(ev, sc, x->str, v);
    case JN_SETBLOCK: {
        jbuf buf = {0}, *saved = ev->out;
        jscope inner = {.parent = sc};
        ev->out = &buf;
        st = exec_body(ev, &inner, &x->list, flow);
        ev->out = saved;
        if (st == OLMOE_OK) st = jx_str_concat(ev->a, x, buf.p ? buf.p : "", buf.n, "", 0, &v);
        free(buf.p);
        if (st != OLMOE_OK) return st;
        return assign(ev, sc, x->str, v);
    }
    case JN_BREAK: *flow = FLOW_BREAK; return OLMOE_OK;
    case JN_CONTINUE: *flow = FLOW_CONTINUE; return OLMOE_OK;
    default: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "expression used as a statement");
    }
}

static olmoe_status exec_body(jeval *ev, jscope *sc, const jnodes *body, int *flow) {
    for (size_t i = 0; i < body->n && *flow == FLOW_NORMAL; i++) {
        olmoe_status st = exec_stmt(ev, sc, body->v[i], flow);
        if (st != OLMOE_OK) return st;
    }
    return OLMOE_OK;
}

olmoe_status jinja_render(jarena *a, const jnodes *body, const jinja_var *vars, size_t n_vars, char **out) {
    jbuf buf = {0};
    jeval ev = {.a = a, .out = &buf};
    jscope globals = {0}, top = {.parent = &globals};
    olmoe_status st = OLMOE_OK;
    for (size_t i = 0; st == OLMOE_OK && i < n_vars; i++) st = assign(&ev, &globals, vars[i].name, vars[i].val);
    int flow = FLOW_NORMAL;
    if (st == OLMOE_OK) st = exec_body(&ev, &top, body, &flow);
    if (st == OLMOE_OK && !buf.p && !(buf.p = calloc(1, 1)))
        st = olmoe_fail(OLMOE_ERR_NOMEM, "chat template: out of memory");
    if (st != OLMOE_OK) {
        free(buf.p);
        return st;
    }
    *out = buf.p;
    return OLMOE_OK;
}
