/* olmoe info: what a model is and what it needs to run. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"

/* Resident memory of this process in bytes (Linux), or 0. */
static long long resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

int cmd_info(int argc, char **argv) {
    common_opts o = {0};
    arg_iter it = {argc, 0, argv, "info"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe info -m MODEL_DIR [-c CTX] [--json]\n");
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("info", name);
    }
    if (r < 0) return EXIT_USAGE;
    olmoe_model *m = load_model("info", &o);
    if (!m) return EXIT_RUNTIME;
    olmoe_model_info i;
    olmoe_model_get_info(m, &i);
    int ctx = o.n_ctx > 0 ? o.n_ctx : i.max_context;
    double kv = 2.0 * i.n_layers * (double)ctx * i.n_kv_heads * i.head_dim * sizeof(float);
    double gib = 1024.0 * 1024 * 1024;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "architecture", i.architecture);
        cJSON_AddStringToObject(j, "dtype", i.dtype);
        cJSON_AddNumberToObject(j, "n_layers", i.n_layers);
        cJSON_AddNumberToObject(j, "d_model", i.d_model);
        cJSON_AddNumberToObject(j, "n_heads", i.n_heads);
        cJSON_AddNumberToObject(j, "n_kv_heads", i.n_kv_heads);
        cJSON_AddNumberToObject(j, "n_experts", i.n_experts);
        cJSON_AddNumberToObject(j, "n_experts_active", i.n_experts_active);
        cJSON_AddNumberToObject(j, "vocab_size", i.vocab_size);
        cJSON_AddNumberToObject(j, "max_context", i.max_context);
        cJSON_AddNumberToObject(j, "params_total", (double)i.n_params_total);
        cJSON_AddNumberToObject(j, "params_active", (double)i.n_params_active);
        cJSON_AddNumberToObject(j, "weight_bytes", (double)i.weight_bytes);
        cJSON_AddNumberToObject(j, "kv_cache_bytes", kv);
        cJSON_AddNumberToObject(j, "resident_bytes", (double)resident_bytes());
        json_print(j);
        cJSON_Delete(j);
    } else {
        printf("architecture   %s\n", i.architecture);
        printf("dtype          %s\n", i.dtype);
        printf("layers         %d (d_model %d, heads %d, kv heads %d, head dim %d, ffn %d)\n",
               i.n_layers, i.d_model, i.n_heads, i.n_kv_heads, i.head_dim, i.d_ff);
        if (i.n_experts) printf("experts        %d, %d active per token\n", i.n_experts, i.n_experts_active);
        printf("vocabulary     %d\n", i.vocab_size);
        printf("context        %d (rope theta %g)\n", i.max_context, i.rope_theta);
        printf("parameters     %.4g M total, %.4g M active per token\n", i.n_params_total / 1e6,
               i.n_params_active / 1e6);
        printf("memory         weights %.3f GiB (memory-mapped) + KV cache %.3f GiB at %d tokens\n",
               i.weight_bytes / gib, kv / gib, ctx);
        printf("resident now   %.3f GiB\n", resident_bytes() / gib);
    }
    olmoe_model_free(m);
    return 0;
}
