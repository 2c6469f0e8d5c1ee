/* Internal pieces of the chat-template interpreter (a Jinja2 subset).
 *
 * Pipeline: jinja_lex (source -> tokens, applying Jinja's whitespace rules
 * with trim_blocks + lstrip_blocks) -> jinja_parse (tokens -> AST) ->
 * jinja_eval (AST + variables -> text). Everything a render allocates lives
 * in one arena that is released at the end, so no node or value is freed
 * individually. Only chat_template.c includes this header from outside. */
#ifndef OLMOE_MODEL_JINJA_H
#define OLMOE_MODEL_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "olmoe.h"

/* Resource guards against hostile templates. */
#define JINJA_MAX_DEPTH 200                   /* nesting of blocks and expressions */
#define JINJA_MAX_OUTPUT ((size_t)64 << 20)   /* bytes of rendered text (and of any string) */
#define JINJA_MAX_ARENA ((size_t)512 << 20)   /* bytes allocated by one render */
#define JINJA_MAX_STEPS 10000000L             /* evaluated nodes + loop iterations */

/* ------------------------------------------------------------------ arena */

typedef struct jarena_block jarena_block;
typedef struct {
    jarena_block *head;
    size_t total;
} jarena;

/* Zeroed memory, or NULL (with the error recorded) past JINJA_MAX_ARENA. */
void *jarena_alloc(jarena *a, size_t n);
char *jarena_strndup(jarena *a, const char *s, size_t n);
void jarena_free(jarena *a);

/* ------------------------------------------------------------------ values */

typedef enum {
    JV_UNDEF, /* Jinja's default Undefined: renders "", falsy */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_STR,
    JV_LIST, /* list or tuple */
    JV_DICT,
    JV_LOOP, /* the `loop` object of a for loop */
    JV_FUNC, /* a global function (raise_exception, range, ...) */
} jv_kind;

typedef struct jvalue jvalue;
typedef struct jloop jloop;

typedef struct {
    size_t n;
    jvalue *v;
    int is_tuple;
} jlist;

typedef struct {
    size_t n;
    jvalue *keys;
    jvalue *vals;
} jdict;

struct jvalue {
    jv_kind kind;
    union {
        long long i; /* JV_BOOL (0/1) and JV_INT */
        struct {
            const char *p; /* JV_STR: UTF-8 bytes; JV_UNDEF/JV_FUNC: the name */
            size_t n;
        } s;
        jlist *list;
        jdict *dict;
        jloop *loop;
    } u;
};

struct jloop {
    size_t index0, length;
    const jvalue *items; /* the (filtered) sequence, for previtem/nextitem */
};

/* ------------------------------------------------------------------ tokens */

typedef enum {
    JT_DATA,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_OP,
    JT_EOF,
} jtok_kind;

typedef enum {
    JOP_ADD, JOP_SUB, JOP_DIV, JOP_FLOORDIV, JOP_MUL, JOP_MOD, JOP_POW, JOP_TILDE,
    JOP_LBRACKET, JOP_RBRACKET, JOP_LPAREN, JOP_RPAREN, JOP_LBRACE, JOP_RBRACE,
    JOP_EQ, JOP_NE, JOP_GT, JOP_GTEQ, JOP_LT, JOP_LTEQ, JOP_ASSIGN, JOP_DOT,
    JOP_COLON, JOP_PIPE, JOP_COMMA, JOP_SEMICOLON,
    /* compare operators that are names in the source */
    JOP_IN, JOP_NOTIN,
} jop;

typedef struct {
    jtok_kind kind;
    jop op;        /* JT_OP */
    const char *s; /* JT_DATA / JT_NAME / JT_STRING (decoded), NUL-terminated */
    size_t n;
    long long ival; /* JT_INT */
    int line, col;
} jtoken;

/* Tokenizes `src` like Jinja's lexer with trim_blocks=True,
 * lstrip_blocks=True and keep_trailing_newline=False. Tokens end with JT_EOF. */
olmoe_status jinja_lex(jarena *a, const char *src, jtoken **toks, size_t *n_toks);

/* ------------------------------------------------------------------ AST */

typedef enum {
    /* statements */
    JN_TEXT,     /* str */
    JN_OUTPUT,   /* a = expression */
    JN_IF,       /* list = conditions, bodies[i] = their bodies, list2 = else body */
    JN_FOR,      /* str = target, a = iterable, b = filter or NULL, list = body, list2 = else */
    JN_SET,      /* str = target, a = value */
    JN_SETBLOCK, /* str = target, list = body */
    JN_BREAK,
    JN_CONTINUE,
    /* expressions */
    JN_CONST,   /* val */
    JN_NAME,    /* str */
    JN_GETATTR, /* a.str */
    JN_GETITEM, /* a[b] */
    JN_SLICE,   /* a[list[0]:list[1]:list[2]] (entries may be NULL) */
    JN_BINOP,   /* a op b: + - * / // % ** */
    JN_NEG,     /* -a */
    JN_POS,     /* +a */
    JN_CONCAT,  /* list joined with ~ */
    JN_COMPARE, /* a, then ops[i] list[i] */
    JN_AND,
    JN_OR,
    JN_NOT,
    JN_COND,    /* b if a else c (c may be NULL) */
    JN_FILTER,  /* a | str(list) */
    JN_TEST,    /* a is [not] str(list); flag = negated */
    JN_LIST,    /* list; flag = is tuple */
    JN_DICT,    /* keys list, values list2 */
    JN_RAISE,   /* raise_exception(list) */
} jnode_kind;

