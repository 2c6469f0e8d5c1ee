/* Python semantics of template values for the Jinja evaluator.
 *
 * Values follow Python semantics as Jinja exposes them (truthiness, ==
 * between int and bool, string slicing by code point, `and`/`or` returning an
 * operand, ...) and Jinja's default Undefined (renders "", is falsy, is empty
 * when iterated, and raises when used in arithmetic, attribute access or
 * subscripts). Scoping mirrors Jinja: {% if %} has no scope of its own, each
 * for-loop iteration and {% set %}...{% endset %} body gets a fresh one.
 *
 * Errors Jinja itself would raise while rendering (raise_exception, type
 * errors, undefined values used in arithmetic) return OLMOE_ERR_ARG;
 * operations this engine does not model (floats, method values, printing a
 * list) return OLMOE_ERR_UNSUPPORTED. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/jinja.h"
#include "util/error.h"

olmoe_status jx_err(const jnode *x, olmoe_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
olmoe_status jx_err(const jnode *x, olmoe_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return olmoe_fail(code, "chat template line %d, column %d: %s", x->line, x->col, msg);
}

const char *jx_type_name(const jvalue *v) {
    switch (v->kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_STR: return "str";
    case JV_LIST: return v->u.list->is_tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_LOOP: return "LoopContext";
    case JV_FUNC: return "function";
    }
    return "object";
}

olmoe_status jx_undefined_error(const jnode *x, const jvalue *v) {
    if (v->u.s.p) return jx_err(x, OLMOE_ERR_ARG, "'%s' is undefined", v->u.s.p);
    return jx_err(x, OLMOE_ERR_ARG, "undefined value used");
}

static int is_num(const jvalue *v) { return v->kind == JV_INT || v->kind == JV_BOOL; }

/* A new arena string a + b. */
olmoe_status jx_str_concat(jarena *ar, const jnode *x, const char *a, size_t an, const char *b, size_t bn,
                               jvalue *out) {
    if (an > JINJA_MAX_OUTPUT || bn > JINJA_MAX_OUTPUT - an)
        return jx_err(x, OLMOE_ERR_ARG, "string longer than %zu MiB", (size_t)(JINJA_MAX_OUTPUT >> 20));
    char *p = jarena_alloc(ar, an + bn + 1);
    if (!p) return OLMOE_ERR_NOMEM;
    if (an) memcpy(p, a, an);
    if (bn) memcpy(p + an, b, bn);
    *out = jv_str(p, an + bn);
    return OLMOE_OK;
}

/* Python str(v) for the values that have a defined text form here. */
olmoe_status jx_to_text(jarena *a, const jnode *x, const jvalue *v, char *scratch, const char **p, size_t *n) {
    switch (v->kind) {
    case JV_STR:
        *p = v->u.s.p;
        *n = v->u.s.n;
        return OLMOE_OK;
    case JV_UNDEF:
        *p = "";
        *n = 0;
        return OLMOE_OK;
    case JV_NONE:
        *p = "None";
        *n = 4;
        return OLMOE_OK;
    case JV_BOOL:
        *p = v->u.i ? "True" : "False";
        *n = strlen(*p);
        return OLMOE_OK;
    case JV_INT: {
        char *s = scratch ? scratch : jarena_alloc(a, 24);
        if (!s) return OLMOE_ERR_NOMEM;
        *n = (size_t)snprintf(s, 24, "%lld", v->u.i);
        *p = s;
        return OLMOE_OK;
    }
    default:
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "converting a %s to text (Python repr)", jx_type_name(v));
    }
}

/* ------------------------------------------------------------------ Python semantics */

int jx_truthy(const jvalue *v) {
    switch (v->kind) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL:
    case JV_INT: return v->u.i != 0;
    case JV_STR: return v->u.s.n != 0;
    case JV_LIST: return v->u.list->n != 0;
    case JV_DICT: return v->u.dict->n != 0;
    default: return 1;
    }
}

