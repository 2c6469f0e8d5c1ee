/* Jinja parser: tokens -> AST.
 *
 * A recursive-descent parser following jinja2.parser.Parser function by
 * function (parse_tuple, parse_condexpr, parse_or, ..., parse_unary,
 * parse_primary, parse_postfix, parse_filter_expr), so precedence and
 * associativity match Jinja exactly. Constructs outside the supported subset
 * are refused here, before anything is rendered, with OLMOE_ERR_UNSUPPORTED;
 * syntax errors give OLMOE_ERR_FORMAT. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/jinja.h"
#include "util/error.h"

typedef struct {
    jarena *a;
    const jtoken *t;
    size_t n, pos;
    int depth;      /* current recursion depth */
    int loop_depth; /* enclosing for loops (for break/continue) */
    olmoe_status st;
} parser;

typedef struct {
    jnode **v;
    size_t n, cap;
} nvec;

static const jtoken *cur(const parser *p) { return &p->t[p->pos]; }
static const jtoken *peek(const parser *p) { return &p->t[p->pos + 1 < p->n ? p->pos + 1 : p->pos]; }
static void advance(parser *p) {
    if (p->t[p->pos].kind != JT_EOF) p->pos++;
}
static int is_name(const jtoken *t, const char *name) { return t->kind == JT_NAME && strcmp(t->s, name) == 0; }
static int is_op(const jtoken *t, jop op) { return t->kind == JT_OP && t->op == op; }

static void *perr(parser *p, olmoe_status code, const jtoken *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void *perr(parser *p, olmoe_status code, const jtoken *t, const char *fmt, ...) {
    if (p->st != OLMOE_OK) return NULL; /* keep the first error */
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->st = olmoe_fail(code, "chat template line %d, column %d: %s", t->line, t->col, msg);
    return NULL;
}

static const char *describe(const jtoken *t) {
    switch (t->kind) {
    case JT_DATA: return "template data";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "end of print statement '}}'";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "end of statement block '%}'";
    case JT_NAME: return t->s;
    case JT_STRING: return "string";
    case JT_INT: return "integer";
    case JT_OP: return "operator";
    case JT_EOF: return "end of template";
    }
    return "token";
}

static int expect_op(parser *p, jop op, const char *what) {
    if (is_op(cur(p), op)) {
        advance(p);
        return 1;
    }
    perr(p, OLMOE_ERR_FORMAT, cur(p), "expected '%s', got %s", what, describe(cur(p)));
    return 0;
}

static int expect_kind(parser *p, jtok_kind kind, const char *what) {
    if (cur(p)->kind == kind) {
        advance(p);
        return 1;
    }
    perr(p, OLMOE_ERR_FORMAT, cur(p), "expected %s, got %s", what, describe(cur(p)));
    return 0;
}

static int nvec_push(parser *p, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jnode **nv = jarena_alloc(p->a, cap * sizeof *nv);
        if (!nv) {
            p->st = OLMOE_ERR_NOMEM;
            return 0;
        }
        if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 1;
}

static jnodes to_nodes(nvec v) { return (jnodes){v.v, v.n}; }

static jnode *mk(parser *p, jnode_kind kind, const jtoken *t) {
    jnode *x = jarena_alloc(p->a, sizeof *x);
    if (!x) {
        p->st = OLMOE_ERR_NOMEM;
        return NULL;
    }
    x->kind = kind;
    x->line = t->line;
    x->col = t->col;
    return x;
}

static int max_depth(const jnodes *l, int d) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] && l->v[i]->depth > d) d = l->v[i]->depth;
    return d;
}

/* Computes the subtree height; refuses trees the evaluator could not walk
 * without deep recursion. */
static jnode *fin(parser *p, jnode *x) {
    if (!x) return NULL;
    int d = 0;
    if (x->a && x->a->depth > d) d = x->a->depth;
    if (x->b && x->b->depth > d) d = x->b->depth;
    if (x->c && x->c->depth > d) d = x->c->depth;
    d = max_depth(&x->list, d);
    d = max_depth(&x->list2, d);
    if (x->bodies)
        for (size_t i = 0; i < x->list.n; i++) d = max_depth(&x->bodies[i], d);
    x->depth = d + 1;
    if (x->depth > JINJA_MAX_DEPTH) {
        const jtoken t = {.line = x->line, .col = x->col};
        return perr(p, OLMOE_ERR_UNSUPPORTED, &t, "template nested more than %d levels deep",
                    JINJA_MAX_DEPTH);
    }
    return x;
}

