/* GGUF v3 writer. The kvs and tensor infos are encoded into memory as they
 * are added (the header needs their counts first); tensor data is streamed to
 * PATH.tmp and never held. Layout as ggml's gguf_write_to_file and gguf-py's
 * GGUFWriter produce it: header, kvs in the order added, tensor infos in the
 * order added, zero padding to the alignment, then each tensor's bytes
 * followed by zero padding to the alignment (after the last one too). */
#include "io/gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

typedef struct {
    char *name;
    tensor_type type;
    int n_dims;
    int64_t shape[4]; /* PyTorch order */
    uint64_t nbytes, offset;
} wtensor;

struct gguf_writer {
    char *path, *tmp_path;
    FILE *fp;
    olmoe_status failed; /* sticky: once set, every call fails and close cleans up */
    char err[1024];

    unsigned char *meta; /* encoded kvs */
    size_t meta_len, meta_cap;
    char **keys;
    size_t n_kv, keys_cap;
    uint32_t alignment;

    wtensor *tensors;
    int n_tensors, tensors_cap;

    int begun;          /* header written */
    int cur;            /* tensor being written */
    uint64_t cur_done;  /* its bytes written so far */
    uint64_t written;   /* bytes written to the file */
};

/* Records the error in w (making it sticky) and in the thread's message. */
static olmoe_status wfail(gguf_writer *w, olmoe_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static olmoe_status wfail(gguf_writer *w, olmoe_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->failed = code;
    return olmoe_fail(code, "%s", w->err);
}

/* An argument error: reported but the writer stays usable. */
#define ARG_FAIL(w, ...) olmoe_fail(OLMOE_ERR_ARG, __VA_ARGS__)

static olmoe_status check_ok(gguf_writer *w) {
    if (w->failed) return olmoe_fail(w->failed, "%s", w->err);
    return OLMOE_OK;
}

/* ---------------------------------------------------------------- open */

olmoe_status gguf_writer_open(const char *path, gguf_writer **out) {
    *out = NULL;
    gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (w) {
        w->path = malloc(n + 1);
        w->tmp_path = malloc(n + 5);
    }
    if (!w || !w->path || !w->tmp_path) {
        if (w) {
            free(w->path);
            free(w->tmp_path);
        }
        free(w);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(w->path, path, n + 1);
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".tmp", 5);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    w->fp = fopen(w->tmp_path, "wb");
    if (!w->fp) {
        olmoe_status st = olmoe_fail(OLMOE_ERR_IO, "%s: cannot create %s: %s", path, w->tmp_path,
                                     strerror(errno));
        free(w->path);
        free(w->tmp_path);
        free(w);
        return st;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    *out = w;
    return OLMOE_OK;
}

/* ---------------------------------------------------------------- kv encoding */

static int meta_reserve(gguf_writer *w, size_t more) {
    if (more <= w->meta_cap - w->meta_len) return 1;
    size_t cap = w->meta_cap ? w->meta_cap : 4096;
    while (cap - w->meta_len < more) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *p = realloc(w->meta, cap);
    if (!p) return 0;
    w->meta = p;
    w->meta_cap = cap;
    return 1;
}

/* Appends; on allocation failure the writer fails (checked by the caller
 * through w->failed after a sequence of puts). */
static void put(gguf_writer *w, const void *b, size_t n) {
    if (w->failed) return;
    if (!meta_reserve(w, n)) {
        wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory encoding metadata", w->path);
        return;
    }
    if (n) memcpy(w->meta + w->meta_len, b, n);
    w->meta_len += n;
}

static void put_le(gguf_writer *w, uint64_t v, int nbytes) {
    unsigned char b[8];
    for (int i = 0; i < nbytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, (size_t)nbytes);
}

static void put_str(gguf_writer *w, const char *s, size_t len) {
    put_le(w, len, 8);
    put(w, s, len);
}

/* One host value of fixed-size type t, encoded little-endian. */
static void put_host_value(gguf_writer *w, gguf_type t, const void *v) {
    switch (gguf_type_size(t)) {
    case 1: {
        uint8_t x;
        memcpy(&x, v, 1);
        if (t == GGUF_TYPE_BOOL) x = x != 0;
        put_le(w, x, 1);
        break;
    }
    case 2: { uint16_t x; memcpy(&x, v, 2); put_le(w, x, 2); break; }
    case 4: { uint32_t x; memcpy(&x, v, 4); put_le(w, x, 4); break; }
    case 8: { uint64_t x; memcpy(&x, v, 8); put_le(w, x, 8); break; }
    }
}

/* Validates the key and appends it with the value type; the caller then
 * appends the value. `type` is the top-level type (ARRAY for arrays). */
static olmoe_status begin_kv(gguf_writer *w, const char *key, gguf_type type) {
    olmoe_status st = check_ok(w);
    if (st) return st;
    if (w->begun)
        return ARG_FAIL(w, "%s: key '%s' added after gguf_writer_begin_data", w->path,
                        key ? key : "(null)");
    if (!key || !*key) return ARG_FAIL(w, "%s: metadata keys must be non-empty", w->path);
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return ARG_FAIL(w, "%s: duplicate metadata key '%s'", w->path, key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 64;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory", w->path);
        w->keys = k;
        w->keys_cap = cap;
    }
    size_t n = strlen(key);
    char *copy = malloc(n + 1);
    if (!copy) return wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory", w->path);
    memcpy(copy, key, n + 1);
    w->keys[w->n_kv++] = copy;
    put_str(w, key, n);
    put_le(w, (uint32_t)type, 4);
    return check_ok(w);
}

static olmoe_status check_alignment_kv(gguf_writer *w, const char *key, gguf_type type,
                                       const void *value) {
    if (!key || strcmp(key, "general.alignment")) return OLMOE_OK;
    if (type != GGUF_TYPE_UINT32)
        return ARG_FAIL(w, "%s: general.alignment must be a UINT32 value (got %s)", w->path,
                        gguf_type_name(type));
    uint32_t a;
    memcpy(&a, value, 4);
    if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
        return ARG_FAIL(w, "%s: general.alignment = %u is not a power of two between 1 and %u",
                        w->path, a, GGUF_MAX_ALIGNMENT);
    return OLMOE_OK;
}

olmoe_status gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_type type,
                                    const void *value) {
    if (!gguf_type_size(type))
        return ARG_FAIL(w, "%s: key '%s': gguf_writer_add_scalar needs a fixed-size type, not %s",
                        w->path, key ? key : "(null)", gguf_type_name(type));
    olmoe_status st = check_alignment_kv(w, key, type, value);
    if (!st) st = begin_kv(w, key, type);
    if (st) return st;
    put_host_value(w, type, value);
    if (type == GGUF_TYPE_UINT32 && !strcmp(key, "general.alignment"))
        memcpy(&w->alignment, value, 4); /* validated by check_alignment_kv */
    return check_ok(w);
}

olmoe_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT32, &v);
}
olmoe_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_INT32, &v);
}
olmoe_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_UINT64, &v);
}
olmoe_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_INT64, &v);
}
olmoe_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}
olmoe_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v) {
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_FLOAT64, &v);
}
olmoe_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return gguf_writer_add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

