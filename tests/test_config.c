/* config.json parsing: the three shipped reference configs, transformers-5
 * rope_parameters, rope_scaling kinds, defaults, and one error per kind of
 * bad field (status and a message naming the field). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "model/config.h"
#include "util/file.h"

static int contains(const char *hay, const char *needle) {
    return hay && needle && strstr(hay, needle) != NULL;
}

/* A small valid OLMoE config; `extra` members (",\"k\":v" form, may
 * override earlier keys since cJSON finds the first match, so tests that
 * replace a key build their JSON with build()). */
static const char *BASE_OLMOE =
    "\"architectures\":[\"OlmoeForCausalLM\"],\"hidden_act\":\"silu\","
    "\"vocab_size\":1000,\"hidden_size\":64,\"intermediate_size\":32,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
    "\"num_experts\":8,\"num_experts_per_tok\":2,\"rms_norm_eps\":1e-5,"
    "\"eos_token_id\":7";

static const char *BASE_OLMO2 =
    "\"architectures\":[\"Olmo2ForCausalLM\"],\"hidden_act\":\"silu\","
    "\"vocab_size\":1000,\"hidden_size\":64,\"intermediate_size\":128,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"rms_norm_eps\":1e-6,"
    "\"eos_token_id\":5";

/* Parses "{" base "," extra "}" (extra may be empty). */
static olmoe_status parse_with(const char *base, const char *extra, model_config *cfg) {
    size_t n = strlen(base) + strlen(extra) + 8;
    char *txt = malloc(n);
    snprintf(txt, n, "{%s%s%s}", base, *extra ? "," : "", extra);
    cJSON *root = cJSON_Parse(txt);
    if (!root) {
        fprintf(stderr, "test bug: bad JSON %s\n", txt);
        exit(2);
    }
    free(txt);
    olmoe_status st = config_parse(root, "cfg.json", cfg);
    cJSON_Delete(root);
    return st;
}

/* Parses a full JSON text. */
static olmoe_status parse_text(const char *txt, model_config *cfg) {
    cJSON *root = cJSON_Parse(txt);
    if (!root) {
        fprintf(stderr, "test bug: bad JSON %s\n", txt);
        exit(2);
    }
    olmoe_status st = config_parse(root, "cfg.json", cfg);
    cJSON_Delete(root);
    return st;
}

/* Removes the member `"key":value` (value without commas or nesting) from
 * a base string; returns a malloc'ed copy. */
static char *without(const char *base, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *out = strdup(base);
    char *p = strstr(out, pat);
    if (!p) {
        fprintf(stderr, "test bug: key %s not in base\n", key);
        exit(2);
    }
    char *end = p + strlen(pat);
    if (*end == '[') end = strchr(end, ']') + 1;
    else while (*end && *end != ',') end++;
    if (*end == ',') end++;
    else if (p > out && p[-1] == ',') p--;
    memmove(p, end, strlen(end) + 1);
    return out;
}

/* Replaces the member `key` by `member` (e.g. "\"hidden_size\":\"64\""). */
static char *replaced(const char *base, const char *key, const char *member) {
    char *w = without(base, key);
    size_t n = strlen(w) + strlen(member) + 2;
    char *out = malloc(n);
    snprintf(out, n, "%s,%s", w, member);
    free(w);
    return out;
}

static void expect_fail(const char *label, const char *base, const char *key, const char *member,
                        olmoe_status want, const char *needle) {
    model_config cfg;
    char *b = key ? (member ? replaced(base, key, member) : without(base, key)) : strdup(base);
    olmoe_status st = parse_with(b, key ? "" : member, &cfg);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", label, olmoe_status_name(st),
              olmoe_status_name(want), st ? olmoe_last_error() : "ok");
    if (st != OLMOE_OK) {
        CHECK_MSG(contains(olmoe_last_error(), "cfg.json"), "%s: file not named: %s", label,
                  olmoe_last_error());
        if (needle)
            CHECK_MSG(contains(olmoe_last_error(), needle), "%s: '%s' not named: %s", label,
                      needle, olmoe_last_error());
    }
    free(b);
}

/* -------------------------------------------------------- real configs */

static int load_real(const char *shared, const char *model, model_config *cfg) {
    char rel[256];
    snprintf(rel, sizeof rel, "reference/models/%s/config.json", model);
    char *path = path_join(shared, rel);
    cJSON *root = NULL;
    olmoe_status st = json_load_file(path, &root);
    CHECK_MSG(st == OLMOE_OK, "cannot load %s: %s", path, olmoe_last_error());
    if (!st) {
        st = config_parse(root, path, cfg);
        CHECK_MSG(st == OLMOE_OK, "%s: %s", path, olmoe_last_error());
        cJSON_Delete(root);
    }
    free(path);
    return st == OLMOE_OK;
}

