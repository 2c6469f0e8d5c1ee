#include "io/hf_weights.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/file.h"

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const tensor *const *)a)->name, (*(const tensor *const *)b)->name);
}

static olmoe_status add_file(weight_store *ws, const char *path) {
    safetensors_file *grown = realloc(ws->files, (size_t)(ws->n_files + 1) * sizeof *grown);
    if (!grown) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    ws->files = grown;
    olmoe_status st = safetensors_open(path, &ws->files[ws->n_files]);
    if (st) return st;
    ws->n_files++;
    return OLMOE_OK;
}

/* Collects the distinct shard names of the index's weight_map and opens
 * them (check_index later verifies every listed tensor was found). */
static olmoe_status open_sharded(weight_store *ws, const char *dir, const char *index_path) {
    cJSON *root;
    olmoe_status st = json_load_file(index_path, &root);
    if (st) return st;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field 'weight_map' missing or not an object",
                          index_path);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: weight_map['%s'] is not a file name in the "
                            "folder", index_path, e->string);
            break;
        }
        int seen = 0;
        for (int i = 0; i < ws->n_files && !seen; i++) {
            const char *base = strrchr(ws->files[i].file.path, '/');
            seen = !strcmp(base ? base + 1 : ws->files[i].file.path, e->valuestring);
        }
        if (seen) continue;
        char *path = path_join(dir, e->valuestring);
        st = path ? add_file(ws, path) : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
        free(path);
        if (st) break;
    }
    cJSON_Delete(root);
    return st;
}

static olmoe_status build_index(weight_store *ws) {
    int n = ws->n_views;
    for (int i = 0; i < ws->n_files; i++) n += ws->files[i].n_tensors;
    ws->sorted = malloc((size_t)(n ? n : 1) * sizeof *ws->sorted);
    if (!ws->sorted) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ws->n_files; i++)
        for (int j = 0; j < ws->files[i].n_tensors; j++)
            ws->sorted[ws->n_tensors++] = &ws->files[i].tensors[j];
    for (int i = 0; i < ws->n_views; i++) ws->sorted[ws->n_tensors++] = &ws->views[i];
    qsort(ws->sorted, (size_t)n, sizeof *ws->sorted, cmp_tensor_ptr);
    for (int i = 1; i < n; i++)
        if (!strcmp(ws->sorted[i - 1]->name, ws->sorted[i]->name))
            return olmoe_fail(OLMOE_ERR_FORMAT, "tensor '%s' appears in more than one shard",
                              ws->sorted[i]->name);
    return OLMOE_OK;
}

/* Index of the file holding tensor t. */
static const char *file_of(const weight_store *ws, const tensor *t) {
    for (int i = 0; i < ws->n_files; i++) {
        const safetensors_file *f = &ws->files[i];
        if (t >= f->tensors && t < f->tensors + f->n_tensors) {
            const char *base = strrchr(f->file.path, '/');
            return base ? base + 1 : f->file.path;
        }
    }
    return "";
}

/* Every tensor named by the index must be in the shard it names. */
static olmoe_status check_index(const weight_store *ws, const char *index_path) {
    cJSON *root;
    olmoe_status st = json_load_file(index_path, &root);
    if (st) return st;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "weight_map")) {
        const tensor *t = weight_store_find(ws, e->string);
        if (!t) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' listed in the index is missing "
                            "from %s", index_path, e->string, e->valuestring);
            break;
        }
        if (strcmp(file_of(ws, t), e->valuestring)) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' is in %s, not in %s as the index "
                            "says", index_path, e->string, file_of(ws, t), e->valuestring);
            break;
        }
    }
    cJSON_Delete(root);
    return st;
}

olmoe_status weight_store_open_hf(const char *dir, weight_store *ws) {
    memset(ws, 0, sizeof *ws);
    char *index_path = path_join(dir, "model.safetensors.index.json");
    char *single_path = path_join(dir, "model.safetensors");
    olmoe_status st;
    if (!index_path || !single_path) {
        st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    } else if (file_exists(index_path)) {
        st = open_sharded(ws, dir, index_path);
        if (!st) st = build_index(ws);
        if (!st) st = check_index(ws, index_path);
    } else if (file_exists(single_path)) {
        st = add_file(ws, single_path);
        if (!st) st = build_index(ws);
    } else {
        st = olmoe_fail(OLMOE_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json",
                        dir);
    }
    free(index_path);
    free(single_path);
    if (st) weight_store_close(ws);
    return st;
}

olmoe_status weight_store_from_views(weight_store *ws, gguf_file *gguf, tensor *views, int n) {
    memset(ws, 0, sizeof *ws);
    ws->gguf = gguf;
    ws->views = views;
    ws->n_views = n;
    olmoe_status st = build_index(ws);
    if (st) {
        olmoe_fail_prefix(st, "%s", gguf->file.path);
        weight_store_close(ws);
    }
    return st;
}

void weight_store_close(weight_store *ws) {
    for (int i = 0; i < ws->n_files; i++) safetensors_close(&ws->files[i]);
    free(ws->files);
    for (int i = 0; i < ws->n_views; i++) free((char *)ws->views[i].name);
    free(ws->views);
    if (ws->gguf) {
        gguf_close(ws->gguf);
        free(ws->gguf);
    }
    free(ws->sorted);
    memset(ws, 0, sizeof *ws);
}

const tensor *weight_store_find(const weight_store *ws, const char *name) {
    int lo = 0, hi = ws->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(ws->sorted[mid]->name, name);
        if (c == 0) return ws->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

size_t weight_store_bytes(const weight_store *ws) {
    size_t n = 0;
    for (int i = 0; i < ws->n_tensors; i++) n += ws->sorted[i]->nbytes;
    return n;
}