olmoe_status gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!s && len) return ARG_FAIL(w, "%s: key '%s': NULL string", w->path, key ? key : "(null)");
    olmoe_status st = begin_kv(w, key, GGUF_TYPE_STRING);
    if (st) return st;
    put_str(w, s, len);
    return check_ok(w);
}

olmoe_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s) {
    if (!s) return ARG_FAIL(w, "%s: key '%s': NULL string", w->path, key ? key : "(null)");
    return gguf_writer_add_strn(w, key, s, strlen(s));
}

olmoe_status gguf_writer_add_array(gguf_writer *w, const char *key, gguf_type elem_type,
                                   const void *data, size_t n) {
    size_t sz = gguf_type_size(elem_type);
    if (!sz)
        return ARG_FAIL(w, "%s: key '%s': gguf_writer_add_array needs a fixed-size element type, "
                        "not %s", w->path, key ? key : "(null)", gguf_type_name(elem_type));
    if (!data && n) return ARG_FAIL(w, "%s: key '%s': NULL array", w->path, key ? key : "(null)");
    olmoe_status st = begin_kv(w, key, GGUF_TYPE_ARRAY);
    if (st) return st;
    put_le(w, (uint32_t)elem_type, 4);
    put_le(w, n, 8);
    if (!w->failed && !meta_reserve(w, n * sz))
        return wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory encoding metadata", w->path);
    for (size_t i = 0; i < n && !w->failed; i++)
        put_host_value(w, elem_type, (const unsigned char *)data + i * sz);
    return check_ok(w);
}

