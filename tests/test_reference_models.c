/* Every reference checkpoint in ../shared/reference/models against the
 * outputs Hugging Face transformers computed in float64: tokenization of each
 * prompt, every position's log-sum-exp and top-64 logits (within 1e-3), the
 * full last-position logits, the experts each router picks (exactly) and 24
 * greedy tokens through the KV cache (exactly). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "io/safetensors.h"
#include "olmoe.h"
#include "util/file.h"

#define TOL 1e-3

static const tensor *ref_tensor(const safetensors_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static double max_lse_err, max_logit_err;

static double lse_of(const float *l, int n) {
    double max = l[0], sum = 0;
    for (int i = 1; i < n; i++) max = l[i] > max ? l[i] : max;
    for (int i = 0; i < n; i++) sum += exp(l[i] - max);
    return max + log(sum);
}

static int argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static void check_ids(const cJSON *want, const int32_t *got, size_t n, const char *what) {
    CHECK_MSG((size_t)cJSON_GetArraySize(want) == n, "%s: %d ids expected, %zu produced", what,
              cJSON_GetArraySize(want), n);
    for (size_t i = 0; i < n && i < (size_t)cJSON_GetArraySize(want); i++)
        CHECK_MSG(cJSON_GetArrayItem(want, (int)i)->valueint == got[i], "%s: id %zu is %d, expected %d",
                  what, i, got[i], cJSON_GetArrayItem(want, (int)i)->valueint);
}

/* Logits of every position vs lse, top_ids/top_logits and logits_last. */
static void check_logits(olmoe_context *ctx, const safetensors_file *ref, int ci, int n, int V) {
    char name[64];
    snprintf(name, sizeof name, "case%d.lse", ci);
    const tensor *lse = ref_tensor(ref, name);
    snprintf(name, sizeof name, "case%d.top_ids", ci);
    const tensor *top_ids = ref_tensor(ref, name);
    snprintf(name, sizeof name, "case%d.top_logits", ci);
    const tensor *top_logits = ref_tensor(ref, name);
    CHECK(lse && top_ids && top_logits);
    if (!lse || !top_ids || !top_logits) return;
    int K = (int)top_ids->shape[1];
    for (int p = 0; p < n; p++) {
        const float *l = olmoe_get_logits(ctx, p);
        double e = fabs(lse_of(l, V) - ((const double *)lse->data)[p]);
        max_lse_err = e > max_lse_err ? e : max_lse_err;
        CHECK_MSG(e <= TOL, "case %d position %d: lse off by %g", ci, p, e);
        const int32_t *ids = (const int32_t *)top_ids->data + (size_t)p * K;
        const float *vals = (const float *)top_logits->data + (size_t)p * K;
        CHECK_MSG(argmax(l, V) == ids[0], "case %d position %d: argmax %d, expected %d", ci, p,
                  argmax(l, V), ids[0]);
        for (int k = 0; k < K; k++) {
            double d = fabs(l[ids[k]] - vals[k]);
            max_logit_err = d > max_logit_err ? d : max_logit_err;
            CHECK_MSG(d <= TOL, "case %d position %d: logit of %d off by %g", ci, p, ids[k], d);
        }
    }
    snprintf(name, sizeof name, "case%d.logits_last", ci);
    const tensor *last = ref_tensor(ref, name);
    if (last) {
        const float *l = olmoe_get_logits(ctx, n - 1), *want = last->data;
        double worst = 0;
        for (int v = 0; v < V; v++) {
            double d = fabs(l[v] - want[v]); /* (an fmax reduction here crashes aarch64 gcc 12 -O3) */
            if (d > worst) worst = d;
        }
        max_logit_err = fmax(max_logit_err, worst);
        CHECK_MSG(worst <= TOL, "case %d: last-position logits off by up to %g", ci, worst);
    }
}

static void check_routing(olmoe_context *ctx, const cJSON *router, int ci, int n) {
    if (!router) return;
    int layers = cJSON_GetArraySize(router);
    for (int l = 0; l < layers; l++) {
        const cJSON *per_pos = cJSON_GetArrayItem(router, l);
        CHECK_INT_EQ(cJSON_GetArraySize(per_pos), n);
        for (int p = 0; p < n && p < cJSON_GetArraySize(per_pos); p++) {
            const cJSON *want = cJSON_GetArrayItem(per_pos, p);
            int32_t got[64];
            int k = olmoe_get_routing(ctx, l, p, got, 64);
            CHECK_MSG(k == cJSON_GetArraySize(want), "case %d layer %d pos %d: %d experts", ci, l, p, k);
            for (int j = 0; j < k && j < cJSON_GetArraySize(want); j++)
                CHECK_MSG(got[j] == cJSON_GetArrayItem(want, j)->valueint,
                          "case %d layer %d pos %d: expert %d is %d, expected %d", ci, l, p, j,
                          got[j], cJSON_GetArrayItem(want, j)->valueint);
        }
    }
}

