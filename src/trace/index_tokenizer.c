#include "trace/index_tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/config.h"
#include "model/model.h"
#include "util/error.h"
#include "util/file.h"

static int is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    return yes;
}

/* The first eos_token_id of dir/config.json, or -1. */
static int32_t folder_eos(const char *dir) {
    char *path = path_join(dir, "config.json");
    cJSON *root = NULL;
    model_config cfg = {0};
    int32_t id = -1;
    if (path && file_exists(path) && !json_load_file(path, &root) &&
        !config_parse_eos(root, path, &cfg) && cfg.n_eos > 0)
        id = cfg.eos_ids[0];
    cJSON_Delete(root);
    free(path);
    return id;
}

olmoe_status index_tokenizer_open(const char *path, index_tokenizer *t) {
    memset(t, 0, sizeof *t);
    t->eos_id = -1;
    struct stat st_path;
    if (stat(path, &st_path) != 0)
        return olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
    olmoe_status st;
    if (!S_ISDIR(st_path.st_mode) && is_gguf(path)) {
        if ((st = olmoe_model_load(path, NULL, &t->model)) != OLMOE_OK) return st;
        t->tok = t->model->tok;
        t->eos_id = t->model->eos_id;
        return OLMOE_OK;
    }
    int dir = S_ISDIR(st_path.st_mode);
    t->json_path = dir ? path_join(path, "tokenizer.json") : strdup(path);
    if (!t->json_path) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    if ((st = tokenizer_load_json(t->json_path, &t->tok)) != OLMOE_OK) {
        index_tokenizer_close(t);
        return st;
    }
    if (dir) t->eos_id = folder_eos(path);
    if (t->eos_id < 0) t->eos_id = tokenizer_find(t->tok, "<|endoftext|>");
    return OLMOE_OK;
}

void index_tokenizer_close(index_tokenizer *t) {
    if (t->model) olmoe_model_free(t->model);
    else if (t->tok) tokenizer_free(t->tok);
    free(t->json_path);
    memset(t, 0, sizeof *t);
}
