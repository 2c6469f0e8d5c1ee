/* olmoe_decode_batch (continuous batching) against olmoe_decode one
 * sequence at a time: the same logits bit for bit, for every weight type
 * and architecture, with prompts of different lengths, prompts longer than
 * a forward chunk mixed with single generated tokens, recorded routing, and
 * the argument errors (nothing changes when a batch is refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "olmoe.h"

#define N_SEQ 3
#define STEPS 6

static int argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* Prompt i: n pseudo-random ids below V (ids vary with i and the seed). */
static int32_t *make_prompt(int n, int V, unsigned seed) {
    int32_t *p = malloc((size_t)n * sizeof *p);
    for (int k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        p[k] = (int32_t)((seed >> 8) % (unsigned)V);
    }
    return p;
}

static olmoe_context *new_ctx(olmoe_model *m, int n_ctx, int routing) {
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 2;
    cp.record_routing = routing;
    olmoe_context *c = NULL;
    CHECK(olmoe_context_new(m, &cp, &c) == OLMOE_OK);
    return c;
}

/* Runs N_SEQ sequences (prompt lengths `lens`) and STEPS greedy tokens
 * each, once alone and once batched; every logit row must match exactly. */
static void compare(olmoe_model *m, const char *what, const int *lens) {
    const int V = olmoe_vocab_size(m);
    olmoe_model_info info;
    olmoe_model_get_info(m, &info);
    int32_t *prompts[N_SEQ];
    float *alone[N_SEQ][STEPS + 1];
    int32_t next[N_SEQ][STEPS + 1];
    for (int i = 0; i < N_SEQ; i++) prompts[i] = make_prompt(lens[i], V, 7u + 31u * (unsigned)i);

    for (int i = 0; i < N_SEQ; i++) {
        olmoe_context *c = new_ctx(m, 512, 1);
        CHECK(olmoe_decode(c, prompts[i], (size_t)lens[i], 0) == OLMOE_OK);
        for (int s = 0; s <= STEPS; s++) {
            alone[i][s] = malloc((size_t)V * sizeof(float));
            memcpy(alone[i][s], olmoe_get_logits(c, -1), (size_t)V * sizeof(float));
            next[i][s] = argmax(alone[i][s], V);
            if (s < STEPS) CHECK(olmoe_decode(c, &next[i][s], 1, 0) == OLMOE_OK);
        }
        olmoe_context_free(c);
    }

    /* Different n_ctx per context: the largest one's scratch runs the batch. */
    olmoe_context *ctx[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) ctx[i] = new_ctx(m, 384 + 64 * i, 1);
    const int32_t *toks[N_SEQ];
    size_t n[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) {
        toks[i] = prompts[i];
        n[i] = (size_t)lens[i];
    }
    CHECK(olmoe_decode_batch(ctx, toks, n, N_SEQ) == OLMOE_OK);
    for (int s = 0; s <= STEPS; s++) {
        for (int i = 0; i < N_SEQ; i++) {
            const float *l = olmoe_get_logits(ctx[i], -1);
            CHECK_MSG(l && !memcmp(l, alone[i][s], (size_t)V * sizeof(float)),
                      "%s: sequence %d step %d: batched logits differ from decoding alone", what, i, s);
            CHECK_INT_EQ(olmoe_context_n_past(ctx[i]), lens[i] + s);
            toks[i] = &next[i][s];
            n[i] = 1;
        }
        if (s < STEPS) CHECK(olmoe_decode_batch(ctx, toks, n, N_SEQ) == OLMOE_OK);
    }
    if (info.n_experts > 0) { /* routing of the last batch: one token per sequence */
        int32_t ex[64];
        CHECK_INT_EQ(olmoe_get_routing(ctx[0], 0, 0, ex, 64), info.n_experts_active);
        CHECK_INT_EQ(olmoe_get_routing(ctx[0], 0, 1, ex, 64), 0);
    }
    for (int i = 0; i < N_SEQ; i++) {
        olmoe_context_free(ctx[i]);
        free(prompts[i]);
        for (int s = 0; s <= STEPS; s++) free(alone[i][s]);
    }
}

