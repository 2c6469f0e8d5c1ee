/* GGUF reader and writer: the reference olmoe-tiny GGUF files (metadata,
 * shapes, F32 data equal to the HF safetensors), a write -> read round trip of
 * every value type, a byte-identical copy of the reference files through the
 * writer, and malformed files that must fail cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "olmoe.h"

static const char *shared_dir = "../shared";

/* ---------------------------------------------------------------- helpers */

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static int write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static int str_is(const char *s, size_t len, const char *want) {
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* ---------------------------------------------------------------- reference files */

static void check_reference_file(const char *name, tensor_type expert_type) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/gguf/%s", shared_dir, name);
    gguf_file g;
    olmoe_status st = gguf_open(path, &g);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) return;
    CHECK_INT_EQ(g.version, 3);
    CHECK_INT_EQ(g.alignment, 32);
    CHECK_INT_EQ(g.n_tensors, 27);
    CHECK_INT_EQ(g.data_offset % 32, 0);

    const char *s;
    size_t len;
    CHECK(gguf_get_str(&g, "general.architecture", &s, &len) == OLMOE_OK && str_is(s, len, "olmoe"));
    uint32_t u;
    CHECK(gguf_get_u32(&g, "olmoe.block_count", &u) == OLMOE_OK && u == 2);
    CHECK(gguf_get_u32(&g, "olmoe.expert_count", &u) == OLMOE_OK && u == 8);
    CHECK(gguf_get_u32(&g, "olmoe.expert_used_count", &u) == OLMOE_OK && u == 2);
    CHECK(gguf_get_u32(&g, "olmoe.embedding_length", &u) == OLMOE_OK && u == 32);
    int64_t i64;
    CHECK(gguf_get_i64(&g, "olmoe.feed_forward_length", &i64) == OLMOE_OK && i64 == 16);
    float f;
    CHECK(gguf_get_f32(&g, "olmoe.rope.freq_base", &f) == OLMOE_OK && f == 10000.0f);
    CHECK(gguf_get_f32(&g, "olmoe.attention.layer_norm_rms_epsilon", &f) == OLMOE_OK &&
          f == 1e-5f);
    /* Type mismatches and absent keys. */
    CHECK(gguf_get_u32(&g, "general.architecture", &u) == OLMOE_ERR_FORMAT);
    CHECK(strstr(olmoe_last_error(), path) != NULL);
    CHECK(gguf_find_kv(&g, "no.such.key") == NULL);
    CHECK(gguf_get_u32(&g, "no.such.key", &u) == OLMOE_ERR_FORMAT);
    CHECK(strstr(olmoe_last_error(), "no.such.key") != NULL);

    gguf_type et;
    uint64_t n;
    const gguf_kv *tok = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(tok != NULL);
    if (tok) {
        CHECK(gguf_kv_arr(&g, tok, &et, &n) == OLMOE_OK && et == GGUF_TYPE_STRING && n == 50304);
        CHECK(gguf_kv_arr_str(&g, tok, 50279, &s, &len) == OLMOE_OK &&
              str_is(s, len, "<|endoftext|>"));
        CHECK(gguf_kv_arr_str(&g, tok, 0, &s, &len) == OLMOE_OK && len > 0);
        CHECK(gguf_kv_arr_str(&g, tok, 50304, &s, &len) == OLMOE_ERR_ARG);
        CHECK(gguf_kv_arr_i64(&g, tok, 0, &i64) == OLMOE_ERR_FORMAT);
    }
    const gguf_kv *merges = gguf_find_kv(&g, "tokenizer.ggml.merges");
    CHECK(merges != NULL);
    if (merges) {
        CHECK(gguf_kv_arr(&g, merges, &et, &n) == OLMOE_OK && et == GGUF_TYPE_STRING && n > 1000);
        CHECK(gguf_kv_arr_str(&g, merges, 0, &s, &len) == OLMOE_OK &&
              str_is(s, len, "\xc4\xa0 \xc4\xa0"));
    }
    const gguf_kv *tt = gguf_find_kv(&g, "tokenizer.ggml.token_type");
    CHECK(tt != NULL);
    if (tt) {
        CHECK(gguf_kv_arr(&g, tt, &et, &n) == OLMOE_OK && et == GGUF_TYPE_INT32 && n == 50304);
        CHECK(gguf_kv_arr_i64(&g, tt, 0, &i64) == OLMOE_OK && i64 >= 1 && i64 <= 6);
        CHECK(gguf_kv_arr_i64(&g, tt, 50279, &i64) == OLMOE_OK && i64 == 3); /* CONTROL */
        double d;
        CHECK(gguf_kv_arr_f64(&g, tt, 50279, &d) == OLMOE_OK && d == 3.0);
        CHECK(gguf_kv_arr_str(&g, tt, 0, &s, &len) == OLMOE_ERR_FORMAT);
    }
    CHECK(gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &u) == OLMOE_OK && u == 50279);

    const tensor *t = gguf_find_tensor(&g, "blk.0.ffn_gate_exps.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT_EQ(t->n_dims, 3);
        CHECK_INT_EQ(t->shape[0], 8);
        CHECK_INT_EQ(t->shape[1], 16);
        CHECK_INT_EQ(t->shape[2], 32);
        CHECK_INT_EQ(t->type, expert_type);
        CHECK_INT_EQ(t->nbytes, tensor_type_bytes(expert_type, 8 * 16 * 32));
    }
    t = gguf_find_tensor(&g, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_INT_EQ(t->n_dims, 2);
        CHECK_INT_EQ(t->shape[0], 50304);
        CHECK_INT_EQ(t->shape[1], 32);
    }
    t = gguf_find_tensor(&g, "output_norm.weight");
    CHECK(t != NULL && t->n_dims == 1 && t->shape[0] == 32 && t->type == TYPE_F32);
    CHECK(gguf_find_tensor(&g, "no.such.tensor") == NULL);
    for (int i = 0; i < g.n_tensors; i++) {
        CHECK(g.tensor_offsets[i] % g.alignment == 0);
        CHECK((const unsigned char *)g.tensors[i].data ==
              g.file.data + g.data_offset + g.tensor_offsets[i]);
    }
    gguf_close(&g);
}

/* Every tensor of the F32 GGUF equals its HF counterpart (expert tensors are
 * the 8 per-expert matrices stacked along the outermost dimension). */
