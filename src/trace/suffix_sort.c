/* The suffix array of a shard, with libdivsufsort.
 *
 * divsufsort sorts every byte position of the text by the raw bytes that
 * follow it, which is exactly infini-gram's order; keeping only the
 * positions that are multiples of the token width, in sorted order, gives
 * the token-aligned suffix array without a sorter of our own. */
#include "trace/suffix_sort.h"

#include <stdlib.h>

#include <divsufsort.h>
#include <divsufsort64.h>

#include "util/error.h"
#include "util/file.h"

int table_ptr_size(uint64_t n) {
    int k = 1;
    while (k < 8 && n > (1ull << (8 * k))) k++;
    return k;
}

int suffix_sort_wide(uint64_t n) { return n > (uint64_t)INT32_MAX; }

uint64_t suffix_sort_memory(uint64_t n) { return n + n * (suffix_sort_wide(n) ? 8 : 4); }

/* Runs divsufsort into a malloc'ed array of int32 (wide = 0) or int64. */
static olmoe_status sort_all(const uint8_t *text, uint64_t n, int wide, void **sa) {
    *sa = malloc(n ? n * (wide ? 8 : 4) : 1);
    if (!*sa) return olmoe_fail(OLMOE_ERR_NOMEM, "cannot allocate the suffix array of %llu bytes",
                                (unsigned long long)n);
    int rc = 0;
    if (n && wide) rc = divsufsort64(text, *sa, (saidx64_t)n);
    else if (n) rc = divsufsort(text, *sa, (saidx_t)n);
    if (rc != 0) {
        free(*sa);
        *sa = NULL;
        return olmoe_fail(OLMOE_ERR_NOMEM, "divsufsort failed (%d) on %llu bytes", rc,
                          (unsigned long long)n);
    }
    return OLMOE_OK;
}

olmoe_status suffix_table_write(const uint8_t *text, uint64_t n, int width, int wide,
                                const char *path) {
    if (width <= 0 || n % (uint64_t)width || (!wide && suffix_sort_wide(n)))
        return olmoe_fail(OLMOE_ERR_ARG, "%s: cannot sort %llu bytes of %d-byte tokens%s", path,
                          (unsigned long long)n, width, wide ? "" : " with 32-bit entries");
    void *sa;
    olmoe_status st = sort_all(text, n, wide, &sa);
    if (st) return st;
    atomic_file out;
    if ((st = atomic_file_open(&out, path)) != OLMOE_OK) {
        free(sa);
        return st;
    }
    const int ptr = table_ptr_size(n);
    uint8_t buf[1 << 16]; /* entries are flushed in batches */
    size_t used = 0;
    for (uint64_t i = 0; !st && i < n; i++) {
        uint64_t pos = wide ? (uint64_t)((int64_t *)sa)[i] : (uint64_t)((int32_t *)sa)[i];
        if (pos % (uint64_t)width) continue;
        for (int b = 0; b < ptr; b++) buf[used++] = (uint8_t)(pos >> (8 * b));
        if (used + 8 > sizeof buf) {
            st = atomic_file_write(&out, buf, used);
            used = 0;
        }
    }
    free(sa);
    if (!st) st = atomic_file_write(&out, buf, used);
    if (st) atomic_file_abort(&out);
    else st = atomic_file_commit(&out);
    return st;
}
