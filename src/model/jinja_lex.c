/* Jinja lexer: source text -> tokens.
 *
 * Mirrors jinja2.lexer.Lexer.tokeniter for the environment transformers
 * builds (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
 * default delimiters):
 *  - all of \r\n, \r, \n become \n and one trailing newline is dropped;
 *  - "{%-", "{{-", "{#-" strip all whitespace before the tag, "-%}", "-}}",
 *    "-#}" all whitespace after it;
 *  - otherwise a block or comment tag that is the first non-whitespace on a
 *    line (unless opened with "{%+") removes the whitespace before it, and
 *    "%}" / "#}" (unless "+%}") swallow one directly following newline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/jinja.h"
#include "util/error.h"

typedef struct {
    jarena *a;
    const char *src;
    size_t len, pos;
    /* incremental position -> line/column */
    size_t loc_pos, line_start;
    int line;
    jtoken *toks;
    size_t n, cap;
} lexer;

static void locate(lexer *lx, size_t pos, int *line, int *col) {
    if (pos < lx->loc_pos) { /* never happens in practice; restart */
        lx->loc_pos = 0;
        lx->line_start = 0;
        lx->line = 1;
    }
    for (; lx->loc_pos < pos; lx->loc_pos++) {
        if (lx->src[lx->loc_pos] == '\n') {
            lx->line++;
            lx->line_start = lx->loc_pos + 1;
        }
    }
    *line = lx->line;
    *col = (int)(pos - lx->line_start) + 1;
}

static olmoe_status lex_error(lexer *lx, olmoe_status code, size_t pos, const char *what) {
    int line, col;
    locate(lx, pos, &line, &col);
    return olmoe_fail(code, "chat template line %d, column %d: %s", line, col, what);
}

static jtoken *push(lexer *lx, jtok_kind kind, size_t pos) {
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        jtoken *t = jarena_alloc(lx->a, cap * sizeof *t);
        if (!t) return NULL;
        if (lx->n) memcpy(t, lx->toks, lx->n * sizeof *t);
        lx->toks = t;
        lx->cap = cap;
    }
    jtoken *t = &lx->toks[lx->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    locate(lx, pos, &t->line, &t->col);
    return t;
}

static olmoe_status push_data(lexer *lx, size_t start, size_t end) {
    if (end <= start) return OLMOE_OK;
    jtoken *t = push(lx, JT_DATA, start);
    if (!t || !(t->s = jarena_strndup(lx->a, lx->src + start, end - start))) return OLMOE_ERR_NOMEM;
    t->n = end - start;
    return OLMOE_OK;
}

static size_t skip_space(const char *s, size_t len, size_t pos) {
    size_t k;
    while (pos < len && (k = jinja_space_at(s + pos, len - pos)) > 0) pos += k;
    return pos;
}

