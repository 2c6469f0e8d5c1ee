/* GGUF (v2/v3) reading and writing.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 kv count,
 * the kvs (string key, u32 value type, value), the tensor infos (string name,
 * u32 n_dims, u64 dims ne0 first, u32 ggml type, u64 offset), zero padding to
 * the alignment (general.alignment, default 32), then the tensor data; each
 * tensor's offset is relative to the data section and a multiple of the
 * alignment. A string is a u64 byte length followed by the bytes (no NUL).
 *
 * Reader: the file is memory-mapped and every field is bounds-checked before
 * it is read, so a truncated or hostile file gives an error, never a read past
 * the end or an allocation larger than the file. Values and tensor data are
 * used in place from the mapping.
 *
 * Writer: streams a GGUF v3 file in the layout ggml and gguf-py write, without
 * holding tensor data in memory: add kvs and tensor infos, call
 * gguf_writer_begin_data, write each tensor's bytes in order, then close. The
 * file is written as PATH.tmp and renamed to PATH by a successful close, so an
 * interrupted or failed write never leaves a partial file under PATH. */
#ifndef OLMOE_IO_GGUF_H
#define OLMOE_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "io/mapped_file.h"
#include "quant/types.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_ALIGNMENT (1u << 20) /* ggml refuses larger alignments */
#define GGUF_MAX_NAME 64               /* ggml: tensor names are < 64 bytes */

/* Metadata value types (the u32 stored before each value). */
typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} gguf_type;

/* "u8", "i32", "str", "arr", ... ("?" for an invalid id). */
const char *gguf_type_name(gguf_type t);
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and invalid ids. */
size_t gguf_type_size(gguf_type t);
/* ggml's name for any ggml type id ("q4_1", "iq2_xs", ...), or NULL if the id
 * is not (or no longer) a ggml type. */
const char *gguf_ggml_type_name(uint32_t ggml_type);

/* One metadata key/value. Everything points into the mapping except key and
 * strs. Multi-byte values are little-endian and possibly unaligned: read them
 * with the accessors below rather than through `data` directly. */
typedef struct {
    char *key;                 /* NUL-terminated copy (keys never contain NUL) */
    gguf_type type;            /* GGUF_TYPE_ARRAY for arrays */
    gguf_type elem_type;       /* arrays: element type (may be ARRAY: nested) */
    uint64_t n;                /* arrays: element count; scalars: 1 */
    const unsigned char *data; /* scalar: the value bytes (STRING: its characters);
                                  array: the first element's encoding */
    uint64_t str_len;          /* STRING scalar: byte length of `data` */
    const unsigned char **strs; /* STRING arrays: each element's encoding (u64
                                   length, then the bytes); NULL otherwise */
    size_t raw_offset, raw_size; /* the encoded value (after the u32 value type)
                                    as a byte range of the file */
} gguf_kv;

typedef struct {
    mapped_file file;
    uint32_t version;   /* 2 or 3 */
    uint32_t alignment; /* general.alignment or 32 */
    size_t data_offset; /* file offset of the tensor data section */
    gguf_kv *kvs;
    size_t n_kvs;
    /* Tensors in file order: shape in PyTorch order (the reverse of GGUF's
     * ne0-first dims), data pointing into the mapping. Names are owned here. */
    tensor *tensors;
    uint64_t *tensor_offsets; /* each tensor's offset inside the data section */
    int n_tensors;
} gguf_file;

/* Maps and validates the whole file. On error *out is left closed and the
 * message (olmoe_last_error) starts with the path. Tensors of ggml types that
 * olmoe.c has no tensor_type for are refused (OLMOE_ERR_UNSUPPORTED). */
olmoe_status gguf_open(const char *path, gguf_file *out);
void gguf_close(gguf_file *f);

/* NULL when absent (no error is recorded). */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed reads of one kv. Integer getters accept every integer type (not
 * BOOL) whose value fits the result; float getters accept FLOAT32, FLOAT64
 * and integers. A type mismatch or an out-of-range value is OLMOE_ERR_FORMAT
 * naming the file and key. */
