/* What an index knows of its vocabulary: unigram counts (from the unigram
 * files, or one scan of the corpus on first use) and the tokenizer for
 * text queries (loaded on first use by index_tokenizer.c: tokenizer.json,
 * a model folder or a GGUF file).
 * Both are built under the index's lock, so queries stay thread-safe. */
#include <inttypes.h>
#include <stdlib.h>

#include "trace/index.h"
#include "trace/index_format.h"
#include "util/error.h"
#include "util/file.h"

static int by_id(const void *a, const void *b) {
    uint64_t x = ((const struct unigram_pair *)a)->id, y = ((const struct unigram_pair *)b)->id;
    return x < y ? -1 : x > y;
}

/* Sorts the sparse pairs and merges equal ids. */
static void unigram_compact(unigram_table *u) {
    if (u->n_sparse) qsort(u->sparse, u->n_sparse, sizeof *u->sparse, by_id);
    size_t m = 0;
    for (size_t i = 0; i < u->n_sparse; i++) {
        if (m && u->sparse[m - 1].id == u->sparse[i].id)
            u->sparse[m - 1].count += u->sparse[i].count;
        else u->sparse[m++] = u->sparse[i];
    }
    u->n_sparse = u->n_sorted = m;
}

static olmoe_status unigram_add_sparse(unigram_table *u, uint64_t id, uint64_t count) {
    if (u->n_sparse == u->cap_sparse) {
        unigram_compact(u);
        if (2 * u->n_sparse >= u->cap_sparse) { /* mostly distinct ids: grow */
            size_t cap = u->cap_sparse ? 2 * u->cap_sparse : 256;
            struct unigram_pair *g = realloc(u->sparse, cap * sizeof *g);
            if (!g) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for unigram counts");
            u->sparse = g;
            u->cap_sparse = cap;
        }
    }
    u->sparse[u->n_sparse].id = id;
    u->sparse[u->n_sparse++].count = count;
    return OLMOE_OK;
}

/* Adds `count` occurrences of `id` (separators are only summed). */
static olmoe_status unigram_add(olmoe_index *ix, uint64_t id, uint64_t count) {
    unigram_table *u = &ix->unigram;
    if (id == separator_id(ix->width)) return OLMOE_OK;
    if (id >= UNIGRAM_DENSE_IDS) return unigram_add_sparse(u, id, count);
    if (id >= u->n_dense) {
        size_t cap = u->n_dense ? u->n_dense : 1024;
        while (cap <= id) cap *= 2;
        uint64_t *g = realloc(u->dense, cap * sizeof *g);
        if (!g) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory for unigram counts");
        memset(g + u->n_dense, 0, (cap - u->n_dense) * sizeof *g);
        u->dense = g;
        u->n_dense = cap;
    }
    u->dense[id] += count;
    return OLMOE_OK;
}

void unigram_table_free(unigram_table *u) {
    free(u->dense);
    free(u->sparse);
    memset(u, 0, sizeof *u);
}

olmoe_status index_add_unigram_file(olmoe_index *ix, const char *path, uint64_t n_tokens) {
    char *text;
    olmoe_status st = file_read_all(path, &text, NULL);
    if (st) return st;
    /* Either "id count" per line, or one count per line (line number = id). */
    uint64_t sum = 0, line = 0;
    char *p = text;
    while (!st && *p) {
        char *end;
        uint64_t a = strtoull(p, &end, 10), b = a, id = line;
        int two = 0;
        if (end == p) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: line %" PRIu64 ": expected 'token_id count'",
                            path, line + 1);
            break;
        }
        p = end;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != '\n' && *p != '\r' && *p) {
            b = strtoull(p, &end, 10);
            two = end != p;
            p = end;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p && *p != '\n') {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: line %" PRIu64 ": expected 'token_id count'",
                            path, line + 1);
            break;
        }
        if (*p) p++;
        if (two) id = a;
        if (id > separator_id(ix->width)) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: line %" PRIu64 ": token id %" PRIu64
                            " does not fit %d-byte tokens", path, line + 1, id, ix->width);
            break;
        }
        sum += b;
        st = unigram_add(ix, id, b);
        line++;
    }
    if (!st && sum != n_tokens)
        st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: counts sum to %" PRIu64 ", not the shard's %" PRIu64
                        " tokens", path, sum, n_tokens);
    free(text);
    return st;
}

olmoe_status olmoe_index_unigram_count(const olmoe_index *index, int32_t id, uint64_t *count) {
    olmoe_index *ix = (olmoe_index *)index; /* only the lazily built state changes */
    unigram_table *u = &ix->unigram;
    olmoe_status st = OLMOE_OK;
    *count = 0;
    pthread_mutex_lock(&ix->lock);
    for (int i = 0; !ix->unigram_ready && i < ix->n_shards && !st; i++) {
        const index_shard *s = &ix->shards[i];
        const unsigned char *text = s->tokenized.data;
        for (uint64_t t = 0; t < s->n_tokens && !st; t++)
            st = unigram_add(ix, read_le(text + t * (uint64_t)ix->width, ix->width), 1);
    }
    if (st) unigram_table_free(u);
    else ix->unigram_ready = 1;
    if (u->n_sorted != u->n_sparse) unigram_compact(u);
    if (!st && id >= 0 && (size_t)id < u->n_dense) {
        *count = u->dense[id];
    } else if (!st && id >= 0) {
        struct unigram_pair key = {(uint64_t)id, 0}, *hit;
        hit = bsearch(&key, u->sparse, u->n_sparse, sizeof key, by_id);
        if (hit) *count = hit->count;
    }
    pthread_mutex_unlock(&ix->lock);
    return st;
}

olmoe_status index_get_tokenizer(const olmoe_index *index, const tokenizer **tok) {
    olmoe_index *ix = (olmoe_index *)index; /* only the lazily built state changes */
    olmoe_status st = OLMOE_OK;
    pthread_mutex_lock(&ix->lock);
    if (!ix->tok.tok && !ix->tokenizer_path)
        st = olmoe_fail(OLMOE_ERR_ARG, "the index names no tokenizer (no 'tokenizer' in its "
                        INDEX_MANIFEST "); give one, or token ids");
    else if (!ix->tok.tok)
        st = index_tokenizer_open(ix->tokenizer_path, &ix->tok);
    *tok = ix->tok.tok;
    pthread_mutex_unlock(&ix->lock);
    return st;
}

olmoe_status olmoe_index_tokenize(const olmoe_index *ix, const char *text, size_t len,
                                  int32_t **ids, size_t *n_ids) {
    const tokenizer *tok;
    olmoe_status st = index_get_tokenizer(ix, &tok);
    return st ? st : tokenizer_encode(tok, text, len, ids, n_ids);
}

olmoe_status olmoe_index_detokenize(const olmoe_index *ix, const int32_t *ids, size_t n_ids,
                                    char **text) {
    const tokenizer *tok;
    size_t len;
    olmoe_status st = index_get_tokenizer(ix, &tok);
    return st ? st : tokenizer_decode(tok, ids, n_ids, 0, text, &len);
}

olmoe_status olmoe_index_token_bytes(const olmoe_index *ix, int32_t id, const char **bytes,
                                     size_t *len) {
    const tokenizer *tok;
    olmoe_status st = index_get_tokenizer(ix, &tok);
    if (st) return st;
    *len = 0;
    *bytes = tokenizer_token_bytes(tok, id, len);
    if (!*bytes)
        return olmoe_fail(OLMOE_ERR_ARG, "token id %" PRId32 " is not in the tokenizer", id);
    return OLMOE_OK;
}