olmoe_status gguf_writer_add_str_array(gguf_writer *w, const char *key,
                                       const char *const *strs, const size_t *lens, size_t n) {
    if (!strs && n) return ARG_FAIL(w, "%s: key '%s': NULL array", w->path, key ? key : "(null)");
    for (size_t i = 0; i < n; i++)
        if (!strs[i] && (!lens || lens[i]))
            return ARG_FAIL(w, "%s: key '%s': element %zu is NULL", w->path, key ? key : "(null)",
                            i);
    olmoe_status st = begin_kv(w, key, GGUF_TYPE_ARRAY);
    if (st) return st;
    put_le(w, GGUF_TYPE_STRING, 4);
    put_le(w, n, 8);
    for (size_t i = 0; i < n && !w->failed; i++)
        put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
    return check_ok(w);
}

olmoe_status gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, const gguf_kv *kv) {
    const unsigned char *raw = src->file.data + kv->raw_offset;
    if (kv->type != GGUF_TYPE_ARRAY) {
        if (kv->type == GGUF_TYPE_STRING)
            return gguf_writer_add_strn(w, kv->key, (const char *)kv->data, (size_t)kv->str_len);
        /* The file's bytes are little-endian: decode to a host value first. */
        uint64_t v = 0;
        size_t sz = gguf_type_size(kv->type);
        for (size_t i = 0; i < sz; i++) v |= (uint64_t)raw[i] << (8 * i);
        unsigned char host[8];
        switch (sz) {
        case 1: { uint8_t x = (uint8_t)v; memcpy(host, &x, 1); break; }
        case 2: { uint16_t x = (uint16_t)v; memcpy(host, &x, 2); break; }
        case 4: { uint32_t x = (uint32_t)v; memcpy(host, &x, 4); break; }
        default: memcpy(host, &v, 8); break;
        }
        return gguf_writer_add_scalar(w, kv->key, kv->type, host);
    }
    /* Arrays (nested ones included) are already in their final encoding. */
    olmoe_status st = begin_kv(w, kv->key, GGUF_TYPE_ARRAY);
    if (st) return st;
    put(w, raw, kv->raw_size);
    return check_ok(w);
}

/* ---------------------------------------------------------------- tensors */

