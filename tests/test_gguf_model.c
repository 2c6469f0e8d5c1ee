/* GGUF models end to end:
 *  - llama.cpp's own greedy continuations of the reference Q8_0 file are
 *    reproduced token for token, and Q8_0 keeps the float32 top-1 at >= 95%
 *    of the reference positions;
 *  - olmoe convert writes files byte-identical to the independently written
 *    reference GGUF files (F32 and Q8_0);
 *  - a GGUF file and the HF folder it came from tokenize every test string
 *    identically (both tokenizers);
 *  - Q4_0 / Q4_K_M / Q8_0 conversions of a model with full-size blocks use
 *    llama.cpp's type mix and stay close to the unquantized logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "olmoe.h"
#include "quant/kernels.h"
#include "quant/pack.h"
#include "util/file.h"

static const char *shared;

static int argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static olmoe_model *load(const char *path) {
    olmoe_model *m = NULL;
    olmoe_status st = olmoe_model_load(path, NULL, &m);
    CHECK_MSG(st == OLMOE_OK, "%s: %s", path, olmoe_last_error());
    return m;
}

/* llama.cpp's greedy continuations of the reference prompts from the Q8_0
 * file, reproduced exactly (including where they leave the f32 ones). */
static void check_llama_cpp_greedy(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference/gguf/olmoe-tiny-q8_0.gguf", shared);
    olmoe_model *m = load(path);
    snprintf(path, sizeof path, "%s/reference/gguf/olmoe-tiny-q8_0.llama-cpp-greedy.json", shared);
    cJSON *ref;
    if (!m || json_load_file(path, &ref)) { CHECK(0); olmoe_model_free(m); return; }
    int cases = 0, V = olmoe_vocab_size(m);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "cases")) {
        const cJSON *ids = cJSON_GetObjectItem(c, "ids"), *want = cJSON_GetObjectItem(c, "greedy_24");
        int n = cJSON_GetArraySize(ids), steps = cJSON_GetArraySize(want);
        olmoe_context_params cp = olmoe_context_default_params();
        cp.n_ctx = n + steps;
        olmoe_context *ctx;
        CHECK(olmoe_context_new(m, &cp, &ctx) == OLMOE_OK);
        int32_t *seq = malloc((size_t)n * sizeof *seq);
        for (int i = 0; i < n; i++) seq[i] = cJSON_GetArrayItem(ids, i)->valueint;
        CHECK(olmoe_decode(ctx, seq, (size_t)n, 0) == OLMOE_OK);
        for (int s = 0; s < steps; s++) {
            int32_t next = argmax(olmoe_get_logits(ctx, -1), V);
            int expect = cJSON_GetArrayItem(want, s)->valueint;
            CHECK_MSG(next == expect, "case %d step %d: %d, llama.cpp %d", cases, s, next, expect);
            if (next != expect) break;
            if (s + 1 < steps) CHECK(olmoe_decode(ctx, &next, 1, 0) == OLMOE_OK);
        }
        free(seq);
        olmoe_context_free(ctx);
        cases++;
    }
    CHECK(cases == 5);
    cJSON_Delete(ref);
    olmoe_model_free(m);
}

/* Q8_0's top-1 against the float64 reference's, over every position. */
static void check_q8_top1(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference/gguf/olmoe-tiny-q8_0.gguf", shared);
    olmoe_model *m = load(path);
    snprintf(path, sizeof path, "%s/reference/models/olmoe-tiny/reference.json", shared);
    cJSON *ref;
    safetensors_file rt;
    char rpath[512];
    snprintf(rpath, sizeof rpath, "%s/reference/models/olmoe-tiny/reference.safetensors", shared);
    if (!m || json_load_file(path, &ref) || safetensors_open(rpath, &rt)) { CHECK(0); return; }
    int agree = 0, total = 0, ci = 0, V = olmoe_vocab_size(m);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "cases")) {
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        int n = cJSON_GetArraySize(ids);
        int32_t *in = malloc((size_t)n * sizeof *in);
        for (int i = 0; i < n; i++) in[i] = cJSON_GetArrayItem(ids, i)->valueint;
        olmoe_context_params cp = olmoe_context_default_params();
        cp.n_ctx = n;
        olmoe_context *ctx;
        CHECK(olmoe_context_new(m, &cp, &ctx) == OLMOE_OK);
        CHECK(olmoe_decode(ctx, in, (size_t)n, 1) == OLMOE_OK);
        char name[64];
        snprintf(name, sizeof name, "case%d.top_ids", ci);
        const tensor *top = NULL;
        for (int i = 0; i < rt.n_tensors; i++)
            if (!strcmp(rt.tensors[i].name, name)) top = &rt.tensors[i];
        for (int p = 0; top && p < n; p++, total++)
            agree += argmax(olmoe_get_logits(ctx, p), V) == ((const int32_t *)top->data)[p * top->shape[1]];
        olmoe_context_free(ctx);
        free(in);
        ci++;
    }
    printf("q8_0 top-1 agreement with float64 reference: %d / %d\n", agree, total);
    CHECK(total > 400 && agree >= 0.95 * total);
    safetensors_close(&rt);
    cJSON_Delete(ref);
    olmoe_model_free(m);
}