static int enter(parser *p) {
    if (++p->depth > JINJA_MAX_DEPTH) {
        perr(p, OLMOE_ERR_UNSUPPORTED, cur(p), "template nested more than %d levels deep", JINJA_MAX_DEPTH);
        return 0;
    }
    return 1;
}
static jnode *leave(parser *p, jnode *x) {
    p->depth--;
    return x;
}

/* ------------------------------------------------------------------ expressions */

static jnode *parse_expression(parser *p, int with_condexpr);
static jnode *parse_tuple(parser *p, int with_condexpr, const char *extra_end, int explicit_parens);
static jnode *parse_unary(parser *p, int with_filter);
static jnode *parse_primary(parser *p);

/* "(" args ")" of a filter, test or raise_exception: positional only. */
static int parse_call_args(parser *p, nvec *args, const char *what) {
    if (!expect_op(p, JOP_LPAREN, "(")) return 0;
    while (!is_op(cur(p), JOP_RPAREN)) {
        if (args->n && !expect_op(p, JOP_COMMA, ",")) return 0;
        if (is_op(cur(p), JOP_RPAREN)) break;
        if (is_op(cur(p), JOP_MUL) || is_op(cur(p), JOP_POW)) {
            perr(p, OLMOE_ERR_UNSUPPORTED, cur(p), "*args / **kwargs in the arguments of %s", what);
            return 0;
        }
        if (cur(p)->kind == JT_NAME && is_op(peek(p), JOP_ASSIGN)) {
            perr(p, OLMOE_ERR_UNSUPPORTED, cur(p), "keyword argument '%s' of %s", cur(p)->s, what);
            return 0;
        }
        jnode *e = parse_expression(p, 1);
        if (!e || !nvec_push(p, args, e)) return 0;
    }
    advance(p);
    return 1;
}

static jnode *parse_call(parser *p, jnode *callee) {
    const jtoken *t = cur(p);
    if (callee->kind == JN_NAME && strcmp(callee->str, "raise_exception") == 0) {
        jnode *x = mk(p, JN_RAISE, t);
        nvec args = {0};
        if (!x || !parse_call_args(p, &args, "raise_exception")) return NULL;
        x->list = to_nodes(args);
        return fin(p, x);
    }
    if (callee->kind == JN_NAME)
        return perr(p, OLMOE_ERR_UNSUPPORTED, t, "call of function '%s()'", callee->str);
    if (callee->kind == JN_GETATTR)
        return perr(p, OLMOE_ERR_UNSUPPORTED, t, "method call '.%s()'", callee->str);
    return perr(p, OLMOE_ERR_UNSUPPORTED, t, "call expression");
}

static jnode *parse_subscribed(parser *p) {
    const jtoken *t = cur(p);
    jnode *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), JOP_COLON)) {
        advance(p);
    } else {
        jnode *e = parse_expression(p, 1);
        if (!e || !is_op(cur(p), JOP_COLON)) return e;
        advance(p);
        args[0] = e;
    }
    if (!is_op(cur(p), JOP_COLON) && !is_op(cur(p), JOP_RBRACKET) && !is_op(cur(p), JOP_COMMA))
        if (!(args[1] = parse_expression(p, 1))) return NULL;
    if (is_op(cur(p), JOP_COLON)) {
        advance(p);
        if (!is_op(cur(p), JOP_RBRACKET) && !is_op(cur(p), JOP_COMMA))
            if (!(args[2] = parse_expression(p, 1))) return NULL;
    }
    jnode *x = mk(p, JN_SLICE, t);
    nvec v = {0};
    if (!x) return NULL;
    for (int i = 0; i < 3; i++)
        if (!nvec_push(p, &v, args[i])) return NULL;
    x->list = to_nodes(v);
    return fin(p, x);
}

