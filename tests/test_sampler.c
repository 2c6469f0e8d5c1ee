/* Sampler through the public API: greedy, seeding, the distribution of
 * draws with and without top-k / top-p / min-p / temperature, the
 * transformers-style repetition penalty, and parameter validation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "olmoe.h"

#define DRAWS 20000

static olmoe_sampler_params params(float temperature, int top_k, float top_p, float min_p,
                                   uint64_t seed) {
    olmoe_sampler_params p = olmoe_sampler_default_params();
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = -1;
    p.seed = seed;
    return p;
}

static olmoe_sampler *make(const olmoe_sampler_params *p) {
    olmoe_sampler *s = NULL;
    olmoe_status st = olmoe_sampler_new(p, &s);
    CHECK_MSG(st == OLMOE_OK && s, "olmoe_sampler_new: %s", st ? olmoe_last_error() : "null");
    if (st || !s) exit(1);
    return s;
}

/* Counts `draws` samples per id; returns the number of out-of-range ids. */
static int count_draws(const olmoe_sampler_params *p, const float *logits, int n, int draws,
                       int *counts) {
    olmoe_sampler *s = make(p);
    int bad = 0;
    memset(counts, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < draws; i++) {
        int32_t id = olmoe_sampler_sample(s, logits, n, NULL, 0);
        if (id < 0 || id >= n) bad++;
        else counts[id]++;
    }
    olmoe_sampler_free(s);
    return bad;
}

static void log_probs(const double *p, float *logits, int n) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(p[i]);
}

/* ------------------------------------------------------------ greedy */

static void test_greedy(void) {
    olmoe_sampler_params p = params(0.0f, 0, 1.0f, 0.0f, 42);
    olmoe_sampler *s = make(&p);
    const float a[5] = {0.5f, 2.0f, -1.0f, 1.99f, 0.0f};
    CHECK_INT_EQ(olmoe_sampler_sample(s, a, 5, NULL, 0), 1);
    const float ties[5] = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
    CHECK_INT_EQ(olmoe_sampler_sample(s, ties, 5, NULL, 0), 1);
    const float all_eq[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    CHECK_INT_EQ(olmoe_sampler_sample(s, all_eq, 4, NULL, 0), 0);
    const float neg[4] = {-5.0f, -3.0f, -4.0f, -3.5f};
    CHECK_INT_EQ(olmoe_sampler_sample(s, neg, 4, NULL, 0), 1);
    const float last[3] = {-1.0f, -1.0f, 7.0f};
    CHECK_INT_EQ(olmoe_sampler_sample(s, last, 3, NULL, 0), 2);
    /* greedy ignores the truncation settings and always gives the same id */
    int same = 1;
    for (int i = 0; i < 100; i++) same &= olmoe_sampler_sample(s, a, 5, NULL, 0) == 1;
    CHECK(same);
    /* a bigger vocabulary after a smaller one (working buffers grow) */
    enum { N = 5000 };
    float *big = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) big[i] = (float)sin(i * 0.37);
    big[4321] = 5.0f;
    CHECK_INT_EQ(olmoe_sampler_sample(s, big, N, NULL, 0), 4321);
    free(big);
    olmoe_sampler_free(s);

    /* top_k 1 at temperature 1: always the argmax */
    p = params(1.0f, 1, 1.0f, 0.0f, 7);
    s = make(&p);
    const float close[4] = {2.0f, 2.1f, 1.9f, 2.05f};
    int hits = 0;
    for (int i = 0; i < 500; i++) hits += olmoe_sampler_sample(s, close, 4, NULL, 0) == 1;
    CHECK_INT_EQ(hits, 500);
    olmoe_sampler_free(s);

    olmoe_sampler_free(NULL); /* allowed */
}

/* ------------------------------------------------------------ seeding */

static void draw_seq(uint64_t seed, int32_t *out, int n) {
    float logits[16];
    for (int i = 0; i < 16; i++) logits[i] = 0.1f * (float)(i % 5);
    olmoe_sampler_params p = params(1.0f, 0, 1.0f, 0.0f, seed);
    olmoe_sampler *s = make(&p);
    for (int i = 0; i < n; i++) out[i] = olmoe_sampler_sample(s, logits, 16, NULL, 0);
    olmoe_sampler_free(s);
}

static void test_seeds(void) {
    int32_t a[200], b[200], c[200], d[200];
    draw_seq(1234, a, 200);
    draw_seq(1234, b, 200);
    draw_seq(1235, c, 200);
    draw_seq(0, d, 200);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    CHECK(memcmp(a, d, sizeof a) != 0);
    int diff = 0;
    for (int i = 0; i < 200; i++) diff += a[i] != c[i];
    CHECK_MSG(diff > 100, "seeds 1234 and 1235 agree on %d of 200 draws", 200 - diff);
    /* the draws are not constant: several distinct ids show up */
    int seen[16] = {0}, distinct = 0;
    for (int i = 0; i < 200; i++) seen[a[i]] = 1;
    for (int i = 0; i < 16; i++) distinct += seen[i];
    CHECK_MSG(distinct >= 12, "only %d distinct ids in 200 draws", distinct);
}