int jx_eq(const jvalue *a, const jvalue *b) {
    if (is_num(a) && is_num(b)) return a->u.i == b->u.i;
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case JV_LIST: {
        const jlist *l = a->u.list, *r = b->u.list;
        if (l->is_tuple != r->is_tuple || l->n != r->n) return 0;
        for (size_t i = 0; i < l->n; i++)
            if (!jx_eq(&l->v[i], &r->v[i])) return 0;
        return 1;
    }
    case JV_DICT: {
        const jdict *l = a->u.dict, *r = b->u.dict;
        if (l->n != r->n) return 0;
        for (size_t i = 0; i < l->n; i++) {
            size_t j;
            for (j = 0; j < r->n; j++)
                if (jx_eq(&l->keys[i], &r->keys[j])) break;
            if (j == r->n || !jx_eq(&l->vals[i], &r->vals[j])) return 0;
        }
        return 1;
    }
    case JV_LOOP: return a->u.loop == b->u.loop;
    case JV_FUNC: return strcmp(a->u.s.p, b->u.s.p) == 0;
    default: return 0;
    }
}

int jx_hashable(const jvalue *v) {
    if (v->kind == JV_DICT) return 0;
    if (v->kind == JV_LIST) {
        if (!v->u.list->is_tuple) return 0;
        for (size_t i = 0; i < v->u.list->n; i++)
            if (!jx_hashable(&v->u.list->v[i])) return 0;
    }
    return 1;
}

/* Three-way comparison for < <= > >=. */
static olmoe_status py_order(const jnode *x, const jvalue *a, const jvalue *b, const char *op, int *res) {
    if (a->kind == JV_UNDEF) return jx_undefined_error(x, a);
    if (b->kind == JV_UNDEF) return jx_undefined_error(x, b);
    if (is_num(a) && is_num(b)) {
        *res = (a->u.i > b->u.i) - (a->u.i < b->u.i);
        return OLMOE_OK;
    }
    if (a->kind == JV_STR && b->kind == JV_STR) { /* UTF-8 byte order == code point order */
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        *res = c ? (c > 0) - (c < 0) : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
        return OLMOE_OK;
    }
    if (a->kind == JV_LIST && b->kind == JV_LIST && a->u.list->is_tuple == b->u.list->is_tuple) {
        const jlist *l = a->u.list, *r = b->u.list;
        for (size_t i = 0; i < l->n && i < r->n; i++)
            if (!jx_eq(&l->v[i], &r->v[i])) return py_order(x, &l->v[i], &r->v[i], op, res);
        *res = (l->n > r->n) - (l->n < r->n);
        return OLMOE_OK;
    }
    return jx_err(x, OLMOE_ERR_ARG, "'%s' not supported between instances of '%s' and '%s'", op, jx_type_name(a),
                jx_type_name(b));
}

/* needle in hay */
static olmoe_status py_contains(const jnode *x, const jvalue *needle, const jvalue *hay, int *res) {
    *res = 0;
    switch (hay->kind) {
    case JV_STR:
        if (needle->kind != JV_STR)
            return jx_err(x, OLMOE_ERR_ARG, "'in <string>' requires string as left operand, not %s",
                        jx_type_name(needle));
        if (needle->u.s.n == 0) {
            *res = 1;
        } else {
            for (size_t i = 0; i + needle->u.s.n <= hay->u.s.n; i++)
                if (memcmp(hay->u.s.p + i, needle->u.s.p, needle->u.s.n) == 0) {
                    *res = 1;
                    break;
                }
        }
        return OLMOE_OK;
    case JV_LIST:
        for (size_t i = 0; i < hay->u.list->n && !*res; i++) *res = jx_eq(&hay->u.list->v[i], needle);
        return OLMOE_OK;
    case JV_DICT:
        if (!jx_hashable(needle)) return jx_err(x, OLMOE_ERR_ARG, "unhashable type: '%s'", jx_type_name(needle));
        for (size_t i = 0; i < hay->u.dict->n && !*res; i++) *res = jx_eq(&hay->u.dict->keys[i], needle);
        return OLMOE_OK;
    case JV_UNDEF: return OLMOE_OK; /* iterating Undefined yields nothing */
    case JV_LOOP:
    case JV_FUNC: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "'in' on a %s", jx_type_name(hay));
    default: return jx_err(x, OLMOE_ERR_ARG, "argument of type '%s' is not iterable", jx_type_name(hay));
    }
}