static jnode *parse_postfix(parser *p, jnode *node) {
    while (node) {
        const jtoken *t = cur(p);
        if (is_op(t, JOP_DOT)) {
            advance(p);
            const jtoken *a = cur(p);
            jnode *x;
            if (a->kind == JT_NAME) {
                if (!(x = mk(p, JN_GETATTR, t))) return NULL;
                x->str = a->s;
            } else if (a->kind == JT_INT) {
                jnode *k = mk(p, JN_CONST, a);
                if (!(x = mk(p, JN_GETITEM, t)) || !k) return NULL;
                k->val = jv_int(a->ival);
                x->b = fin(p, k);
            } else {
                return perr(p, OLMOE_ERR_FORMAT, a, "expected name or number after '.'");
            }
            advance(p);
            x->a = node;
            node = fin(p, x);
        } else if (is_op(t, JOP_LBRACKET)) {
            advance(p);
            nvec args = {0};
            while (!is_op(cur(p), JOP_RBRACKET)) {
                if (args.n && !expect_op(p, JOP_COMMA, ",")) return NULL;
                if (cur(p)->kind == JT_EOF) break;
                jnode *s = parse_subscribed(p);
                if (!s || !nvec_push(p, &args, s)) return NULL;
            }
            if (!expect_op(p, JOP_RBRACKET, "]")) return NULL;
            if (args.n != 1) return perr(p, OLMOE_ERR_UNSUPPORTED, t, "tuple subscript");
            jnode *x = mk(p, JN_GETITEM, t);
            if (!x) return NULL;
            x->a = node;
            x->b = args.v[0];
            node = fin(p, x);
        } else if (is_op(t, JOP_LPAREN)) {
            node = parse_call(p, node);
        } else {
            break;
        }
    }
    return node;
}

static const char *const FILTERS0[] = {"trim", "length", "count", "upper", "lower", "string", "first", "last", NULL};
static const char *const TESTS0[] = {"defined", "undefined", "none", "boolean", "true", "false", "integer",
                                     "float", "string", "mapping", "number", "sequence", "iterable",
                                     "odd", "even", NULL};
static const char *const TESTS1[] = {"divisibleby", "eq", "equalto", "ne", "gt", "greaterthan", "ge",
                                     "lt", "lessthan", "le", "in", NULL};

static int in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

static jnode *parse_filter(parser *p, jnode *node) {
    const jtoken *bar = cur(p);
    advance(p); /* '|' */
    const jtoken *name = cur(p);
    if (name->kind != JT_NAME) return perr(p, OLMOE_ERR_FORMAT, name, "expected filter name after '|'");
    advance(p);
    if (is_op(cur(p), JOP_DOT)) return perr(p, OLMOE_ERR_UNSUPPORTED, name, "dotted filter name '%s.'", name->s);
    jnode *x = mk(p, JN_FILTER, bar);
    if (!x) return NULL;
    x->str = name->s;
    x->a = node;
    nvec args = {0};
    char what[96];
    snprintf(what, sizeof what, "filter '%s'", name->s);
    if (is_op(cur(p), JOP_LPAREN) && !parse_call_args(p, &args, what)) return NULL;
    x->list = to_nodes(args);
    int is_default = strcmp(name->s, "default") == 0 || strcmp(name->s, "d") == 0;
    if (!in_list(FILTERS0, name->s) && !is_default)
        return perr(p, OLMOE_ERR_UNSUPPORTED, name, "unsupported filter '%s'", name->s);
    if ((is_default && args.n > 2) || (!is_default && args.n > 0))
        return perr(p, OLMOE_ERR_UNSUPPORTED, name, "filter '%s' with %zu arguments", name->s, args.n);
    return fin(p, x);
}

static jnode *parse_test(parser *p, jnode *node) {
    const jtoken *is = cur(p);
    advance(p); /* 'is' */
    int negated = 0;
    if (is_name(cur(p), "not")) {
        advance(p);
        negated = 1;
    }
    const jtoken *name = cur(p);
    if (name->kind != JT_NAME) return perr(p, OLMOE_ERR_FORMAT, name, "expected test name after 'is'");
    advance(p);
    if (is_op(cur(p), JOP_DOT)) return perr(p, OLMOE_ERR_UNSUPPORTED, name, "dotted test name '%s.'", name->s);
    jnode *x = mk(p, JN_TEST, is);
    if (!x) return NULL;
    x->str = name->s;
    x->a = node;
    x->flag = negated;
    nvec args = {0};
    const jtoken *t = cur(p);
    char what[96];
    snprintf(what, sizeof what, "test '%s'", name->s);
    if (is_op(t, JOP_LPAREN)) {
        if (!parse_call_args(p, &args, what)) return NULL;
    } else if ((t->kind == JT_NAME || t->kind == JT_STRING || t->kind == JT_INT || is_op(t, JOP_LBRACKET) ||
                is_op(t, JOP_LBRACE)) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
        if (is_name(t, "is")) return perr(p, OLMOE_ERR_FORMAT, t, "you cannot chain multiple tests with is");
        jnode *arg = parse_postfix(p, parse_primary(p));
        if (!arg || !nvec_push(p, &args, arg)) return NULL;
    }
    x->list = to_nodes(args);
    size_t want = in_list(TESTS0, name->s) ? 0 : in_list(TESTS1, name->s) ? 1 : (size_t)-1;
    if (want == (size_t)-1) return perr(p, OLMOE_ERR_UNSUPPORTED, name, "unsupported test '%s'", name->s);
    if (args.n != want)
        return perr(p, OLMOE_ERR_UNSUPPORTED, name, "test '%s' with %zu arguments", name->s, args.n);
    return fin(p, x);
}