static int starts(const lexer *lx, size_t pos, const char *lit) {
    size_t n = strlen(lit);
    return pos + n <= lx->len && memcmp(lx->src + pos, lit, n) == 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal at lx->pos (opening quote). Escapes follow Python's
 * "unicode-escape" codec, which is what Jinja applies. */
static olmoe_status lex_string(lexer *lx) {
    size_t start = lx->pos;
    char q = lx->src[start];
    size_t i = start + 1;
    while (i < lx->len && lx->src[i] != q) i += (lx->src[i] == '\\' && i + 1 < lx->len) ? 2 : 1;
    if (i >= lx->len) return lex_error(lx, OLMOE_ERR_FORMAT, start, "unterminated string literal");
    size_t end = i; /* closing quote */
    /* decoded text is never longer than the source text */
    char *o = jarena_alloc(lx->a, end - start + 1);
    if (!o) return OLMOE_ERR_NOMEM;
    size_t n = 0;
    for (i = start + 1; i < end;) {
        unsigned char c = (unsigned char)lx->src[i];
        if (c != '\\') {
            o[n++] = (char)c;
            i++;
            continue;
        }
        unsigned char e = (unsigned char)lx->src[i + 1];
        size_t esc = i;
        i += 2;
        unsigned long cp;
        int digits = 0;
        switch (e) {
        case '\n': continue; /* line continuation */
        case '\\': o[n++] = '\\'; continue;
        case '\'': o[n++] = '\''; continue;
        case '"': o[n++] = '"'; continue;
        case 'a': o[n++] = '\a'; continue;
        case 'b': o[n++] = '\b'; continue;
        case 'f': o[n++] = '\f'; continue;
        case 'n': o[n++] = '\n'; continue;
        case 'r': o[n++] = '\r'; continue;
        case 't': o[n++] = '\t'; continue;
        case 'v': o[n++] = '\v'; continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 'N': return lex_error(lx, OLMOE_ERR_UNSUPPORTED, esc, "\\N{...} escape in string literal");
        default:
            if (e >= '0' && e <= '7') {
                cp = (unsigned long)(e - '0');
                for (int k = 0; k < 2 && i < end && lx->src[i] >= '0' && lx->src[i] <= '7'; k++)
                    cp = cp * 8 + (unsigned long)(lx->src[i++] - '0');
                if (cp == 0)
                    return lex_error(lx, OLMOE_ERR_UNSUPPORTED, esc, "NUL character in string literal");
                n += jinja_utf8_encode((uint32_t)cp, o + n);
                continue;
            }
            if (e >= 0x80)
                return lex_error(lx, OLMOE_ERR_UNSUPPORTED, esc,
                                 "backslash before a non-ASCII character in string literal");
            /* unknown escapes keep the backslash (Python behaviour) */
            o[n++] = '\\';
            o[n++] = (char)e;
            continue;
        }
        cp = 0;
        for (int k = 0; k < digits; k++) {
            int h = i < end ? hexval(lx->src[i]) : -1;
            if (h < 0) return lex_error(lx, OLMOE_ERR_FORMAT, esc, "truncated \\x, \\u or \\U escape");
            cp = cp * 16 + (unsigned long)h;
            i++;
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return lex_error(lx, OLMOE_ERR_UNSUPPORTED, esc,
                             "escape for NUL, a surrogate or an invalid code point");
        /* \U0001F600 takes 10 source bytes and 4 output bytes: fits */
        n += jinja_utf8_encode((uint32_t)cp, o + n);
    }
    o[n] = '\0';
    jtoken *t = push(lx, JT_STRING, start);
    if (!t) return OLMOE_ERR_NOMEM;
    t->s = o;
    t->n = n;
    lx->pos = end + 1;
    return OLMOE_OK;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name_char(char c) { return is_name_start(c) || is_digit(c); }

static olmoe_status lex_number(lexer *lx) {
    size_t start = lx->pos, i = start;
    const char *s = lx->src;
    /* floats: digits ('.' digits)? e[+-]digits | digits '.' digits, not right after a '.' */
    if (!(start > 0 && s[start - 1] == '.')) {
        size_t j = i;
        while (j < lx->len && (is_digit(s[j]) || s[j] == '_')) j++;
        int is_float = 0;
        if (j + 1 < lx->len && s[j] == '.' && is_digit(s[j + 1])) is_float = 1;
        if (j < lx->len && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < lx->len && (s[k] == '+' || s[k] == '-')) k++;
            if (k < lx->len && is_digit(s[k])) is_float = 1;
        }
        if (is_float) return lex_error(lx, OLMOE_ERR_UNSUPPORTED, start, "float literal");
    }
    if (s[i] == '0' && i + 1 < lx->len && strchr("bBoOxX", s[i + 1]) && s[i + 1] != '\0')
        return lex_error(lx, OLMOE_ERR_UNSUPPORTED, start, "binary, octal or hex integer literal");
    long long v = 0;
    if (s[i] == '0') { /* 0(_?0)* */
        i++;
        while (i < lx->len && (s[i] == '0' || (s[i] == '_' && i + 1 < lx->len && s[i + 1] == '0'))) i++;
    } else { /* [1-9](_?\d)* */
        while (i < lx->len) {
            if (s[i] == '_' && i + 1 < lx->len && is_digit(s[i + 1])) i++;
            else if (!is_digit(s[i])) break;
            int d = s[i] - '0';
            if (v > (9223372036854775807LL - d) / 10)
                return lex_error(lx, OLMOE_ERR_UNSUPPORTED, start, "integer literal beyond 64 bits");
            v = v * 10 + d;
            i++;
        }
    }
    jtoken *t = push(lx, JT_INT, start);
    if (!t) return OLMOE_ERR_NOMEM;
    t->ival = v;
    lx->pos = i;
    return OLMOE_OK;
}

static const struct {
    const char *text;
    jop op;
} OPERATORS[] = {
    /* two-character operators first (longest match) */
    {"//", JOP_FLOORDIV}, {"**", JOP_POW}, {"==", JOP_EQ}, {"!=", JOP_NE},
    {">=", JOP_GTEQ},     {"<=", JOP_LTEQ}, {"+", JOP_ADD}, {"-", JOP_SUB},
    {"/", JOP_DIV},       {"*", JOP_MUL},  {"%", JOP_MOD}, {"~", JOP_TILDE},
    {"[", JOP_LBRACKET},  {"]", JOP_RBRACKET}, {"(", JOP_LPAREN}, {")", JOP_RPAREN},
    {"{", JOP_LBRACE},    {"}", JOP_RBRACE}, {">", JOP_GT}, {"<", JOP_LT},
    {"=", JOP_ASSIGN},    {".", JOP_DOT},  {":", JOP_COLON}, {"|", JOP_PIPE},
    {",", JOP_COMMA},     {";", JOP_SEMICOLON},
};

/* Tokens inside "{{ ... }}" (is_block = 0) or "{% ... %}" up to and including
 * the closing delimiter. Returns with lx->pos after it; *ends_newline tells
 * whether the closing match ended with a newline (Jinja's line_starting). */
static olmoe_status lex_tag(lexer *lx, int is_block, size_t open_pos, int *ends_newline) {
    char brackets[JINJA_MAX_DEPTH];
    int depth = 0;
    const char close = is_block ? '%' : '}';
    *ends_newline = 0;
    for (;;) {
        size_t p = lx->pos;
        if (depth == 0) {
            /* the closing delimiter is tried before anything else */
            size_t end = 0;
            int trailing = 0; /* 0 none, 1 strip whitespace, 2 one newline */
            if (is_block && starts(lx, p, "+%}")) end = p + 3;
            else if (p + 2 < lx->len && lx->src[p] == '-' && lx->src[p + 1] == close && lx->src[p + 2] == '}')
                end = p + 3, trailing = 1;
            else if (p + 1 < lx->len && lx->src[p] == close && lx->src[p + 1] == '}')
                end = p + 2, trailing = is_block ? 2 : 0;
            if (end) {
                jtoken *t = push(lx, is_block ? JT_BLOCK_END : JT_VAR_END, p);
                if (!t) return OLMOE_ERR_NOMEM;
                if (trailing == 1) end = skip_space(lx->src, lx->len, end);
                else if (trailing == 2 && end < lx->len && lx->src[end] == '\n') end++;
                *ends_newline = lx->src[end - 1] == '\n';
                lx->pos = end;
                return OLMOE_OK;
            }
        }
        size_t k = jinja_space_at(lx->src + p, lx->len - p);
        if (k) {
            lx->pos = skip_space(lx->src, lx->len, p);
            continue;
        }
        if (p >= lx->len)
            return lex_error(lx, OLMOE_ERR_FORMAT, open_pos,
                             is_block ? "unexpected end of template: '{%' tag is never closed"
                                      : "unexpected end of template: '{{' is never closed");
        char c = lx->src[p];
        olmoe_status st;
        if (is_digit(c)) {
            if ((st = lex_number(lx)) != OLMOE_OK) return st;
        } else if (is_name_start(c)) {
            size_t e = p;
            while (e < lx->len && is_name_char(lx->src[e])) e++;
            jtoken *t = push(lx, JT_NAME, p);
            if (!t || !(t->s = jarena_strndup(lx->a, lx->src + p, e - p))) return OLMOE_ERR_NOMEM;
            t->n = e - p;
            lx->pos = e;
        } else if (c == '\'' || c == '"') {
            if ((st = lex_string(lx)) != OLMOE_OK) return st;
        } else {
            size_t i, nops = sizeof OPERATORS / sizeof OPERATORS[0];
            for (i = 0; i < nops; i++)
                if (starts(lx, p, OPERATORS[i].text)) break;
            if (i == nops) {
                if ((unsigned char)c >= 0x80)
                    return lex_error(lx, OLMOE_ERR_UNSUPPORTED, p, "non-ASCII character inside a tag");
                char msg[64];
                snprintf(msg, sizeof msg, "unexpected character '%c'", c);
                return lex_error(lx, OLMOE_ERR_FORMAT, p, msg);
            }
            jop op = OPERATORS[i].op;
            if (op == JOP_LBRACE || op == JOP_LPAREN || op == JOP_LBRACKET) {
                if (depth == JINJA_MAX_DEPTH)
                    return lex_error(lx, OLMOE_ERR_UNSUPPORTED, p, "brackets nested too deeply");
                brackets[depth++] = op == JOP_LBRACE ? '}' : op == JOP_LPAREN ? ')' : ']';
            } else if (op == JOP_RBRACE || op == JOP_RPAREN || op == JOP_RBRACKET) {
                char want = OPERATORS[i].text[0];
                if (depth == 0 || brackets[depth - 1] != want) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "unexpected '%c'", want);
                    return lex_error(lx, OLMOE_ERR_FORMAT, p, msg);
                }
                depth--;
            }
            jtoken *t = push(lx, JT_OP, p);
            if (!t) return OLMOE_ERR_NOMEM;
            t->op = op;
            lx->pos = p + strlen(OPERATORS[i].text);
        }
    }
}