/* Greedy decoding one token at a time through the KV cache. */
static void check_greedy(const olmoe_model *m, const cJSON *ids, const cJSON *want, int ci) {
    int n = cJSON_GetArraySize(ids), steps = cJSON_GetArraySize(want);
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n + steps;
    olmoe_context *ctx;
    CHECK(olmoe_context_new(m, &cp, &ctx) == OLMOE_OK);
    int32_t *seq = malloc((size_t)(n + steps) * sizeof *seq);
    for (int i = 0; i < n; i++) seq[i] = cJSON_GetArrayItem(ids, i)->valueint;
    CHECK(olmoe_decode(ctx, seq, (size_t)n, 0) == OLMOE_OK);
    int V = olmoe_vocab_size(m);
    for (int s = 0; s < steps; s++) {
        int32_t next = argmax(olmoe_get_logits(ctx, -1), V);
        int expect = cJSON_GetArrayItem(want, s)->valueint;
        CHECK_MSG(next == expect, "case %d greedy step %d: %d, expected %d", ci, s, next, expect);
        if (next != expect) break;
        seq[n + s] = next;
        if (s + 1 < steps) CHECK(olmoe_decode(ctx, &next, 1, 0) == OLMOE_OK);
    }
    free(seq);
    olmoe_context_free(ctx);
}

/* model_path: the HF folder itself or a GGUF file made from it; name: the
 * reference folder under reference/models. */
static void check_model(const char *shared, const char *name, const char *model_path) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/reference/models/%s", shared, name);
    olmoe_model *m;
    olmoe_status st = olmoe_model_load(model_path ? model_path : dir, NULL, &m);
    CHECK_MSG(st == OLMOE_OK, "%s: %s", name, olmoe_last_error());
    if (st) return;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cJSON *ref;
    CHECK(json_load_file(path, &ref) == OLMOE_OK);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    safetensors_file rt;
    CHECK(safetensors_open(path, &rt) == OLMOE_OK);
    int V = olmoe_vocab_size(m), ci = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        int32_t *tok;
        size_t n_tok;
        CHECK(olmoe_tokenize(m, text, strlen(text), &tok, &n_tok) == OLMOE_OK);
        check_ids(ids, tok, n_tok, name);
        olmoe_free(tok);
        int n = cJSON_GetArraySize(ids);
        int32_t *in = malloc((size_t)n * sizeof *in);
        for (int i = 0; i < n; i++) in[i] = cJSON_GetArrayItem(ids, i)->valueint;
        olmoe_context_params cp = olmoe_context_default_params();
        cp.n_ctx = n;
        cp.record_routing = 1;
        olmoe_context *ctx;
        CHECK(olmoe_context_new(m, &cp, &ctx) == OLMOE_OK);
        CHECK(olmoe_decode(ctx, in, (size_t)n, 1) == OLMOE_OK);
        check_logits(ctx, &rt, ci, n, V);
        check_routing(ctx, cJSON_GetObjectItem(c, "router_topk"), ci, n);
        olmoe_context_free(ctx);
        free(in);
        check_greedy(m, ids, cJSON_GetObjectItem(c, "greedy_24"), ci);
        ci++;
    }
    printf("%s%s: %d cases, max |lse error| %.3g, max |logit error| %.3g\n", name,
           model_path ? " (GGUF)" : "", ci, max_lse_err, max_logit_err);
    max_lse_err = max_logit_err = 0;
    safetensors_close(&rt);
    cJSON_Delete(ref);
    olmoe_model_free(m);
}

/* The same checks through GGUF: the checkpoint converted to an F32 GGUF
 * file by olmoe_convert and loaded back, and the independently written
 * olmoe-tiny-f32.gguf of the reference data. */
static void check_via_gguf(const char *shared, const char *name) {
    char dir[512], out[] = "/tmp/olmoe-ref-XXXXXX";
    snprintf(dir, sizeof dir, "%s/reference/models/%s", shared, name);
    int fd = mkstemp(out);
    CHECK(fd >= 0);
    close(fd);
    olmoe_model *m;
    CHECK(olmoe_model_load(dir, NULL, &m) == OLMOE_OK);
    olmoe_status st = olmoe_convert(m, out, "f32", NULL, NULL);
    CHECK_MSG(st == OLMOE_OK, "convert %s: %s", name, olmoe_last_error());
    olmoe_model_free(m);
    if (!st) check_model(shared, name, out);
    unlink(out);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    const char *names[] = {"olmoe-tiny", "olmoe-gqa-bf16", "olmo2-tiny"};
    for (int i = 0; i < 3; i++) check_model(shared, names[i], NULL);
    for (int i = 0; i < 3; i++) check_via_gguf(shared, names[i]);
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/reference/gguf/olmoe-tiny-f32.gguf", shared);
    check_model(shared, "olmoe-tiny", gguf);
    return check_report("test_reference_models");
}