static int files_equal(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (file_read_all(a, &x, &nx)) return 0;
    if (file_read_all(b, &y, &ny)) { free(x); return 0; }
    int eq = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return eq;
}

static void copy(const char *from_dir, const char *to_dir, const char *name) {
    char a[1024], b[1024], *data;
    size_t n;
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    if (file_read_all(a, &data, &n)) { CHECK(0); return; }
    FILE *f = fopen(b, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
    free(data);
}

/* The reference GGUF files hold no chat template, so convert a copy of the
 * folder without tokenizer_config.json, named as the reference's
 * general.name says. */
static void check_byte_identical(const char *tmp) {
    char src[512], dir[600], out[800], ref[600];
    snprintf(src, sizeof src, "%s/reference/models/olmoe-tiny", shared);
    snprintf(dir, sizeof dir, "%s/olmoe-tiny", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 4; i++) copy(src, dir, files[i]);
    olmoe_model *m = load(dir);
    const char *types[] = {"f32", "q8_0"};
    for (int i = 0; m && i < 2; i++) {
        snprintf(out, sizeof out, "%s/out-%s.gguf", tmp, types[i]);
        snprintf(ref, sizeof ref, "%s/reference/gguf/olmoe-tiny-%s.gguf", shared, types[i]);
        CHECK_MSG(olmoe_convert(m, out, types[i], NULL, NULL) == OLMOE_OK, "%s", olmoe_last_error());
        CHECK_MSG(files_equal(out, ref), "converted %s differs from %s", types[i], ref);
        unlink(out);
    }
    olmoe_model_free(m);
    for (int i = 0; i < 4; i++) {
        snprintf(out, sizeof out, "%s/%s", dir, files[i]);
        unlink(out);
    }
    rmdir(dir);
}

/* Every tokenizer test string: GGUF tokenizer == tokenizer.json. */
static void check_tokenizer_equal(const char *tmp, const char *model) {
    char dir[512], out[600], cases[512];
    snprintf(dir, sizeof dir, "%s/reference/models/%s", shared, model);
    snprintf(out, sizeof out, "%s/%s.gguf", tmp, model);
    snprintf(cases, sizeof cases, "%s/tokenizer-cases.jsonl", shared);
    olmoe_model *hf = load(dir), *gg = NULL;
    CHECK(hf && olmoe_convert(hf, out, "f32", NULL, NULL) == OLMOE_OK);
    gg = load(out);
    char *data;
    if (!hf || !gg || file_read_all(cases, &data, NULL)) { CHECK(0); return; }
    int n_lines = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n"), n_lines++) {
        cJSON *j = cJSON_Parse(line);
        const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
        int32_t *a, *b;
        size_t na, nb;
        CHECK(olmoe_tokenize(hf, text, strlen(text), &a, &na) == OLMOE_OK);
        CHECK(olmoe_tokenize(gg, text, strlen(text), &b, &nb) == OLMOE_OK);
        CHECK_MSG(na == nb && !memcmp(a, b, na * sizeof *a), "%s: GGUF tokenizes \"%s\" differently", model, text);
        olmoe_free(a);
        olmoe_free(b);
        cJSON_Delete(j);
    }
    CHECK(n_lines >= 50);
    CHECK_INT_EQ(olmoe_token_eos(gg), olmoe_token_eos(hf));
    free(data);
    olmoe_model_free(hf);
    olmoe_model_free(gg);
    unlink(out);
}

static int type_of(const gguf_file *g, const char *name) {
    const tensor *t = gguf_find_tensor(g, name);
    return t ? (int)t->type : -1;
}

static int count_type(const gguf_file *g, tensor_type t, const char *name_part) {
    int n = 0;
    for (int i = 0; i < g->n_tensors; i++)
        n += g->tensors[i].type == t && (!name_part || strstr(g->tensors[i].name, name_part));
    return n;
}

/* Cosine similarity of two logit vectors. */
static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

