#include "io/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/error.h"

static int parse_dtype(const char *s, tensor_type *t) {
    if (!strcmp(s, "F32")) *t = TYPE_F32;
    else if (!strcmp(s, "BF16")) *t = TYPE_BF16;
    else if (!strcmp(s, "F16")) *t = TYPE_F16;
    else if (!strcmp(s, "F64")) *t = TYPE_F64;
    else if (!strcmp(s, "I32")) *t = TYPE_I32;
    else if (!strcmp(s, "I64")) *t = TYPE_I64;
    else return 0;
    return 1;
}

/* A JSON number that is a non-negative integer representable exactly. */
static int is_count(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
           v->valuedouble == floor(v->valuedouble);
}

/* Fills one tensor from its header entry; data_base/data_size bound the
 * byte buffer that follows the header. */
static olmoe_status parse_entry(const char *path, const cJSON *e, const unsigned char *data_base,
                                size_t data_size, tensor *t) {
    const char *name = e->string;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': header entry needs dtype, shape and "
                          "data_offsets", path, name);
    if (!parse_dtype(dtype->valuestring, &t->type))
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported "
                          "(F32, BF16, F16, F64, I32, I64 are)", path, name, dtype->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > 4)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most 4)", path,
                          name, nd);
    t->n_dims = nd;
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!is_count(d))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': shape entries must be "
                              "non-negative integers", path, name);
        t->shape[i] = (int64_t)d->valuedouble;
        /* The element count must fit the data, so it can never exceed 2^53. */
        if (t->shape[i] && numel > ((int64_t)1 << 53) / t->shape[i])
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': shape is impossibly large", path,
                              name);
        numel *= t->shape[i];
    }
    const cJSON *ob = cJSON_GetArrayItem(offs, 0), *oe = cJSON_GetArrayItem(offs, 1);
    if (!is_count(ob) || !is_count(oe))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': data_offsets must be non-negative "
                          "integers", path, name);
    double b = ob->valuedouble, e2 = oe->valuedouble;
    if (!(e2 >= b && e2 <= (double)data_size))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': data_offsets [%.0f, %.0f] outside "
                          "the %zu data bytes (truncated file?)", path, name, b, e2, data_size);
    size_t begin = (size_t)b, end = (size_t)e2;
    if (end - begin != tensor_type_bytes(t->type, numel))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': %zu bytes for %lld elements of %s",
                          path, name, end - begin, (long long)numel, tensor_type_name(t->type));
    t->data = data_base + begin;
    t->nbytes = end - begin;
    t->name = strdup(name);
    return t->name ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
}

olmoe_status safetensors_open(const char *path, safetensors_file *out) {
    memset(out, 0, sizeof *out);
    olmoe_status st = mapped_file_open(path, &out->file);
    if (st) return st;
    const unsigned char *p = out->file.data;
    size_t size = out->file.size;
    if (size < 8) {
        safetensors_close(out);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: truncated (%zu bytes, no header)", path, size);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8) {
        safetensors_close(out);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: header of %llu bytes exceeds the file size %zu "
                          "(truncated or not safetensors)", path, (unsigned long long)hlen, size);
    }
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        safetensors_close(out);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    int n = cJSON_GetArraySize(root);
    out->tensors = calloc((size_t)(n ? n : 1), sizeof(tensor));
    if (!out->tensors) {
        cJSON_Delete(root);
        safetensors_close(out);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    const unsigned char *data_base = p + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (!cJSON_IsObject(e)) {
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': header entry is not an object",
                            path, e->string);
            break;
        }
        st = parse_entry(path, e, data_base, data_size, &out->tensors[out->n_tensors]);
        if (st) break;
        out->n_tensors++;
    }
    cJSON_Delete(root);
    if (st) safetensors_close(out);
    return st;
}

void safetensors_close(safetensors_file *f) {
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    mapped_file_close(&f->file);
    memset(f, 0, sizeof *f);
}
