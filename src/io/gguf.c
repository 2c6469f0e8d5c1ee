/* GGUF reader: every field is bounds-checked against the mapping before it is
 * read, every count is checked against the bytes left before anything is
 * allocated for it, so a malformed file can cost at most O(file size) memory
 * and time. */
#include "io/gguf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define GGUF_MAGIC_LE 0x46554747u /* "GGUF" */
#define MAX_ARRAY_NESTING 8

/* ---------------------------------------------------------------- type tables */

const char *gguf_type_name(gguf_type t) {
    static const char *const names[] = {"u8",  "i8",   "u16", "i16", "u32", "i32", "f32",
                                        "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

size_t gguf_type_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    case GGUF_TYPE_STRING: case GGUF_TYPE_ARRAY: return 0;
    }
    return 0;
}

const char *gguf_ggml_type_name(uint32_t id) {
    /* ggml_type ids; NULL marks ids ggml has removed. */
    static const char *const names[] = {
        "f32",     "f16",    "q4_0",    "q4_1",  NULL,     NULL,    "q5_0",  "q5_1",
        "q8_0",    "q8_1",   "q2_K",    "q3_K",  "q4_K",   "q5_K",  "q6_K",  "q8_K",
        "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs",
        "i8",      "i16",    "i32",     "i64",   "f64",    "iq1_m", "bf16",  NULL,
        NULL,      NULL,     "tq1_0",   "tq2_0", NULL,     NULL,    NULL,    "mxfp4",
    };
    return id < sizeof names / sizeof names[0] ? names[id] : NULL;
}

/* The ggml ids that have an olmoe.c tensor_type. */
static int supported_ggml_type(uint32_t id, tensor_type *out) {
    switch (id) {
    case TYPE_F32: *out = TYPE_F32; break;
    case TYPE_F16: *out = TYPE_F16; break;
    case TYPE_BF16: *out = TYPE_BF16; break;
    case TYPE_Q4_0: *out = TYPE_Q4_0; break;
    case TYPE_Q8_0: *out = TYPE_Q8_0; break;
    case TYPE_Q4_K: *out = TYPE_Q4_K; break;
    case TYPE_Q6_K: *out = TYPE_Q6_K; break;
    case TYPE_Q8_K: *out = TYPE_Q8_K; break;
    case TYPE_I32: *out = TYPE_I32; break;
    case TYPE_I64: *out = TYPE_I64; break;
    case TYPE_F64: *out = TYPE_F64; break;
    default: return 0;
    }
    return tensor_type_block_bytes(*out) > 0 && tensor_type_block_elems(*out) > 0;
}

/* ---------------------------------------------------------------- cursor */

typedef struct {
    const unsigned char *p;
    size_t size, pos;
    const char *path;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t le64(const unsigned char *b) { return le32(b) | (uint64_t)le32(b + 4) << 32; }

static int get_u32(cursor *c, uint32_t *v) {
    if (left(c) < 4) return 0;
    *v = le32(c->p + c->pos);
    c->pos += 4;
    return 1;
}

static int get_u64(cursor *c, uint64_t *v) {
    if (left(c) < 8) return 0;
    *v = le64(c->p + c->pos);
    c->pos += 8;
    return 1;
}

/* A gguf_string: *s points at its bytes inside the map. */
static int get_str(cursor *c, const unsigned char **s, uint64_t *len) {
    uint64_t n;
    if (!get_u64(c, &n)) return 0;
    if (n > left(c)) return 0;
    *s = c->p + c->pos;
    *len = n;
    c->pos += (size_t)n;
    return 1;
}

static olmoe_status truncated(const cursor *c, const char *what) {
    return olmoe_fail(OLMOE_ERR_FORMAT, "%s: truncated or corrupt: %s runs past the end of the "
                      "file (offset %zu of %zu bytes)", c->path, what, c->pos, c->size);
}

/* ---------------------------------------------------------------- kv values */

/* Validates and skips one array (element type, count, elements) whose
 * element type may itself be ARRAY. */
static olmoe_status skip_array(cursor *c, const char *key, int depth) {
    uint32_t et;
    uint64_t n;
    if (!get_u32(c, &et) || !get_u64(c, &n)) return truncated(c, "a nested array header");
    if (et > GGUF_TYPE_FLOAT64)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s': nested array has invalid element "
                          "type %u", c->path, key, et);
    size_t sz = gguf_type_size((gguf_type)et);
    if (sz) {
        if (n > left(c) / sz) return truncated(c, "a nested array");
        c->pos += (size_t)n * sz;
        return OLMOE_OK;
    }
    if (et == GGUF_TYPE_STRING) {
        if (n > left(c) / 8) return truncated(c, "a nested array of strings");
        for (uint64_t i = 0; i < n; i++) {
            const unsigned char *s;
            uint64_t len;
            if (!get_str(c, &s, &len)) return truncated(c, "a string in a nested array");
        }
        return OLMOE_OK;
    }
    if (depth >= MAX_ARRAY_NESTING)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s': arrays nested more than %d deep",
                          c->path, key, MAX_ARRAY_NESTING);
    if (n > left(c) / 12) return truncated(c, "a nested array");
    for (uint64_t i = 0; i < n; i++) {
        olmoe_status st = skip_array(c, key, depth + 1);
        if (st) return st;
    }
    return OLMOE_OK;
}