static jnode *parse_filter_expr(parser *p, jnode *node) {
    while (node) {
        if (is_op(cur(p), JOP_PIPE)) node = parse_filter(p, node);
        else if (is_name(cur(p), "is")) node = parse_test(p, node);
        else if (is_op(cur(p), JOP_LPAREN)) node = parse_call(p, node);
        else break;
    }
    return node;
}

static jnode *parse_unary(parser *p, int with_filter) {
    const jtoken *t = cur(p);
    jnode *node;
    if (!enter(p)) return NULL;
    if (is_op(t, JOP_SUB) || is_op(t, JOP_ADD)) {
        advance(p);
        jnode *x = mk(p, is_op(t, JOP_SUB) ? JN_NEG : JN_POS, t);
        if (!x || !(x->a = parse_unary(p, 0))) return NULL;
        node = fin(p, x);
    } else {
        node = parse_primary(p);
    }
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    return leave(p, node);
}

static jnode *parse_list_literal(parser *p, const jtoken *t) {
    nvec items = {0};
    advance(p); /* '[' */
    while (!is_op(cur(p), JOP_RBRACKET)) {
        if (items.n && !expect_op(p, JOP_COMMA, ",")) return NULL;
        if (is_op(cur(p), JOP_RBRACKET)) break;
        jnode *e = parse_expression(p, 1);
        if (!e || !nvec_push(p, &items, e)) return NULL;
    }
    if (!expect_op(p, JOP_RBRACKET, "]")) return NULL;
    jnode *x = mk(p, JN_LIST, t);
    if (!x) return NULL;
    x->list = to_nodes(items);
    return fin(p, x);
}

static jnode *parse_dict_literal(parser *p, const jtoken *t) {
    nvec keys = {0}, vals = {0};
    advance(p); /* '{' */
    while (!is_op(cur(p), JOP_RBRACE)) {
        if (keys.n && !expect_op(p, JOP_COMMA, ",")) return NULL;
        if (is_op(cur(p), JOP_RBRACE)) break;
        jnode *k = parse_expression(p, 1);
        if (!k || !expect_op(p, JOP_COLON, ":")) return NULL;
        jnode *v = parse_expression(p, 1);
        if (!v || !nvec_push(p, &keys, k) || !nvec_push(p, &vals, v)) return NULL;
    }
    if (!expect_op(p, JOP_RBRACE, "}")) return NULL;
    jnode *x = mk(p, JN_DICT, t);
    if (!x) return NULL;
    x->list = to_nodes(keys);
    x->list2 = to_nodes(vals);
    return fin(p, x);
}