/* Jinja's whitespace_re.fullmatch(text, l_pos): one or more whitespace. */
static int all_space(const char *s, size_t n) {
    if (n == 0) return 0;
    return skip_space(s, n, 0) == n;
}

static olmoe_status lex_root(lexer *lx) {
    int line_starting = 1;
    const char *s = lx->src;
    while (lx->pos < lx->len) {
        size_t i = lx->pos;
        while (i + 1 < lx->len && !(s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')))
            i++;
        if (i + 1 >= lx->len) return push_data(lx, lx->pos, lx->len);
        char kind = s[i + 1];
        size_t p = i + 2;
        char sign = 0;
        if (p < lx->len && (s[p] == '-' || s[p] == '+')) sign = s[p++];
        if (kind == '%') { /* {% raw %} is matched before any other tag */
            size_t q = skip_space(s, lx->len, p);
            if (starts(lx, q, "raw")) {
                q = skip_space(s, lx->len, q + 3);
                if (starts(lx, q, "-%}") || starts(lx, q, "%}"))
                    return lex_error(lx, OLMOE_ERR_UNSUPPORTED, i, "tag 'raw'");
            }
        }
        /* whitespace control of the text before the tag */
        size_t text_end = i;
        if (sign == '-') {
            size_t k;
            while (text_end > lx->pos && (k = jinja_space_before(s + lx->pos, text_end - lx->pos)) > 0)
                text_end -= k;
        } else if (sign != '+' && kind != '{') {
            size_t l_pos = i;
            while (l_pos > lx->pos && s[l_pos - 1] != '\n') l_pos--;
            if ((l_pos > lx->pos || line_starting) && all_space(s + l_pos, i - l_pos)) text_end = l_pos;
        }
        olmoe_status st = push_data(lx, lx->pos, text_end);
        if (st != OLMOE_OK) return st;

        if (kind == '#') {
            size_t j = p, end = 0;
            for (; j + 1 < lx->len; j++) {
                if ((s[j] == '+' || s[j] == '-') && starts(lx, j + 1, "#}")) {
                    end = j + 3;
                    if (s[j] == '-') end = skip_space(s, lx->len, end);
                    break;
                }
                if (s[j] == '#' && s[j + 1] == '}') {
                    end = j + 2;
                    if (end < lx->len && s[end] == '\n') end++;
                    break;
                }
            }
            if (!end) return lex_error(lx, OLMOE_ERR_FORMAT, i, "missing end of comment tag");
            line_starting = s[end - 1] == '\n';
            lx->pos = end;
            continue;
        }
        if (!push(lx, kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, i)) return OLMOE_ERR_NOMEM;
        lx->pos = p;
        if ((st = lex_tag(lx, kind == '%', i, &line_starting)) != OLMOE_OK) return st;
    }
    return OLMOE_OK;
}

olmoe_status jinja_lex(jarena *a, const char *src, jtoken **toks, size_t *n_toks) {
    size_t len = strlen(src);
    char *norm = jarena_alloc(a, len + 1);
    if (!norm) return OLMOE_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n > 0 && norm[n - 1] == '\n') n--; /* keep_trailing_newline=False */
    norm[n] = '\0';

    lexer lx = {.a = a, .src = norm, .len = n, .line = 1};
    olmoe_status st = lex_root(&lx);
    if (st != OLMOE_OK) return st;
    if (!push(&lx, JT_EOF, lx.len)) return OLMOE_ERR_NOMEM;
    *toks = lx.toks;
    *n_toks = lx.n;
    return OLMOE_OK;
}
