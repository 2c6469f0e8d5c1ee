#define _DEFAULT_SOURCE /* madvise and its Linux flags (MADV_POPULATE_WRITE) */
#include "quant/pack.h"

#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "quant/formats.h"
#include "quant/matmul.h"

/* The interleaved layouts: a row type and its eight-row form (blocks.h),
 * whose block holds block b of each of eight rows in the bytes of those
 * eight blocks. get(g, j, x) copies row j's block out of the packed block
 * g into x, as the file has it; put(g, j, x) is its inverse. */
typedef struct {
    tensor_type row, packed;
    int block_elems;
    size_t block_bytes; /* of one row's block: a packed block is eight */
    void (*get)(const uint8_t *g, int j, uint8_t *x);
    void (*put)(uint8_t *g, int j, const uint8_t *x);
} x8_layout;

/* The levels of all three interleave 4 bytes at a time: byte 4k + i of row
 * j's n_bytes is byte 32k + 4j + i of the packed ones. */
static void get_levels(const uint8_t *packed, int j, uint8_t *row, int n_bytes) {
    for (int k = 0; k < n_bytes / 4; k++) memcpy(row + 4 * k, packed + 32 * k + 4 * j, 4);
}
static void put_levels(uint8_t *packed, int j, const uint8_t *row, int n_bytes) {
    for (int k = 0; k < n_bytes / 4; k++) memcpy(packed + 32 * k + 4 * j, row + 4 * k, 4);
}

/* Q4_0 and Q8_0: the eight f16 scales, then the levels. */
#define SCALED_X8(name, qs_bytes)                                                                            \
    static void get_##name(const uint8_t *g, int j, uint8_t *x) {                                             \
        memcpy(x, g + 2 * j, 2);                                                                              \
        get_levels(g + 16, j, x + 2, qs_bytes);                                                               \
    }                                                                                                         \
    static void put_##name(uint8_t *g, int j, const uint8_t *x) {                                             \
        memcpy(g + 2 * j, x, 2);                                                                              \
        put_levels(g + 16, j, x + 2, qs_bytes);                                                               \
    }
SCALED_X8(q4_0, QK4_0 / 2)
SCALED_X8(q8_0, QK8_0)
#undef SCALED_X8

/* Q4_K: the scales and mins of row j re-encoded at their positions
 * 16·(j/4) + 4·(s%4) + j%4 (block_q4_Kx8); each byte holds values of one
 * row only, so rows are written independently. The row block is bytes
 * (memcpy in and out of its fields: it may sit anywhere). */
static void get_q4_K(const uint8_t *g, int j, uint8_t *x) {
    const block_q4_Kx8 *p = (const block_q4_Kx8 *)g;
    block_q4_K b;
    uint8_t sc[8], m[8];
    for (int s = 0; s < 8; s++) q4_Kx8_scale_min(p, s, j, &sc[s], &m[s]);
    b.d = p->d[j];
    b.dmin = p->dmin[j];
    q4k_set_scales_mins(sc, m, b.scales);
    get_levels(p->qs, j, b.qs, QK_K / 2);
    memcpy(x, &b, sizeof b);
}
static void put_q4_K(uint8_t *g, int j, const uint8_t *x) {
    block_q4_Kx8 *p = (block_q4_Kx8 *)g;
    block_q4_K b;
    memcpy(&b, x, sizeof b);
    uint8_t sc[8], m[8];
    for (int s = 0; s < 8; s++) q4k_get_scale_min(s, b.scales, &sc[s], &m[s]);
    for (int s = 0; s < 4; s++) {
        const int at = 16 * (j / 4) + 4 * s + j % 4;
        p->scales[at] = (uint8_t)((sc[s] & 0xF) | (sc[s + 4] & 0xF) << 4);
        p->scales[32 + at] = (uint8_t)((m[s] & 0xF) | (m[s + 4] & 0xF) << 4);
        p->scales[64 + at] = (uint8_t)(sc[s] >> 4 | (sc[s + 4] >> 4) << 2 | (m[s] >> 4) << 4 | (m[s + 4] >> 4) << 6);
    }
    p->d[j] = b.d;
    p->dmin[j] = b.dmin;
    put_levels(p->qs, j, b.qs, QK_K / 2);
}