static jnode *parse_primary(parser *p) {
    const jtoken *t = cur(p);
    jnode *x;
    if (t->kind == JT_NAME) {
        advance(p);
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True") || !strcmp(t->s, "false") || !strcmp(t->s, "False")) {
            if (!(x = mk(p, JN_CONST, t))) return NULL;
            x->val = jv_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
            if (!(x = mk(p, JN_CONST, t))) return NULL;
            x->val = jv_none();
        } else {
            if (!(x = mk(p, JN_NAME, t))) return NULL;
            x->str = t->s;
        }
        return fin(p, x);
    }
    if (t->kind == JT_STRING) { /* adjacent literals are concatenated */
        size_t n = 0, i;
        for (i = p->pos; p->t[i].kind == JT_STRING; i++) n += p->t[i].n;
        char *s = jarena_alloc(p->a, n + 1);
        if (!s || !(x = mk(p, JN_CONST, t))) {
            p->st = OLMOE_ERR_NOMEM;
            return NULL;
        }
        n = 0;
        while (cur(p)->kind == JT_STRING) {
            memcpy(s + n, cur(p)->s, cur(p)->n);
            n += cur(p)->n;
            advance(p);
        }
        x->val = jv_str(s, n);
        return fin(p, x);
    }
    if (t->kind == JT_INT) {
        advance(p);
        if (!(x = mk(p, JN_CONST, t))) return NULL;
        x->val = jv_int(t->ival);
        return fin(p, x);
    }
    if (is_op(t, JOP_LPAREN)) {
        advance(p);
        x = parse_tuple(p, 1, NULL, 1);
        if (!x || !expect_op(p, JOP_RPAREN, ")")) return NULL;
        return x;
    }
    if (is_op(t, JOP_LBRACKET)) return parse_list_literal(p, t);
    if (is_op(t, JOP_LBRACE)) return parse_dict_literal(p, t);
    if (t->kind == JT_EOF || t->kind == JT_VAR_END || t->kind == JT_BLOCK_END)
        return perr(p, OLMOE_ERR_FORMAT, t, "expected an expression, got %s", describe(t));
    return perr(p, OLMOE_ERR_FORMAT, t, "unexpected %s", describe(t));
}

static jnode *binop(parser *p, jnode_kind kind, int op, const jtoken *t, jnode *l, jnode *r) {
    if (!l || !r) return NULL;
    jnode *x = mk(p, kind, t);
    if (!x) return NULL;
    x->op = op;
    x->a = l;
    x->b = r;
    return fin(p, x);
}

static jnode *parse_pow(parser *p) {
    jnode *left = parse_unary(p, 1);
    while (left && is_op(cur(p), JOP_POW)) {
        const jtoken *t = cur(p);
        advance(p);
        left = binop(p, JN_BINOP, JOP_POW, t, left, parse_unary(p, 1));
    }
    return left;
}

static jnode *parse_math2(parser *p) {
    jnode *left = parse_pow(p);
    while (left && cur(p)->kind == JT_OP &&
           (cur(p)->op == JOP_MUL || cur(p)->op == JOP_DIV || cur(p)->op == JOP_FLOORDIV || cur(p)->op == JOP_MOD)) {
        const jtoken *t = cur(p);
        advance(p);
        left = binop(p, JN_BINOP, (int)t->op, t, left, parse_pow(p));
    }
    return left;
}

static jnode *parse_concat(parser *p) {
    const jtoken *t = cur(p);
    jnode *first = parse_math2(p);
    if (!first || !is_op(cur(p), JOP_TILDE)) return first;
    nvec args = {0};
    if (!nvec_push(p, &args, first)) return NULL;
    while (is_op(cur(p), JOP_TILDE)) {
        advance(p);
        jnode *e = parse_math2(p);
        if (!e || !nvec_push(p, &args, e)) return NULL;
    }
    jnode *x = mk(p, JN_CONCAT, t);
    if (!x) return NULL;
    x->list = to_nodes(args);
    return fin(p, x);
}

static jnode *parse_math1(parser *p) {
    jnode *left = parse_concat(p);
    while (left && (is_op(cur(p), JOP_ADD) || is_op(cur(p), JOP_SUB))) {
        const jtoken *t = cur(p);
        advance(p);
        left = binop(p, JN_BINOP, (int)t->op, t, left, parse_concat(p));
    }
    return left;
}

static jnode *parse_compare(parser *p) {
    const jtoken *t0 = cur(p);
    jnode *expr = parse_math1(p);
    if (!expr) return NULL;
    nvec operands = {0};
    jop ops[64];
    for (;;) {
        const jtoken *t = cur(p);
        jop op;
        if (t->kind == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == JOP_LT || t->op == JOP_LTEQ ||
                                 t->op == JOP_GT || t->op == JOP_GTEQ)) {
            op = t->op;
            advance(p);
        } else if (is_name(t, "in")) {
            op = JOP_IN;
            advance(p);
        } else if (is_name(t, "not") && is_name(peek(p), "in")) {
            op = JOP_NOTIN;
            advance(p);
            advance(p);
        } else {
            break;
        }
        if (operands.n == sizeof ops / sizeof ops[0])
            return perr(p, OLMOE_ERR_UNSUPPORTED, t, "more than 64 chained comparisons");
        jnode *r = parse_math1(p);
        if (!r || !nvec_push(p, &operands, r)) return NULL;
        ops[operands.n - 1] = op;
    }
    if (operands.n == 0) return expr;
    jnode *x = mk(p, JN_COMPARE, t0);
    if (!x || !(x->ops = jarena_alloc(p->a, operands.n * sizeof *x->ops))) return NULL;
    memcpy(x->ops, ops, operands.n * sizeof *x->ops);
    x->a = expr;
    x->list = to_nodes(operands);
    return fin(p, x);
}