/* ------------------------------------------------------- distribution */

static void test_distribution(void) {
    const double prob[4] = {0.5, 0.3, 0.15, 0.05};
    float logits[4];
    log_probs(prob, logits, 4);
    int counts[8];

    /* no truncation: empirical frequencies match */
    olmoe_sampler_params p = params(1.0f, 0, 1.0f, 0.0f, 99);
    CHECK_INT_EQ(count_draws(&p, logits, 4, DRAWS, counts), 0);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR((double)counts[i] / DRAWS, prob[i], 0.02);

    /* the same with ids in another order (the sort must keep ids) */
    const double perm_prob[4] = {0.15, 0.05, 0.5, 0.3};
    float perm[4];
    log_probs(perm_prob, perm, 4);
    p.seed = 5;
    CHECK_INT_EQ(count_draws(&p, perm, 4, DRAWS, counts), 0);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR((double)counts[i] / DRAWS, perm_prob[i], 0.02);

    /* logits shifted by a constant give the same distribution */
    float shifted[4];
    for (int i = 0; i < 4; i++) shifted[i] = logits[i] + 80.0f;
    p.seed = 6;
    count_draws(&p, shifted, 4, DRAWS, counts);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR((double)counts[i] / DRAWS, prob[i], 0.02);

    /* temperature 0.5 squares the probabilities (renormalised) */
    p = params(0.5f, 0, 1.0f, 0.0f, 11);
    count_draws(&p, logits, 4, DRAWS, counts);
    {
        double sq[4], z = 0;
        for (int i = 0; i < 4; i++) z += sq[i] = prob[i] * prob[i];
        for (int i = 0; i < 4; i++)
            CHECK_NEAR((double)counts[i] / DRAWS, sq[i] / z, 0.02);
    }
    /* temperature 2 takes square roots */
    p = params(2.0f, 0, 1.0f, 0.0f, 12);
    count_draws(&p, logits, 4, DRAWS, counts);
    {
        double rt[4], z = 0;
        for (int i = 0; i < 4; i++) z += rt[i] = sqrt(prob[i]);
        for (int i = 0; i < 4; i++)
            CHECK_NEAR((double)counts[i] / DRAWS, rt[i] / z, 0.02);
    }

    /* top_p 0.7: ids 0 and 1 only (0.5 < 0.7 <= 0.8), ratio 0.5 : 0.3 */
    p = params(1.0f, 0, 0.7f, 0.0f, 21);
    CHECK_INT_EQ(count_draws(&p, logits, 4, DRAWS, counts), 0);
    CHECK_INT_EQ(counts[2], 0);
    CHECK_INT_EQ(counts[3], 0);
    CHECK_NEAR((double)counts[0] / DRAWS, 0.5 / 0.8, 0.02);
    CHECK_NEAR((double)counts[1] / DRAWS, 0.3 / 0.8, 0.02);
    /* top_p 0.9: ids 0..2 (0.8 < 0.9 <= 0.95) */
    p = params(1.0f, 0, 0.9f, 0.0f, 22);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[3], 0);
    CHECK_NEAR((double)counts[2] / DRAWS, 0.15 / 0.95, 0.02);
    /* top_p 0.4: just the top token */
    p = params(1.0f, 0, 0.4f, 0.0f, 23);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[0], DRAWS);

    /* min_p 0.4: keep p >= 0.2 -> ids 0 and 1 */
    p = params(1.0f, 0, 1.0f, 0.4f, 31);
    CHECK_INT_EQ(count_draws(&p, logits, 4, DRAWS, counts), 0);
    CHECK_INT_EQ(counts[2], 0);
    CHECK_INT_EQ(counts[3], 0);
    CHECK_NEAR((double)counts[0] / DRAWS, 0.5 / 0.8, 0.02);
    CHECK_NEAR((double)counts[1] / DRAWS, 0.3 / 0.8, 0.02);
    /* min_p 0.2: keep p >= 0.1 -> ids 0..2 */
    p = params(1.0f, 0, 1.0f, 0.2f, 32);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[3], 0);
    CHECK(counts[2] > 0);
    CHECK_NEAR((double)counts[2] / DRAWS, 0.15 / 0.95, 0.02);
    /* min_p 1: only the top token */
    p = params(1.0f, 0, 1.0f, 1.0f, 33);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[0], DRAWS);

    /* top_k 2: ids 0 and 1 */
    p = params(1.0f, 2, 1.0f, 0.0f, 41);
    CHECK_INT_EQ(count_draws(&p, logits, 4, DRAWS, counts), 0);
    CHECK_INT_EQ(counts[2], 0);
    CHECK_INT_EQ(counts[3], 0);
    CHECK_NEAR((double)counts[0] / DRAWS, 0.5 / 0.8, 0.02);
    CHECK_NEAR((double)counts[1] / DRAWS, 0.3 / 0.8, 0.02);
    /* top_k 2 on the permuted logits: ids 2 and 3 */
    count_draws(&p, perm, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[0] + counts[1], 0);
    CHECK_NEAR((double)counts[2] / DRAWS, 0.5 / 0.8, 0.02);
    /* top_k larger than the vocabulary: no truncation */
    p = params(1.0f, 100, 1.0f, 0.0f, 42);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_NEAR((double)counts[3] / DRAWS, 0.05, 0.02);

    /* top_k 3 then top_p 0.8 of the renormalised three (0.5/0.95 = 0.526,
     * + 0.3/0.95 = 0.842 >= 0.8): ids 0 and 1 */
    p = params(1.0f, 3, 0.8f, 0.0f, 43);
    count_draws(&p, logits, 4, DRAWS, counts);
    CHECK_INT_EQ(counts[2] + counts[3], 0);

    /* a -inf logit is never drawn */
    float masked[4] = {0.0f, -INFINITY, 0.0f, 0.0f};
    p = params(1.0f, 0, 1.0f, 0.0f, 44);
    CHECK_INT_EQ(count_draws(&p, masked, 4, 3000, counts), 0);
    CHECK_INT_EQ(counts[1], 0);
    CHECK_NEAR((double)counts[0] / 3000, 1.0 / 3, 0.04);
}

