/* Everything between the raw text and the BPE model: added-token
 * extraction (HF AddedVocabulary), normalizers (utf8proc), and the
 * pre-tokenizers (Split, ByteLevel) with PCRE2 standing in for Oniguruma. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer_internal.h"
#include "util/error.h"

/* ------------------------------------------------------------ regex */

/* Oniguruma's \s (as HF's patterns use it) is Unicode White_Space; PCRE2's
 * \s with UCP also matches U+180E. Spell White_Space out instead. */
#define WS_IN "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sbuf_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static char *rewrite_pattern(const char *pat) {
    sbuf b = {0};
    size_t n = strlen(pat), i = 0;
    int depth = 0; /* character-class nesting */
    int ok = sbuf_add(&b, "", 0) == 0;
    while (ok && i < n) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[i + 1];
            if (d == 's') ok = sbuf_add(&b, depth ? WS_IN : "[" WS_IN "]", depth ? strlen(WS_IN) : strlen(WS_IN) + 2) == 0;
            else if (d == 'S' && !depth) ok = sbuf_add(&b, "[^" WS_IN "]", strlen(WS_IN) + 3) == 0;
            else if (d == 'Q') { /* literal run up to \E */
                const char *e = strstr(pat + i + 2, "\\E");
                size_t len = e ? (size_t)(e - pat) + 2 - i : n - i;
                ok = sbuf_add(&b, pat + i, len) == 0;
                i += len;
                continue;
            } else ok = sbuf_add(&b, pat + i, 2) == 0;
            i += 2;
            continue;
        }
        if (c == '[') {
            if (depth && i + 1 < n && pat[i + 1] == ':') { /* [:alpha:] */
                const char *e = strstr(pat + i + 2, ":]");
                size_t len = e ? (size_t)(e - pat) + 2 - i : n - i;
                ok = sbuf_add(&b, pat + i, len) == 0;
                i += len;
                continue;
            }
            depth++;
            ok = sbuf_add(&b, pat + i, 1) == 0;
            i++;
            if (i < n && pat[i] == '^') ok = ok && sbuf_add(&b, pat + i++, 1) == 0;
            if (i < n && pat[i] == ']') ok = ok && sbuf_add(&b, pat + i++, 1) == 0; /* literal */
            continue;
        }
        if (c == ']' && depth) depth--;
        ok = sbuf_add(&b, pat + i, 1) == 0;
        i++;
    }
    if (!ok) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

olmoe_status tok_regex_compile(tok_regex *re, const char *pattern, int is_regex,
                               const char *source, const char *field) {
    char *pat = is_regex ? rewrite_pattern(pattern) : NULL;
    if (is_regex && !pat) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", source);
    int err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | (is_regex ? PCRE2_UCP : PCRE2_LITERAL);
    re->code = pcre2_compile((PCRE2_SPTR)(is_regex ? pat : pattern), PCRE2_ZERO_TERMINATED, opts,
                             &err, &off, NULL);
    free(pat);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: %s: cannot compile regex \"%s\": %s", source,
                          field, pattern, (const char *)msg);
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    return OLMOE_OK;
}

void tok_regex_free(tok_regex *re) {
    pcre2_code_free(re->code);
    re->code = NULL;
}

/* Iterates matches like rust-onig's find_iter: an empty match right after
 * the previous match is skipped by advancing one character. */
typedef struct {
    size_t pos;
    size_t last_end;
    int has_last;
} re_iter;

static int re_next(tok_ctx *ctx, const tok_regex *re, const char *s, size_t n, re_iter *it,
                   size_t *ms, size_t *me, olmoe_status *st) {
    for (;;) {
        if (it->pos > n) return 0;
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, it->pos, PCRE2_NO_UTF_CHECK, ctx->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            *st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: regex match failed: %s", ctx->tok->source,
                             (const char *)msg);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
        size_t a = ov[0], b = ov[1];
        if (a == b && it->has_last && it->last_end == b) {
            it->pos += it->pos < n ? utf8_char_len(s + it->pos, n - it->pos) : 1;
            continue;
        }
        it->pos = b;
        it->last_end = b;
        it->has_last = 1;
        *ms = a;
        *me = b;
        return 1;
    }
}

/* ------------------------------------------------------------ pre-tokenizers */

static olmoe_status run_step(tok_ctx *ctx, int step, const char *s, size_t n);

/* Streams (offsets, is_match) segments through HF's SplitDelimiterBehavior,
 * keeping at most one pending output piece. */