static jnode *parse_not(parser *p) {
    const jtoken *t = cur(p);
    if (!is_name(t, "not")) return parse_compare(p);
    if (!enter(p)) return NULL;
    advance(p);
    jnode *x = mk(p, JN_NOT, t);
    if (!x || !(x->a = parse_not(p))) return leave(p, NULL);
    return leave(p, fin(p, x));
}

static jnode *parse_and(parser *p) {
    jnode *left = parse_not(p);
    while (left && is_name(cur(p), "and")) {
        const jtoken *t = cur(p);
        advance(p);
        left = binop(p, JN_AND, 0, t, left, parse_not(p));
    }
    return left;
}

static jnode *parse_or(parser *p) {
    jnode *left = parse_and(p);
    while (left && is_name(cur(p), "or")) {
        const jtoken *t = cur(p);
        advance(p);
        left = binop(p, JN_OR, 0, t, left, parse_and(p));
    }
    return left;
}

/* expr1 if expr2 [else expr3]; a missing else yields Undefined. */
static jnode *parse_condexpr(parser *p) {
    const jtoken *t = cur(p);
    if (!enter(p)) return NULL;
    jnode *expr1 = parse_or(p);
    while (expr1 && is_name(cur(p), "if")) {
        advance(p);
        jnode *x = mk(p, JN_COND, t);
        if (!x || !(x->a = parse_or(p))) return leave(p, NULL);
        x->b = expr1;
        if (is_name(cur(p), "else")) {
            advance(p);
            if (!(x->c = parse_condexpr(p))) return leave(p, NULL);
        }
        expr1 = fin(p, x);
        t = cur(p);
    }
    return leave(p, expr1);
}

static jnode *parse_expression(parser *p, int with_condexpr) {
    return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

static int is_tuple_end(parser *p, const char *extra_end) {
    const jtoken *t = cur(p);
    if (t->kind == JT_VAR_END || t->kind == JT_BLOCK_END || is_op(t, JOP_RPAREN)) return 1;
    return extra_end && is_name(t, extra_end);
}

static jnode *parse_tuple(parser *p, int with_condexpr, const char *extra_end, int explicit_parens) {
    const jtoken *t = cur(p);
    nvec args = {0};
    int is_tuple = 0;
    for (;;) {
        if (args.n && !expect_op(p, JOP_COMMA, ",")) return NULL;
        if (is_tuple_end(p, extra_end)) break;
        jnode *e = parse_expression(p, with_condexpr);
        if (!e || !nvec_push(p, &args, e)) return NULL;
        if (is_op(cur(p), JOP_COMMA)) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens)
            return perr(p, OLMOE_ERR_FORMAT, cur(p), "expected an expression, got %s", describe(cur(p)));
    }
    jnode *x = mk(p, JN_LIST, t);
    if (!x) return NULL;
    x->flag = 1;
    x->list = to_nodes(args);
    return fin(p, x);
}

/* ------------------------------------------------------------------ statements */

static int parse_body(parser *p, const char *const *ends, nvec *out);

/* Jinja's parse_statements: optional ':', '%}', body up to one of `ends`
 * (left as the current token). `opener` names the block for EOF errors. */
static int parse_statements(parser *p, const char *const *ends, const jtoken *opener, nvec *out) {
    if (is_op(cur(p), JOP_COLON)) advance(p);
    if (!expect_kind(p, JT_BLOCK_END, "end of statement block '%}'")) return 0;
    if (!parse_body(p, ends, out)) return 0;
    if (cur(p)->kind == JT_EOF) {
        perr(p, OLMOE_ERR_FORMAT, opener, "'%s' tag is never closed (expected '%s')", opener->s, ends[0]);
        return 0;
    }
    return 1;
}