olmoe_status jx_compare(const jnode *x, jop op, const jvalue *a, const jvalue *b, int *res) {
    olmoe_status st = OLMOE_OK;
    int c;
    switch (op) {
    case JOP_EQ: *res = jx_eq(a, b); break;
    case JOP_NE: *res = !jx_eq(a, b); break;
    case JOP_IN: st = py_contains(x, a, b, res); break;
    case JOP_NOTIN:
        st = py_contains(x, a, b, &c);
        *res = !c;
        break;
    case JOP_LT: st = py_order(x, a, b, "<", &c), *res = c < 0; break;
    case JOP_LTEQ: st = py_order(x, a, b, "<=", &c), *res = c <= 0; break;
    case JOP_GT: st = py_order(x, a, b, ">", &c), *res = c > 0; break;
    case JOP_GTEQ: st = py_order(x, a, b, ">=", &c), *res = c >= 0; break;
    default: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "comparison operator");
    }
    return st;
}

olmoe_status jx_new_list(jarena *a, size_t n, int is_tuple, jvalue *out) {
    jlist *l = jarena_alloc(a, sizeof *l);
    if (!l || (n && !(l->v = jarena_alloc(a, n * sizeof *l->v)))) return OLMOE_ERR_NOMEM;
    l->n = n;
    l->is_tuple = is_tuple;
    *out = (jvalue){.kind = JV_LIST, .u.list = l};
    return OLMOE_OK;
}

/* Repeats a string or list (Python seq * n). */
static olmoe_status repeat(jarena *a, const jnode *x, const jvalue *seq, long long times, jvalue *out) {
    if (times < 0) times = 0;
    if (seq->kind == JV_STR) {
        size_t n = seq->u.s.n;
        if (n && (unsigned long long)times > JINJA_MAX_OUTPUT / n)
            return jx_err(x, OLMOE_ERR_ARG, "string longer than %zu MiB", (size_t)(JINJA_MAX_OUTPUT >> 20));
        size_t total = n * (size_t)times;
        char *p = jarena_alloc(a, total + 1);
        if (!p) return OLMOE_ERR_NOMEM;
        for (long long i = 0; i < times && n; i++) memcpy(p + (size_t)i * n, seq->u.s.p, n);
        *out = jv_str(p, total);
        return OLMOE_OK;
    }
    size_t n = seq->u.list->n;
    if (n && (unsigned long long)times > (JINJA_MAX_OUTPUT / sizeof(jvalue)) / n)
        return jx_err(x, OLMOE_ERR_ARG, "list repetition too large");
    olmoe_status st = jx_new_list(a, n * (size_t)times, seq->u.list->is_tuple, out);
    for (size_t i = 0; st == OLMOE_OK && i < n * (size_t)times; i++) out->u.list->v[i] = seq->u.list->v[i % n];
    return st;
}