typedef struct {
    int behavior;
    int has_pending, pending_match, prev_match;
    size_t ps, pe;
} seg_state;

static olmoe_status emit(tok_ctx *ctx, int step, const char *base, size_t a, size_t b) {
    if (b <= a) return OLMOE_OK; /* HF drops empty splits */
    return run_step(ctx, step + 1, base + a, b - a);
}

static olmoe_status seg_feed(tok_ctx *ctx, int step, const char *base, seg_state *ss, size_t a,
                             size_t b, int m) {
    olmoe_status st = OLMOE_OK;
    switch (ss->behavior) {
    case TOK_SPLIT_ISOLATED:
        return emit(ctx, step, base, a, b);
    case TOK_SPLIT_REMOVED:
        return m ? OLMOE_OK : emit(ctx, step, base, a, b);
    case TOK_SPLIT_CONTIGUOUS:
    case TOK_SPLIT_MERGED_WITH_PREVIOUS: {
        int extend = ss->behavior == TOK_SPLIT_CONTIGUOUS ? (m == ss->prev_match)
                                                          : (m && !ss->prev_match);
        ss->prev_match = m;
        if (extend && ss->has_pending) {
            ss->pe = b;
            return OLMOE_OK;
        }
        if (ss->has_pending) st = emit(ctx, step, base, ss->ps, ss->pe);
        ss->has_pending = 1;
        ss->ps = a;
        ss->pe = b;
        return st;
    }
    case TOK_SPLIT_MERGED_WITH_NEXT:
        if (ss->has_pending) {
            ss->has_pending = 0;
            if (!m) return emit(ctx, step, base, ss->ps, b);
            if ((st = emit(ctx, step, base, ss->ps, ss->pe))) return st;
        }
        if (m) {
            ss->has_pending = 1;
            ss->ps = a;
            ss->pe = b;
            return OLMOE_OK;
        }
        return emit(ctx, step, base, a, b);
    }
    return OLMOE_OK;
}

static olmoe_status split_by_regex(tok_ctx *ctx, int step, const tok_regex *re, int behavior,
                                   int invert, const char *s, size_t n) {
    seg_state ss = {behavior, 0, 0, 0, 0, 0};
    re_iter it = {0, 0, 0};
    size_t prev = 0, a, b;
    olmoe_status st = OLMOE_OK;
    int r;
    while ((r = re_next(ctx, re, s, n, &it, &a, &b, &st)) == 1) {
        if (prev != a && (st = seg_feed(ctx, step, s, &ss, prev, a, invert))) return st;
        if ((st = seg_feed(ctx, step, s, &ss, a, b, !invert))) return st;
        prev = b;
    }
    if (r < 0) return st;
    if (prev != n && (st = seg_feed(ctx, step, s, &ss, prev, n, invert))) return st;
    if (ss.has_pending) return emit(ctx, step, s, ss.ps, ss.pe);
    return OLMOE_OK;
}

static olmoe_status byte_level_step(tok_ctx *ctx, int step, const pretok_step *ps, const char *s,
                                    size_t n) {
    olmoe_status st;
    if (ps->add_prefix_space && s[0] != ' ') {
        tok_buf *b = &ctx->step_buf[step][0];
        if ((st = tok_buf_reserve(b, n + 1))) return st;
        b->p[0] = ' ';
        memcpy(b->p + 1, s, n);
        s = b->p;
        n++;
    }
    if (ps->use_regex) return split_by_regex(ctx, step, &ps->re, TOK_SPLIT_ISOLATED, 0, s, n);
    return run_step(ctx, step + 1, s, n);
}

/* Passes a piece to step `step` (or to the model after the last step). */
static olmoe_status run_step(tok_ctx *ctx, int step, const char *s, size_t n) {
    const tokenizer *tok = ctx->tok;
    olmoe_status st;
    if (n == 0) return OLMOE_OK;
    if (step > 0 && tok->steps[step - 1].kind == TOK_PRE_BYTE_LEVEL &&
        !(step == tok->n_steps && tok->defer_byte_map)) {
        /* A ByteLevel step followed by more steps: materialize the mapping. */
        tok_buf *b = &ctx->step_buf[step - 1][1];
        if ((st = tok_buf_reserve(b, 2 * n))) return st;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += utf8_encode(byte_level_cp((uint8_t)s[i]), b->p + k);
        s = b->p;
        n = k;
    }
    if (step == tok->n_steps) return bpe_encode_piece(ctx, s, n, tok->defer_byte_map);
    const pretok_step *ps = &tok->steps[step];
    if (ps->kind == TOK_PRE_BYTE_LEVEL) return byte_level_step(ctx, step, ps, s, n);
    return split_by_regex(ctx, step, &ps->re, ps->behavior, ps->invert, s, n);
}