/* One sequence's long prompt (crossing the forward chunk) decoded in the
 * same batch as another sequence's single token: both as if alone, and
 * the prompt's routing recorded per token as olmoe_decode records it. */
static void mixed_prompt_and_token(olmoe_model *m) {
    const int V = olmoe_vocab_size(m), L = 300;
    olmoe_model_info info;
    olmoe_model_get_info(m, &info);
    int32_t *longp = make_prompt(L, V, 99), *shortp = make_prompt(5, V, 5);
    olmoe_context *a = new_ctx(m, 512, 1), *b = new_ctx(m, 512, 1);
    CHECK(olmoe_decode(a, longp, L, 0) == OLMOE_OK);
    float *want_a = malloc((size_t)V * sizeof(float)), *want_b = malloc((size_t)V * sizeof(float));
    memcpy(want_a, olmoe_get_logits(a, -1), (size_t)V * sizeof(float));
    int32_t route_a[2][64] = {{0}};
    int k0 = olmoe_get_routing(a, 1, 0, route_a[0], 64), k1 = olmoe_get_routing(a, 1, L - 1, route_a[1], 64);
    CHECK(olmoe_decode(b, shortp, 4, 0) == OLMOE_OK);
    CHECK(olmoe_decode(b, shortp + 4, 1, 0) == OLMOE_OK);
    memcpy(want_b, olmoe_get_logits(b, -1), (size_t)V * sizeof(float));

    olmoe_context_truncate(a, 0);
    olmoe_context_truncate(b, 4);
    olmoe_context *both[2] = {b, a};
    const int32_t *toks[2] = {shortp + 4, longp};
    size_t n[2] = {1, (size_t)L};
    CHECK(olmoe_decode_batch(both, toks, n, 2) == OLMOE_OK);
    CHECK_MSG(!memcmp(olmoe_get_logits(a, -1), want_a, (size_t)V * sizeof(float)),
              "a %d-token prompt batched with another sequence's token changed its logits", L);
    CHECK_MSG(!memcmp(olmoe_get_logits(b, -1), want_b, (size_t)V * sizeof(float)),
              "a token batched with a %d-token prompt changed its logits", L);
    CHECK_INT_EQ(olmoe_context_n_past(a), L);
    CHECK_INT_EQ(olmoe_context_n_past(b), 5);
    if (info.n_experts > 0) {
        int32_t got[64];
        CHECK_INT_EQ(olmoe_get_routing(a, 1, 0, got, 64), k0);
        CHECK(!memcmp(got, route_a[0], (size_t)k0 * sizeof(int32_t)));
        CHECK_INT_EQ(olmoe_get_routing(a, 1, L - 1, got, 64), k1);
        CHECK(!memcmp(got, route_a[1], (size_t)k1 * sizeof(int32_t)));
    }
    olmoe_context_free(a);
    olmoe_context_free(b);
    free(longp);
    free(shortp);
    free(want_a);
    free(want_b);
}

/* Refused batches name the problem and leave every context as it was. */
static void errors(olmoe_model *m, olmoe_model *other) {
    olmoe_context *a = new_ctx(m, 16, 0), *b = new_ctx(m, 16, 0), *o = new_ctx(other, 16, 0);
    int32_t ids[20] = {1, 2, 3};
    CHECK(olmoe_decode(a, ids, 3, 0) == OLMOE_OK);
    olmoe_context *same[2] = {a, a};
    const int32_t *toks[2] = {ids, ids};
    size_t one[2] = {1, 1}, too_many[2] = {1, 14};
    CHECK(olmoe_decode_batch(same, toks, one, 2) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "share a context") != NULL);
    olmoe_context *mixed[2] = {a, o};
    CHECK(olmoe_decode_batch(mixed, toks, one, 2) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "another model") != NULL);
    olmoe_context *ab[2] = {b, a};
    CHECK(olmoe_decode_batch(ab, toks, too_many, 2) == OLMOE_ERR_CONTEXT_FULL);
    CHECK(strstr(olmoe_last_error(), "do not fit") != NULL);
    int32_t bad = -1;
    const int32_t *bad_toks[2] = {ids, &bad};
    CHECK(olmoe_decode_batch(ab, bad_toks, one, 2) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "outside the vocabulary") != NULL);
    const int32_t *no_toks[2] = {ids, NULL};
    CHECK(olmoe_decode_batch(ab, no_toks, one, 2) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "sequence 1 has no tokens") != NULL);
    olmoe_context *no_ctx[2] = {a, NULL};
    CHECK(olmoe_decode_batch(no_ctx, toks, one, 2) == OLMOE_ERR_ARG);
    size_t none[2] = {1, 0};
    CHECK(olmoe_decode_batch(ab, toks, none, 2) == OLMOE_ERR_ARG);
    CHECK(olmoe_decode_batch(ab, toks, one, 0) == OLMOE_ERR_ARG);
    CHECK_INT_EQ(olmoe_context_n_past(a), 3);
    CHECK_INT_EQ(olmoe_context_n_past(b), 0);
    olmoe_context_free(a);
    olmoe_context_free(b);
    olmoe_context_free(o);
}