static olmoe_status read_value(cursor *c, gguf_kv *kv) {
    char what[128];
    snprintf(what, sizeof what, "the value of key '%.80s'", kv->key);
    uint32_t t;
    if (!get_u32(c, &t)) return truncated(c, what);
    if (t > GGUF_TYPE_FLOAT64)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s' has invalid value type %u", c->path,
                          kv->key, t);
    kv->type = (gguf_type)t;
    kv->raw_offset = c->pos;
    kv->n = 1;
    if (t != GGUF_TYPE_ARRAY) {
        kv->elem_type = kv->type;
        if (t == GGUF_TYPE_STRING) {
            if (!get_str(c, &kv->data, &kv->str_len)) return truncated(c, what);
        } else {
            size_t sz = gguf_type_size(kv->type);
            if (left(c) < sz) return truncated(c, what);
            kv->data = c->p + c->pos;
            c->pos += sz;
        }
        kv->raw_size = c->pos - kv->raw_offset;
        return OLMOE_OK;
    }
    uint32_t et;
    uint64_t n;
    if (!get_u32(c, &et) || !get_u64(c, &n)) return truncated(c, what);
    if (et > GGUF_TYPE_FLOAT64)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s' is an array with invalid element "
                          "type %u", c->path, kv->key, et);
    kv->elem_type = (gguf_type)et;
    kv->n = n;
    kv->data = c->p + c->pos;
    size_t sz = gguf_type_size(kv->elem_type);
    if (sz) {
        if (n > left(c) / sz) return truncated(c, what);
        c->pos += (size_t)n * sz;
    } else if (et == GGUF_TYPE_STRING) {
        /* Each element takes at least its 8-byte length, so this bounds the
         * index allocation by the file size. */
        if (n > left(c) / 8) return truncated(c, what);
        kv->strs = malloc((size_t)(n ? n : 1) * sizeof *kv->strs);
        if (!kv->strs) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", c->path);
        for (uint64_t i = 0; i < n; i++) {
            kv->strs[i] = c->p + c->pos;
            const unsigned char *s;
            uint64_t len;
            if (!get_str(c, &s, &len)) return truncated(c, what);
        }
    } else { /* nested arrays: validated and skipped, elements not accessible */
        if (n > left(c) / 12) return truncated(c, what);
        for (uint64_t i = 0; i < n; i++) {
            olmoe_status st = skip_array(c, kv->key, 1);
            if (st) return st;
        }
    }
    kv->raw_size = c->pos - kv->raw_offset;
    return OLMOE_OK;
}

/* ---------------------------------------------------------------- sorting helpers */

/* qsort has no context argument; the file being checked is passed to the
 * comparators through a thread-local (set only during sort_indices). */
static _Thread_local const gguf_file *sort_file;