/* ------------------------------------------------------------ normalizers */

/* One normal form over s[0..n). ASCII characters are starters that never
 * compose with what precedes them, so only the non-ASCII runs (with the
 * character just before each run) go through utf8proc. */
static olmoe_status normalize_one(const tokenizer *tok, tokenizer_norm form, const char *s,
                                  size_t n, char **out, size_t *out_len) {
    int opts = UTF8PROC_STABLE;
    switch (form) {
    case TOK_NORM_NFC: opts |= UTF8PROC_COMPOSE; break;
    case TOK_NORM_NFD: opts |= UTF8PROC_DECOMPOSE; break;
    case TOK_NORM_NFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TOK_NORM_NFKD: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    sbuf b = {0};
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80) j++;
        if (j == n) {
            if (sbuf_add(&b, s + i, n - i)) goto nomem;
            break;
        }
        /* s[j] starts a non-ASCII run; include the ASCII char before it */
        size_t a = j > i ? j - 1 : j;
        if (sbuf_add(&b, s + i, a - i)) goto nomem;
        size_t e = j;
        while (e < n && (unsigned char)s[e] >= 0x80) e++;
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s + a, (utf8proc_ssize_t)(e - a),
                                          &res, (utf8proc_option_t)opts);
        if (r < 0) {
            free(res);
            free(b.p);
            return olmoe_fail(r == UTF8PROC_ERROR_NOMEM ? OLMOE_ERR_NOMEM : OLMOE_ERR_ARG,
                              "%s: normalizer: %s", tok->source, utf8proc_errmsg(r));
        }
        int bad = sbuf_add(&b, (const char *)res, (size_t)r);
        free(res);
        if (bad) goto nomem;
        i = e;
    }
    if (!b.p && sbuf_add(&b, "", 0)) goto nomem;
    *out = b.p;
    *out_len = b.n;
    return OLMOE_OK;
nomem:
    free(b.p);
    return olmoe_fail(OLMOE_ERR_NOMEM, "%s: normalizer: out of memory", tok->source);
}

olmoe_status normalize_text(const tokenizer *tok, const char *s, size_t n, char **out,
                            size_t *out_len) {
    *out = NULL;
    *out_len = n;
    if (tok->n_norms == 0) return OLMOE_OK;
    int ascii = 1;
    for (size_t i = 0; i < n && ascii; i++) ascii = (unsigned char)s[i] < 0x80;
    if (ascii) return OLMOE_OK; /* every Unicode normal form leaves ASCII alone */
    char *cur = NULL;
    for (int k = 0; k < tok->n_norms; k++) {
        char *next = NULL;
        size_t nl = 0;
        olmoe_status st = normalize_one(tok, tok->norms[k], cur ? cur : s, cur ? *out_len : n,
                                        &next, &nl);
        free(cur);
        if (st) return st;
        cur = next;
        *out_len = nl;
    }
    *out = cur;
    return OLMOE_OK;
}

/* ------------------------------------------------------------ added tokens */

static int32_t trie_new_node(added_trie *t, unsigned char byte) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        trie_node *p = realloc(t->nodes, cap * sizeof *p);
        if (!p) return -1;
        t->nodes = p;
        t->cap = cap;
    }
    trie_node *nd = &t->nodes[t->n];
    nd->child = nd->sibling = nd->value = -1;
    nd->byte = byte;
    return (int32_t)t->n++;
}

olmoe_status added_trie_build(added_trie *t, const added_token *added, size_t n_added,
                              int normalized) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 256; i++) t->root[i] = -1;
    t->empty = 1;
    for (size_t k = 0; k < n_added; k++) {
        if (!added[k].normalized != !normalized) continue;
        const unsigned char *p = (const unsigned char *)(normalized ? added[k].pattern : added[k].content);
        size_t len = normalized ? added[k].pattern_len : added[k].len;
        if (len == 0) continue;
        t->empty = 0;
        int32_t cur = t->root[p[0]];
        if (cur < 0) {
            if ((cur = trie_new_node(t, p[0])) < 0) goto nomem;
            t->root[p[0]] = cur;
        }
        for (size_t i = 1; i < len; i++) {
            int32_t c = t->nodes[cur].child;
            while (c >= 0 && t->nodes[c].byte != p[i]) c = t->nodes[c].sibling;
            if (c < 0) {
                if ((c = trie_new_node(t, p[i])) < 0) goto nomem;
                t->nodes[c].sibling = t->nodes[cur].child;
                t->nodes[cur].child = c;
            }
            cur = c;
        }
        t->nodes[cur].value = (int32_t)k;
    }
    return OLMOE_OK;
