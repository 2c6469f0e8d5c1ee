/* olmoe tokenize: text -> ids (and, without --json, each id's piece). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"

int cmd_tokenize(int argc, char **argv) {
    common_opts o = {0};
    arg_iter it = {argc, 0, argv, "tokenize"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe tokenize -m MODEL_DIR (--text T | --file F) [--json]\n");
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("tokenize", name);
    }
    if (r < 0) return EXIT_USAGE;
    size_t len;
    char *text = input_text("tokenize", &o, &len);
    if (!text) return EXIT_USAGE;
    olmoe_model *m = load_model("tokenize", &o);
    if (!m) { free(text); return EXIT_RUNTIME; }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    if (olmoe_tokenize(m, text, len, &ids, &n)) {
        rc = report("tokenize");
    } else if (o.json) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddItemToObject(obj, "ids", json_id_array(ids, n));
        json_print(obj);
        cJSON_Delete(obj);
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t bl;
            const char *b = olmoe_token_bytes(m, ids[i], &bl);
            printf("%6d '", ids[i]);
            fwrite(b, 1, bl, stdout);
            printf("'\n");
        }
    }
    olmoe_free(ids);
    olmoe_model_free(m);
    free(text);
    return rc;
}