static void check_f32_matches_safetensors(void) {
    char gpath[1024], spath[1024];
    snprintf(gpath, sizeof gpath, "%s/reference/gguf/olmoe-tiny-f32.gguf", shared_dir);
    snprintf(spath, sizeof spath, "%s/reference/models/olmoe-tiny/model.safetensors", shared_dir);
    gguf_file g;
    safetensors_file sf;
    olmoe_status st = gguf_open(gpath, &g);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) return;
    st = safetensors_open(spath, &sf);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) {
        gguf_close(&g);
        return;
    }
    static const struct { const char *gguf, *hf; } map[] = {
        {"attn_norm", "input_layernorm"},       {"attn_q", "self_attn.q_proj"},
        {"attn_k", "self_attn.k_proj"},         {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"},    {"attn_q_norm", "self_attn.q_norm"},
        {"attn_k_norm", "self_attn.k_norm"},    {"ffn_norm", "post_attention_layernorm"},
        {"ffn_gate_inp", "mlp.gate"},           {"ffn_gate_exps", "gate_proj"},
        {"ffn_up_exps", "up_proj"},             {"ffn_down_exps", "down_proj"},
    };
    int matched = 0;
    for (int i = 0; i < g.n_tensors; i++) {
        const tensor *gt = &g.tensors[i];
        CHECK_INT_EQ(gt->type, TYPE_F32);
        char hf[256];
        int layer = -1, experts = 0;
        char part[64] = "";
        if (!strcmp(gt->name, "token_embd.weight")) snprintf(hf, sizeof hf, "model.embed_tokens.weight");
        else if (!strcmp(gt->name, "output.weight")) snprintf(hf, sizeof hf, "lm_head.weight");
        else if (!strcmp(gt->name, "output_norm.weight")) snprintf(hf, sizeof hf, "model.norm.weight");
        else if (sscanf(gt->name, "blk.%d.%63[a-z_].weight", &layer, part) == 2) {
            const char *h = NULL;
            for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
                if (!strcmp(map[k].gguf, part)) h = map[k].hf;
            CHECK_MSG(h != NULL, "unmapped tensor %s", gt->name);
            if (!h) continue;
            experts = strstr(part, "_exps") != NULL;
            if (experts) snprintf(hf, sizeof hf, "model.layers.%d.mlp.experts.%%d.%s.weight", layer, h);
            else snprintf(hf, sizeof hf, "model.layers.%d.%s.weight", layer, h);
        } else {
            CHECK_MSG(0, "unexpected tensor %s", gt->name);
            continue;
        }
        int n_slabs = experts ? (int)gt->shape[0] : 1;
        size_t slab = gt->nbytes / (size_t)n_slabs;
        for (int e = 0; e < n_slabs; e++) {
            char name[300];
            if (experts) snprintf(name, sizeof name, hf, e);
            else snprintf(name, sizeof name, "%s", hf);
            const tensor *ht = NULL;
            for (int k = 0; k < sf.n_tensors; k++)
                if (!strcmp(sf.tensors[k].name, name)) ht = &sf.tensors[k];
            CHECK_MSG(ht != NULL, "%s: no HF tensor %s", gt->name, name);
            if (!ht) continue;
            CHECK_MSG(ht->type == TYPE_F32 && ht->nbytes == slab, "%s", name);
            /* Shapes: GGUF's PyTorch-order shape is the HF shape (with the
             * expert index prepended for stacked experts). */
            CHECK_INT_EQ(ht->n_dims + experts, gt->n_dims);
            for (int d = 0; d < ht->n_dims && d + experts < 4; d++)
                CHECK_INT_EQ(ht->shape[d], gt->shape[d + experts]);
            CHECK_MSG(ht->nbytes == slab &&
                      !memcmp(ht->data, (const unsigned char *)gt->data + (size_t)e * slab, slab),
                      "%s slab %d differs from %s", gt->name, e, name);
            matched++;
        }
    }
    /* 3 global + 2 layers x (9 plain + 3 x 8 experts). */
    CHECK_INT_EQ(matched, 3 + 2 * (9 + 3 * 8));
    CHECK_INT_EQ(matched, sf.n_tensors);
    /* The two spot checks the brief names, explicitly. */
    const tensor *a = gguf_find_tensor(&g, "blk.0.ffn_gate_exps.weight");
    const tensor *b = NULL, *c = gguf_find_tensor(&g, "token_embd.weight"), *d = NULL;
    for (int k = 0; k < sf.n_tensors; k++) {
        if (!strcmp(sf.tensors[k].name, "model.layers.0.mlp.experts.3.gate_proj.weight")) b = &sf.tensors[k];
        if (!strcmp(sf.tensors[k].name, "model.embed_tokens.weight")) d = &sf.tensors[k];
    }
    CHECK(a && b && b->nbytes == 16 * 32 * 4 &&
          !memcmp((const unsigned char *)a->data + 3 * b->nbytes, b->data, b->nbytes));
    CHECK(c && d && c->nbytes == d->nbytes && !memcmp(c->data, d->data, c->nbytes));
    safetensors_close(&sf);
    gguf_close(&g);
}

/* ---------------------------------------------------------------- copy through the writer */

/* Re-creates src with the writer, using the typed add functions (so the
 * encoders, not a raw copy, produce every byte) unless use_copy_kv. */