olmoe_status gguf_kv_u32(const gguf_file *f, const gguf_kv *kv, uint32_t *out);
olmoe_status gguf_kv_i64(const gguf_file *f, const gguf_kv *kv, int64_t *out);
olmoe_status gguf_kv_u64(const gguf_file *f, const gguf_kv *kv, uint64_t *out);
olmoe_status gguf_kv_f32(const gguf_file *f, const gguf_kv *kv, float *out);
olmoe_status gguf_kv_f64(const gguf_file *f, const gguf_kv *kv, double *out);
olmoe_status gguf_kv_bool(const gguf_file *f, const gguf_kv *kv, int *out);
/* The characters are not NUL-terminated. */
olmoe_status gguf_kv_str(const gguf_file *f, const gguf_kv *kv, const char **s, size_t *len);
/* Element type and count of an array kv (error if kv is not an array). */
olmoe_status gguf_kv_arr(const gguf_file *f, const gguf_kv *kv, gguf_type *elem_type,
                         uint64_t *n);
/* Element i of an array kv, with the same coercions as the scalar getters.
 * i >= n is OLMOE_ERR_ARG. */
olmoe_status gguf_kv_arr_str(const gguf_file *f, const gguf_kv *kv, uint64_t i, const char **s,
                             size_t *len);
olmoe_status gguf_kv_arr_i64(const gguf_file *f, const gguf_kv *kv, uint64_t i, int64_t *out);
olmoe_status gguf_kv_arr_f64(const gguf_file *f, const gguf_kv *kv, uint64_t i, double *out);

/* The same getters by key; a missing key is OLMOE_ERR_FORMAT ("missing key"). */
olmoe_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
olmoe_status gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
olmoe_status gguf_get_f32(const gguf_file *f, const char *key, float *out);
olmoe_status gguf_get_f64(const gguf_file *f, const char *key, double *out);
olmoe_status gguf_get_bool(const gguf_file *f, const char *key, int *out);
olmoe_status gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len);
olmoe_status gguf_get_arr(const gguf_file *f, const char *key, gguf_type *elem_type,
                          uint64_t *n);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

/* Creates PATH.tmp. */
olmoe_status gguf_writer_open(const char *path, gguf_writer **out);

/* Keys must be unique and non-empty. Adding "general.alignment" (as UINT32, a
 * power of two <= GGUF_MAX_ALIGNMENT) sets the data alignment; kvs are written
 * in the order added. All kvs must be added before gguf_writer_begin_data. */
olmoe_status gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
olmoe_status gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
olmoe_status gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
olmoe_status gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v);
olmoe_status gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
olmoe_status gguf_writer_add_f64(gguf_writer *w, const char *key, double v);
olmoe_status gguf_writer_add_bool(gguf_writer *w, const char *key, int v);
olmoe_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s);
olmoe_status gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, size_t len);
/* Any fixed-size scalar type; `value` points to a host value of that type
 * (uint8_t, int16_t, float, ...; BOOL: one byte, 0 or 1). */
olmoe_status gguf_writer_add_scalar(gguf_writer *w, const char *key, gguf_type type,
                                    const void *value);
/* Array of a fixed-size type, `data` a host array of n values of that type. */
olmoe_status gguf_writer_add_array(gguf_writer *w, const char *key, gguf_type elem_type,
                                   const void *data, size_t n);
/* Array of strings; lens may be NULL for NUL-terminated strings. */
olmoe_status gguf_writer_add_str_array(gguf_writer *w, const char *key,
                                       const char *const *strs, const size_t *lens, size_t n);
/* Copies kv (any type, nested arrays included) from an open file. */
olmoe_status gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, const gguf_kv *kv);

/* Declares the next tensor: shape in PyTorch order (written ne0 first),
 * 0 <= n_dims <= 4, the innermost dimension a multiple of the type's block
 * size, name unique and shorter than GGUF_MAX_NAME bytes. */
olmoe_status gguf_writer_add_tensor(gguf_writer *w, const char *name, tensor_type type,
                                    int n_dims, const int64_t *shape);

/* Writes the header, kvs, tensor infos and padding; no more kvs or tensors
 * may be added afterwards. */
olmoe_status gguf_writer_begin_data(gguf_writer *w);

/* Writes tensor i's bytes; tensors must be written in the order added and
 * nbytes must equal the tensor's size. _part appends a chunk of tensor i, which
 * is complete once its chunks add up to its size. */
olmoe_status gguf_writer_write_tensor(gguf_writer *w, int i, const void *data, size_t nbytes);
olmoe_status gguf_writer_write_tensor_part(gguf_writer *w, int i, const void *data,
                                           size_t nbytes);

/* Finishes the file (begin_data is implied if not yet called; every tensor
 * must have been written), renames PATH.tmp to PATH and frees w. On any error,
 * now or earlier, PATH.tmp is removed, PATH is untouched and w is freed. */
olmoe_status gguf_writer_close(gguf_writer *w);
/* Abandons the write: removes PATH.tmp and frees w. */
void gguf_writer_abort(gguf_writer *w);

#endif