olmoe_status jx_arith(jarena *ar, const jnode *x, int op, const jvalue *a, const jvalue *b, jvalue *out) {
    static const char *const names[] = {[JOP_ADD] = "+", [JOP_SUB] = "-", [JOP_DIV] = "/", [JOP_FLOORDIV] = "//",
                                        [JOP_MUL] = "*", [JOP_MOD] = "%", [JOP_POW] = "**"};
    if (a->kind == JV_UNDEF) return jx_undefined_error(x, a);
    if (b->kind == JV_UNDEF) return jx_undefined_error(x, b);
    if (is_num(a) && is_num(b)) {
        long long l = a->u.i, r = b->u.i, v = 0;
        int overflow = 0;
        switch (op) {
        case JOP_ADD: overflow = __builtin_add_overflow(l, r, &v); break;
        case JOP_SUB: overflow = __builtin_sub_overflow(l, r, &v); break;
        case JOP_MUL: overflow = __builtin_mul_overflow(l, r, &v); break;
        case JOP_DIV: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "'/' division (floats are not supported)");
        case JOP_FLOORDIV:
        case JOP_MOD: {
            if (r == 0) return jx_err(x, OLMOE_ERR_ARG, "integer division or modulo by zero");
            if (l == LLONG_MIN && r == -1) {
                overflow = 1;
                break;
            }
            long long q = l / r, m = l % r;
            if (m != 0 && ((m < 0) != (r < 0))) q--, m += r; /* Python floors */
            v = op == JOP_MOD ? m : q;
            break;
        }
        case JOP_POW:
            if (r < 0) return jx_err(x, OLMOE_ERR_UNSUPPORTED, "negative exponent (floats are not supported)");
            v = 1;
            for (long long i = 0; i < r && !overflow; i++) {
                overflow = __builtin_mul_overflow(v, l, &v);
                if (v == 0 || v == 1) break; /* 0**n, 1**n */
                if (v == -1) { v = (r % 2) ? -1 : 1; break; }
            }
            break;
        }
        if (overflow) return jx_err(x, OLMOE_ERR_UNSUPPORTED, "integer beyond 64 bits");
        *out = jv_int(v);
        return OLMOE_OK;
    }
    if (op == JOP_ADD && a->kind == JV_STR && b->kind == JV_STR)
        return jx_str_concat(ar, x, a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n, out);
    if (op == JOP_ADD && a->kind == JV_LIST && b->kind == JV_LIST && a->u.list->is_tuple == b->u.list->is_tuple) {
        size_t n = a->u.list->n + b->u.list->n;
        olmoe_status st = jx_new_list(ar, n, a->u.list->is_tuple, out);
        if (st != OLMOE_OK) return st;
        if (a->u.list->n) memcpy(out->u.list->v, a->u.list->v, a->u.list->n * sizeof(jvalue));
        if (b->u.list->n) memcpy(out->u.list->v + a->u.list->n, b->u.list->v, b->u.list->n * sizeof(jvalue));
        return OLMOE_OK;
    }
    if (op == JOP_MUL && (a->kind == JV_STR || a->kind == JV_LIST) && is_num(b)) return repeat(ar, x, a, b->u.i, out);
    if (op == JOP_MUL && (b->kind == JV_STR || b->kind == JV_LIST) && is_num(a)) return repeat(ar, x, b, a->u.i, out);
    if (op == JOP_MOD && a->kind == JV_STR)
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "'%%' string formatting");
    if (a->kind == JV_LOOP || a->kind == JV_FUNC || b->kind == JV_LOOP || b->kind == JV_FUNC)
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "arithmetic on a %s", jx_type_name(a->kind >= JV_LOOP ? a : b));
    return jx_err(x, OLMOE_ERR_ARG, "unsupported operand type(s) for %s: '%s' and '%s'", names[op], jx_type_name(a),
                jx_type_name(b));
}

/* ------------------------------------------------------------------ attribute and item access */

static int in_names(const char *const *list, const char *s) {
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

/* Python attributes of the builtin types: Jinja returns them (as bound
 * methods) before falling back to item lookup, so they must be refused. */
static int is_builtin_attr(const jvalue *obj, const char *name) {
    static const char *const dict_attrs[] = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop",
                                             "popitem", "setdefault", "update", "values", NULL};
    static const char *const str_attrs[] = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
        "title", "translate", "upper", "zfill", NULL};
    static const char *const list_attrs[] = {"append", "clear", "copy", "count", "extend", "index",
                                             "insert", "pop", "remove", "reverse", "sort", NULL};
    static const char *const int_attrs[] = {"as_integer_ratio", "bit_count", "bit_length", "conjugate",
                                            "denominator", "from_bytes", "imag", "numerator", "real",
                                            "to_bytes", "is_integer", NULL};
    if (name[0] == '_' && name[1] == '_') return 1;
    switch (obj->kind) {
    case JV_DICT: return in_names(dict_attrs, name);
    case JV_STR: return in_names(str_attrs, name);
    case JV_LIST: return in_names(list_attrs, name);
    case JV_INT:
    case JV_BOOL: return in_names(int_attrs, name);
    case JV_LOOP: return !strcmp(name, "cycle") || !strcmp(name, "changed");
    default: return 0;
    }
}