static olmoe_status copy_gguf(const gguf_file *g, const char *out, int use_copy_kv) {
    gguf_writer *w;
    olmoe_status st = gguf_writer_open(out, &w);
    if (st) return st;
    for (size_t i = 0; i < g->n_kvs && !st; i++) {
        const gguf_kv *kv = &g->kvs[i];
        if (use_copy_kv) {
            st = gguf_writer_copy_kv(w, g, kv);
            continue;
        }
        if (kv->type == GGUF_TYPE_STRING) {
            const char *s;
            size_t len;
            st = gguf_kv_str(g, kv, &s, &len);
            if (!st) st = gguf_writer_add_strn(w, kv->key, s, len);
        } else if (kv->type == GGUF_TYPE_UINT32) {
            uint32_t v;
            st = gguf_kv_u32(g, kv, &v);
            if (!st) st = gguf_writer_add_u32(w, kv->key, v);
        } else if (kv->type == GGUF_TYPE_INT32) {
            int64_t v;
            st = gguf_kv_i64(g, kv, &v);
            if (!st) st = gguf_writer_add_i32(w, kv->key, (int32_t)v);
        } else if (kv->type == GGUF_TYPE_FLOAT32) {
            float v;
            st = gguf_kv_f32(g, kv, &v);
            if (!st) st = gguf_writer_add_f32(w, kv->key, v);
        } else if (kv->type == GGUF_TYPE_BOOL) {
            int v;
            st = gguf_kv_bool(g, kv, &v);
            if (!st) st = gguf_writer_add_bool(w, kv->key, v);
        } else if (kv->type == GGUF_TYPE_ARRAY && kv->elem_type == GGUF_TYPE_STRING) {
            const char **strs = malloc((size_t)(kv->n + 1) * sizeof *strs);
            size_t *lens = malloc((size_t)(kv->n + 1) * sizeof *lens);
            for (uint64_t k = 0; k < kv->n && !st; k++) st = gguf_kv_arr_str(g, kv, k, &strs[k], &lens[k]);
            if (!st) st = gguf_writer_add_str_array(w, kv->key, strs, lens, (size_t)kv->n);
            free(strs);
            free(lens);
        } else if (kv->type == GGUF_TYPE_ARRAY && kv->elem_type == GGUF_TYPE_INT32) {
            int32_t *v = malloc((size_t)(kv->n + 1) * sizeof *v);
            for (uint64_t k = 0; k < kv->n && !st; k++) {
                int64_t x;
                st = gguf_kv_arr_i64(g, kv, k, &x);
                v[k] = (int32_t)x;
            }
            if (!st) st = gguf_writer_add_array(w, kv->key, GGUF_TYPE_INT32, v, (size_t)kv->n);
            free(v);
        } else if (kv->type == GGUF_TYPE_ARRAY && kv->elem_type == GGUF_TYPE_FLOAT32) {
            float *v = malloc((size_t)(kv->n + 1) * sizeof *v);
            for (uint64_t k = 0; k < kv->n && !st; k++) {
                double x;
                st = gguf_kv_arr_f64(g, kv, k, &x);
                v[k] = (float)x;
            }
            if (!st) st = gguf_writer_add_array(w, kv->key, GGUF_TYPE_FLOAT32, v, (size_t)kv->n);
            free(v);
        } else {
            st = gguf_writer_copy_kv(w, g, kv); /* types the reference files do not use */
        }
    }
    for (int i = 0; i < g->n_tensors && !st; i++)
        st = gguf_writer_add_tensor(w, g->tensors[i].name, g->tensors[i].type, g->tensors[i].n_dims,
                                    g->tensors[i].shape);
    if (!st) st = gguf_writer_begin_data(w);
    for (int i = 0; i < g->n_tensors && !st; i++)
        st = gguf_writer_write_tensor(w, i, g->tensors[i].data, g->tensors[i].nbytes);
    if (st) {
        gguf_writer_abort(w);
        return st;
    }
    return gguf_writer_close(w);
}

static void check_copy_identical(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/gguf/%s", shared_dir, name);
    gguf_file g;
    olmoe_status st = gguf_open(path, &g);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) return;
    for (int use_copy_kv = 0; use_copy_kv < 2; use_copy_kv++) {
        char out[256];
        snprintf(out, sizeof out, "/tmp/test_gguf_copy_%d_%d.gguf", (int)getpid(), use_copy_kv);
        st = copy_gguf(&g, out, use_copy_kv);
        CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
        size_t n = 0;
        unsigned char *b = slurp(out, &n);
        CHECK_MSG(b && n == g.file.size, "%s: copy has %zu bytes, original %zu", name, n,
                  g.file.size);
        if (b && n == g.file.size) {
            size_t k = 0;
            while (k < n && b[k] == g.file.data[k]) k++;
            CHECK_MSG(k == n, "%s: copy differs from the original at byte %zu", name, k);
        }
        free(b);
        remove(out);
    }
    gguf_close(&g);
}

/* ---------------------------------------------------------------- round trip */

static void fill(unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 8));
}