static int cmp_key_idx(const void *a, const void *b) {
    return strcmp(sort_file->kvs[*(const size_t *)a].key, sort_file->kvs[*(const size_t *)b].key);
}
static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(sort_file->tensors[*(const size_t *)a].name,
                  sort_file->tensors[*(const size_t *)b].name);
}
static int cmp_offset_idx(const void *a, const void *b) {
    uint64_t x = sort_file->tensor_offsets[*(const size_t *)a];
    uint64_t y = sort_file->tensor_offsets[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

static void sort_indices(const gguf_file *f, size_t *idx, size_t n,
                         int (*cmp)(const void *, const void *)) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    sort_file = f;
    qsort(idx, n, sizeof *idx, cmp);
    sort_file = NULL;
}

/* ---------------------------------------------------------------- open */

static olmoe_status parse_header(gguf_file *f, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    const char *path = c->path;
    uint32_t magic;
    if (!get_u32(c, &magic))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: not a GGUF file (%zu bytes, too short for the "
                          "magic)", path, c->size);
    if (magic != GGUF_MAGIC_LE)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: not a GGUF file (bad magic %02x %02x %02x %02x, "
                          "expected \"GGUF\")", path, c->p[0], c->p[1], c->p[2], c->p[3]);
    if (!get_u32(c, &f->version)) return truncated(c, "the header");
    if (f->version == 1)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported "
                          "(re-convert the model; versions 2 and 3 are)", path);
    if (f->version != 0 && (f->version & 0xffffu) == 0)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: GGUF version 0x%08x: a big-endian file? "
                          "Only little-endian GGUF is supported", path, f->version);
    if (f->version != 2 && f->version != 3)
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported "
                          "(versions 2 and 3 are)", path, f->version);
    if (!get_u64(c, n_tensors) || !get_u64(c, n_kv)) return truncated(c, "the header");
    /* Smallest encodings: a kv is an 8-byte key length, a 4-byte type and a
     * 1-byte value (the key itself is non-empty, but 13 is a safe bound); a
     * tensor info is name length, n_dims, type and offset. */
    size_t rem = left(c);
    if (*n_kv > rem / 13)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: corrupt header: %llu metadata kvs cannot fit in "
                          "the %zu bytes that follow", path, (unsigned long long)*n_kv, rem);
    if (*n_tensors > rem / 24 || *n_tensors > INT_MAX)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: corrupt header: %llu tensor infos cannot fit in "
                          "the %zu bytes that follow", path, (unsigned long long)*n_tensors, rem);
    if (*n_kv * 13 + *n_tensors * 24 > rem)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: corrupt header: %llu kvs and %llu tensors cannot "
                          "fit in the %zu bytes that follow", path, (unsigned long long)*n_kv,
                          (unsigned long long)*n_tensors, rem);
    return OLMOE_OK;
}

static olmoe_status parse_kvs(gguf_file *f, cursor *c, uint64_t n_kv) {
    const char *path = c->path;
    f->kvs = calloc((size_t)(n_kv ? n_kv : 1), sizeof *f->kvs);
    if (!f->kvs) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        const unsigned char *k;
        uint64_t klen;
        char what[64];
        snprintf(what, sizeof what, "the key of metadata kv %llu", (unsigned long long)i);
        if (!get_str(c, &k, &klen)) return truncated(c, what);
        if (klen == 0)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: metadata kv %llu has an empty key", path,
                              (unsigned long long)i);
        if (memchr(k, 0, (size_t)klen))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: metadata kv %llu has a key containing a NUL "
                              "byte", path, (unsigned long long)i);
        kv->key = malloc((size_t)klen + 1);
        if (!kv->key) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
        memcpy(kv->key, k, (size_t)klen);
        kv->key[klen] = 0;
        f->n_kvs = (size_t)i + 1; /* so gguf_close frees it */
        olmoe_status st = read_value(c, kv);
        if (st) return st;
    }
    if (f->n_kvs > 1) {
        size_t *idx = malloc(f->n_kvs * sizeof *idx);
        if (!idx) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
        sort_indices(f, idx, f->n_kvs, cmp_key_idx);
        for (size_t i = 1; i < f->n_kvs; i++) {
            if (!strcmp(f->kvs[idx[i - 1]].key, f->kvs[idx[i]].key)) {
                olmoe_status st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: duplicate metadata key '%s'",
                                             path, f->kvs[idx[i]].key);
                free(idx);
                return st;
            }
        }
        free(idx);
    }
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *a = gguf_find_kv(f, "general.alignment");
    if (a) {
        uint32_t v;
        olmoe_status st = gguf_kv_u32(f, a, &v);
        if (st) return st;
        if (v == 0 || (v & (v - 1)) || v > GGUF_MAX_ALIGNMENT)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: general.alignment = %u is not a power of two "
                              "between 1 and %u", path, v, GGUF_MAX_ALIGNMENT);
        f->alignment = v;
    }
    return OLMOE_OK;
}