/* Attention shares its work two ways (model/attention.c): by (token, block
 * of cached keys) when few tokens come, by token when many do. A 50-token
 * prompt in a 64-position context takes the second way, the same tokens
 * one at a time the first: the last logits must be the same bits. */
static void attention_paths(olmoe_model *m) {
    const int V = olmoe_vocab_size(m), L = 50;
    int32_t *p = make_prompt(L, V, 41);
    olmoe_context *whole = new_ctx(m, 64, 0), *steps = new_ctx(m, 64, 0);
    CHECK(olmoe_decode(whole, p, L, 0) == OLMOE_OK);
    for (int k = 0; k < L; k++) CHECK(olmoe_decode(steps, p + k, 1, 0) == OLMOE_OK);
    CHECK_MSG(!memcmp(olmoe_get_logits(whole, -1), olmoe_get_logits(steps, -1), (size_t)V * sizeof(float)),
              "a %d-token prompt decoded at once and token by token: different logits", L);
    olmoe_context_free(whole);
    olmoe_context_free(steps);
    free(p);
}

static olmoe_model *load(const char *path) {
    olmoe_model *m = NULL;
    olmoe_model_params mp = olmoe_model_default_params();
    CHECK_MSG(olmoe_model_load(path, &mp, &m) == OLMOE_OK, "%s: %s", path, olmoe_last_error());
    return m;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../../shared";
    char path[1024];
    const int lens[N_SEQ] = {7, 1, 23};
    const char *hf[] = {"olmoe-tiny", "olmo2-tiny", "olmoe-gqa-bf16"};
    olmoe_model *tiny = NULL, *olmo2 = NULL;
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        snprintf(path, sizeof path, "%s/reference/models/%s", shared, hf[i]);
        olmoe_model *m = load(path);
        if (!m) continue;
        compare(m, hf[i], lens);
        if (i == 0) tiny = m;
        else if (i == 1) olmo2 = m;
        else olmoe_model_free(m);
    }
    if (!tiny || !olmo2) return check_report("test_decode_batch");
    mixed_prompt_and_token(tiny);
    attention_paths(tiny);
    attention_paths(olmo2);
    errors(tiny, olmo2);

    /* Quantized weights: the multi-token kernels must give each token the
     * bits the one-token kernel gives it. */
    snprintf(path, sizeof path, "%s/reference/gguf/olmoe-tiny-q8_0.gguf", shared);
    olmoe_model *q8 = load(path);
    if (q8) {
        compare(q8, "q8_0 gguf", lens);
        mixed_prompt_and_token(q8);
        olmoe_model_free(q8);
    }
    char tmp[] = "/tmp/olmoe-batch-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    const char *types[] = {"q4_0", "q4_k_m"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tiny-%s.gguf", tmp, types[i]);
        CHECK_MSG(olmoe_convert(tiny, path, types[i], NULL, NULL) == OLMOE_OK, "%s", olmoe_last_error());
        olmoe_model *q = load(path);
        if (q) {
            compare(q, types[i], lens);
            olmoe_model_free(q);
        }
        unlink(path);
    }
    rmdir(tmp);
    olmoe_model_free(tiny);
    olmoe_model_free(olmo2);
    return check_report("test_decode_batch");
}