static void check_round_trip(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/test_gguf_rt_%d.gguf", (int)getpid());
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    remove(path);
    gguf_writer *w;
    olmoe_status st = gguf_writer_open(path, &w);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) return;

    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    CHECK(gguf_writer_add_scalar(w, "t.u8", GGUF_TYPE_UINT8, &u8) == OLMOE_OK);
    CHECK(gguf_writer_add_scalar(w, "t.i8", GGUF_TYPE_INT8, &i8) == OLMOE_OK);
    CHECK(gguf_writer_add_scalar(w, "t.u16", GGUF_TYPE_UINT16, &u16) == OLMOE_OK);
    CHECK(gguf_writer_add_scalar(w, "t.i16", GGUF_TYPE_INT16, &i16) == OLMOE_OK);
    CHECK(gguf_writer_add_u32(w, "t.u32", 4000000000u) == OLMOE_OK);
    CHECK(gguf_writer_add_i32(w, "t.i32", -2000000000) == OLMOE_OK);
    CHECK(gguf_writer_add_f32(w, "t.f32", 0.15625f) == OLMOE_OK);
    CHECK(gguf_writer_add_bool(w, "t.bool_t", 1) == OLMOE_OK);
    CHECK(gguf_writer_add_bool(w, "t.bool_f", 0) == OLMOE_OK);
    CHECK(gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo") == OLMOE_OK);
    CHECK(gguf_writer_add_strn(w, "t.str_nul", "a\0b", 3) == OLMOE_OK);
    CHECK(gguf_writer_add_str(w, "t.str_empty", "") == OLMOE_OK);
    CHECK(gguf_writer_add_u64(w, "t.u64", 0xfedcba9876543210ull) == OLMOE_OK);
    CHECK(gguf_writer_add_i64(w, "t.i64", INT64_MIN + 5) == OLMOE_OK);
    CHECK(gguf_writer_add_f64(w, "t.f64", -1.0 / 3.0) == OLMOE_OK);
    CHECK(gguf_writer_add_u32(w, "general.alignment", 64) == OLMOE_OK);
    const char *strs[] = {"alpha", "", "\xc4\xa0 \xc4\xa0", "with space"};
    CHECK(gguf_writer_add_str_array(w, "a.str", strs, NULL, 4) == OLMOE_OK);
    int32_t ai32[] = {1, -2, 2147483647, -2147483647 - 1};
    CHECK(gguf_writer_add_array(w, "a.i32", GGUF_TYPE_INT32, ai32, 4) == OLMOE_OK);
    float af32[] = {1.5f, -0.0f, 3e38f};
    CHECK(gguf_writer_add_array(w, "a.f32", GGUF_TYPE_FLOAT32, af32, 3) == OLMOE_OK);
    uint8_t au8[] = {0, 255, 7};
    CHECK(gguf_writer_add_array(w, "a.u8", GGUF_TYPE_UINT8, au8, 3) == OLMOE_OK);
    double af64[] = {2.5, -1e300};
    CHECK(gguf_writer_add_array(w, "a.f64", GGUF_TYPE_FLOAT64, af64, 2) == OLMOE_OK);
    uint8_t abool[] = {1, 0, 1};
    CHECK(gguf_writer_add_array(w, "a.bool", GGUF_TYPE_BOOL, abool, 3) == OLMOE_OK);
    CHECK(gguf_writer_add_array(w, "a.empty", GGUF_TYPE_INT64, NULL, 0) == OLMOE_OK);

    /* Writer argument errors: reported, the writer stays usable. */
    CHECK(gguf_writer_add_u32(w, "t.u32", 1) == OLMOE_ERR_ARG);
    CHECK(strstr(olmoe_last_error(), path) && strstr(olmoe_last_error(), "duplicate"));
    CHECK(gguf_writer_add_u32(w, "", 1) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_u32(w, "general.alignment", 48) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_i32(w, "general.alignment", 64) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_scalar(w, "t.bad", GGUF_TYPE_STRING, "x") == OLMOE_ERR_ARG);

    static const struct { const char *name; tensor_type type; int n_dims; int64_t shape[4]; } ts[] = {
        {"t.f32_2d", TYPE_F32, 2, {3, 5}},
        {"t.f16", TYPE_F16, 1, {7}},
        {"t.q8_0", TYPE_Q8_0, 2, {2, 64}},
        {"t.q4_k", TYPE_Q4_K, 2, {1, 256}},
        {"t.empty", TYPE_F32, 2, {0, 4}},
        {"t.q6_k", TYPE_Q6_K, 3, {2, 1, 256}},
        {"t.bf16_4d", TYPE_BF16, 4, {2, 1, 3, 4}},
        {"t.scalar", TYPE_F32, 0, {0}},
        {"t.q4_0", TYPE_Q4_0, 1, {96}},
        {"t.i32", TYPE_I32, 1, {5}},
    };
    enum { NT = sizeof ts / sizeof ts[0] };
    size_t sizes[NT];
    for (int i = 0; i < NT; i++) {
        CHECK_MSG(gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].shape) ==
                  OLMOE_OK, "%s", olmoe_last_error());
        int64_t numel = 1;
        for (int d = 0; d < ts[i].n_dims; d++) numel *= ts[i].shape[d];
        sizes[i] = tensor_type_bytes(ts[i].type, numel);
    }
    CHECK_INT_EQ(sizes[2], 2 * 2 * 34);
    CHECK_INT_EQ(sizes[3], 144);
    int64_t bad_shape[2] = {2, 48};
    CHECK(gguf_writer_add_tensor(w, "t.bad", TYPE_Q8_0, 2, bad_shape) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "t.f16", TYPE_F16, 1, bad_shape) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "t.5d", TYPE_F32, 5, ts[6].shape) == OLMOE_ERR_ARG);
    char long_name[80];
    memset(long_name, 'x', 64);
    long_name[64] = 0;
    CHECK(gguf_writer_add_tensor(w, long_name, TYPE_F32, 1, bad_shape) == OLMOE_ERR_ARG);

    CHECK(gguf_writer_begin_data(w) == OLMOE_OK);
    CHECK(gguf_writer_add_u32(w, "t.late", 1) == OLMOE_ERR_ARG);
    CHECK(gguf_writer_add_tensor(w, "t.late", TYPE_F32, 1, bad_shape) == OLMOE_ERR_ARG);
    /* An interrupted write leaves only PATH.tmp. */
    CHECK(file_exists(tmp) && !file_exists(path));

    unsigned char *data[NT];
    for (int i = 0; i < NT; i++) {
        data[i] = malloc(sizes[i] + 1);
        fill(data[i], sizes[i], (unsigned)i);
    }
    CHECK(gguf_writer_write_tensor(w, 1, data[1], sizes[1]) == OLMOE_ERR_ARG); /* out of order */
    CHECK(gguf_writer_write_tensor(w, 0, data[0], sizes[0] - 1) == OLMOE_ERR_ARG); /* bad size */
    for (int i = 0; i < NT; i++) {
        if (i == 2) { /* in chunks */
            CHECK(gguf_writer_write_tensor_part(w, i, data[i], 10) == OLMOE_OK);
            CHECK(gguf_writer_write_tensor_part(w, i, data[i] + 10, sizes[i]) == OLMOE_ERR_ARG);
            CHECK(gguf_writer_write_tensor_part(w, i, data[i] + 10, sizes[i] - 10) == OLMOE_OK);
        } else {
            CHECK_MSG(gguf_writer_write_tensor(w, i, data[i], sizes[i]) == OLMOE_OK, "%s",
                      olmoe_last_error());
        }
    }
    CHECK(gguf_writer_write_tensor(w, NT, data[0], 4) == OLMOE_ERR_ARG);
    st = gguf_writer_close(w);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    CHECK(file_exists(path) && !file_exists(tmp));

    gguf_file g;
    st = gguf_open(path, &g);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (!st) {
        CHECK_INT_EQ(g.version, 3);
        CHECK_INT_EQ(g.alignment, 64);
        CHECK_INT_EQ(g.n_kvs, 23);
        CHECK_INT_EQ(g.data_offset % 64, 0);
        CHECK_INT_EQ(g.file.size % 64, 0);
        CHECK(!strcmp(g.kvs[0].key, "t.u8") && !strcmp(g.kvs[22].key, "a.empty"));
        uint32_t u;
        int64_t i;
        uint64_t u64;
        float f;
        double d;
        int b;
        const char *s;
        size_t len;
        const gguf_kv *kv;
        CHECK(gguf_get_u32(&g, "t.u8", &u) == OLMOE_OK && u == 200);
        CHECK(gguf_get_i64(&g, "t.i8", &i) == OLMOE_OK && i == -100);
        CHECK(gguf_get_u32(&g, "t.i8", &u) == OLMOE_ERR_FORMAT); /* negative */
        CHECK(gguf_get_u32(&g, "t.u16", &u) == OLMOE_OK && u == 60000);
        CHECK(gguf_get_i64(&g, "t.i16", &i) == OLMOE_OK && i == -30000);
        CHECK(gguf_get_u32(&g, "t.u32", &u) == OLMOE_OK && u == 4000000000u);
        CHECK(gguf_get_i64(&g, "t.i32", &i) == OLMOE_OK && i == -2000000000);
        CHECK(gguf_get_f32(&g, "t.f32", &f) == OLMOE_OK && f == 0.15625f);
        CHECK(gguf_get_f64(&g, "t.u32", &d) == OLMOE_OK && d == 4000000000.0);
        CHECK(gguf_get_bool(&g, "t.bool_t", &b) == OLMOE_OK && b == 1);
        CHECK(gguf_get_bool(&g, "t.bool_f", &b) == OLMOE_OK && b == 0);
        CHECK(gguf_get_u32(&g, "t.bool_t", &u) == OLMOE_ERR_FORMAT);
        CHECK(gguf_get_str(&g, "t.str", &s, &len) == OLMOE_OK && str_is(s, len, "h\xc3\xa9llo"));
        CHECK(gguf_get_str(&g, "t.str_nul", &s, &len) == OLMOE_OK && len == 3 && !memcmp(s, "a\0b", 3));
        CHECK(gguf_get_str(&g, "t.str_empty", &s, &len) == OLMOE_OK && len == 0);
        kv = gguf_find_kv(&g, "t.u64");
        CHECK(kv && gguf_kv_u64(&g, kv, &u64) == OLMOE_OK && u64 == 0xfedcba9876543210ull);
        CHECK(kv && gguf_kv_i64(&g, kv, &i) == OLMOE_ERR_FORMAT); /* > INT64_MAX */
        CHECK(kv && gguf_kv_u32(&g, kv, &u) == OLMOE_ERR_FORMAT);
        CHECK(gguf_get_i64(&g, "t.i64", &i) == OLMOE_OK && i == INT64_MIN + 5);
        CHECK(gguf_get_f64(&g, "t.f64", &d) == OLMOE_OK && d == -1.0 / 3.0);
        CHECK(gguf_get_u32(&g, "general.alignment", &u) == OLMOE_OK && u == 64);
        gguf_type et;
        uint64_t n;
        kv = gguf_find_kv(&g, "a.str");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_STRING && n == 4);
        for (int k = 0; kv && k < 4; k++)
            CHECK(gguf_kv_arr_str(&g, kv, (uint64_t)k, &s, &len) == OLMOE_OK && str_is(s, len, strs[k]));
        CHECK(kv && gguf_kv_str(&g, kv, &s, &len) == OLMOE_ERR_FORMAT);
        kv = gguf_find_kv(&g, "a.i32");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_INT32 && n == 4);
        for (int k = 0; kv && k < 4; k++)
            CHECK(gguf_kv_arr_i64(&g, kv, (uint64_t)k, &i) == OLMOE_OK && i == ai32[k]);
        kv = gguf_find_kv(&g, "a.f32");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_FLOAT32 && n == 3);
        for (int k = 0; kv && k < 3; k++)
            CHECK(gguf_kv_arr_f64(&g, kv, (uint64_t)k, &d) == OLMOE_OK && (float)d == af32[k]);
        CHECK(kv && gguf_kv_arr_i64(&g, kv, 0, &i) == OLMOE_ERR_FORMAT);
        kv = gguf_find_kv(&g, "a.u8");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_UINT8 && n == 3);
        for (int k = 0; kv && k < 3; k++)
            CHECK(gguf_kv_arr_i64(&g, kv, (uint64_t)k, &i) == OLMOE_OK && i == au8[k]);
        kv = gguf_find_kv(&g, "a.f64");
        CHECK(kv && gguf_kv_arr_f64(&g, kv, 1, &d) == OLMOE_OK && d == -1e300);
        kv = gguf_find_kv(&g, "a.bool");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_BOOL && n == 3);
        CHECK(kv && kv->data[0] == 1 && kv->data[1] == 0 && kv->data[2] == 1);
        kv = gguf_find_kv(&g, "a.empty");
        CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_INT64 && n == 0);
        CHECK(kv && gguf_kv_arr_i64(&g, kv, 0, &i) == OLMOE_ERR_ARG);

        CHECK_INT_EQ(g.n_tensors, NT);
        for (int k = 0; k < NT && k < g.n_tensors; k++) {
            const tensor *t = &g.tensors[k];
            CHECK_STR_EQ(t->name, ts[k].name);
            CHECK_INT_EQ(t->type, ts[k].type);
            CHECK_INT_EQ(t->n_dims, ts[k].n_dims);
            for (int dd = 0; dd < ts[k].n_dims; dd++) CHECK_INT_EQ(t->shape[dd], ts[k].shape[dd]);
            CHECK_INT_EQ(t->nbytes, sizes[k]);
            CHECK_INT_EQ(g.tensor_offsets[k] % 64, 0);
            CHECK_MSG(t->nbytes == sizes[k] && !memcmp(t->data, data[k], sizes[k]),
                      "tensor %s data differs", t->name);
            CHECK(gguf_find_tensor(&g, ts[k].name) == t);
        }
        gguf_close(&g);
    }
    for (int i = 0; i < NT; i++) free(data[i]);
    remove(path);

    /* A failed close (tensor missing) removes the temp file and creates nothing. */
    st = gguf_writer_open(path, &w);
    CHECK(st == OLMOE_OK);
    if (!st) {
        int64_t shp[1] = {4};
        CHECK(gguf_writer_add_tensor(w, "x", TYPE_F32, 1, shp) == OLMOE_OK);
        CHECK(gguf_writer_close(w) != OLMOE_OK);
        CHECK(strstr(olmoe_last_error(), path) && strstr(olmoe_last_error(), "'x'"));
        CHECK(!file_exists(path) && !file_exists(tmp));
    }
    /* Abort likewise. */
    st = gguf_writer_open(path, &w);
    CHECK(st == OLMOE_OK);
    if (!st) {
        CHECK(gguf_writer_add_str(w, "k", "v") == OLMOE_OK);
        CHECK(gguf_writer_begin_data(w) == OLMOE_OK);
        gguf_writer_abort(w);
        CHECK(!file_exists(path) && !file_exists(tmp));
    }
    /* Without general.alignment the writer aligns to 32. */
    st = gguf_writer_open(path, &w);
    if (!st) {
        int64_t s3[1] = {3}, s5[1] = {5};
        float a3[3] = {1, 2, 3}, a5[5] = {4, 5, 6, 7, 8};
        CHECK(gguf_writer_add_tensor(w, "a3", TYPE_F32, 1, s3) == OLMOE_OK);
        CHECK(gguf_writer_add_tensor(w, "a5", TYPE_F32, 1, s5) == OLMOE_OK);
        CHECK(gguf_writer_write_tensor(w, 0, a3, sizeof a3) == OLMOE_OK);
        CHECK(gguf_writer_write_tensor(w, 1, a5, sizeof a5) == OLMOE_OK);
        CHECK(gguf_writer_close(w) == OLMOE_OK);
        st = gguf_open(path, &g);
        CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
        if (!st) {
            CHECK(g.alignment == 32 && g.n_kvs == 0 && g.n_tensors == 2);
            CHECK(g.data_offset == 96); /* 24 header + 2 x 29 infos = 82, padded */
            CHECK(g.tensor_offsets[0] == 0 && g.tensor_offsets[1] == 32);
            CHECK(g.file.size == 96 + 64);
            CHECK(g.n_tensors == 2 && !memcmp(g.tensors[1].data, a5, sizeof a5));
            gguf_close(&g);
        }
        remove(path);
    }
    /* No tensors at all is a valid file. */
    st = gguf_writer_open(path, &w);
    if (!st) {
        CHECK(gguf_writer_add_str(w, "general.architecture", "olmoe") == OLMOE_OK);
        CHECK(gguf_writer_close(w) == OLMOE_OK);
        st = gguf_open(path, &g);
        CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
        if (!st) {
            CHECK(g.n_tensors == 0 && g.n_kvs == 1);
            gguf_close(&g);
        }
        remove(path);
    }
    /* An unwritable destination is an I/O error naming the path. */
    st = gguf_writer_open("/nonexistent-dir/x.gguf", &w);
    CHECK(st == OLMOE_ERR_IO && strstr(olmoe_last_error(), "/nonexistent-dir/x.gguf"));
}

