/* Private structures shared by the tokenizer's source files. */
#ifndef OLMOE_TOKENIZER_INTERNAL_H
#define OLMOE_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

/* ------------------------------------------------------------ byte_level.c */

/* GPT-2's byte <-> code point table (bytes_to_unicode). */
uint32_t byte_level_cp(uint8_t b);
int byte_level_byte(uint32_t cp); /* -1 if cp is not in the table */

/* Decodes one UTF-8 character of valid UTF-8; returns its length. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
size_t utf8_encode(uint32_t cp, char *out); /* out: >= 4 bytes */
/* Returns 1 if s[0..n) is valid UTF-8, else 0 and *bad = offset. */
int utf8_valid(const char *s, size_t n, size_t *bad);
/* Length of the next valid-or-not "char" for advancing (1..4). */
size_t utf8_char_len(const char *s, size_t n);
/* Appends s[0..n) to out, replacing invalid sequences by U+FFFD exactly
 * like Rust's String::from_utf8_lossy. out must hold 3*n bytes. Returns the
 * number of bytes written. */
size_t utf8_lossy(const unsigned char *s, size_t n, char *out);

/* Unicode White_Space / regex-crate \w tests (via utf8proc categories). */
int uni_is_space(uint32_t cp);
int uni_is_word(uint32_t cp);

/* ------------------------------------------------------------ hashing */

uint64_t tok_hash(const void *p, size_t n);

/* String -> id map (open addressing); keys live elsewhere. */
typedef struct {
    const char *key;
    uint32_t len;
    int32_t val;
} strmap_entry;

typedef struct {
    strmap_entry *e;
    size_t mask; /* capacity - 1 */
    size_t n;
} strmap;

int strmap_init(strmap *m, size_t expected);
void strmap_free(strmap *m);
/* Inserts or overwrites; 0 on success, -1 on allocation failure. */
int strmap_put(strmap *m, const char *key, size_t len, int32_t val);
int32_t strmap_get(const strmap *m, const char *key, size_t len); /* -1 if absent */

/* ------------------------------------------------------------ regex */

typedef struct {
    pcre2_code *code;
} tok_regex;

/* Compiles an Oniguruma-style pattern (as HF uses it) with PCRE2, adapting
 * \s to Unicode White_Space. is_regex = 0 compiles a literal string. */
olmoe_status tok_regex_compile(tok_regex *re, const char *pattern, int is_regex,
                               const char *source, const char *field);
void tok_regex_free(tok_regex *re);

/* ------------------------------------------------------------ added tokens */

typedef struct {
    int32_t child, sibling, value; /* value: index into tokenizer.added or -1 */
    unsigned char byte;
} trie_node;

typedef struct {
    trie_node *nodes;
    size_t n, cap;
    int32_t root[256];
    int empty; /* no patterns */
} added_trie;

typedef struct {
    char *content;
    size_t len;
    char *pattern; /* normalized content for normalized tokens */
    size_t pattern_len;
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} added_token;

/* ------------------------------------------------------------ tokenizer */

typedef struct {
    uint64_t key; /* (left << 32) | right; UINT64_MAX = empty */
    uint32_t rank;
    int32_t new_id;
} merge_slot;

typedef struct {
    merge_slot *slots;
    size_t mask;
} merge_map;

typedef struct {
    tokenizer_pretok_kind kind;
    int add_prefix_space, use_regex;
    tok_regex re; /* Split pattern, or the GPT-2 regex for ByteLevel */
    tokenizer_split_behavior behavior;
    int invert;
} pretok_step;

struct tokenizer {
    char *source;
    const char *gguf_pre; /* llama.cpp pre-tokenizer name, "" if none fits */
    int32_t n_tokens;

    /* model vocabulary */
    char **vocab;       /* [n_tokens], NULL where unused */
    uint32_t *vocab_len;
    strmap vocab_map;
    int32_t byte_id[256]; /* vocab id of the byte-level char of each byte, -1 */
    merge_map merges;
    int ignore_merges;
    int32_t unk_id; /* -1: none */
    int fuse_unk;

    /* added tokens */
    added_token *added;
    size_t n_added;
    strmap added_map;      /* content -> index into added */
    int32_t *added_index;  /* [n_tokens]: id -> index into added, -1 */
    added_trie trie_raw, trie_norm;

    /* pipeline */
    tokenizer_norm norms[TOKENIZER_MAX_STEPS];
    int n_norms;
    pretok_step steps[TOKENIZER_MAX_STEPS];
    int n_steps;
    int defer_byte_map; /* last step is ByteLevel: BPE maps bytes itself */

    tokenizer_decoder_kind decoder;
    char **dec;          /* [n_tokens] decoded bytes of each token, NULL if none */
    uint32_t *dec_len;

    int32_t *prefix_ids, *suffix_ids;
    size_t n_prefix, n_suffix;
};

/* Per-call scratch state of tokenizer_encode. */
typedef struct {
    char *p;
    size_t cap;
} tok_buf;

typedef struct {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
} bpe_merge;

/* Direct-mapped cache of encoded pieces: one 64-byte line per entry. */
#define BPE_CACHE_KEY 28
#define BPE_CACHE_IDS 6
typedef struct {
    uint64_t hash; /* 0 = empty */
    uint8_t key_len, n_ids;
    uint8_t pad[2];
    int32_t ids[BPE_CACHE_IDS];
    char key[BPE_CACHE_KEY];
} bpe_cache_entry;

typedef struct {
    const tokenizer *tok;
    int32_t *ids;
    size_t n_ids, cap_ids;
    pcre2_match_data *md;
    tok_buf step_buf[TOKENIZER_MAX_STEPS][2];
    tok_buf tmp;
    /* BPE scratch */
    int32_t *sym_id, *sym_prev, *sym_next;
    size_t sym_cap;
    bpe_merge *heap;
    size_t heap_cap;
    /* BPE cache (per call, or per tokenizer_session) */
    bpe_cache_entry *cache;
    size_t cache_mask;
    size_t cache_want; /* entries to allocate on first use */
} tok_ctx;

olmoe_status tok_buf_reserve(tok_buf *b, size_t n);
olmoe_status ctx_push_id(tok_ctx *ctx, int32_t id);

/* pretokenize.c */
olmoe_status added_trie_build(added_trie *t, const added_token *added, size_t n_added,
                              int normalized);
void added_trie_free(added_trie *t);
/* Runs added-token extraction, normalization, pre-tokenization and BPE on text. */
olmoe_status pipeline_encode(tok_ctx *ctx, const char *text, size_t len);
/* Applies the tokenizer's normalizers; *out is malloc'ed (or NULL and the
 * input unchanged when no normalizer changes it). */
olmoe_status normalize_text(const tokenizer *tok, const char *s, size_t n, char **out,
                            size_t *out_len);

/* bpe.c */
olmoe_status merge_map_init(merge_map *m, size_t n);
void merge_map_free(merge_map *m);
int merge_map_put(merge_map *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id);
olmoe_status bpe_encode_piece(tok_ctx *ctx, const char *s, size_t n, int byte_mapped);
void bpe_ctx_free(tok_ctx *ctx);

#endif