static void test_real_configs(const char *shared) {
    model_config c;
    if (load_real(shared, "olmoe-gqa-bf16", &c)) {
        CHECK_INT_EQ(c.arch, ARCH_OLMOE);
        CHECK_STR_EQ(model_arch_name(c.arch), "OlmoeForCausalLM");
        CHECK_INT_EQ(c.vocab_size, 50304);
        CHECK_INT_EQ(c.d_model, 48);
        CHECK_INT_EQ(c.n_layers, 3);
        CHECK_INT_EQ(c.n_heads, 6);
        CHECK_INT_EQ(c.n_kv_heads, 2);
        CHECK_INT_EQ(c.head_dim, 8);
        CHECK_INT_EQ(c.d_ff, 24);
        CHECK_INT_EQ(c.n_experts, 16);
        CHECK_INT_EQ(c.top_k, 4);
        CHECK_INT_EQ(c.norm_topk_prob, 1);
        CHECK(c.clip_qkv == 0.0);
        CHECK_NEAR(c.rms_eps, 1e-5, 1e-12);
        CHECK_INT_EQ(c.rope.kind, ROPE_DEFAULT);
        CHECK(c.rope.theta == 10000.0);
        CHECK_INT_EQ(c.max_position, 4096);
        CHECK_INT_EQ(c.n_eos, 1);
        CHECK_INT_EQ(c.eos_ids[0], 50279);
        CHECK_INT_EQ(c.bos_id, -1);
        CHECK_INT_EQ(c.pad_id, 1);
        CHECK_INT_EQ(c.tie_embeddings, 0);
        CHECK_INT_EQ(c.attention_bias, 0);
    }
    if (load_real(shared, "olmoe-tiny", &c)) {
        CHECK_INT_EQ(c.arch, ARCH_OLMOE);
        CHECK_INT_EQ(c.vocab_size, 50304);
        CHECK_INT_EQ(c.d_model, 32);
        CHECK_INT_EQ(c.n_layers, 2);
        CHECK_INT_EQ(c.n_heads, 4);
        CHECK_INT_EQ(c.n_kv_heads, 4);
        CHECK_INT_EQ(c.head_dim, 8);
        CHECK_INT_EQ(c.d_ff, 16);
        CHECK_INT_EQ(c.n_experts, 8);
        CHECK_INT_EQ(c.top_k, 2);
        CHECK_INT_EQ(c.norm_topk_prob, 0);
        CHECK_NEAR(c.rms_eps, 1e-5, 1e-12);
        CHECK(c.rope.theta == 10000.0);
        CHECK_INT_EQ(c.n_eos, 1);
        CHECK_INT_EQ(c.eos_ids[0], 50279);
    }
    if (load_real(shared, "olmo2-tiny", &c)) {
        CHECK_INT_EQ(c.arch, ARCH_OLMO2);
        CHECK_STR_EQ(model_arch_name(c.arch), "Olmo2ForCausalLM");
        CHECK_INT_EQ(c.vocab_size, 100352);
        CHECK_INT_EQ(c.d_model, 32);
        CHECK_INT_EQ(c.n_layers, 2);
        CHECK_INT_EQ(c.n_heads, 4);
        CHECK_INT_EQ(c.n_kv_heads, 4);
        CHECK_INT_EQ(c.head_dim, 8);
        CHECK_INT_EQ(c.d_ff, 64);
        CHECK_INT_EQ(c.n_experts, 0);
        CHECK_INT_EQ(c.top_k, 0);
        CHECK_NEAR(c.rms_eps, 1e-6, 1e-13);
        CHECK_INT_EQ(c.rope.kind, ROPE_DEFAULT);
        CHECK(c.rope.theta == 500000.0);
        CHECK_INT_EQ(c.n_eos, 1);
        CHECK_INT_EQ(c.eos_ids[0], 100257);
        CHECK_INT_EQ(c.pad_id, 100277);
        CHECK_INT_EQ(c.bos_id, -1);
    }
}

/* ------------------------------------------------------------- rope */

