/* Reading a built tokenizer back out, in the form GGUF metadata stores it
 * (tokenizer.ggml.tokens, token_type, merges, pre). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util/error.h"

const char *tokenizer_vocab_entry(const tokenizer *tok, int32_t id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= tok->n_tokens || !tok->vocab[id]) return NULL;
    *len = tok->vocab_len[id];
    return tok->vocab[id];
}

int tokenizer_is_added(const tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_tokens && tok->added_index[id] >= 0;
}

const char *tokenizer_gguf_pre(const tokenizer *tok) { return tok->gguf_pre; }

typedef struct {
    uint32_t rank;
    int32_t left, right;
} ranked_merge;

static int by_rank(const void *a, const void *b) {
    uint32_t x = ((const ranked_merge *)a)->rank, y = ((const ranked_merge *)b)->rank;
    return x < y ? -1 : x > y;
}

olmoe_status tokenizer_export_merges(const tokenizer *tok, char ***out, size_t *n_out) {
    const merge_map *m = &tok->merges;
    size_t n = 0;
    for (size_t i = 0; i <= m->mask; i++) n += m->slots[i].key != UINT64_MAX;
    ranked_merge *r = malloc((n ? n : 1) * sizeof *r);
    char **merges = calloc(n ? n : 1, sizeof *merges);
    if (!r || !merges) {
        free(r);
        free(merges);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory exporting merges");
    }
    size_t k = 0;
    for (size_t i = 0; i <= m->mask; i++)
        if (m->slots[i].key != UINT64_MAX)
            r[k++] = (ranked_merge){m->slots[i].rank, (int32_t)(m->slots[i].key >> 32),
                                    (int32_t)(m->slots[i].key & 0xffffffffu)};
    qsort(r, n, sizeof *r, by_rank);
    olmoe_status st = OLMOE_OK;
    for (size_t i = 0; i < n && !st; i++) {
        uint32_t a = tok->vocab_len[r[i].left], b = tok->vocab_len[r[i].right];
        merges[i] = malloc((size_t)a + b + 2);
        if (!merges[i]) { st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory exporting merges"); break; }
        memcpy(merges[i], tok->vocab[r[i].left], a);
        merges[i][a] = ' ';
        memcpy(merges[i] + a + 1, tok->vocab[r[i].right], b);
        merges[i][a + b + 1] = 0;
    }
    free(r);
    if (st) {
        for (size_t i = 0; i < n; i++) free(merges[i]);
        free(merges);
        return st;
    }
    *out = merges;
    *n_out = n;
    return OLMOE_OK;
}