static olmoe_status parse_tensor_info(gguf_file *f, cursor *c, int i) {
    const char *path = c->path;
    tensor *t = &f->tensors[i];
    const unsigned char *s;
    uint64_t len;
    char what[96];
    snprintf(what, sizeof what, "the info of tensor %d", i);
    if (!get_str(c, &s, &len)) return truncated(c, what);
    if (memchr(s, 0, (size_t)len))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: the name of tensor %d contains a NUL byte", path,
                          i);
    char *name = malloc((size_t)len + 1);
    if (!name) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    memcpy(name, s, (size_t)len);
    name[len] = 0;
    t->name = name;
    f->n_tensors = i + 1; /* so gguf_close frees the name */
    snprintf(what, sizeof what, "the info of tensor '%.64s'", name);

    uint32_t n_dims;
    if (!get_u32(c, &n_dims)) return truncated(c, what);
    if (n_dims > 4)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' has %u dimensions (at most 4)", path,
                          name, n_dims);
    uint64_t ne[4] = {1, 1, 1, 1};
    for (uint32_t d = 0; d < n_dims; d++) {
        if (!get_u64(c, &ne[d])) return truncated(c, what);
        if (ne[d] > (uint64_t)INT64_MAX)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu (negative "
                              "as int64)", path, name, d, (unsigned long long)ne[d]);
    }
    uint32_t gtype;
    uint64_t offset;
    if (!get_u32(c, &gtype) || !get_u64(c, &offset)) return truncated(c, what);

    if (!supported_ggml_type(gtype, &t->type)) {
        const char *gname = gguf_ggml_type_name(gtype);
        if (!gname)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' has invalid ggml type %u", path,
                              name, gtype);
        return olmoe_fail(OLMOE_ERR_UNSUPPORTED, "%s: %s has ggml type %u (%s), which olmoe.c does "
                          "not support (f32, f16, bf16, q4_0, q8_0, q4_K, q6_K are)", path, name,
                          gtype, gname);
    }
    t->n_dims = (int)n_dims;
    uint64_t numel = 1;
    int zero = 0;
    for (uint32_t d = 0; d < n_dims; d++) {
        t->shape[n_dims - 1 - d] = (int64_t)ne[d];
        if (ne[d] == 0) zero = 1;
    }
    if (!zero) {
        for (uint32_t d = 0; d < n_dims; d++) {
            if (numel > (uint64_t)INT64_MAX / ne[d])
                return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': element count overflows",
                                  path, name);
            numel *= ne[d];
        }
    } else {
        numel = 0;
    }
    uint64_t blk = (uint64_t)tensor_type_block_elems(t->type);
    uint64_t bb = (uint64_t)tensor_type_block_bytes(t->type);
    if (ne[0] % blk)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' of type %s has %llu elements per row, "
                          "not a multiple of the block size %llu", path, name,
                          tensor_type_name(t->type), (unsigned long long)ne[0],
                          (unsigned long long)blk);
    uint64_t blocks = numel / blk;
    if (blocks > (uint64_t)SIZE_MAX / bb || blocks > UINT64_MAX / bb)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s' is impossibly large", path, name);
    t->nbytes = (size_t)(blocks * bb);
    f->tensor_offsets[i] = offset;
    return OLMOE_OK;
}

