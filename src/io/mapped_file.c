#define _DEFAULT_SOURCE /* madvise and its Linux flags (MADV_POPULATE_READ) */
#include "io/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

olmoe_status mapped_file_open(const char *path, mapped_file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return olmoe_fail(OLMOE_ERR_IO, "%s: not a regular file", path);
    }
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return olmoe_fail(OLMOE_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        out->data = p;
    }
    close(fd);
    out->path = strdup(path);
    if (!out->path) {
        mapped_file_close(out);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    return OLMOE_OK;
}

void mapped_populate(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t hi = (uintptr_t)p + n;
    if (n == 0) return;
#ifdef MADV_POPULATE_READ
    const uintptr_t lo = (uintptr_t)p & ~(page - 1);
    if (madvise((void *)lo, hi - lo, MADV_POPULATE_READ) == 0) return;
#endif
    /* Kernels before 5.14 (and emulators) without it: one read per page. */
    unsigned sum = 0;
    for (uintptr_t a = (uintptr_t)p; a < hi; a = (a & ~(page - 1)) + page)
        sum += *(const volatile unsigned char *)a;
    (void)sum;
}

void mapped_file_close(mapped_file *f) {
    if (f->data) munmap((void *)f->data, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}
