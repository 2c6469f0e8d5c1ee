/* olmoe logits: per input position, the log-sum-exp of the next-token
 * logits and the top K (id, logit) pairs, as one JSON object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"

static cJSON *position_json(const float *l, int V, int k) {
    double max = l[0], sum = 0;
    for (int i = 1; i < V; i++) max = l[i] > max ? l[i] : max;
    for (int i = 0; i < V; i++) sum += exp(l[i] - max);
    cJSON *pos = cJSON_CreateObject();
    cJSON_AddNumberToObject(pos, "lse", max + log(sum));
    /* Top k by repeated selection over a small sorted list. */
    int *top = malloc((size_t)k * sizeof *top);
    int n = 0;
    for (int i = 0; top && i < V; i++) {
        if (n == k && l[i] <= l[top[n - 1]]) continue;
        int j = n < k ? n++ : n - 1;
        while (j > 0 && l[top[j - 1]] < l[i]) { top[j] = top[j - 1]; j--; }
        top[j] = i;
    }
    cJSON *arr = cJSON_AddArrayToObject(pos, "top");
    for (int i = 0; i < n; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(top[i]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(l[top[i]]));
        cJSON_AddItemToArray(arr, pair);
    }
    free(top);
    return pos;
}

int cmd_logits(int argc, char **argv) {
    common_opts o = {0};
    const char *ids_arg = NULL;
    long k = 10;
    arg_iter it = {argc, 0, argv, "logits"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe logits -m MODEL_DIR (--text T | --ids 1,2,3) [--top K] --json\n");
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c == 0 && !strcmp(name, "--ids")) { ids_arg = value; c = 1; }
        if (c == 0 && !strcmp(name, "--top")) c = parse_int("logits", name, value, 1, 1 << 20, &k) ? -1 : 1;
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("logits", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!!ids_arg == !!(o.text || o.file)) {
        fprintf(stderr, "olmoe logits: give exactly one of --text, --file or --ids\n");
        return EXIT_USAGE;
    }
    int32_t *ids = NULL;
    long n = 0;
    if (ids_arg && (n = parse_ids(ids_arg, &ids)) <= 0) {
        fprintf(stderr, "olmoe logits: --ids expects comma-separated token ids, got '%s'\n", ids_arg);
        return EXIT_USAGE;
    }
    olmoe_model *m = load_model("logits", &o);
    if (!m) { free(ids); return EXIT_RUNTIME; }
    int rc = EXIT_RUNTIME;
    olmoe_context *ctx = NULL;
    if (!ids_arg) {
        size_t len, nn;
        char *text = input_text("logits", &o, &len);
        if (!text) { rc = EXIT_USAGE; goto done; }
        olmoe_status st = olmoe_tokenize(m, text, len, &ids, &nn);
        free(text);
        if (st) { report("tokenize"); goto done; }
        n = (long)nn;
        if (n == 0) { fprintf(stderr, "olmoe logits: the text has no tokens\n"); goto done; }
    }
    olmoe_context_params cp = olmoe_context_default_params();
    /* By default exactly the positions the input needs: like transformers'
     * forward pass, logits are defined for any input length. */
    cp.n_ctx = o.n_ctx > 0 ? o.n_ctx : (int)n;
    cp.n_threads = o.threads;
    if (olmoe_context_new(m, &cp, &ctx)) { report("context"); goto done; }
    if (olmoe_decode(ctx, ids, (size_t)n, 1)) { report("evaluate"); goto done; }
    int V = olmoe_vocab_size(m);
    if (k > V) k = V;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "ids", json_id_array(ids, (size_t)n));
    cJSON *positions = cJSON_AddArrayToObject(out, "positions");
    for (long i = 0; i < n; i++)
        cJSON_AddItemToArray(positions, position_json(olmoe_get_logits(ctx, (int)i), V, (int)k));
    json_print(out);
    cJSON_Delete(out);
    rc = 0;
done:
    olmoe_context_free(ctx);
    olmoe_model_free(m);
    olmoe_free(ids);
    return rc;
}