static olmoe_status loop_attr(const jloop *l, const char *name, jvalue *out) {
    if (!strcmp(name, "index")) *out = jv_int((long long)l->index0 + 1);
    else if (!strcmp(name, "index0")) *out = jv_int((long long)l->index0);
    else if (!strcmp(name, "revindex")) *out = jv_int((long long)(l->length - l->index0));
    else if (!strcmp(name, "revindex0")) *out = jv_int((long long)(l->length - l->index0 - 1));
    else if (!strcmp(name, "first")) *out = jv_bool(l->index0 == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(l->index0 + 1 == l->length);
    else if (!strcmp(name, "length")) *out = jv_int((long long)l->length);
    else if (!strcmp(name, "depth")) *out = jv_int(1);
    else if (!strcmp(name, "depth0")) *out = jv_int(0);
    else if (!strcmp(name, "previtem")) *out = l->index0 > 0 ? l->items[l->index0 - 1] : jv_undef("previtem");
    else if (!strcmp(name, "nextitem"))
        *out = l->index0 + 1 < l->length ? l->items[l->index0 + 1] : jv_undef("nextitem");
    else *out = jv_undef(name);
    return OLMOE_OK;
}

/* Jinja's environment.getattr: Python attribute first, then obj[name]. */
olmoe_status jx_get_attr(const jnode *x, const jvalue *obj, const char *name, jvalue *out) {
    if (obj->kind == JV_UNDEF) return jx_undefined_error(x, obj);
    if (obj->kind == JV_FUNC) return jx_err(x, OLMOE_ERR_UNSUPPORTED, "attribute '%s' of a function", name);
    if (is_builtin_attr(obj, name))
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "attribute '%s' of a %s (methods are not supported)", name,
                    jx_type_name(obj));
    if (obj->kind == JV_LOOP) return loop_attr(obj->u.loop, name, out);
    if (obj->kind == JV_DICT) {
        const jdict *d = obj->u.dict;
        for (size_t i = 0; i < d->n; i++)
            if (d->keys[i].kind == JV_STR && strlen(name) == d->keys[i].u.s.n &&
                memcmp(d->keys[i].u.s.p, name, d->keys[i].u.s.n) == 0) {
                *out = d->vals[i];
                return OLMOE_OK;
            }
    }
    *out = jv_undef(name);
    return OLMOE_OK;
}

/* Byte offset of code point `idx` in s (idx <= count). */
static size_t cp_offset(const char *s, size_t n, size_t idx) {
    size_t i = 0;
    while (idx > 0 && i < n) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        idx--;
    }
    return i;
}

/* Jinja's environment.getitem: obj[key], else (for string keys) the
 * attribute, else Undefined. */
olmoe_status jx_get_item(jarena *a, const jnode *x, const jvalue *obj, const jvalue *key, jvalue *out) {
    if (obj->kind == JV_UNDEF) return jx_undefined_error(x, obj);
    if (obj->kind == JV_FUNC) return jx_err(x, OLMOE_ERR_UNSUPPORTED, "subscript of a function");
    if (obj->kind == JV_DICT && jx_hashable(key)) {
        const jdict *d = obj->u.dict;
        for (size_t i = 0; i < d->n; i++)
            if (jx_eq(&d->keys[i], key)) {
                *out = d->vals[i];
                return OLMOE_OK;
            }
    }
    if ((obj->kind == JV_LIST || obj->kind == JV_STR) && is_num(key)) {
        long long len = obj->kind == JV_LIST ? (long long)obj->u.list->n
                                             : (long long)jinja_utf8_count(obj->u.s.p, obj->u.s.n);
        long long i = key->u.i < 0 ? key->u.i + len : key->u.i;
        if (i >= 0 && i < len) {
            if (obj->kind == JV_LIST) {
                *out = obj->u.list->v[i];
            } else {
                size_t a = cp_offset(obj->u.s.p, obj->u.s.n, (size_t)i);
                size_t b = cp_offset(obj->u.s.p + a, obj->u.s.n - a, 1);
                *out = jv_str(obj->u.s.p + a, b);
            }
            return OLMOE_OK;
        }
    }
    if (key->kind == JV_STR) {
        char *name = jarena_strndup(a, key->u.s.p, key->u.s.n);
        if (!name) return OLMOE_ERR_NOMEM;
        if (obj->kind == JV_DICT) { /* the key lookup above failed */
            if (is_builtin_attr(obj, name))
                return jx_err(x, OLMOE_ERR_UNSUPPORTED, "attribute '%s' of a dict (methods are not supported)",
                            name);
            *out = jv_undef(name);
            return OLMOE_OK;
        }
        return jx_get_attr(x, obj, name, out);
    }
    *out = jv_undef(NULL);
    return OLMOE_OK;
}

/* Python's PySlice_AdjustIndices + element count. */
static size_t slice_indices(long long len, const long long *bounds, const int *given, long long *start,
                            long long *stepv) {
    long long step = given[2] ? bounds[2] : 1, s = 0, e = 0;
    for (int k = 0; k < 2; k++) {
        long long v;
        if (!given[k]) {
            v = (k == 0) ? (step < 0 ? len - 1 : 0) : (step < 0 ? -1 : len);
        } else {
            v = bounds[k];
            if (v < 0) {
                v += len;
                if (v < 0) v = step < 0 ? -1 : 0;
            } else if (v >= len) {
                v = step < 0 ? len - 1 : len;
            }
        }
        if (k == 0) s = v;
        else e = v;
    }
    *start = s;
    *stepv = step;
    if (step < 0) return e < s ? (size_t)((s - e - 1) / (-step) + 1) : 0;
    return s < e ? (size_t)((e - s - 1) / step + 1) : 0;
}