olmoe_status gguf_writer_add_tensor(gguf_writer *w, const char *name, tensor_type type,
                                    int n_dims, const int64_t *shape) {
    olmoe_status st = check_ok(w);
    if (st) return st;
    if (w->begun)
        return ARG_FAIL(w, "%s: tensor '%s' added after gguf_writer_begin_data", w->path,
                        name ? name : "(null)");
    if (!name) return ARG_FAIL(w, "%s: NULL tensor name", w->path);
    size_t nlen = strlen(name);
    if (nlen >= GGUF_MAX_NAME)
        return ARG_FAIL(w, "%s: tensor name '%s' is %zu bytes; ggml allows at most %d", w->path,
                        name, nlen, GGUF_MAX_NAME - 1);
    if (n_dims < 0 || n_dims > 4 || (n_dims && !shape))
        return ARG_FAIL(w, "%s: tensor '%s': %d dimensions (0 to 4 allowed)", w->path, name,
                        n_dims);
    size_t bb = tensor_type_block_bytes(type);
    int64_t blk = tensor_type_block_elems(type);
    if (!bb || blk <= 0)
        return ARG_FAIL(w, "%s: tensor '%s': unknown tensor type %d", w->path, name, (int)type);
    for (int i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return ARG_FAIL(w, "%s: duplicate tensor name '%s'", w->path, name);
    uint64_t numel = 1;
    int zero = 0;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0)
            return ARG_FAIL(w, "%s: tensor '%s': negative dimension %lld", w->path, name,
                            (long long)shape[d]);
        if (shape[d] == 0) zero = 1;
    }
    for (int d = 0; d < n_dims && !zero; d++) {
        if (numel > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return ARG_FAIL(w, "%s: tensor '%s': element count overflows", w->path, name);
        numel *= (uint64_t)shape[d];
    }
    if (zero) numel = 0;
    int64_t inner = n_dims ? shape[n_dims - 1] : 1;
    if (inner % blk)
        return ARG_FAIL(w, "%s: tensor '%s': %lld elements per row is not a multiple of the %s "
                        "block size %lld", w->path, name, (long long)inner,
                        tensor_type_name(type), (long long)blk);
    uint64_t blocks = numel / (uint64_t)blk;
    if (blocks > UINT64_MAX / 2 / bb)
        return ARG_FAIL(w, "%s: tensor '%s' is impossibly large", w->path, name);
    if (w->n_tensors == w->tensors_cap) {
        int cap = w->tensors_cap ? 2 * w->tensors_cap : 64;
        wtensor *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory", w->path);
        w->tensors = t;
        w->tensors_cap = cap;
    }
    wtensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = malloc(nlen + 1);
    if (!t->name) return wfail(w, OLMOE_ERR_NOMEM, "%s: out of memory", w->path);
    memcpy(t->name, name, nlen + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->shape[d] = shape[d];
    t->nbytes = blocks * bb;
    w->n_tensors++;
    return OLMOE_OK;
}

/* ---------------------------------------------------------------- file output */

static olmoe_status out_bytes(gguf_writer *w, const void *b, size_t n) {
    if (n && fwrite(b, 1, n, w->fp) != n)
        return wfail(w, OLMOE_ERR_IO, "%s: write to %s failed: %s", w->path, w->tmp_path,
                     strerror(errno));
    w->written += n;
    return OLMOE_OK;
}

static olmoe_status out_le(gguf_writer *w, uint64_t v, int nbytes) {
    unsigned char b[8];
    for (int i = 0; i < nbytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    return out_bytes(w, b, (size_t)nbytes);
}

static olmoe_status out_pad(gguf_writer *w) {
    static const unsigned char zeros[4096];
    uint64_t pad = (w->alignment - w->written % w->alignment) % w->alignment;
    olmoe_status st = OLMOE_OK;
    while (pad && !st) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        st = out_bytes(w, zeros, n);
        pad -= n;
    }
    return st;
}

olmoe_status gguf_writer_begin_data(gguf_writer *w) {
    olmoe_status st = check_ok(w);
    if (st) return st;
    if (w->begun) return ARG_FAIL(w, "%s: gguf_writer_begin_data called twice", w->path);
    w->begun = 1;
    /* Offsets: each tensor starts at the previous one's end padded to the
     * alignment. */
    uint64_t off = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        wtensor *t = &w->tensors[i];
        t->offset = off;
        uint64_t padded = t->nbytes + (w->alignment - t->nbytes % w->alignment) % w->alignment;
        if (padded > UINT64_MAX - off)
            return wfail(w, OLMOE_ERR_ARG, "%s: tensor data exceeds 2^64 bytes", w->path);
        off += padded;
    }
    st = out_bytes(w, "GGUF", 4);
    if (!st) st = out_le(w, 3, 4);
    if (!st) st = out_le(w, (uint64_t)w->n_tensors, 8);
    if (!st) st = out_le(w, w->n_kv, 8);
    if (!st) st = out_bytes(w, w->meta, w->meta_len);
    for (int i = 0; i < w->n_tensors && !st; i++) {
        const wtensor *t = &w->tensors[i];
        size_t nlen = strlen(t->name);
        st = out_le(w, nlen, 8);
        if (!st) st = out_bytes(w, t->name, nlen);
        if (!st) st = out_le(w, (uint32_t)t->n_dims, 4);
        for (int d = t->n_dims - 1; d >= 0 && !st; d--) /* ne0 = innermost first */
            st = out_le(w, (uint64_t)t->shape[d], 8);
        if (!st) st = out_le(w, (uint32_t)t->type, 4);
        if (!st) st = out_le(w, t->offset, 8);
    }
    if (!st) st = out_pad(w);
    free(w->meta); /* no longer needed */
    w->meta = NULL;
    w->meta_len = w->meta_cap = 0;
    return st;
}