static int parse_target(parser *p, const char *tag, const char **name) {
    const jtoken *t = cur(p);
    if (t->kind != JT_NAME) {
        perr(p, OLMOE_ERR_FORMAT, t, "expected a variable name after '%s'", tag);
        return 0;
    }
    static const char *const consts[] = {"true", "false", "none", "True", "False", "None", NULL};
    if (in_list(consts, t->s)) {
        perr(p, OLMOE_ERR_FORMAT, t, "can't assign to '%s'", t->s);
        return 0;
    }
    advance(p);
    if (is_op(cur(p), JOP_COMMA)) {
        perr(p, OLMOE_ERR_UNSUPPORTED, t, "tuple unpacking in '%s'", tag);
        return 0;
    }
    if (is_op(cur(p), JOP_DOT)) {
        perr(p, OLMOE_ERR_UNSUPPORTED, t, "assignment to an attribute ('%s.') in '%s'", t->s, tag);
        return 0;
    }
    *name = t->s;
    return 1;
}

static jnode *parse_if(parser *p, const jtoken *tag) {
    static const char *const ends[] = {"endif", "elif", "else", NULL};
    static const char *const end_else[] = {"endif", NULL};
    jnode *x = mk(p, JN_IF, tag);
    nvec conds = {0}, else_body = {0};
    size_t cap = 0;
    if (!x) return NULL;
    for (;;) {
        jnode *c = parse_tuple(p, 0, NULL, 0);
        if (!c || !nvec_push(p, &conds, c)) return NULL;
        if (conds.n > cap) {
            size_t ncap = cap ? cap * 2 : 4;
            jnodes *nb = jarena_alloc(p->a, ncap * sizeof *nb);
            if (!nb) return NULL;
            if (cap) memcpy(nb, x->bodies, cap * sizeof *nb);
            x->bodies = nb;
            cap = ncap;
        }
        nvec body = {0};
        if (!parse_statements(p, ends, tag, &body)) return NULL;
        x->bodies[conds.n - 1] = to_nodes(body);
        const jtoken *end = cur(p);
        advance(p);
        if (is_name(end, "elif")) continue;
        if (is_name(end, "else")) {
            if (!parse_statements(p, end_else, tag, &else_body)) return NULL;
            advance(p);
        }
        break;
    }
    x->list = to_nodes(conds);
    x->list2 = to_nodes(else_body);
    return fin(p, x);
}

static jnode *parse_for(parser *p, const jtoken *tag) {
    static const char *const ends[] = {"endfor", "else", NULL};
    static const char *const end_else[] = {"endfor", NULL};
    jnode *x = mk(p, JN_FOR, tag);
    if (!x || !parse_target(p, "for", &x->str)) return NULL;
    if (!is_name(cur(p), "in"))
        return perr(p, OLMOE_ERR_FORMAT, cur(p), "expected 'in', got %s", describe(cur(p)));
    advance(p);
    if (!(x->a = parse_tuple(p, 0, "recursive", 0))) return NULL;
    if (is_name(cur(p), "if")) {
        advance(p);
        if (!(x->b = parse_expression(p, 1))) return NULL;
    }
    if (is_name(cur(p), "recursive")) return perr(p, OLMOE_ERR_UNSUPPORTED, cur(p), "recursive for loop");
    nvec body = {0}, else_body = {0};
    p->loop_depth++;
    int ok = parse_statements(p, ends, tag, &body);
    p->loop_depth--;
    if (!ok) return NULL;
    const jtoken *end = cur(p);
    advance(p);
    if (is_name(end, "else")) {
        int saved = p->loop_depth;
        p->loop_depth = 0; /* the else block runs outside the loop */
        ok = parse_statements(p, end_else, tag, &else_body);
        p->loop_depth = saved;
        if (!ok) return NULL;
        advance(p);
    }
    x->list = to_nodes(body);
    x->list2 = to_nodes(else_body);
    return fin(p, x);
}