olmoe_status jx_get_slice(jarena *a, const jnode *x, const jnode *sl, const jvalue *obj, const jvalue *bv,
                          jvalue *out) {
    long long bounds[3] = {0, 0, 0};
    int given[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (bv[k].kind == JV_NONE) continue;
        if (!is_num(&bv[k]))
            return jx_err(sl, OLMOE_ERR_ARG, "slice indices must be integers or None, not %s", jx_type_name(&bv[k]));
        bounds[k] = bv[k].u.i;
        given[k] = 1;
    }
    if (obj->kind == JV_UNDEF) return jx_undefined_error(x, obj);
    if (obj->kind == JV_FUNC || obj->kind == JV_LOOP)
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "slice of a %s", jx_type_name(obj));
    if (given[2] && bounds[2] == 0) return jx_err(sl, OLMOE_ERR_ARG, "slice step cannot be zero");
    if (obj->kind != JV_STR && obj->kind != JV_LIST) {
        *out = jv_undef(NULL);
        return OLMOE_OK;
    }
    long long start, stepv;
    if (obj->kind == JV_LIST) {
        size_t cnt = slice_indices((long long)obj->u.list->n, bounds, given, &start, &stepv);
        olmoe_status st = jx_new_list(a, cnt, obj->u.list->is_tuple, out);
        for (size_t i = 0; st == OLMOE_OK && i < cnt; i++)
            out->u.list->v[i] = obj->u.list->v[start + (long long)i * stepv];
        return st;
    }
    /* strings: index code points through an offset table */
    size_t ncp = jinja_utf8_count(obj->u.s.p, obj->u.s.n);
    size_t *off = jarena_alloc(a, (ncp + 1) * sizeof *off);
    if (!off) return OLMOE_ERR_NOMEM;
    for (size_t i = 0, k = 0; i <= obj->u.s.n; i++)
        if (i == obj->u.s.n || ((unsigned char)obj->u.s.p[i] & 0xC0) != 0x80) off[k++] = i;
    size_t cnt = slice_indices((long long)ncp, bounds, given, &start, &stepv);
    char *p = jarena_alloc(a, obj->u.s.n + 1);
    if (!p) return OLMOE_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < cnt; i++) {
        size_t c = (size_t)(start + (long long)i * stepv);
        memcpy(p + n, obj->u.s.p + off[c], off[c + 1] - off[c]);
        n += off[c + 1] - off[c];
    }
    *out = jv_str(p, n);
    return OLMOE_OK;
}

/* ------------------------------------------------------------------ filters and tests */

static olmoe_status seq_length(const jnode *x, const jvalue *v, long long *n) {
    switch (v->kind) {
    case JV_STR: *n = (long long)jinja_utf8_count(v->u.s.p, v->u.s.n); return OLMOE_OK;
    case JV_LIST: *n = (long long)v->u.list->n; return OLMOE_OK;
    case JV_DICT: *n = (long long)v->u.dict->n; return OLMOE_OK;
    case JV_UNDEF: *n = 0; return OLMOE_OK;
    case JV_LOOP: return jx_err(x, OLMOE_ERR_UNSUPPORTED, "length of a LoopContext");
    default: return jx_err(x, OLMOE_ERR_ARG, "object of type '%s' has no len()", jx_type_name(v));
    }
}

/* first / last item of a sequence; Undefined when empty. */
static olmoe_status first_last(jarena *a, const jnode *x, const jvalue *v, int last, jvalue *out) {
    long long n;
    olmoe_status st = seq_length(x, v, &n);
    if (st != OLMOE_OK) return st;
    if (n == 0) {
        *out = jv_undef(last ? "last" : "first");
        return OLMOE_OK;
    }
    if (v->kind == JV_DICT) {
        *out = v->u.dict->keys[last ? n - 1 : 0];
        return OLMOE_OK;
    }
    jvalue idx = jv_int(last ? -1 : 0);
    return jx_get_item(a, x, v, &idx, out);
}

