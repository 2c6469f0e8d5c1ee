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

/* Block b of row j of a group, and back. */
static void get_block(const block_q4_0x8 *g, int64_t b, int j, block_q4_0 *x) {
    x->d = g[b].d[j];
    for (int k = 0; k < 4; k++) memcpy(x->qs + 4 * k, g[b].qs + 32 * k + 4 * j, 4);
}
static void put_block(block_q4_0x8 *g, int64_t b, int j, const block_q4_0 *x) {
    g[b].d[j] = x->d;
    for (int k = 0; k < 4; k++) memcpy(g[b].qs + 32 * k + 4 * j, x->qs + 4 * k, 4);
}

void pack_q4_0x8(const block_q4_0 *rows, block_q4_0x8 *out, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) put_block(out, b, j, &rows[(size_t)j * nb + b]);
}

void unpack_q4_0x8(const block_q4_0x8 *in, block_q4_0 *rows, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < 8; j++) get_block(in, b, j, &rows[(size_t)j * nb + b]);
}

void dequantize_rows_q4_0x8(const void *src, float *dst, int64_t n) {
    for (int j = 0; j < 8; j++)
        for (int64_t b = 0; b < n / QK4_0; b++) {
            block_q4_0 x;
            get_block(src, b, j, &x);
            dequantize_row_q4_0(&x, dst + (size_t)j * (size_t)n + (size_t)b * QK4_0, QK4_0);
        }
}

void quantize_rows_q4_0x8(const float *src, void *dst, int64_t n) {
    for (int j = 0; j < 8; j++)
        for (int64_t b = 0; b < n / QK4_0; b++) {
            block_q4_0 x;
            quantize_row_q4_0(src + (size_t)j * (size_t)n + (size_t)b * QK4_0, &x, QK4_0);
            put_block(dst, b, j, &x);
        }
}

tensor_type packed_type_of(tensor_type t) {
    return t == TYPE_Q4_0 && quant_ops_for(TYPE_Q4_0X8) ? TYPE_Q4_0X8 : t;
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
    return mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) == 0;
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
        pack_q4_0x8((const block_q4_0 *)tmp, (block_q4_0x8 *)g, n);
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

void tensor_row_to_f32(const tensor *w, int64_t r, float *out) {
    const tensor_type t = tensor_layout(w);
    const int64_t n = w->shape[w->n_dims - 1];
    const size_t row = tensor_type_bytes(t, n);
    if (t != TYPE_Q4_0X8) {
        row_to_f32(t, (const char *)w->data + (size_t)r * row, out, n);
        return;
    }
    /* Block b of row r sits in group r/8, lane r%8. */
    const block_q4_0x8 *g = (const block_q4_0x8 *)((const char *)w->data + (size_t)(r / 8) * 8 * row);
    for (int64_t b = 0; b < n / QK4_0; b++) {
        block_q4_0 x;
        get_block(g, b, (int)(r % 8), &x);
        dequantize_row_q4_0(&x, out + b * QK4_0, QK4_0);
    }
}