nomem:
    added_trie_free(t);
    return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: out of memory building the added-token trie");
}

void added_trie_free(added_trie *t) {
    free(t->nodes);
    t->nodes = NULL;
}

/* Leftmost-longest match at or after `from`; returns the added index. */
static int32_t trie_find(const added_trie *t, const char *s, size_t n, size_t from, size_t *ms,
                         size_t *me) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        int32_t cur = t->root[u[i]];
        if (cur < 0) continue;
        int32_t best = -1;
        size_t best_end = 0, j = i;
        for (;;) {
            if (t->nodes[cur].value >= 0) {
                best = t->nodes[cur].value;
                best_end = j + 1;
            }
            if (++j >= n) break;
            int32_t c = t->nodes[cur].child;
            while (c >= 0 && t->nodes[c].byte != u[j]) c = t->nodes[c].sibling;
            if (c < 0) break;
            cur = c;
        }
        if (best >= 0) {
            *ms = i;
            *me = best_end;
            return best;
        }
    }
    return -1;
}

static uint32_t last_cp(const char *s, size_t end) {
    size_t i = end;
    do i--; while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    uint32_t cp;
    utf8_decode((const unsigned char *)s + i, end - i, &cp);
    return cp;
}

static olmoe_status stage_normalized(tok_ctx *ctx, const char *s, size_t n);

/* HF AddedVocabulary::find_matches + split_with_indices. Level 0 works on
 * the raw text with non-normalized tokens; level 1 on normalized text. */
static olmoe_status split_added(tok_ctx *ctx, int level, const char *s, size_t n) {
    const tokenizer *tok = ctx->tok;
    const added_trie *t = level == 0 ? &tok->trie_raw : &tok->trie_norm;
    olmoe_status st;
#define TEXT_PIECE(a, b)                                                                     \
    ((b) > (a) ? (level == 0 ? stage_normalized(ctx, s + (a), (b) - (a))                  \
                             : run_step(ctx, 0, s + (a), (b) - (a)))                      \
               : OLMOE_OK)
    if (t->empty) return TEXT_PIECE(0, n);
    size_t pos = 0, start_offset = 0, start, stop;
    int32_t k;
    while (pos < n && (k = trie_find(t, s, n, pos, &start, &stop)) >= 0) {
        pos = stop;
        const added_token *at = &tok->added[k];
        if (at->single_word) {
            int start_space = start == 0 || !uni_is_word(last_cp(s, start));
            uint32_t cp = 0;
            if (stop < n) utf8_decode((const unsigned char *)s + stop, n - stop, &cp);
            int stop_space = stop == n || !uni_is_word(cp);
            if (!start_space || !stop_space) continue;
        }
        if (at->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t i = ns;
                do i--; while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
                uint32_t cp;
                utf8_decode((const unsigned char *)s + i, ns - i, &cp);
                if (!uni_is_space(cp)) break;
                ns = i;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (at->rstrip) {
            while (stop < n) {
                uint32_t cp;
                size_t l = utf8_decode((const unsigned char *)s + stop, n - stop, &cp);
                if (!uni_is_space(cp)) break;
                stop += l;
            }
        }
        if (start_offset < start && (st = TEXT_PIECE(start_offset, start))) return st;
        if ((st = ctx_push_id(ctx, at->id))) return st;
        start_offset = stop;
    }
    if (start_offset < n) return TEXT_PIECE(start_offset, n);
    return OLMOE_OK;
#undef TEXT_PIECE
}

static olmoe_status stage_normalized(tok_ctx *ctx, const char *s, size_t n) {
    char *norm;
    size_t len;
    olmoe_status st = normalize_text(ctx->tok, s, n, &norm, &len);
    if (st) return st;
    st = split_added(ctx, 1, norm ? norm : s, len);
    free(norm);
    return st;
}

olmoe_status pipeline_encode(tok_ctx *ctx, const char *text, size_t len) {
    return split_added(ctx, 0, text, len);
}