/* One row's block of any packable type, aligned for each. */
typedef union {
    block_q4_0 q4_0;
    block_q8_0 q8_0;
    block_q4_K q4_K;
    uint8_t bytes[sizeof(block_q4_K)];
} row_block;

static const x8_layout x8_layouts[] = {
    {TYPE_Q4_0, TYPE_Q4_0X8, QK4_0, sizeof(block_q4_0), get_q4_0, put_q4_0},
    {TYPE_Q8_0, TYPE_Q8_0X8, QK8_0, sizeof(block_q8_0), get_q8_0, put_q8_0},
    {TYPE_Q4_K, TYPE_Q4_KX8, QK_K, sizeof(block_q4_K), get_q4_K, put_q4_K},
};

static const x8_layout *x8_of(tensor_type t) {
    for (size_t i = 0; i < sizeof x8_layouts / sizeof *x8_layouts; i++)
        if (x8_layouts[i].row == t || x8_layouts[i].packed == t) return &x8_layouts[i];
    return NULL;
}

/* Block b of row j of a group of eight rows, and back. */
static void get_block(const x8_layout *l, const void *group, int64_t b, int j, uint8_t *x) {
    l->get((const uint8_t *)group + (size_t)b * 8 * l->block_bytes, j, x);
}
static void put_block(const x8_layout *l, void *group, int64_t b, int j, const uint8_t *x) {
    l->put((uint8_t *)group + (size_t)b * 8 * l->block_bytes, j, x);
}

void pack_rows_x8(tensor_type row_type, const void *rows, void *out, int64_t n) {
    const x8_layout *l = x8_of(row_type);
    const int64_t nb = n / l->block_elems;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) put_block(l, out, b, j, (const uint8_t *)rows + (size_t)(j * nb + b) * l->block_bytes);
}

void unpack_rows_x8(tensor_type row_type, const void *in, void *rows, int64_t n) {
    const x8_layout *l = x8_of(row_type);
    const int64_t nb = n / l->block_elems;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) get_block(l, in, b, j, (uint8_t *)rows + (size_t)(j * nb + b) * l->block_bytes);
}

/* Eight rows of floats to and from a packed layout, block by block through
 * the row type's own conversions. */
static void dequantize_x8(const x8_layout *l, const void *src, float *dst, int64_t n) {
    const quant_ops *row = quant_ops_for(l->row);
    row_block x;
    for (int j = 0; j < 8; j++)
        for (int64_t b = 0; b < n / l->block_elems; b++) {
            get_block(l, src, b, j, x.bytes);
            row->to_f32(x.bytes, dst + (size_t)j * (size_t)n + (size_t)b * l->block_elems, l->block_elems);
        }
}
static void quantize_x8(const x8_layout *l, const float *src, void *dst, int64_t n) {
    const quant_ops *row = quant_ops_for(l->row);
    row_block x;
    for (int j = 0; j < 8; j++)
        for (int64_t b = 0; b < n / l->block_elems; b++) {
            row->from_f32(src + (size_t)j * (size_t)n + (size_t)b * l->block_elems, x.bytes, l->block_elems);
            put_block(l, dst, b, j, x.bytes);
        }
}
void dequantize_rows_q4_0x8(const void *src, float *dst, int64_t n) { dequantize_x8(&x8_layouts[0], src, dst, n); }
void quantize_rows_q4_0x8(const float *src, void *dst, int64_t n) { quantize_x8(&x8_layouts[0], src, dst, n); }
void dequantize_rows_q8_0x8(const void *src, float *dst, int64_t n) { dequantize_x8(&x8_layouts[1], src, dst, n); }
void quantize_rows_q8_0x8(const float *src, void *dst, int64_t n) { quantize_x8(&x8_layouts[1], src, dst, n); }
void dequantize_rows_q4_Kx8(const void *src, float *dst, int64_t n) { dequantize_x8(&x8_layouts[2], src, dst, n); }
void quantize_rows_q4_Kx8(const float *src, void *dst, int64_t n) { quantize_x8(&x8_layouts[2], src, dst, n); }

tensor_type packed_type_of(tensor_type t) {
    const x8_layout *l = x8_of(t);
    return l && l->row == t && quant_ops_for(l->packed) ? l->packed : t;
}

