/* Token sampling in the order transformers applies its logits processors:
 * repetition penalty, temperature, top-k, top-p, min-p, then a draw from a
 * seeded generator. Temperature 0 is greedy (argmax, lowest id on ties). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "olmoe.h"
#include "util/error.h"
#include "util/rng.h"

typedef struct {
    float logit;
    int32_t id;
} candidate;

struct olmoe_sampler {
    olmoe_sampler_params p;
    uint64_t rng;
    float *logits;      /* working copy */
    candidate *cands;   /* sorted by logit */
    int cap;
};

olmoe_sampler_params olmoe_sampler_default_params(void) {
    olmoe_sampler_params p = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                              .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
    return p;
}

olmoe_status olmoe_sampler_new(const olmoe_sampler_params *params, olmoe_sampler **out) {
    olmoe_sampler *s = calloc(1, sizeof *s);
    if (!s) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    s->p = params ? *params : olmoe_sampler_default_params();
    /* Written so that NaN fails every comparison and is refused. */
    if (!(s->p.temperature >= 0) || s->p.top_k < 0 || !(s->p.top_p > 0 && s->p.top_p <= 1) ||
        !(s->p.min_p >= 0 && s->p.min_p <= 1) || !(s->p.repeat_penalty > 0)) {
        free(s);
        return olmoe_fail(OLMOE_ERR_ARG, "sampler: need temperature >= 0, top_k >= 0, 0 < top_p <= 1, "
                          "0 <= min_p <= 1, repeat_penalty > 0");
    }
    s->rng = s->p.seed ^ 0x9E3779B97F4A7C15ull;
    *out = s;
    return OLMOE_OK;
}

void olmoe_sampler_free(olmoe_sampler *s) {
    if (!s) return;
    free(s->logits);
    free(s->cands);
    free(s);
}

/* Uniform in [0, 1) from the seeded generator; reproducible for a seed. */
static double next_uniform(olmoe_sampler *s) {
    return (double)(splitmix64_next(&s->rng) >> 11) / 9007199254740992.0;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int by_logit_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* 1 if a ranks below b (lower logit, or equal logit and higher id). */
static int worse(const candidate *a, const candidate *b) {
    return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

static void sift_down(candidate *h, int k, int i) {
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < k && worse(&h[l], &h[w])) w = l;
        if (r < k && worse(&h[r], &h[w])) w = r;
        if (w == i) return;
        candidate t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Moves the k best of n candidates to c[0..k) (unordered) in O(n log k),
 * keeping the worst of them at the root of a min-heap. */
static int keep_best(candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (worse(&c[0], &c[i])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    return k;
}

/* CTRL-style penalty as transformers' RepetitionPenaltyLogitsProcessor:
 * each distinct earlier token's logit is divided by the penalty if
 * positive, multiplied if negative. */
static void apply_penalty(olmoe_sampler *s, float *l, int n, const int32_t *hist, size_t n_hist) {
    if (s->p.repeat_penalty == 1.0f || !hist) return;
    size_t from = 0;
    if (s->p.repeat_last_n >= 0 && n_hist > (size_t)s->p.repeat_last_n) from = n_hist - (size_t)s->p.repeat_last_n;
    for (size_t i = from; i < n_hist; i++) {
        int id = hist[i];
        if (id < 0 || id >= n) continue;
        int seen = 0; /* penalise each id once */
        for (size_t j = from; j < i && !seen; j++) seen = hist[j] == id;
        if (seen) continue;
        l[id] = l[id] > 0 ? l[id] / s->p.repeat_penalty : l[id] * s->p.repeat_penalty;
    }
}

int32_t olmoe_sampler_sample(olmoe_sampler *s, const float *logits, int n, const int32_t *history,
                             size_t n_history) {
    if (n <= 0 || !logits) return -1;
    if (n > s->cap) {
        float *l = realloc(s->logits, (size_t)n * sizeof *l);
        candidate *c = l ? realloc(s->cands, (size_t)n * sizeof *c) : NULL;
        if (l) s->logits = l;
        if (!l || !c) return argmax(logits, n); /* degrade to greedy rather than fail */
        s->cands = c;
        s->cap = n;
    }
    float *l = s->logits;
    memcpy(l, logits, (size_t)n * sizeof *l);
    apply_penalty(s, l, n, history, n_history);
    if (s->p.temperature == 0) return argmax(l, n);
    /* Candidates sorted by logit; with top-k only the k best are kept. */
    candidate *c = s->cands;
    for (int i = 0; i < n; i++) c[i] = (candidate){l[i], i};
    int m = s->p.top_k > 0 && s->p.top_k < n ? keep_best(c, n, s->p.top_k) : n;
    qsort(c, (size_t)m, sizeof *c, by_logit_desc);
    /* Softmax at temperature over the kept candidates. */
    double max = l[c[0].id] / s->p.temperature, sum = 0;
    double *prob = malloc((size_t)m * sizeof *prob);
    if (!prob) return c[0].id;
    for (int i = 0; i < m; i++) sum += prob[i] = exp(c[i].logit / s->p.temperature - max);
    for (int i = 0; i < m; i++) prob[i] /= sum;
    /* top-p: the smallest prefix whose mass reaches top_p (at least one). */
    if (s->p.top_p < 1) {
        double cum = 0;
        int keep = m;
        for (int i = 0; i < m; i++) {
            cum += prob[i];
            if (cum >= s->p.top_p) { keep = i + 1; break; }
        }
        m = keep;
    }
    /* min-p: drop candidates below min_p times the top probability. */
    if (s->p.min_p > 0) {
        int keep = 1;
        while (keep < m && prob[keep] >= s->p.min_p * prob[0]) keep++;
        m = keep;
    }
    double total = 0;
    for (int i = 0; i < m; i++) total += prob[i];
    double r = next_uniform(s) * total;
    int pick = m - 1;
    for (int i = 0; i < m; i++) {
        r -= prob[i];
        if (r < 0) { pick = i; break; }
    }
    int32_t id = c[pick].id;
    free(prob);
    return id;
}