/* --------------------------------------------------- repetition penalty */

static int32_t greedy_with_penalty(const float *logits, int n, const int32_t *hist, size_t nh,
                                   float penalty, int last_n) {
    olmoe_sampler_params p = params(0.0f, 0, 1.0f, 0.0f, 1);
    p.repeat_penalty = penalty;
    p.repeat_last_n = last_n;
    olmoe_sampler *s = make(&p);
    int32_t id = olmoe_sampler_sample(s, logits, n, hist, nh);
    olmoe_sampler_free(s);
    return id;
}

static void test_penalty(void) {
    const int32_t h0[1] = {0};
    /* positive logit halved: 3 -> 1.5, below 1.6 */
    const float pos_a[3] = {3.0f, 1.6f, 0.0f};
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, h0, 1, 1.0f, -1), 0); /* no penalty */
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, NULL, 0, 2.0f, -1), 0); /* no history */
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, h0, 1, 2.0f, -1), 1);
    /* 3 -> 1.5, still above 1.4: halved, not more */
    const float pos_b[3] = {3.0f, 1.4f, 0.0f};
    CHECK_INT_EQ(greedy_with_penalty(pos_b, 3, h0, 1, 2.0f, -1), 0);

    /* negative logit doubled: -1 -> -2, below -1.9 */
    const float neg_a[3] = {-1.0f, -1.9f, -5.0f};
    CHECK_INT_EQ(greedy_with_penalty(neg_a, 3, NULL, 0, 2.0f, -1), 0);
    CHECK_INT_EQ(greedy_with_penalty(neg_a, 3, h0, 1, 2.0f, -1), 1);
    /* -1 -> -2, still above -2.1: doubled, not more */
    const float neg_b[3] = {-1.0f, -2.1f, -5.0f};
    CHECK_INT_EQ(greedy_with_penalty(neg_b, 3, h0, 1, 2.0f, -1), 0);

    /* each id is penalised once however often it occurs (3 -> 1.5 > 1.4) */
    const int32_t h000[3] = {0, 0, 0};
    CHECK_INT_EQ(greedy_with_penalty(pos_b, 3, h000, 3, 2.0f, -1), 0);

    /* only ids in the history: penalising id 1 does not affect id 0 */
    const int32_t h1[1] = {1};
    const float two[3] = {1.0f, 1.5f, 0.0f};
    CHECK_INT_EQ(greedy_with_penalty(two, 3, h1, 1, 2.0f, -1), 0); /* 1.5 -> 0.75 */
    const int32_t h2[1] = {2};
    CHECK_INT_EQ(greedy_with_penalty(two, 3, h2, 1, 2.0f, -1), 1);

    /* repeat_last_n: id 0 is outside the last 2 tokens -> not penalised */
    const int32_t hist[3] = {0, 2, 2};
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, hist, 3, 2.0f, 2), 0);
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, hist, 3, 2.0f, 3), 1);
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, hist, 3, 2.0f, -1), 1);
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, hist, 3, 2.0f, 0), 0);

    /* penalty < 1 encourages: 1.0 -> 2.0 beats 1.5 */
    CHECK_INT_EQ(greedy_with_penalty(two, 3, h0, 1, 0.5f, -1), 0);
    const float two_b[3] = {1.0f, 1.9f, 0.0f};
    CHECK_INT_EQ(greedy_with_penalty(two_b, 3, h0, 1, 0.5f, -1), 0);

    /* out-of-range ids in the history are ignored */
    const int32_t hbad[3] = {-1, 3, 1000000};
    CHECK_INT_EQ(greedy_with_penalty(pos_a, 3, hbad, 3, 2.0f, -1), 0);

    /* the caller's logits are not modified */
    float mine[3] = {3.0f, 1.6f, 0.0f};
    greedy_with_penalty(mine, 3, h0, 1, 2.0f, -1);
    CHECK(mine[0] == 3.0f);

    /* the penalty also applies before sampling: with top_k 1 the penalised
     * token is never drawn */
    olmoe_sampler_params p = params(1.0f, 1, 1.0f, 0.0f, 3);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = -1;
    olmoe_sampler *s = make(&p);
    int ones = 0;
    for (int i = 0; i < 200; i++) ones += olmoe_sampler_sample(s, pos_a, 3, h0, 1) == 1;
    CHECK_INT_EQ(ones, 200);
    olmoe_sampler_free(s);
}