olmoe_status jx_filter(jarena *a, const jnode *x, const jvalue *v, const jvalue *args, size_t n_args,
                                 jvalue *out) {
    const char *f = x->str;
    const char *p;
    size_t n;
    olmoe_status st;
    if (!strcmp(f, "trim") || !strcmp(f, "string") || !strcmp(f, "upper") || !strcmp(f, "lower")) {
        if ((st = jx_to_text(a, x, v, NULL, &p, &n)) != OLMOE_OK) return st;
        if (f[0] == 't') jinja_strip(&p, &n);
        if (f[0] == 't' || f[0] == 's') {
            *out = jv_str(p, n);
            return OLMOE_OK;
        }
        uint32_t bad = 0;
        int r = jinja_case_map(a, p, n, f[0] == 'u', out, &bad);
        if (r < 0) return OLMOE_ERR_NOMEM;
        if (r == 0)
            return jx_err(x, OLMOE_ERR_UNSUPPORTED, "filter '%s' on U+%04X (needs full Unicode case mapping)", f,
                        (unsigned)bad);
        return OLMOE_OK;
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        long long len;
        if ((st = seq_length(x, v, &len)) != OLMOE_OK) return st;
        *out = jv_int(len);
        return OLMOE_OK;
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) return first_last(a, x, v, f[0] == 'l', out);
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        jvalue dflt = n_args > 0 ? args[0] : jv_str("", 0);
        int boolean = n_args > 1 && jx_truthy(&args[1]);
        *out = (v->kind == JV_UNDEF || (boolean && !jx_truthy(v))) ? dflt : *v;
        return OLMOE_OK;
    }
    return jx_err(x, OLMOE_ERR_UNSUPPORTED, "unsupported filter '%s'", f);
}

olmoe_status jx_test(const jnode *x, const jvalue *v, const jvalue *args, int *res) {
    const char *t = x->str;
    jv_kind k = v->kind;
    if (!strcmp(t, "defined")) *res = k != JV_UNDEF;
    else if (!strcmp(t, "undefined")) *res = k == JV_UNDEF;
    else if (!strcmp(t, "none")) *res = k == JV_NONE;
    else if (!strcmp(t, "boolean")) *res = k == JV_BOOL;
    else if (!strcmp(t, "true")) *res = k == JV_BOOL && v->u.i;
    else if (!strcmp(t, "false")) *res = k == JV_BOOL && !v->u.i;
    else if (!strcmp(t, "integer")) *res = k == JV_INT;
    else if (!strcmp(t, "float")) *res = 0;
    else if (!strcmp(t, "number")) *res = k == JV_INT || k == JV_BOOL;
    else if (!strcmp(t, "string")) *res = k == JV_STR;
    else if (!strcmp(t, "mapping")) *res = k == JV_DICT;
    else if (!strcmp(t, "sequence")) *res = k == JV_STR || k == JV_LIST || k == JV_DICT || k == JV_UNDEF;
    else if (!strcmp(t, "iterable")) *res = k == JV_STR || k == JV_LIST || k == JV_DICT || k == JV_UNDEF || k == JV_LOOP;
    else if (!strcmp(t, "odd") || !strcmp(t, "even") || !strcmp(t, "divisibleby")) {
        jvalue two = jv_int(2), m;
        const jvalue *d = t[0] == 'd' ? &args[0] : &two;
        if (k == JV_STR) return jx_err(x, OLMOE_ERR_UNSUPPORTED, "'%%' string formatting (test '%s')", t);
        olmoe_status st = jx_arith(NULL, x, JOP_MOD, v, d, &m);
        if (st != OLMOE_OK) return st;
        *res = t[0] == 'o' ? m.u.i == 1 : m.u.i == 0;
    } else {
        static const struct {
            const char *name;
            jop op;
        } cmp[] = {{"eq", JOP_EQ}, {"equalto", JOP_EQ}, {"ne", JOP_NE}, {"gt", JOP_GT}, {"greaterthan", JOP_GT},
                   {"ge", JOP_GTEQ}, {"lt", JOP_LT}, {"lessthan", JOP_LT}, {"le", JOP_LTEQ}, {"in", JOP_IN}};
        for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
            if (!strcmp(t, cmp[i].name)) return jx_compare(x, cmp[i].op, v, &args[0], res);
        return jx_err(x, OLMOE_ERR_UNSUPPORTED, "unsupported test '%s'", t);
    }
    return OLMOE_OK;
}