tensor_type tensor_layout(const tensor *w) {
    tensor_packing *p = w->packing;
    return p && atomic_load_explicit(&p->state, memory_order_acquire) == PACK_DONE ? p->type : w->type;
}

/* Makes the pages under [data, data + n) writable: private file mappings
 * become copy-on-write, heap memory already is. 0 where the system
 * refuses (a shared or read-only file mapping). */
static int make_writable(const void *data, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = (uintptr_t)data & ~(page - 1);
    const uintptr_t hi = ((uintptr_t)data + n + page - 1) & ~(page - 1);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0) return 0;
#ifdef MADV_POPULATE_WRITE
    /* Copies the pages in one call rather than one write fault (and, with
     * several threads, one TLB shootdown) per page; best effort. */
    madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#endif
    return 1;
}

/* Rearranges all of w's rows, group by group through a scratch copy per
 * thread (allocated first: a layout is never left half packed). */
static int pack_rows(const tensor *w, tensor_type to) {
    const int64_t rows = w->shape[0], n = w->shape[1];
    const int k = quant_ops_for(to)->interleave, n_threads = omp_get_max_threads();
    const size_t group = (size_t)k * tensor_type_bytes(w->type, n);
    char *scratch = malloc(group * (size_t)n_threads);
    if (!scratch) return 0;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = 0; r < rows; r += k) {
        char *tmp = scratch + (size_t)omp_get_thread_num() * group;
        char *g = (char *)w->data + (size_t)(r / k) * group;
        memcpy(tmp, g, group);
        pack_rows_x8(w->type, tmp, g, n);
    }
    free(scratch);
    return 1;
}

static pthread_mutex_t pack_lock = PTHREAD_MUTEX_INITIALIZER;

static void pack_once(const tensor *w) {
    tensor_packing *p = w->packing;
    pthread_mutex_lock(&pack_lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == PACK_NOT_YET) {
        const tensor_type to = packed_type_of(w->type);
        int done = 0;
        if (to != w->type && w->n_dims == 2 && w->shape[0] % quant_ops_for(to)->interleave == 0 &&
            make_writable(w->data, w->nbytes))
            done = pack_rows(w, to);
        p->type = done ? to : w->type;
        atomic_store_explicit(&p->state, done ? PACK_DONE : PACK_NEVER, memory_order_release);
    }
    pthread_mutex_unlock(&pack_lock);
}

const quant_ops *tensor_matmul_ops(const tensor *w) {
    tensor_packing *p = w->packing;
    if (p && atomic_load_explicit(&p->state, memory_order_acquire) == PACK_NOT_YET) pack_once(w);
    return quant_ops_for(tensor_layout(w));
}

void tensor_rows_as_file(const tensor *w, int64_t r0, int64_t n, void *out) {
    const int64_t cols = w->shape[w->n_dims - 1];
    const size_t row = tensor_type_bytes(w->type, cols);
    const char *src = (const char *)w->data + (size_t)r0 * row;
    if (tensor_layout(w) == w->type) {
        memcpy(out, src, (size_t)n * row);
        return;
    }
    for (int64_t g = 0; g < n; g += 8) unpack_rows_x8(w->type, src + (size_t)g * row, (char *)out + (size_t)g * row, cols);
}

void tensor_row_to_f32(const tensor *w, int64_t r, float *out) {
    const tensor_type t = tensor_layout(w);
    const int64_t n = w->shape[w->n_dims - 1];
    const size_t row = tensor_type_bytes(t, n);
    const x8_layout *l = x8_of(t);
    if (!l || l->packed != t) {
        row_to_f32(t, (const char *)w->data + (size_t)r * row, out, n);
        return;
    }
    /* Block b of row r sits in group r/8, lane r%8. */
    const quant_ops *row_ops = quant_ops_for(l->row);
    const char *g = (const char *)w->data + (size_t)(r / 8) * 8 * row;
    row_block x;
    for (int64_t b = 0; b < n / l->block_elems; b++) {
        get_block(l, g, b, (int)(r % 8), x.bytes);
        row_ops->to_f32(x.bytes, out + b * l->block_elems, l->block_elems);
    }
}