/* Offsets, bounds and overlaps, once the data section start is known. */
static olmoe_status check_tensor_data(gguf_file *f) {
    const char *path = f->file.path;
    size_t size = f->file.size;
    for (int i = 0; i < f->n_tensors; i++) {
        tensor *t = &f->tensors[i];
        uint64_t off = f->tensor_offsets[i];
        if (off % f->alignment)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a "
                              "multiple of the alignment %u", path, t->name,
                              (unsigned long long)off, f->alignment);
        size_t avail = f->data_offset <= size ? size - f->data_offset : 0;
        if (off > avail || t->nbytes > avail - off)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensor '%s': data [%llu, %llu) of the data "
                              "section (file bytes from %zu) runs past the end of the %zu-byte "
                              "file (truncated?)", path, t->name, (unsigned long long)off,
                              (unsigned long long)off + t->nbytes, f->data_offset, size);
        t->data = f->file.data + f->data_offset + (size_t)off;
    }
    if (f->n_tensors > 1) {
        size_t n = (size_t)f->n_tensors;
        size_t *idx = malloc(n * sizeof *idx);
        if (!idx) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
        olmoe_status st = OLMOE_OK;
        sort_indices(f, idx, n, cmp_name_idx);
        for (size_t i = 1; i < n && !st; i++)
            if (!strcmp(f->tensors[idx[i - 1]].name, f->tensors[idx[i]].name))
                st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: duplicate tensor name '%s'", path,
                                f->tensors[idx[i]].name);
        if (!st) {
            sort_indices(f, idx, n, cmp_offset_idx);
            const tensor *prev = NULL;
            uint64_t prev_end = 0;
            for (size_t i = 0; i < n && !st; i++) {
                const tensor *t = &f->tensors[idx[i]];
                if (t->nbytes == 0) continue;
                uint64_t off = f->tensor_offsets[idx[i]];
                if (prev && off < prev_end)
                    st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (data "
                                    "[%llu, %llu) and [%llu, %llu))", path, prev->name, t->name,
                                    (unsigned long long)(prev_end - prev->nbytes),
                                    (unsigned long long)prev_end, (unsigned long long)off,
                                    (unsigned long long)(off + t->nbytes));
                prev = t;
                prev_end = off + t->nbytes;
            }
        }
        free(idx);
        if (st) return st;
    }
    return OLMOE_OK;
}

olmoe_status gguf_open(const char *path, gguf_file *out) {
    memset(out, 0, sizeof *out);
    olmoe_status st = mapped_file_open(path, &out->file);
    if (st) return st;
    cursor c = {out->file.data, out->file.size, 0, out->file.path};
    uint64_t n_tensors = 0, n_kv = 0;
    st = parse_header(out, &c, &n_tensors, &n_kv);
    if (!st) st = parse_kvs(out, &c, n_kv);
    if (!st) {
        size_t n = (size_t)(n_tensors ? n_tensors : 1);
        out->tensors = calloc(n, sizeof *out->tensors);
        out->tensor_offsets = calloc(n, sizeof *out->tensor_offsets);
        if (!out->tensors || !out->tensor_offsets)
            st = olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; !st && i < n_tensors; i++) st = parse_tensor_info(out, &c, (int)i);
    if (!st) {
        size_t a = out->alignment;
        out->data_offset = c.pos + (a - c.pos % a) % a;
        if (n_tensors > 0 && out->data_offset > c.size)
            st = olmoe_fail(OLMOE_ERR_FORMAT, "%s: truncated: the tensor data section would start "
                            "at byte %zu, past the end of the %zu-byte file", path,
                            out->data_offset, c.size);
    }
    if (!st) st = check_tensor_data(out);
    if (st) gguf_close(out);
    return st;
}

void gguf_close(gguf_file *f) {
    for (size_t i = 0; i < f->n_kvs; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].strs);
    }
    free(f->kvs);
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->tensor_offsets);
    mapped_file_close(&f->file);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- lookups */

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (size_t i = 0; i < f->n_kvs; i++)
        if (!strcmp(f->kvs[i].key, key)) return &f->kvs[i];
    return NULL;
}

const tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------- value access */

/* A numeric value of type t at b, as an exact integer (is_int) or a double. */
typedef struct {
    int ok, is_signed, is_float;
    uint64_t u;
    int64_t i;
    double d;
} num;

static num decode_num(gguf_type t, const unsigned char *b) {
    num n = {1, 0, 0, 0, 0, 0.0};
    switch (t) {
    case GGUF_TYPE_UINT8: n.u = b[0]; break;
    case GGUF_TYPE_UINT16: n.u = (uint64_t)b[0] | (uint64_t)b[1] << 8; break;
    case GGUF_TYPE_UINT32: n.u = le32(b); break;
    case GGUF_TYPE_UINT64: n.u = le64(b); break;
    case GGUF_TYPE_INT8: n.is_signed = 1; n.i = (int8_t)b[0]; break;
    case GGUF_TYPE_INT16: n.is_signed = 1; n.i = (int16_t)(uint16_t)(b[0] | b[1] << 8); break;
    case GGUF_TYPE_INT32: n.is_signed = 1; n.i = (int32_t)le32(b); break;
    case GGUF_TYPE_INT64: n.is_signed = 1; n.i = (int64_t)le64(b); break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t x = le32(b);
        float v;
        memcpy(&v, &x, 4);
        n.is_float = 1;
        n.d = v;
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t x = le64(b);
        memcpy(&n.d, &x, 8);
        n.is_float = 1;
        break;
    }
    default: n.ok = 0; break;
    }
    if (n.ok && !n.is_float) n.d = n.is_signed ? (double)n.i : (double)n.u;
    return n;
}