olmoe_status gguf_writer_write_tensor_part(gguf_writer *w, int i, const void *data,
                                           size_t nbytes) {
    olmoe_status st = check_ok(w);
    if (st) return st;
    if (!w->begun && (st = gguf_writer_begin_data(w))) return st;
    if (i < 0 || i >= w->n_tensors)
        return ARG_FAIL(w, "%s: no tensor %d (%d declared)", w->path, i, w->n_tensors);
    if (i != w->cur)
        return ARG_FAIL(w, "%s: tensor '%s' written out of order (next is %s)", w->path,
                        w->tensors[i].name,
                        w->cur < w->n_tensors ? w->tensors[w->cur].name : "none: all written");
    wtensor *t = &w->tensors[i];
    if (nbytes > t->nbytes - w->cur_done)
        return ARG_FAIL(w, "%s: tensor '%s': %zu bytes given but only %llu of its %llu remain",
                        w->path, t->name, nbytes, (unsigned long long)(t->nbytes - w->cur_done),
                        (unsigned long long)t->nbytes);
    if (nbytes && !data) return ARG_FAIL(w, "%s: tensor '%s': NULL data", w->path, t->name);
    st = out_bytes(w, data, nbytes);
    if (st) return st;
    w->cur_done += nbytes;
    if (w->cur_done == t->nbytes) {
        st = out_pad(w);
        w->cur++;
        w->cur_done = 0;
    }
    return st;
}

olmoe_status gguf_writer_write_tensor(gguf_writer *w, int i, const void *data, size_t nbytes) {
    olmoe_status st = check_ok(w);
    if (st) return st;
    if (i >= 0 && i < w->n_tensors && i == w->cur && w->cur_done == 0 &&
        nbytes != w->tensors[i].nbytes)
        return ARG_FAIL(w, "%s: tensor '%s' has %llu bytes, %zu given", w->path,
                        w->tensors[i].name, (unsigned long long)w->tensors[i].nbytes, nbytes);
    if (i == w->cur && w->cur_done != 0)
        return ARG_FAIL(w, "%s: tensor '%s' is partly written; use gguf_writer_write_tensor_part",
                        w->path, w->tensors[i].name);
    return gguf_writer_write_tensor_part(w, i, data, nbytes);
}

static void writer_free(gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->meta);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

void gguf_writer_abort(gguf_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    remove(w->tmp_path);
    writer_free(w);
}

olmoe_status gguf_writer_close(gguf_writer *w) {
    if (!w) return olmoe_fail(OLMOE_ERR_ARG, "gguf_writer_close: NULL writer");
    olmoe_status st = check_ok(w);
    if (!st && !w->begun) st = gguf_writer_begin_data(w);
    if (!st && w->cur < w->n_tensors)
        st = wfail(w, OLMOE_ERR_ARG, "%s: closed before tensor '%s' (%d of %d) was fully written",
                   w->path, w->tensors[w->cur].name, w->cur, w->n_tensors);
    if (!st) {
        int err = 0;
        if (fflush(w->fp) != 0 || ferror(w->fp)) err = errno ? errno : EIO;
        if (fclose(w->fp) != 0 && !err) err = errno ? errno : EIO;
        w->fp = NULL;
        if (err)
            st = wfail(w, OLMOE_ERR_IO, "%s: writing %s failed: %s", w->path, w->tmp_path,
                       strerror(err));
    }
    if (!st && rename(w->tmp_path, w->path) != 0)
        st = wfail(w, OLMOE_ERR_IO, "%s: cannot rename %s to it: %s", w->path, w->tmp_path,
                   strerror(errno));
    if (st) {
        /* Keep the message: abort's cleanup must not overwrite it. */
        gguf_writer_abort(w);
        return st;
    }
    writer_free(w);
    return OLMOE_OK;
}