typedef struct jnode jnode;
typedef struct {
    jnode **v;
    size_t n;
} jnodes;

struct jnode {
    jnode_kind kind;
    int line, col;
    int depth; /* height of this subtree, bounded by JINJA_MAX_DEPTH */
    int op;    /* jop for JN_BINOP */
    int flag;
    const char *str;
    jvalue val;
    jnode *a, *b, *c;
    jnodes list, list2;
    jnodes *bodies; /* JN_IF */
    jop *ops;       /* JN_COMPARE */
};

/* Parses the tokens into a list of statements. */
olmoe_status jinja_parse(jarena *a, const jtoken *toks, size_t n_toks, jnodes *out);

/* ------------------------------------------------------------------ evaluation */

typedef struct {
    const char *name;
    jvalue val;
} jinja_var;

/* Renders the statements with the given global variables; *out is malloc'ed. */
olmoe_status jinja_render(jarena *a, const jnodes *body, const jinja_var *vars, size_t n_vars,
                          char **out);

/* ------------------------------------------------------------------ helpers (jinja_value.c) */

jvalue jv_str(const char *p, size_t n);
jvalue jv_int(long long i);
jvalue jv_bool(int b);
jvalue jv_none(void);
jvalue jv_undef(const char *name);

/* Valid UTF-8 without NUL bytes (Python strings are code points). */
int jinja_utf8_valid(const char *s, size_t n);
/* Byte length of the Python whitespace code point at s[0..n), 0 if none. */
size_t jinja_space_at(const char *s, size_t n);
/* Byte length of the Python whitespace code point that ends just before s[n], 0 if none. */
size_t jinja_space_before(const char *s, size_t n);
size_t jinja_utf8_count(const char *s, size_t n);
/* Decodes one code point; returns its byte length (0 at the end). */
size_t jinja_utf8_decode(const char *s, size_t n, uint32_t *cp);
size_t jinja_utf8_encode(uint32_t cp, char *out4);
/* Python str.strip() without arguments. */
void jinja_strip(const char **p, size_t *n);
/* Python str.upper() / str.lower() into *out. Returns 1, 0 when a code point
 * (*bad) needs full case mapping or final-sigma context (refused), -1 when
 * out of memory. */
int jinja_case_map(jarena *a, const char *s, size_t n, int upper, jvalue *out, uint32_t *bad);

/* ------------------------------------------------------------------ value semantics (jinja_ops.c) */

/* Records "chat template line L, column C: <msg>" and returns code. */
olmoe_status jx_err(const jnode *x, olmoe_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const char *jx_type_name(const jvalue *v);
olmoe_status jx_undefined_error(const jnode *x, const jvalue *v);
olmoe_status jx_str_concat(jarena *ar, const jnode *x, const char *a, size_t an, const char *b, size_t bn,
                           jvalue *out);
/* Python str(v); lists, dicts and objects are refused. Integers are written
 * to `scratch` (24 bytes) when given, else to the arena. */
olmoe_status jx_to_text(jarena *a, const jnode *x, const jvalue *v, char *scratch, const char **p, size_t *n);
int jx_truthy(const jvalue *v);
int jx_eq(const jvalue *a, const jvalue *b);
int jx_hashable(const jvalue *v);
olmoe_status jx_compare(const jnode *x, jop op, const jvalue *a, const jvalue *b, int *res);
olmoe_status jx_new_list(jarena *a, size_t n, int is_tuple, jvalue *out);
olmoe_status jx_arith(jarena *ar, const jnode *x, int op, const jvalue *a, const jvalue *b, jvalue *out);
olmoe_status jx_get_attr(const jnode *x, const jvalue *obj, const char *name, jvalue *out);
olmoe_status jx_get_item(jarena *a, const jnode *x, const jvalue *obj, const jvalue *key, jvalue *out);
/* obj[b0:b1:b2]; missing bounds are JV_NONE. */
olmoe_status jx_get_slice(jarena *a, const jnode *x, const jnode *sl, const jvalue *obj, const jvalue *bounds,
                          jvalue *out);
olmoe_status jx_filter(jarena *a, const jnode *x, const jvalue *v, const jvalue *args, size_t n_args, jvalue *out);
olmoe_status jx_test(const jnode *x, const jvalue *v, const jvalue *args, int *res);

#endif