static olmoe_status type_error(const gguf_file *f, const gguf_kv *kv, const char *elem,
                               const char *want) {
    if (kv->type == GGUF_TYPE_ARRAY && !elem)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s' is an array of %s, expected %s",
                          f->file.path, kv->key, gguf_type_name(kv->elem_type), want);
    return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s'%s has type %s, expected %s", f->file.path,
                      kv->key, elem ? elem : "", gguf_type_name(kv->elem_type), want);
}

/* Integer conversion with range checks; [lo, hi] given both as signed and
 * unsigned bounds. */
static olmoe_status to_int(const gguf_file *f, const gguf_kv *kv, const char *elem,
                           const unsigned char *b, int64_t lo, uint64_t hi, int64_t *si,
                           uint64_t *ui) {
    num n = decode_num(kv->elem_type, b);
    if (!n.ok || n.is_float) return type_error(f, kv, elem, "an integer");
    int in_range = n.is_signed ? (n.i >= lo && (n.i < 0 || (uint64_t)n.i <= hi))
                               : (n.u <= hi);
    if (!in_range) {
        if (n.is_signed)
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s'%s = %lld is out of range",
                              f->file.path, kv->key, elem ? elem : "", (long long)n.i);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s'%s = %llu is out of range", f->file.path,
                          kv->key, elem ? elem : "", (unsigned long long)n.u);
    }
    if (si) *si = n.is_signed ? n.i : (int64_t)n.u;
    if (ui) *ui = n.is_signed ? (uint64_t)n.i : n.u;
    return OLMOE_OK;
}

static olmoe_status need_scalar(const gguf_file *f, const gguf_kv *kv, const char *want) {
    if (kv->type == GGUF_TYPE_ARRAY) return type_error(f, kv, NULL, want);
    return OLMOE_OK;
}

olmoe_status gguf_kv_u32(const gguf_file *f, const gguf_kv *kv, uint32_t *out) {
    olmoe_status st = need_scalar(f, kv, "an integer");
    uint64_t u = 0;
    if (!st) st = to_int(f, kv, NULL, kv->data, 0, UINT32_MAX, NULL, &u);
    if (!st) *out = (uint32_t)u;
    return st;
}

olmoe_status gguf_kv_u64(const gguf_file *f, const gguf_kv *kv, uint64_t *out) {
    olmoe_status st = need_scalar(f, kv, "an integer");
    if (!st) st = to_int(f, kv, NULL, kv->data, 0, UINT64_MAX, NULL, out);
    return st;
}

olmoe_status gguf_kv_i64(const gguf_file *f, const gguf_kv *kv, int64_t *out) {
    olmoe_status st = need_scalar(f, kv, "an integer");
    if (!st) st = to_int(f, kv, NULL, kv->data, INT64_MIN, INT64_MAX, out, NULL);
    return st;
}

olmoe_status gguf_kv_f64(const gguf_file *f, const gguf_kv *kv, double *out) {
    olmoe_status st = need_scalar(f, kv, "a number");
    if (st) return st;
    num n = decode_num(kv->type, kv->data);
    if (!n.ok) return type_error(f, kv, NULL, "a number");
    *out = n.d;
    return OLMOE_OK;
}

olmoe_status gguf_kv_f32(const gguf_file *f, const gguf_kv *kv, float *out) {
    double d = 0;
    olmoe_status st = gguf_kv_f64(f, kv, &d);
    if (!st) *out = (float)d;
    return st;
}

olmoe_status gguf_kv_bool(const gguf_file *f, const gguf_kv *kv, int *out) {
    if (kv->type != GGUF_TYPE_BOOL) return type_error(f, kv, NULL, "bool");
    *out = kv->data[0] != 0; /* ggml reads any non-zero byte as true */
    return OLMOE_OK;
}

