/* olmoe template: render the chat template for a JSON list of messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/common.h"

/* Reads [{"role": .., "content": ..}, ...] into an array of messages that
 * point into `root`. */
static olmoe_chat_message *read_messages(const char *path, cJSON **root, size_t *n) {
    common_opts fo = {.file = path};
    size_t len;
    char *text = input_text("template", &fo, &len);
    if (!text) return NULL;
    *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(*root)) {
        fprintf(stderr, "olmoe template: %s: expected a JSON list of {\"role\", \"content\"} objects\n", path);
        return NULL;
    }
    *n = (size_t)cJSON_GetArraySize(*root);
    olmoe_chat_message *msgs = calloc(*n ? *n : 1, sizeof *msgs);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, *root) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!msgs || !cJSON_IsString(role) || !cJSON_IsString(content)) {
            fprintf(stderr, "olmoe template: %s: message %zu needs string fields 'role' and 'content'\n",
                    path, i);
            free(msgs);
            return NULL;
        }
        msgs[i].role = role->valuestring;
        msgs[i].content = content->valuestring;
        i++;
    }
    return msgs;
}

int cmd_template(int argc, char **argv) {
    common_opts o = {0};
    const char *messages = NULL;
    int add_gen = 0;
    arg_iter it = {argc, 0, argv, "template"};
    const char *name, *value;
    int r;
    while ((r = arg_next(&it, "--json --add-generation-prompt --help -h", &name, &value)) > 0) {
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            printf("usage: olmoe template -m MODEL_DIR --messages FILE.json [--add-generation-prompt] [--json]\n");
            return 0;
        }
        int c = common_opt(&o, name, value);
        if (c == 0 && !strcmp(name, "--messages")) { messages = value; c = 1; }
        if (c == 0 && !strcmp(name, "--add-generation-prompt")) { add_gen = 1; c = 1; }
        if (c < 0) return EXIT_USAGE;
        if (c == 0) return unknown_option("template", name);
    }
    if (r < 0) return EXIT_USAGE;
    if (!messages) {
        fprintf(stderr, "olmoe template: --messages FILE.json is required\n");
        return EXIT_USAGE;
    }
    cJSON *root = NULL;
    size_t n = 0;
    olmoe_chat_message *msgs = read_messages(messages, &root, &n);
    if (!msgs) { cJSON_Delete(root); return EXIT_RUNTIME; }
    olmoe_model *m = load_model("template", &o);
    int rc = EXIT_RUNTIME;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!m) goto done;
    if (olmoe_chat_apply_template(m, msgs, n, add_gen, &text)) { report("template"); goto done; }
    if (olmoe_tokenize(m, text, strlen(text), &ids, &n_ids)) { report("tokenize"); goto done; }
    if (o.json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "text", text);
        cJSON_AddItemToObject(out, "ids", json_id_array(ids, n_ids));
        json_print(out);
        cJSON_Delete(out);
    } else {
        fputs(text, stdout);
    }
    rc = 0;
done:
    olmoe_free(ids);
    olmoe_free(text);
    olmoe_model_free(m);
    free(msgs);
    cJSON_Delete(root);
    return rc;
}
