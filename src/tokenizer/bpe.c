/* The BPE merge loop (HF `Word::merge_all`): a min-heap of candidate merges
 * ordered by (rank, position) over a doubly linked list of symbols, plus a
 * per-call cache of already encoded pieces. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util/error.h"

#define MERGE_EMPTY UINT64_MAX

static inline uint64_t merge_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static inline size_t merge_slot_of(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31)) & mask;
}

olmoe_status merge_map_init(merge_map *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    m->slots = malloc(cap * sizeof *m->slots);
    m->mask = cap - 1;
    if (!m->slots) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: cannot allocate the merge table");
    for (size_t i = 0; i < cap; i++) m->slots[i].key = MERGE_EMPTY;
    return OLMOE_OK;
}

void merge_map_free(merge_map *m) {
    free(m->slots);
    m->slots = NULL;
}

/* Later duplicates overwrite earlier ones, like HF's HashMap collect. */
int merge_map_put(merge_map *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id) {
    uint64_t key = merge_key(a, b);
    size_t i = merge_slot_of(key, m->mask);
    while (m->slots[i].key != MERGE_EMPTY && m->slots[i].key != key) i = (i + 1) & m->mask;
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].new_id = new_id;
    return 0;
}

static inline int merge_get(const merge_map *m, int32_t a, int32_t b, uint32_t *rank,
                            int32_t *new_id) {
    uint64_t key = merge_key(a, b);
    size_t i = merge_slot_of(key, m->mask);
    for (;;) {
        const merge_slot *sl = &m->slots[i];
        if (sl->key == key) {
            *rank = sl->rank;
            *new_id = sl->new_id;
            return 1;
        }
        if (sl->key == MERGE_EMPTY) return 0;
        i = (i + 1) & m->mask;
    }
}

/* ------------------------------------------------------------ heap */