typedef struct {
    int calls, backwards;
    double done, total;
} progress_seen;

static void note_progress(double done, double total, void *user) {
    progress_seen *p = user;
    p->backwards += done < p->done || total != (p->calls ? p->total : total);
    p->calls++, p->done = done, p->total = total;
}

/* olmoe_model_prepare packs every matrix up front (Q4_0 and Q8_0 into
 * 8-row groups where a kernel reads them: `want` of them, file type
 * `from`) and the logits are bit for bit those of a model whose matrices
 * were packed at first use (lazy, the other context). */
static void check_prepared(const char *path, tensor_type from, tensor_type to, int want, const int32_t *ids, int n,
                           const olmoe_context *lazy, int V) {
    olmoe_model *m = load(path);
    if (!m) return;
    progress_seen seen = {0};
    olmoe_model_prepare(m, note_progress, &seen);
    CHECK(seen.calls == m->n_packable && seen.backwards == 0 && seen.done == seen.total && seen.total > 0);
    const tensor_type layout = quant_ops_for(to) ? to : from; /* no kernel: left as it is */
    int untouched = 0, packed = 0;
    for (int i = 0; i < m->n_packable; i++) {
        untouched += atomic_load(&m->packings[i].state) == PACK_NOT_YET;
        packed += tensor_layout(m->packable[i]) == layout;
    }
    CHECK_INT_EQ(untouched, 0);
    CHECK_INT_EQ(packed, want);
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n;
    olmoe_context *ctx;
    CHECK(olmoe_context_new(m, &cp, &ctx) == OLMOE_OK);
    CHECK(olmoe_decode(ctx, ids, (size_t)n, 1) == OLMOE_OK);
    int differ = 0;
    for (int i = 0; i < n; i++) differ += memcmp(olmoe_get_logits(ctx, i), olmoe_get_logits(lazy, i), (size_t)V * sizeof(float)) != 0;
    CHECK_MSG(differ == 0, "%d positions differ between prepared and lazily packed weights", differ);
    olmoe_context_free(ctx);
    olmoe_model_free(m);
}

/* A Q4_K_M model that ran (ran: its Q4_K matrices packed) converts to
 * q4_k_m as the same file (path) freshly loaded does: packed rows are
 * written back as the file's bytes, not quantized again. */
static void check_convert_after_run(const char *tmp, const char *path, olmoe_model *ran) {
    char fresh[600], again[600];
    snprintf(fresh, sizeof fresh, "%s/fresh.gguf", tmp);
    snprintf(again, sizeof again, "%s/again.gguf", tmp);
    olmoe_model *m = load(path);
    if (!m) return;
    CHECK(olmoe_convert(m, fresh, "q4_k_m", NULL, NULL) == OLMOE_OK);
    CHECK(olmoe_convert(ran, again, "q4_k_m", NULL, NULL) == OLMOE_OK);
    CHECK_MSG(files_equal(fresh, again), "q4_k_m: converting after a run differs from converting fresh");
    olmoe_model_free(m);
    unlink(fresh), unlink(again);
}