static void test_rope(void) {
    model_config c;
    olmoe_status st;

    /* default when absent */
    st = parse_with(BASE_OLMO2, "", &c);
    CHECK_MSG(st == OLMOE_OK, "base olmo2: %s", olmoe_last_error());
    CHECK(c.rope.theta == 10000.0);
    CHECK_INT_EQ(c.rope.kind, ROPE_DEFAULT);
    CHECK(c.rope.factor == 1.0);

    /* transformers-5 rope_parameters */
    st = parse_with(BASE_OLMO2, "\"rope_parameters\":{\"rope_theta\":123.0,\"rope_type\":\"default\"}", &c);
    CHECK_MSG(st == OLMOE_OK, "rope_parameters: %s", olmoe_last_error());
    CHECK(c.rope.theta == 123.0);
    CHECK_INT_EQ(c.rope.kind, ROPE_DEFAULT);
    /* rope_parameters wins over a top-level rope_theta */
    st = parse_with(BASE_OLMO2, "\"rope_theta\":10000.0,\"rope_parameters\":{\"rope_theta\":777.0,"
                    "\"rope_type\":\"default\"}", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK(c.rope.theta == 777.0);
    /* rope_parameters linear */
    st = parse_with(BASE_OLMO2, "\"rope_parameters\":{\"rope_theta\":50.0,\"rope_type\":\"linear\","
                    "\"factor\":2.0}", &c);
    CHECK_MSG(st == OLMOE_OK, "rope_parameters linear: %s", olmoe_last_error());
    CHECK_INT_EQ(c.rope.kind, ROPE_LINEAR);
    CHECK(c.rope.theta == 50.0);
    CHECK(c.rope.factor == 2.0);
    /* rope_parameters yarn refused, naming the type */
    st = parse_with(BASE_OLMO2, "\"rope_parameters\":{\"rope_theta\":50.0,\"rope_type\":\"yarn\","
                    "\"factor\":4.0}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_UNSUPPORTED);
    CHECK_MSG(contains(olmoe_last_error(), "yarn"), "%s", olmoe_last_error());

    /* rope_theta honoured */
    st = parse_with(BASE_OLMO2, "\"rope_theta\":250000.0,\"rope_scaling\":null", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK(c.rope.theta == 250000.0);
    CHECK_INT_EQ(c.rope.kind, ROPE_DEFAULT);

    /* linear */
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"type\":\"linear\",\"factor\":4.0}", &c);
    CHECK_MSG(st == OLMOE_OK, "linear: %s", olmoe_last_error());
    CHECK_INT_EQ(c.rope.kind, ROPE_LINEAR);
    CHECK(c.rope.factor == 4.0);
    CHECK(c.rope.theta == 10000.0);
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":2.5}", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.rope.kind, ROPE_LINEAR);
    CHECK(c.rope.factor == 2.5);
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":0}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "factor"), "%s", olmoe_last_error());

    /* llama3 */
    st = parse_with(BASE_OLMO2, "\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\","
                    "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                    "\"original_max_position_embeddings\":8192}", &c);
    CHECK_MSG(st == OLMOE_OK, "llama3: %s", olmoe_last_error());
    CHECK_INT_EQ(c.rope.kind, ROPE_LLAMA3);
    CHECK(c.rope.theta == 500000.0);
    CHECK(c.rope.factor == 8.0);
    CHECK(c.rope.low_freq_factor == 1.0);
    CHECK(c.rope.high_freq_factor == 4.0);
    CHECK_INT_EQ(c.rope.original_max_position, 8192);
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":32.0,"
                    "\"low_freq_factor\":2.0,\"high_freq_factor\":6.0,"
                    "\"original_max_position_embeddings\":2048}", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK(c.rope.factor == 32.0);
    CHECK(c.rope.low_freq_factor == 2.0);
    CHECK(c.rope.high_freq_factor == 6.0);
    CHECK_INT_EQ(c.rope.original_max_position, 2048);
    /* llama3 without original_max_position_embeddings */
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                    "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "original_max_position_embeddings"), "%s",
              olmoe_last_error());
    /* llama3 with high <= low */
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                    "\"low_freq_factor\":4.0,\"high_freq_factor\":1.0,"
                    "\"original_max_position_embeddings\":8192}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);

    /* yarn and dynamic refused, naming the type */
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0,"
                    "\"original_max_position_embeddings\":4096}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_UNSUPPORTED);
    CHECK_MSG(contains(olmoe_last_error(), "yarn") && contains(olmoe_last_error(), "cfg.json"), "%s",
              olmoe_last_error());
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_UNSUPPORTED);
    CHECK_MSG(contains(olmoe_last_error(), "dynamic"), "%s", olmoe_last_error());

    /* rope_scaling not an object */
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":\"linear\"", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "rope_scaling"), "%s", olmoe_last_error());
    st = parse_with(BASE_OLMO2, "\"rope_scaling\":[1,2]", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "rope_scaling"), "%s", olmoe_last_error());
    /* non-positive / non-numeric theta */
    st = parse_with(BASE_OLMO2, "\"rope_theta\":0", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "theta"), "%s", olmoe_last_error());
    st = parse_with(BASE_OLMO2, "\"rope_theta\":\"10000\"", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "rope_theta"), "%s", olmoe_last_error());
}