static inline int merge_less(const bpe_merge *a, const bpe_merge *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_merge *h, size_t *n, bpe_merge v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&v, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static bpe_merge heap_pop(bpe_merge *h, size_t *n) {
    bpe_merge top = h[0];
    bpe_merge last = h[--(*n)];
    size_t i = 0, cnt = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= cnt) break;
        if (c + 1 < cnt && merge_less(&h[c + 1], &h[c])) c++;
        if (!merge_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (cnt) h[i] = last;
    return top;
}

/* ------------------------------------------------------------ scratch */

static olmoe_status ensure_symbols(tok_ctx *ctx, size_t n) {
    if (n <= ctx->sym_cap) return OLMOE_OK;
    size_t cap = ctx->sym_cap ? ctx->sym_cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(ctx->sym_id, cap * sizeof *a);
    if (a) ctx->sym_id = a;
    int32_t *b = realloc(ctx->sym_prev, cap * sizeof *b);
    if (b) ctx->sym_prev = b;
    int32_t *c = realloc(ctx->sym_next, cap * sizeof *c);
    if (c) ctx->sym_next = c;
    /* at most n-1 live pairs are ever queued at once, plus re-pushes: each
     * merge pushes at most two, so n + 2n bounds the heap */
    bpe_merge *h = realloc(ctx->heap, 3 * cap * sizeof *h);
    if (h) ctx->heap = h;
    if (!a || !b || !c || !h) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: out of memory");
    ctx->sym_cap = cap;
    ctx->heap_cap = 3 * cap;
    return OLMOE_OK;
}

void bpe_ctx_free(tok_ctx *ctx) {
    free(ctx->sym_id);
    free(ctx->sym_prev);
    free(ctx->sym_next);
    free(ctx->heap);
    free(ctx->cache);
}

/* ------------------------------------------------------------ cache */

static const bpe_cache_entry *cache_find(const tok_ctx *ctx, const char *s, size_t n,
                                         uint64_t h) {
    if (!ctx->cache) return NULL;
    const bpe_cache_entry *e = &ctx->cache[(size_t)h & ctx->cache_mask];
    if (e->hash == h && e->key_len == n && memcmp(e->key, s, n) == 0) return e;
    return NULL;
}

/* Best effort: on allocation failure the piece is simply not cached. */
static void cache_add(tok_ctx *ctx, const char *s, size_t n, uint64_t h, const int32_t *ids,
                      size_t n_ids) {
    if (n_ids > BPE_CACHE_IDS) return;
    if (!ctx->cache) {
        size_t cap = ctx->cache_want ? ctx->cache_want : 256;
        ctx->cache = calloc(cap, sizeof *ctx->cache);
        if (!ctx->cache) return;
        ctx->cache_mask = cap - 1;
    }
    bpe_cache_entry *e = &ctx->cache[(size_t)h & ctx->cache_mask];
    e->hash = h;
    e->key_len = (uint8_t)n;
    e->n_ids = (uint8_t)n_ids;
    memcpy(e->key, s, n);
    memcpy(e->ids, ids, n_ids * sizeof *ids);
}

/* ------------------------------------------------------------ encode */

/* Appends one initial symbol, handling the unknown token like HF's
 * merge_word (dropped without unk_token; fused when fuse_unk). */
static void add_symbol(const tokenizer *tok, tok_ctx *ctx, size_t *m, int32_t id, int *last_unk) {
    if (id < 0) {
        if (tok->unk_id < 0) return;
        if (tok->fuse_unk && *last_unk) return;
        ctx->sym_id[(*m)++] = tok->unk_id;
        *last_unk = 1;
        return;
    }
    ctx->sym_id[(*m)++] = id;
    *last_unk = 0;
}

olmoe_status bpe_encode_piece(tok_ctx *ctx, const char *s, size_t n, int byte_mapped) {
    const tokenizer *tok = ctx->tok;
    olmoe_status st;
    if (n == 0) return OLMOE_OK;

    if (tok->ignore_merges) {
        const char *key = s;
        size_t klen = n;
        if (byte_mapped) {
            if ((st = tok_buf_reserve(&ctx->tmp, 2 * n))) return st;
            klen = 0;
            for (size_t i = 0; i < n; i++)
                klen += utf8_encode(byte_level_cp((uint8_t)s[i]), ctx->tmp.p + klen);
            key = ctx->tmp.p;
        }
        int32_t id = strmap_get(&tok->vocab_map, key, klen);
        if (id >= 0) return ctx_push_id(ctx, id);
    }

    uint64_t h = 0;
    int cacheable = n <= BPE_CACHE_KEY;
    if (cacheable) {
        h = tok_hash(s, n) | 1; /* 0 marks an empty slot */
        const bpe_cache_entry *e = cache_find(ctx, s, n, h);
        if (e) {
            for (uint32_t i = 0; i < e->n_ids; i++)
                if ((st = ctx_push_id(ctx, e->ids[i]))) return st;
            return OLMOE_OK;
        }
    }

    if ((st = ensure_symbols(ctx, n + 1))) return st;
    size_t m = 0;
    int last_unk = 0;
    if (byte_mapped) {
        for (size_t i = 0; i < n; i++)
            add_symbol(tok, ctx, &m, tok->byte_id[(unsigned char)s[i]], &last_unk);
    } else {
        size_t i = 0;
        while (i < n) {
            size_t l = utf8_char_len(s + i, n - i);
            add_symbol(tok, ctx, &m, strmap_get(&tok->vocab_map, s + i, l), &last_unk);
            i += l;
        }
    }

    int32_t *id = ctx->sym_id, *prev = ctx->sym_prev, *next = ctx->sym_next;
    for (size_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    if (m > 1) {
        bpe_merge *heap = ctx->heap;
        size_t hn = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            bpe_merge mg;
            if (merge_get(&tok->merges, id[i], id[i + 1], &mg.rank, &mg.new_id)) {
                mg.pos = (uint32_t)i;
                heap_push(heap, &hn, mg);
            }
        }
        while (hn > 0) {
            bpe_merge top = heap_pop(heap, &hn);
            uint32_t p = top.pos;
            if (id[p] < 0) continue;          /* removed symbol */
            int32_t q = next[p];
            if (q < 0) continue;              /* last symbol */
            uint32_t rank;
            int32_t nid;
            if (!merge_get(&tok->merges, id[p], id[q], &rank, &nid) || nid != top.new_id)
                continue;                     /* stale entry */
            id[p] = top.new_id;
            id[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = (int32_t)p;
            if (hn + 2 > ctx->heap_cap) return olmoe_fail(OLMOE_ERR_NOMEM, "tokenizer: BPE heap overflow");
            bpe_merge mg;
            if (prev[p] >= 0 && merge_get(&tok->merges, id[prev[p]], id[p], &mg.rank, &mg.new_id)) {
                mg.pos = (uint32_t)prev[p];
                heap_push(heap, &hn, mg);
            }
            if (next[p] >= 0 && merge_get(&tok->merges, id[p], id[next[p]], &mg.rank, &mg.new_id)) {
                mg.pos = p;
                heap_push(heap, &hn, mg);
            }
        }
    }

    size_t start = ctx->n_ids;
    for (int32_t i = m ? 0 : -1; i >= 0; i = next[i])
        if ((st = ctx_push_id(ctx, id[i]))) return st;
    if (cacheable) cache_add(ctx, s, n, h, ctx->ids + start, ctx->n_ids - start);
    return OLMOE_OK;
}
