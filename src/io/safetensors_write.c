#include "io/safetensors_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/error.h"

static const char *dtype_name(tensor_type t) {
    switch (t) {
    case TYPE_F32: return "F32";
    case TYPE_F16: return "F16";
    case TYPE_BF16: return "BF16";
    default: return NULL;
    }
}

static size_t info_bytes(const st_tensor_info *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return tensor_type_bytes(t->type, n);
}

/* The JSON header, padded with spaces to a multiple of 8 bytes as the
 * reference implementation does. */
static char *build_header(const st_tensor_info *infos, int n, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, infos[i].name);
        cJSON_AddStringToObject(e, "dtype", dtype_name(infos[i].type));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < infos[i].n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)infos[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += info_bytes(&infos[i]);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t j = strlen(json), padded = (j + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, json, j);
        memset(out + j, ' ', padded - j);
        out[padded] = 0;
        *len = padded;
    }
    cJSON_free(json);
    return out;
}

olmoe_status st_writer_open(st_writer *w, const char *path, const st_tensor_info *infos, int n) {
    memset(w, 0, sizeof *w);
    for (int i = 0; i < n; i++)
        if (!dtype_name(infos[i].type))
            return olmoe_fail(OLMOE_ERR_ARG, "%s: tensor '%s': safetensors holds F32, F16 or BF16, "
                              "not %s", path, infos[i].name, tensor_type_name(infos[i].type));
    size_t hlen;
    char *header = build_header(infos, n, &hlen);
    w->path = strdup(path);
    w->tmp_path = malloc(strlen(path) + 5);
    if (!header || !w->path || !w->tmp_path) {
        free(header);
        st_writer_abort(w);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    sprintf(w->tmp_path, "%s.tmp", path);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) {
        free(header);
        olmoe_status st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", w->tmp_path, strerror(errno));
        st_writer_abort(w);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, w->f) == 8 && fwrite(header, 1, hlen, w->f) == hlen;
    free(header);
    w->infos = infos;
    w->n = n;
    if (!ok) {
        st_writer_abort(w);
        return olmoe_fail(OLMOE_ERR_IO, "%s: write failed", path);
    }
    return OLMOE_OK;
}

olmoe_status st_writer_write(st_writer *w, const void *data, size_t nbytes) {
    if (w->next >= w->n || nbytes != info_bytes(&w->infos[w->next]))
        return olmoe_fail(OLMOE_ERR_ARG, "%s: tensor %d: %zu bytes do not match its shape", w->path,
                          w->next, nbytes);
    if (fwrite(data, 1, nbytes, w->f) != nbytes)
        return olmoe_fail(OLMOE_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
    w->next++;
    return OLMOE_OK;
}

olmoe_status st_writer_close(st_writer *w) {
    olmoe_status st = OLMOE_OK;
    if (w->next != w->n)
        st = olmoe_fail(OLMOE_ERR_ARG, "%s: only %d of %d tensors written", w->path, w->next, w->n);
    else if (fclose(w->f) != 0)
        st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", w->tmp_path, strerror(errno));
    else if (rename(w->tmp_path, w->path) != 0)
        st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", w->path, strerror(errno));
    else
        w->f = NULL;
    if (st) {
        if (w->f && w->next != w->n) fclose(w->f);
        w->f = NULL;
        remove(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
    return st;
}

void st_writer_abort(st_writer *w) {
    if (w->f) fclose(w->f);
    if (w->tmp_path) remove(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
}