static jnode *parse_set(parser *p, const jtoken *tag) {
    static const char *const ends[] = {"endset", NULL};
    const char *name;
    if (!parse_target(p, "set", &name)) return NULL;
    if (is_op(cur(p), JOP_ASSIGN)) {
        advance(p);
        jnode *x = mk(p, JN_SET, tag);
        if (!x || !(x->a = parse_tuple(p, 1, NULL, 0))) return NULL;
        x->str = name;
        return fin(p, x);
    }
    if (is_op(cur(p), JOP_PIPE)) return perr(p, OLMOE_ERR_UNSUPPORTED, cur(p), "filter on a '{%% set %%}' block");
    jnode *x = mk(p, JN_SETBLOCK, tag);
    nvec body = {0};
    if (!x || !parse_statements(p, ends, tag, &body)) return NULL;
    advance(p);
    x->str = name;
    x->list = to_nodes(body);
    return fin(p, x);
}

static jnode *parse_statement(parser *p) {
    static const char *const closers[] = {"endif", "elif", "else", "endfor", "endset", "endmacro", "endblock",
                                          "endcall", "endfilter", "endwith", "endraw", "endautoescape",
                                          "endgeneration", "endtrans", NULL};
    static const char *const jinja_tags[] = {"macro", "call", "filter", "block", "extends", "include", "import",
                                             "from", "with", "autoescape", "raw", "generation", "do", "trans",
                                             NULL};
    const jtoken *t = cur(p);
    if (t->kind != JT_NAME) return perr(p, OLMOE_ERR_FORMAT, t, "expected a tag name after '{%%'");
    advance(p);
    if (!strcmp(t->s, "if")) return parse_if(p, t);
    if (!strcmp(t->s, "for")) return parse_for(p, t);
    if (!strcmp(t->s, "set")) return parse_set(p, t);
    if (!strcmp(t->s, "print")) {
        jnode *x = mk(p, JN_OUTPUT, t);
        if (!x || !(x->a = parse_tuple(p, 1, NULL, 0))) return NULL;
        return fin(p, x);
    }
    if (!strcmp(t->s, "break") || !strcmp(t->s, "continue")) {
        if (p->loop_depth == 0) return perr(p, OLMOE_ERR_FORMAT, t, "'%s' outside of a for loop", t->s);
        return fin(p, mk(p, t->s[0] == 'b' ? JN_BREAK : JN_CONTINUE, t));
    }
    if (in_list(closers, t->s)) return perr(p, OLMOE_ERR_FORMAT, t, "unexpected tag '%s'", t->s);
    if (in_list(jinja_tags, t->s)) return perr(p, OLMOE_ERR_UNSUPPORTED, t, "tag '%s'", t->s);
    return perr(p, OLMOE_ERR_UNSUPPORTED, t, "unknown tag '%s'", t->s);
}

/* Statements until EOF or a '{%' followed by one of `ends` (then the current
 * token is that name). */
static int parse_body(parser *p, const char *const *ends, nvec *out) {
    if (!enter(p)) return 0;
    for (;;) {
        const jtoken *t = cur(p);
        jnode *x = NULL;
        if (t->kind == JT_EOF) break;
        if (t->kind == JT_DATA) {
            advance(p);
            if ((x = mk(p, JN_TEXT, t))) {
                x->val = jv_str(t->s, t->n);
                x = fin(p, x);
            }
        } else if (t->kind == JT_VAR_BEGIN) {
            advance(p);
            if ((x = mk(p, JN_OUTPUT, t)) && (x->a = parse_tuple(p, 1, NULL, 0)) &&
                expect_kind(p, JT_VAR_END, "end of print statement '}}'"))
                x = fin(p, x);
            else
                x = NULL;
        } else if (t->kind == JT_BLOCK_BEGIN) {
            advance(p);
            if (ends && cur(p)->kind == JT_NAME && in_list(ends, cur(p)->s)) break;
            if ((x = parse_statement(p)) && !expect_kind(p, JT_BLOCK_END, "end of statement block '%}'"))
                x = NULL;
        } else {
            perr(p, OLMOE_ERR_FORMAT, t, "unexpected %s", describe(t));
        }
        if (!x || !nvec_push(p, out, x)) {
            if (p->st == OLMOE_OK) p->st = OLMOE_ERR_NOMEM;
            p->depth--;
            return 0;
        }
    }
    p->depth--;
    return 1;
}

olmoe_status jinja_parse(jarena *a, const jtoken *toks, size_t n_toks, jnodes *out) {
    parser p = {.a = a, .t = toks, .n = n_toks};
    nvec body = {0};
    if (!parse_body(&p, NULL, &body)) return p.st != OLMOE_OK ? p.st : OLMOE_ERR_NOMEM;
    *out = to_nodes(body);
    return OLMOE_OK;
}