olmoe_status gguf_kv_str(const gguf_file *f, const gguf_kv *kv, const char **s, size_t *len) {
    if (kv->type != GGUF_TYPE_STRING) return type_error(f, kv, NULL, "a string");
    *s = (const char *)kv->data;
    *len = (size_t)kv->str_len;
    return OLMOE_OK;
}

olmoe_status gguf_kv_arr(const gguf_file *f, const gguf_kv *kv, gguf_type *elem_type,
                         uint64_t *n) {
    if (kv->type != GGUF_TYPE_ARRAY)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: key '%s' has type %s, expected an array",
                          f->file.path, kv->key, gguf_type_name(kv->type));
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->n;
    return OLMOE_OK;
}

static olmoe_status arr_elem(const gguf_file *f, const gguf_kv *kv, uint64_t i, char *elem,
                             size_t elem_size) {
    olmoe_status st = gguf_kv_arr(f, kv, NULL, NULL);
    if (st) return st;
    snprintf(elem, elem_size, "[%llu]", (unsigned long long)i);
    if (i >= kv->n)
        return olmoe_fail(OLMOE_ERR_ARG, "%s: key '%s': index %llu is past the %llu elements",
                          f->file.path, kv->key, (unsigned long long)i,
                          (unsigned long long)kv->n);
    return OLMOE_OK;
}

olmoe_status gguf_kv_arr_str(const gguf_file *f, const gguf_kv *kv, uint64_t i, const char **s,
                             size_t *len) {
    char elem[32];
    olmoe_status st = arr_elem(f, kv, i, elem, sizeof elem);
    if (st) return st;
    if (kv->elem_type != GGUF_TYPE_STRING) return type_error(f, kv, elem, "a string");
    *len = (size_t)le64(kv->strs[i]);
    *s = (const char *)kv->strs[i] + 8;
    return OLMOE_OK;
}

olmoe_status gguf_kv_arr_i64(const gguf_file *f, const gguf_kv *kv, uint64_t i, int64_t *out) {
    char elem[32];
    olmoe_status st = arr_elem(f, kv, i, elem, sizeof elem);
    if (st) return st;
    size_t sz = gguf_type_size(kv->elem_type);
    if (!sz || kv->elem_type == GGUF_TYPE_BOOL) return type_error(f, kv, elem, "an integer");
    return to_int(f, kv, elem, kv->data + (size_t)i * sz, INT64_MIN, INT64_MAX, out, NULL);
}

olmoe_status gguf_kv_arr_f64(const gguf_file *f, const gguf_kv *kv, uint64_t i, double *out) {
    char elem[32];
    olmoe_status st = arr_elem(f, kv, i, elem, sizeof elem);
    if (st) return st;
    size_t sz = gguf_type_size(kv->elem_type);
    num n = {0};
    if (sz) n = decode_num(kv->elem_type, kv->data + (size_t)i * sz);
    if (!n.ok) return type_error(f, kv, elem, "a number");
    *out = n.d;
    return OLMOE_OK;
}

/* ---------------------------------------------------------------- by key */

static olmoe_status find_or_fail(const gguf_file *f, const char *key, const gguf_kv **kv) {
    *kv = gguf_find_kv(f, key);
    if (!*kv) return olmoe_fail(OLMOE_ERR_FORMAT, "%s: missing key '%s'", f->file.path, key);
    return OLMOE_OK;
}

#define BY_KEY(kvfn, ...)                                                                  \
    {                                                                                           \
        const gguf_kv *kv;                                                                      \
        olmoe_status st = find_or_fail(f, key, &kv);                                            \
        return st ? st : kvfn(f, kv, __VA_ARGS__);                                              \
    }

olmoe_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
    BY_KEY(gguf_kv_u32, out)
olmoe_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
    BY_KEY(gguf_kv_i64, out)
olmoe_status gguf_get_f32(const gguf_file *f, const char *key, float *out)
    BY_KEY(gguf_kv_f32, out)
olmoe_status gguf_get_f64(const gguf_file *f, const char *key, double *out)
    BY_KEY(gguf_kv_f64, out)
olmoe_status gguf_get_bool(const gguf_file *f, const char *key, int *out)
    BY_KEY(gguf_kv_bool, out)
olmoe_status gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len)
    BY_KEY(gguf_kv_str, s, len)
olmoe_status gguf_get_arr(const gguf_file *f, const char *key, gguf_type *elem_type, uint64_t *n)
    BY_KEY(gguf_kv_arr, elem_type, n)