/* ---------------------------------------------------------------- malformed files */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf;

static void bput(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void bu32(buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    bput(b, x, 4);
}
static void bu64(buf *b, uint64_t v) {
    bu32(b, (uint32_t)v);
    bu32(b, (uint32_t)(v >> 32));
}
static void bstr(buf *b, const char *s) {
    bu64(b, strlen(s));
    bput(b, s, strlen(s));
}
static void bpad(buf *b, size_t a) {
    while (b->n % a) bput(b, "", 1);
}

/* Knobs for a small hand-built file: two kvs, then tensors "a" (F32 [16],
 * 64 bytes at offset 0) and "b" (Q8_0 ne0=32, ne1=2, 68 bytes at offset 64). */
typedef struct {
    const char *magic;
    uint32_t version;
    uint64_t n_kv_override, n_tensors_override;
    uint32_t alignment; /* 0: no general.alignment kv */
    const char *key2;   /* second key (default "general.name") */
    uint32_t b_ndims;
    uint32_t b_type;
    uint64_t b_ne0;
    uint64_t b_offset;
    const char *b_name;
    int nested;         /* add a nested-array kv of this depth */
} spec;

static spec base_spec(void) {
    spec s = {"GGUF", 3, 0, 0, 32, "general.name", 2, 8, 32, 64, "b", 0};
    return s;
}

static size_t info_start; /* where build() put the tensor infos */

static buf build(const spec *s, size_t *data_start, size_t *data_end) {
    buf b = {0};
    bput(&b, s->magic, 4);
    bu32(&b, s->version);
    bu64(&b, s->n_tensors_override ? s->n_tensors_override : 2);
    uint64_t n_kv = 2 + (s->alignment ? 1 : 0) + (s->nested ? 1 : 0);
    bu64(&b, s->n_kv_override ? s->n_kv_override : n_kv);
    bstr(&b, "general.architecture");
    bu32(&b, GGUF_TYPE_STRING);
    bstr(&b, "olmoe");
    if (s->alignment) {
        bstr(&b, "general.alignment");
        bu32(&b, GGUF_TYPE_UINT32);
        bu32(&b, s->alignment);
    }
    if (s->nested) { /* array of arrays of ... of [u16 1, u16 2] */
        bstr(&b, "x.nested");
        bu32(&b, GGUF_TYPE_ARRAY);
        for (int d = 1; d < s->nested; d++) {
            bu32(&b, GGUF_TYPE_ARRAY);
            bu64(&b, 1);
        }
        bu32(&b, GGUF_TYPE_UINT16);
        bu64(&b, 2);
        bu32(&b, 0x00020001);
    }
    bstr(&b, s->key2);
    bu32(&b, GGUF_TYPE_ARRAY);
    bu32(&b, GGUF_TYPE_STRING);
    bu64(&b, 2);
    bstr(&b, "x");
    bstr(&b, "yz");
    info_start = b.n;
    /* tensor a */
    bstr(&b, "a");
    bu32(&b, 1);
    bu64(&b, 16);
    bu32(&b, 0);
    bu64(&b, 0);
    /* tensor b */
    bstr(&b, s->b_name);
    bu32(&b, s->b_ndims);
    for (uint32_t d = 0; d < s->b_ndims; d++) bu64(&b, d == 0 ? s->b_ne0 : 2);
    bu32(&b, s->b_type);
    bu64(&b, s->b_offset);
    uint32_t a = s->alignment ? s->alignment : 32;
    bpad(&b, a);
    *data_start = b.n;
    unsigned char data[132];
    fill(data, sizeof data, 1);
    bput(&b, data, 64);
    bput(&b, data + 64, 68);
    *data_end = b.n;
    bpad(&b, a);
    return b;
}

static char bad_path[256];

/* Opens bytes written to bad_path; expects failure with `status` (or any
 * error if status < 0) and a message containing the path and `needle`. */
static void expect_fail_bytes(const unsigned char *b, size_t n, int status, const char *needle,
                              const char *label) {
    CHECK(write_bytes(bad_path, b, n));
    gguf_file g;
    olmoe_status st = gguf_open(bad_path, &g);
    CHECK_MSG(st != OLMOE_OK, "%s: opened successfully", label);
    if (st == OLMOE_OK) {
        gguf_close(&g);
        return;
    }
    const char *msg = olmoe_last_error();
    if (status >= 0) CHECK_MSG((int)st == status, "%s: status %d, message %s", label, (int)st, msg);
    CHECK_MSG(strstr(msg, bad_path) != NULL, "%s: message lacks the path: %s", label, msg);
    CHECK_MSG(!needle || strstr(msg, needle), "%s: message lacks '%s': %s", label, needle, msg);
    CHECK(g.tensors == NULL && g.kvs == NULL && g.file.data == NULL); /* left closed */
}

static void expect_fail(const spec *s, int status, const char *needle, const char *label) {
    size_t ds, de;
    buf b = build(s, &ds, &de);
    expect_fail_bytes(b.b, b.n, status, needle, label);
    free(b.b);
}

static void check_malformed(void) {
    snprintf(bad_path, sizeof bad_path, "/tmp/test_gguf_bad_%d.gguf", (int)getpid());
    spec s = base_spec();
    size_t ds, de;
    buf good = build(&s, &ds, &de);
    const size_t good_info = info_start, good_ds = ds, good_de = de;
    /* The base file itself is valid. */
    CHECK(write_bytes(bad_path, good.b, good.n));
    gguf_file g;
    olmoe_status st = gguf_open(bad_path, &g);
    CHECK_MSG(st == OLMOE_OK, "base file: %s", olmoe_last_error());
    if (!st) {
        CHECK(g.n_tensors == 2 && g.n_kvs == 3 && g.data_offset == ds);
        CHECK(g.tensors[1].type == TYPE_Q8_0 && g.tensors[1].nbytes == 68);
        CHECK(g.tensors[1].shape[0] == 2 && g.tensors[1].shape[1] == 32);
        gguf_close(&g);
    }

    s = base_spec(); s.magic = "GGUX";
    expect_fail(&s, OLMOE_ERR_FORMAT, "not a GGUF file", "bad magic");
    s = base_spec(); s.version = 1;
    expect_fail(&s, OLMOE_ERR_UNSUPPORTED, "version 1", "version 1");
    s = base_spec(); s.version = 99;
    expect_fail(&s, OLMOE_ERR_UNSUPPORTED, "version 99", "version 99");
    s = base_spec(); s.version = 0x03000000u;
    expect_fail(&s, OLMOE_ERR_UNSUPPORTED, "big-endian", "byte-swapped version");
    s = base_spec(); s.version = 2; /* v2 has the v3 layout: accepted */
    {
        size_t ds2, de2;
        buf b = build(&s, &ds2, &de2);
        CHECK(write_bytes(bad_path, b.b, b.n));
        st = gguf_open(bad_path, &g);
        CHECK_MSG(st == OLMOE_OK && g.version == 2, "v2: %s", olmoe_last_error());
        if (!st) gguf_close(&g);
        free(b.b);
    }
    s = base_spec(); s.alignment = 0; /* no general.alignment: 32 */
    {
        size_t ds2, de2;
        buf b = build(&s, &ds2, &de2);
        CHECK(write_bytes(bad_path, b.b, b.n));
        st = gguf_open(bad_path, &g);
        CHECK_MSG(st == OLMOE_OK, "default alignment: %s", olmoe_last_error());
        if (!st) {
            CHECK_INT_EQ(g.alignment, 32);
            CHECK_INT_EQ(g.data_offset, ds2);
            CHECK(g.data_offset % 64 != 0); /* so a wrong default would be caught */
            CHECK(g.n_tensors == 2 && !memcmp(g.tensors[1].data, b.b + ds2 + 64, 68));
            gguf_close(&g);
        }
        free(b.b);
    }
    s = base_spec(); s.n_kv_override = 1ull << 62;
    expect_fail(&s, OLMOE_ERR_FORMAT, "kvs", "kv count 2^62");
    s = base_spec(); s.n_tensors_override = 1ull << 62;
    expect_fail(&s, OLMOE_ERR_FORMAT, "tensor", "tensor count 2^62");
    s = base_spec(); s.n_kv_override = 4; /* one kv too many: parses tensor "a" as a kv */
    expect_fail(&s, -1, NULL, "kv count off by one");
    s = base_spec(); s.b_ndims = 5;
    expect_fail(&s, OLMOE_ERR_FORMAT, "5 dimensions", "n_dims 5");
    s = base_spec(); s.b_type = 3;
    expect_fail(&s, OLMOE_ERR_UNSUPPORTED, "b has ggml type 3 (q4_1), which olmoe.c does not support",
                "ggml type 3");
    s = base_spec(); s.b_type = 77;
    expect_fail(&s, OLMOE_ERR_FORMAT, "invalid ggml type 77", "ggml type 77");
    s = base_spec(); s.b_type = 4; /* removed id */
    expect_fail(&s, OLMOE_ERR_FORMAT, "invalid ggml type 4", "ggml type 4");
    s = base_spec(); s.b_ne0 = 16;
    expect_fail(&s, OLMOE_ERR_FORMAT, "not a multiple of the block size 32", "ne0 16 for q8_0");
    s = base_spec(); s.b_ne0 = 1ull << 63;
    expect_fail(&s, OLMOE_ERR_FORMAT, "negative", "ne0 2^63");
    s = base_spec(); s.b_ne0 = 1ull << 62;
    expect_fail(&s, OLMOE_ERR_FORMAT, NULL, "ne0 2^62 (element count overflow)");
    s = base_spec(); s.b_ne0 = 32ull << 30;
    expect_fail(&s, OLMOE_ERR_FORMAT, "past the end", "huge tensor");
    s = base_spec(); s.b_offset = 80;
    expect_fail(&s, OLMOE_ERR_FORMAT, "not a multiple of the alignment", "unaligned offset");
    s = base_spec(); s.b_offset = 4096;
    expect_fail(&s, OLMOE_ERR_FORMAT, "past the end", "offset past the end");
    s = base_spec(); s.b_offset = UINT64_MAX - 31;
    expect_fail(&s, OLMOE_ERR_FORMAT, "past the end", "offset near 2^64");
    s = base_spec(); s.b_offset = 32;
    expect_fail(&s, OLMOE_ERR_FORMAT, "overlap", "overlapping tensors");
    s = base_spec(); s.b_offset = 0;
    expect_fail(&s, OLMOE_ERR_FORMAT, "overlap", "same offset");
    s = base_spec(); s.b_name = "a";
    expect_fail(&s, OLMOE_ERR_FORMAT, "duplicate tensor name 'a'", "duplicate tensor");
    s = base_spec(); s.key2 = "general.architecture";
    expect_fail(&s, OLMOE_ERR_FORMAT, "duplicate metadata key 'general.architecture'",
                "duplicate key");
    s = base_spec(); s.alignment = 48;
    expect_fail(&s, OLMOE_ERR_FORMAT, "power of two", "alignment 48");
    s = base_spec(); s.alignment = 1u << 21;
    expect_fail(&s, OLMOE_ERR_FORMAT, "power of two", "alignment 2^21");
    s = base_spec(); s.nested = 3; /* nested arrays: validated and skipped */
    {
        size_t ds2, de2;
        buf b = build(&s, &ds2, &de2);
        CHECK(write_bytes(bad_path, b.b, b.n));
        st = gguf_open(bad_path, &g);
        CHECK_MSG(st == OLMOE_OK, "nested: %s", olmoe_last_error());
        if (!st) {
            const gguf_kv *kv = gguf_find_kv(&g, "x.nested");
            gguf_type et;
            uint64_t n;
            int64_t v;
            CHECK(kv && gguf_kv_arr(&g, kv, &et, &n) == OLMOE_OK && et == GGUF_TYPE_ARRAY && n == 1);
            CHECK(kv && gguf_kv_arr_i64(&g, kv, 0, &v) == OLMOE_ERR_FORMAT);
            /* copy_kv carries a nested array through unchanged. */
            char out[300];
            snprintf(out, sizeof out, "%s.copy", bad_path);
            CHECK_MSG(copy_gguf(&g, out, 1) == OLMOE_OK, "%s", olmoe_last_error());
            size_t n2;
            unsigned char *c = slurp(out, &n2);
            CHECK(c && n2 == b.n && !memcmp(c, b.b, n2));
            free(c);
            remove(out);
            gguf_close(&g);
        }
        free(b.b);
    }
    s = base_spec(); s.nested = 20;
    expect_fail(&s, OLMOE_ERR_FORMAT, "nested", "arrays nested 20 deep");

    /* Hand-edited single fields of the base file. */
    size_t key_len_at = 24;            /* the first key's u64 length */
    size_t type_at = 24 + 8 + 20;      /* its value type */
    buf m = {0};
    bput(&m, good.b, good.n);
    for (int k = 0; k < 8; k++) m.b[key_len_at + k] = k == 5 ? 1 : 0; /* 2^40-byte key */
    expect_fail_bytes(m.b, m.n, OLMOE_ERR_FORMAT, "truncated", "key length 2^40");
    memcpy(m.b, good.b, good.n);
    m.b[type_at] = 13;
    expect_fail_bytes(m.b, m.n, OLMOE_ERR_FORMAT, "invalid value type 13", "value type 13");
    memcpy(m.b, good.b, good.n);
    m.b[type_at + 4 + 5] = 1; /* the string value's length: 2^40 + 5 */
    expect_fail_bytes(m.b, m.n, OLMOE_ERR_FORMAT, "general.architecture", "string length 2^40");
    memcpy(m.b, good.b, good.n);
    m.b[key_len_at + 8] = 0; /* key with a NUL byte */
    expect_fail_bytes(m.b, m.n, OLMOE_ERR_FORMAT, "NUL", "NUL in key");
    free(m.b);

    /* Every truncation before the end of the last tensor's data fails with a
     * clean error; a file missing only the trailing padding is still valid
     * (llama.cpp's mmap loader accepts it too). */
    int truncated_ok = 1;
    for (size_t len = 0; len < good.n; len++) {
        CHECK(write_bytes(bad_path, good.b, len));
        st = gguf_open(bad_path, &g);
        if (len < good_de) {
            if (st == OLMOE_OK || !strstr(olmoe_last_error(), bad_path)) {
                truncated_ok = 0;
                fprintf(stderr, "truncation at %zu: status %d (%s)\n", len, (int)st,
                        st ? olmoe_last_error() : "opened");
            }
            if (len == 2 || len == 30 || len == good_ds - 10 || len == good_ds + 70)
                CHECK_MSG(st == OLMOE_ERR_FORMAT, "len %zu: %s", len, olmoe_last_error());
        } else {
            if (st != OLMOE_OK) {
                truncated_ok = 0;
                fprintf(stderr, "only padding cut at %zu: %s\n", len, olmoe_last_error());
            }
        }
        if (st == OLMOE_OK) gguf_close(&g);
    }
    CHECK(truncated_ok);
    /* The specific places the brief names. */
    expect_fail_bytes(good.b, 40, OLMOE_ERR_FORMAT, "cannot fit", "truncated soon after the header");
    /* 140: inside the third kv, past the point where the header counts alone
     * show that the file is too short. */
    expect_fail_bytes(good.b, 140, OLMOE_ERR_FORMAT, "the value of key 'general.name'",
                      "truncated in the kv section");
    expect_fail_bytes(good.b, good_info + 30, OLMOE_ERR_FORMAT, "tensor", "truncated in tensor infos");
    expect_fail_bytes(good.b, good_ds + 100, OLMOE_ERR_FORMAT, "past the end", "truncated in data");

    /* Mutation fuzz: every byte replaced by a few values must give a clean
     * result (ok, or an error naming the file); run under ASan/UBSan. */
    int fuzz_ok = 1;
    volatile unsigned fuzz_sum = 0;
    static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    buf f = {0};
    bput(&f, good.b, good.n);
    for (size_t pos = 0; pos < good_ds; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(f.b, good.b, good.n);
            f.b[pos] = vals[v];
            CHECK(write_bytes(bad_path, f.b, f.n));
            st = gguf_open(bad_path, &g);
            if (st == OLMOE_OK) {
                for (int t = 0; t < g.n_tensors; t++) /* touch every byte */
                    for (size_t k = 0; k < g.tensors[t].nbytes; k++)
                        fuzz_sum += ((const unsigned char *)g.tensors[t].data)[k];
                gguf_close(&g);
            } else if (!strstr(olmoe_last_error(), bad_path)) {
                fuzz_ok = 0;
                fprintf(stderr, "fuzz %zu=%02x: message lacks the path: %s\n", pos, vals[v],
                        olmoe_last_error());
            }
        }
    }
    (void)fuzz_sum;
    CHECK(fuzz_ok);
    free(f.b);

    /* Missing, empty and directory paths. */
    st = gguf_open("/nonexistent/file.gguf", &g);
    CHECK(st == OLMOE_ERR_IO && strstr(olmoe_last_error(), "/nonexistent/file.gguf"));
    expect_fail_bytes(good.b, 0, OLMOE_ERR_FORMAT, "not a GGUF file", "empty file");
    free(good.b);
    remove(bad_path);
}

int main(int argc, char **argv) {
    if (argc > 1) shared_dir = argv[1];
    check_reference_file("olmoe-tiny-f32.gguf", TYPE_F32);
    check_reference_file("olmoe-tiny-q8_0.gguf", TYPE_Q8_0);
    check_f32_matches_safetensors();
    check_copy_identical("olmoe-tiny-f32.gguf");
    check_copy_identical("olmoe-tiny-q8_0.gguf");
    check_round_trip();
    check_malformed();
    return check_report("test_gguf");
}