/* Quantized conversions of a model whose rows are whole 256-blocks. */
static void check_quantized(const char *tmp) {
    char dir[512], out[600], tok[512];
    snprintf(dir, sizeof dir, "%s/mini", tmp);
    snprintf(tok, sizeof tok, "%s/reference/models/olmoe-tiny/tokenizer.json", shared);
    olmoe_random_init_params p = {.preset = "olmoe-mini", .dtype = "bf16", .seed = 3, .tokenizer_json = tok};
    CHECK_MSG(olmoe_random_init(&p, dir) == OLMOE_OK, "%s", olmoe_last_error());
    olmoe_model *src = load(dir);
    if (!src) return;
    const int32_t ids[] = {510, 3158, 8516, 30013, 27287, 689, 253, 22658, 4370, 15, 12871, 9669};
    const int n = 12, V = olmoe_vocab_size(src);
    olmoe_context *ref_ctx;
    olmoe_context_params cp = olmoe_context_default_params();
    cp.n_ctx = n;
    CHECK(olmoe_context_new(src, &cp, &ref_ctx) == OLMOE_OK);
    CHECK(olmoe_decode(ref_ctx, ids, (size_t)n, 1) == OLMOE_OK);
    const struct { const char *type; double min_cos; } kinds[] = {{"q8_0", 0.999}, {"q4_k_m", 0.98}, {"q4_0", 0.98}};
    for (int k = 0; k < 3; k++) {
        snprintf(out, sizeof out, "%s/mini-%s.gguf", tmp, kinds[k].type);
        CHECK_MSG(olmoe_convert(src, out, kinds[k].type, NULL, NULL) == OLMOE_OK, "%s", olmoe_last_error());
        gguf_file g;
        CHECK(gguf_open(out, &g) == OLMOE_OK);
        if (!strcmp(kinds[k].type, "q4_k_m")) {
            /* llama.cpp's mix for 2 layers: output, and attn_v / ffn_down_exps of layer 1, in Q6_K. */
            CHECK_INT_EQ(count_type(&g, TYPE_Q6_K, NULL), 3);
            CHECK_INT_EQ(type_of(&g, "output.weight"), TYPE_Q6_K);
            CHECK_INT_EQ(count_type(&g, TYPE_Q6_K, "blk.1.attn_v"), 1);
            CHECK_INT_EQ(count_type(&g, TYPE_Q6_K, "blk.1.ffn_down_exps"), 1);
            CHECK_INT_EQ(count_type(&g, TYPE_Q4_K, "blk.0.attn_v"), 1);
            CHECK_INT_EQ(count_type(&g, TYPE_F32, "ffn_gate_inp"), 2);
        } else if (!strcmp(kinds[k].type, "q4_0")) {
            CHECK_INT_EQ(type_of(&g, "output.weight"), TYPE_Q6_K);
            CHECK_INT_EQ(count_type(&g, TYPE_Q4_0, "ffn_up_exps"), 2);
        } else {
            CHECK_INT_EQ(type_of(&g, "output.weight"), TYPE_Q8_0);
            CHECK_INT_EQ(type_of(&g, "token_embd.weight"), TYPE_Q8_0);
        }
        gguf_close(&g);
        olmoe_model *q = load(out);
        olmoe_context *ctx;
        CHECK(q && olmoe_context_new(q, &cp, &ctx) == OLMOE_OK);
        CHECK(olmoe_decode(ctx, ids, (size_t)n, 1) == OLMOE_OK);
        double worst = 1;
        for (int i = 0; i < n; i++)
            worst = fmin(worst, cosine(olmoe_get_logits(ctx, i), olmoe_get_logits(ref_ctx, i), V));
        printf("%s: worst logit cosine vs bf16 %.5f\n", kinds[k].type, worst);
        /* Per layer: q, k, v, o and each expert's gate, up and down; for
         * Q8_0 also the output matrix (Q6_K in the Q4_0 file). */
        const int matrices = 2 * (4 + 3 * 8); /* olmoe-mini: 2 layers of 8 experts */
        if (!strcmp(kinds[k].type, "q4_0")) check_prepared(out, TYPE_Q4_0, TYPE_Q4_0X8, matrices, ids, n, ctx, V);
        if (!strcmp(kinds[k].type, "q8_0")) check_prepared(out, TYPE_Q8_0, TYPE_Q8_0X8, matrices + 1, ids, n, ctx, V);
        /* Q4_K_M: the Q4_K ones, all but layer 1's attn_v and 8 expert downs (Q6_K). */
        if (!strcmp(kinds[k].type, "q4_k_m")) {
            check_prepared(out, TYPE_Q4_K, TYPE_Q4_KX8, matrices - 9, ids, n, ctx, V);
            check_convert_after_run(tmp, out, q);
        }
        CHECK_MSG(worst >= kinds[k].min_cos, "%s: cosine %.5f < %.3f", kinds[k].type, worst, kinds[k].min_cos);
        olmoe_context_free(ctx);
        olmoe_model_free(q);
        unlink(out);
    }
    snprintf(out, sizeof out, "%s/never.gguf", tmp);
    CHECK_INT_EQ(olmoe_convert(src, out, "q5_k", NULL, NULL), OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), "q5_k") != NULL);
    CHECK(access(out, F_OK) != 0);
    olmoe_context_free(ref_ctx);
    olmoe_model_free(src);
    snprintf(out, sizeof out, "%s/config.json", dir);
    unlink(out);
    snprintf(out, sizeof out, "%s/model.safetensors", dir);
    unlink(out);
    snprintf(out, sizeof out, "%s/tokenizer.json", dir);
    unlink(out);
    rmdir(dir);
}

int main(int argc, char **argv) {
    shared = argc > 1 ? argv[1] : "../shared";
    char tmp[] = "/tmp/olmoe-gguf-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    check_llama_cpp_greedy();
    check_q8_top1();
    check_byte_identical(tmp);
    check_tokenizer_equal(tmp, "olmoe-tiny");
    check_tokenizer_equal(tmp, "olmo2-tiny");
    check_quantized(tmp);
    rmdir(tmp);
    return check_report("test_gguf_model");
}