/* ---------------------------------------------------------- params */

static void expect_bad(const char *label, olmoe_sampler_params p) {
    olmoe_sampler *s = NULL;
    olmoe_status st = olmoe_sampler_new(&p, &s);
    CHECK_MSG(st == OLMOE_ERR_ARG, "%s: status %s", label, olmoe_status_name(st));
    if (st == OLMOE_ERR_ARG)
        CHECK_MSG(strstr(olmoe_last_error(), "sampler") != NULL, "%s: message %s", label,
                  olmoe_last_error());
    if (st == OLMOE_OK) olmoe_sampler_free(s);
}

static void test_params(void) {
    olmoe_sampler_params d = olmoe_sampler_default_params();
    CHECK(d.temperature > 0);
    CHECK(d.repeat_penalty == 1.0f);
    olmoe_sampler *s = NULL;
    CHECK_INT_EQ(olmoe_sampler_new(&d, &s), OLMOE_OK);
    olmoe_sampler_free(s);
    s = NULL;
    CHECK_INT_EQ(olmoe_sampler_new(NULL, &s), OLMOE_OK); /* NULL: defaults */
    CHECK(s != NULL);
    olmoe_sampler_free(s);

    /* boundary values that are valid */
    olmoe_sampler_params ok = params(0.0f, 0, 1.0f, 1.0f, 0);
    s = NULL;
    CHECK_INT_EQ(olmoe_sampler_new(&ok, &s), OLMOE_OK);
    olmoe_sampler_free(s);
    ok = params(1.0f, 0, 0.01f, 0.0f, 0);
    s = NULL;
    CHECK_INT_EQ(olmoe_sampler_new(&ok, &s), OLMOE_OK);
    olmoe_sampler_free(s);

    olmoe_sampler_params p;
    p = params(-0.1f, 0, 1.0f, 0.0f, 0);
    expect_bad("negative temperature", p);
    p = params(1.0f, 0, 0.0f, 0.0f, 0);
    expect_bad("top_p 0", p);
    p = params(1.0f, 0, 1.01f, 0.0f, 0);
    expect_bad("top_p > 1", p);
    p = params(1.0f, 0, -0.5f, 0.0f, 0);
    expect_bad("top_p negative", p);
    p = params(1.0f, 0, 1.0f, 1.5f, 0);
    expect_bad("min_p > 1", p);
    p = params(1.0f, 0, 1.0f, -0.1f, 0);
    expect_bad("min_p negative", p);
    p = params(1.0f, -1, 1.0f, 0.0f, 0);
    expect_bad("top_k negative", p);
    p = params(1.0f, 0, 1.0f, 0.0f, 0);
    p.repeat_penalty = 0.0f;
    expect_bad("repeat_penalty 0", p);
    p.repeat_penalty = -1.0f;
    expect_bad("repeat_penalty negative", p);
    p = params(1.0f, 0, (float)NAN, 0.0f, 0);
    expect_bad("top_p NaN", p);
    /* NaN is not >= 0 nor in [0, 1]: both must be refused */
    p = params((float)NAN, 0, 1.0f, 0.0f, 0);
    expect_bad("temperature NaN", p);
    p = params(1.0f, 0, 1.0f, (float)NAN, 0);
    expect_bad("min_p NaN", p);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_greedy();
    test_seeds();
    test_distribution();
    test_penalty();
    test_params();
    return check_report("test_sampler");
}