/* ---------------------------------------------------------- fields */

static void test_fields(void) {
    model_config c;
    olmoe_status st;

    /* num_key_value_heads missing or null -> num_attention_heads */
    char *nokv = without(BASE_OLMOE, "num_key_value_heads");
    st = parse_with(nokv, "", &c);
    CHECK_MSG(st == OLMOE_OK, "no kv heads: %s", olmoe_last_error());
    CHECK_INT_EQ(c.n_heads, 8);
    CHECK_INT_EQ(c.n_kv_heads, 8);
    st = parse_with(nokv, "\"num_key_value_heads\":null", &c);
    CHECK_MSG(st == OLMOE_OK, "null kv heads: %s", olmoe_last_error());
    CHECK_INT_EQ(c.n_kv_heads, 8);

    /* base OLMoE values and defaults */
    st = parse_with(BASE_OLMOE, "", &c);
    CHECK_MSG(st == OLMOE_OK, "base olmoe: %s", olmoe_last_error());
    CHECK_INT_EQ(c.arch, ARCH_OLMOE);
    CHECK_INT_EQ(c.n_kv_heads, 4);
    CHECK_INT_EQ(c.head_dim, 8);
    CHECK_INT_EQ(c.n_experts, 8);
    CHECK_INT_EQ(c.top_k, 2);
    CHECK_INT_EQ(c.norm_topk_prob, 0);
    CHECK(c.clip_qkv == 0.0);
    CHECK_INT_EQ(c.tie_embeddings, 0);
    CHECK_INT_EQ(c.attention_bias, 0);
    CHECK_INT_EQ(c.max_position, 4096);
    CHECK_INT_EQ(c.bos_id, -1);
    CHECK_INT_EQ(c.pad_id, -1);
    CHECK_INT_EQ(c.n_eos, 1);
    CHECK_INT_EQ(c.eos_ids[0], 7);

    /* head_dim honoured (differs from hidden/heads) */
    st = parse_with(BASE_OLMOE, "\"head_dim\":16", &c);
    CHECK_MSG(st == OLMOE_OK, "head_dim: %s", olmoe_last_error());
    CHECK_INT_EQ(c.head_dim, 16);
    st = parse_with(BASE_OLMOE, "\"head_dim\":null", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.head_dim, 8);
    st = parse_with(BASE_OLMOE, "\"head_dim\":7", &c); /* odd: RoPE needs pairs */
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "head_dim"), "%s", olmoe_last_error());

    /* eos_token_id as a list */
    char *noeos = without(BASE_OLMOE, "eos_token_id");
    st = parse_with(noeos, "\"eos_token_id\":[50279,1,100257]", &c);
    CHECK_MSG(st == OLMOE_OK, "eos list: %s", olmoe_last_error());
    CHECK_INT_EQ(c.n_eos, 3);
    CHECK_INT_EQ(c.eos_ids[0], 50279);
    CHECK_INT_EQ(c.eos_ids[1], 1);
    CHECK_INT_EQ(c.eos_ids[2], 100257);
    st = parse_with(noeos, "", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.n_eos, 0);
    st = parse_with(noeos, "\"eos_token_id\":\"</s>\"", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "eos_token_id"), "%s", olmoe_last_error());
    st = parse_with(noeos, "\"eos_token_id\":[1,2,3,4,5,6,7,8,9]", &c); /* > CONFIG_MAX_EOS */
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    free(noeos);

    /* booleans */
    st = parse_with(BASE_OLMOE, "\"tie_word_embeddings\":true,\"attention_bias\":true,"
                    "\"norm_topk_prob\":true", &c);
    CHECK_MSG(st == OLMOE_OK, "bools: %s", olmoe_last_error());
    CHECK_INT_EQ(c.tie_embeddings, 1);
    CHECK_INT_EQ(c.attention_bias, 1);
    CHECK_INT_EQ(c.norm_topk_prob, 1);
    st = parse_with(BASE_OLMOE, "\"tie_word_embeddings\":1", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "tie_word_embeddings"), "%s", olmoe_last_error());

    /* clip_qkv for OLMoE */
    st = parse_with(BASE_OLMOE, "\"clip_qkv\":8.0", &c);
    CHECK_MSG(st == OLMOE_OK, "clip_qkv: %s", olmoe_last_error());
    CHECK(c.clip_qkv == 8.0);
    st = parse_with(BASE_OLMOE, "\"clip_qkv\":null", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK(c.clip_qkv == 0.0);
    st = parse_with(BASE_OLMOE, "\"clip_qkv\":-1.0", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "clip_qkv"), "%s", olmoe_last_error());

    /* other ints */
    st = parse_with(BASE_OLMOE, "\"max_position_embeddings\":2048,\"bos_token_id\":0,"
                    "\"pad_token_id\":1", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.max_position, 2048);
    CHECK_INT_EQ(c.bos_id, 0);
    CHECK_INT_EQ(c.pad_id, 1);

    /* OLMoE defaults for experts */
    char *noexp = without(BASE_OLMOE, "num_experts");
    char *noexp2 = without(noexp, "num_experts_per_tok");
    st = parse_with(noexp2, "", &c);
    CHECK_MSG(st == OLMOE_OK, "expert defaults: %s", olmoe_last_error());
    CHECK_INT_EQ(c.n_experts, 64);
    CHECK_INT_EQ(c.top_k, 8);
    free(noexp);
    free(noexp2);

    /* OLMo 2 ignores MoE fields */
    st = parse_with(BASE_OLMO2, "\"num_experts\":8,\"clip_qkv\":3.0", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.arch, ARCH_OLMO2);
    CHECK_INT_EQ(c.n_experts, 0);
    CHECK(c.clip_qkv == 0.0);

    /* hidden_act absent is silu; null too */
    char *noact = without(BASE_OLMOE, "hidden_act");
    st = parse_with(noact, "", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    st = parse_with(noact, "\"hidden_act\":null", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    free(noact);

    free(nokv);
}

/* ---------------------------------------------------------- errors */

static void test_errors(void) {
    model_config c;
    olmoe_status st;

    expect_fail("unknown arch", BASE_OLMOE, "architectures", "\"architectures\":[\"LlamaForCausalLM\"]",
                OLMOE_ERR_UNSUPPORTED, "LlamaForCausalLM");
    expect_fail("no arch", BASE_OLMOE, "architectures", NULL, OLMOE_ERR_FORMAT, "architectures");
    expect_fail("arch not a list", BASE_OLMOE, "architectures", "\"architectures\":\"OlmoeForCausalLM\"",
                OLMOE_ERR_FORMAT, "architectures");
    expect_fail("missing hidden_size", BASE_OLMOE, "hidden_size", NULL, OLMOE_ERR_FORMAT, "hidden_size");
    expect_fail("hidden_size string", BASE_OLMOE, "hidden_size", "\"hidden_size\":\"64\"",
                OLMOE_ERR_FORMAT, "hidden_size");
    expect_fail("hidden_size fractional", BASE_OLMOE, "hidden_size", "\"hidden_size\":64.5",
                OLMOE_ERR_FORMAT, "hidden_size");
    expect_fail("hidden_size zero", BASE_OLMOE, "hidden_size", "\"hidden_size\":0", OLMOE_ERR_FORMAT,
                "hidden_size");
    expect_fail("hidden_size negative", BASE_OLMOE, "hidden_size", "\"hidden_size\":-64",
                OLMOE_ERR_FORMAT, "hidden_size");
    expect_fail("missing vocab_size", BASE_OLMOE, "vocab_size", NULL, OLMOE_ERR_FORMAT, "vocab_size");
    expect_fail("missing layers", BASE_OLMOE, "num_hidden_layers", NULL, OLMOE_ERR_FORMAT,
                "num_hidden_layers");
    expect_fail("missing intermediate", BASE_OLMOE, "intermediate_size", NULL, OLMOE_ERR_FORMAT,
                "intermediate_size");
    expect_fail("missing heads", BASE_OLMOE, "num_attention_heads", NULL, OLMOE_ERR_FORMAT,
                "num_attention_heads");
    /* 64 / 6 */
    expect_fail("heads not dividing", BASE_OLMOE, "num_attention_heads", "\"num_attention_heads\":6",
                OLMOE_ERR_FORMAT, "hidden_size");
    /* 8 heads, 3 kv heads */
    expect_fail("kv heads not dividing", BASE_OLMOE, "num_key_value_heads",
                "\"num_key_value_heads\":3", OLMOE_ERR_FORMAT, "num_key_value_heads");
    /* more kv heads than heads */
    expect_fail("kv heads > heads", BASE_OLMOE, "num_key_value_heads", "\"num_key_value_heads\":16",
                OLMOE_ERR_FORMAT, "num_key_value_heads");
    expect_fail("kv heads zero", BASE_OLMOE, "num_key_value_heads", "\"num_key_value_heads\":0",
                OLMOE_ERR_FORMAT, "num_key_value_heads");
    expect_fail("top_k > experts", BASE_OLMOE, "num_experts_per_tok", "\"num_experts_per_tok\":9",
                OLMOE_ERR_FORMAT, "num_experts_per_tok");
    expect_fail("top_k zero", BASE_OLMOE, "num_experts_per_tok", "\"num_experts_per_tok\":0",
                OLMOE_ERR_FORMAT, "num_experts_per_tok");
    expect_fail("gelu", BASE_OLMOE, "hidden_act", "\"hidden_act\":\"gelu\"", OLMOE_ERR_UNSUPPORTED,
                "gelu");
    CHECK_MSG(contains(olmoe_last_error(), "hidden_act"), "%s", olmoe_last_error());
    expect_fail("negative eps", BASE_OLMOE, "rms_norm_eps", "\"rms_norm_eps\":-1e-5", OLMOE_ERR_FORMAT,
                "rms_norm_eps");
    expect_fail("zero eps", BASE_OLMOE, "rms_norm_eps", "\"rms_norm_eps\":0", OLMOE_ERR_FORMAT,
                "rms_norm_eps");
    expect_fail("eps string", BASE_OLMOE, "rms_norm_eps", "\"rms_norm_eps\":\"1e-5\"", OLMOE_ERR_FORMAT,
                "rms_norm_eps");
    expect_fail("rope_scaling string", BASE_OLMOE, NULL, "\"rope_scaling\":\"linear\"", OLMOE_ERR_FORMAT,
                "rope_scaling");
    expect_fail("rope_parameters string", BASE_OLMOE, NULL, "\"rope_parameters\":5", OLMOE_ERR_FORMAT,
                "rope_parameters");
    expect_fail("rope yarn", BASE_OLMOE, NULL, "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2}",
                OLMOE_ERR_UNSUPPORTED, "yarn");

    /* the root must be an object */
    st = parse_text("[1,2,3]", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "cfg.json"), "%s", olmoe_last_error());
    st = config_parse(NULL, "cfg.json", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
}

/* ------------------------------------------------------ parse_eos */

static void test_parse_eos(void) {
    model_config c;
    memset(&c, 0, sizeof c);
    cJSON *g = cJSON_Parse("{\"_from_model_config\":true,\"eos_token_id\":[100257,100265],"
                           "\"pad_token_id\":100277}");
    olmoe_status st = config_parse_eos(g, "generation_config.json", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.n_eos, 2);
    CHECK_INT_EQ(c.eos_ids[0], 100257);
    CHECK_INT_EQ(c.eos_ids[1], 100265);
    cJSON_Delete(g);

    /* replaces what was there */
    g = cJSON_Parse("{\"eos_token_id\":50279}");
    st = config_parse_eos(g, "generation_config.json", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.n_eos, 1);
    CHECK_INT_EQ(c.eos_ids[0], 50279);
    cJSON_Delete(g);

    g = cJSON_Parse("{\"eos_token_id\":[]}");
    st = config_parse_eos(g, "generation_config.json", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.n_eos, 0);
    cJSON_Delete(g);

    g = cJSON_Parse("{\"eos_token_id\":[1,\"x\"]}");
    st = config_parse_eos(g, "generation_config.json", &c);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "generation_config.json") &&
                  contains(olmoe_last_error(), "eos_token_id"),
              "%s", olmoe_last_error());
    cJSON_Delete(g);

    g = cJSON_Parse("{\"temperature\":0.6}");
    c.n_eos = 3;
    st = config_parse_eos(g, "generation_config.json", &c);
    CHECK_INT_EQ(st, OLMOE_OK);
    CHECK_INT_EQ(c.n_eos, 0);
    cJSON_Delete(g);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    test_real_configs(shared);
    test_rope();
    test_fields();
    test_errors();
    test_parse_eos();
    return check_report("test_config");
}
