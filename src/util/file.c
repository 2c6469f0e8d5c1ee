#include "util/file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

olmoe_status file_read_all(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return olmoe_fail(OLMOE_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return olmoe_fail(OLMOE_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *data = buf;
    if (len) *len = size;
    return OLMOE_OK;
}

olmoe_status json_load_file(const char *path, cJSON **out) {
    char *text;
    size_t len;
    olmoe_status st = file_read_all(path, &text, &len);
    if (st) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0;
        free(text);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, off);
    }
    free(text);
    *out = root;
    return OLMOE_OK;
}

olmoe_status json_get_int64(const cJSON *obj, const char *path, const char *key, int64_t lo,
                            int64_t hi, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return OLMOE_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d == floor(d) && d >= (double)lo && d <= (double)hi))
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s: field '%s' must be an integer in [%lld, %lld]",
                          path, key, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return OLMOE_OK;
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (n && p[n - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

olmoe_status atomic_file_open(atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = strdup(path);
    a->tmp_path = malloc(strlen(path) + 5);
    if (!a->path || !a->tmp_path) {
        atomic_file_abort(a);
        return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
    }
    sprintf(a->tmp_path, "%s.tmp", path);
    if (!(a->f = fopen(a->tmp_path, "wb"))) {
        olmoe_status st = olmoe_fail(OLMOE_ERR_IO, "%s: %s", a->tmp_path, strerror(errno));
        atomic_file_abort(a);
        return st;
    }
    setvbuf(a->f, NULL, _IOFBF, 1 << 20);
    return OLMOE_OK;
}

olmoe_status atomic_file_write(atomic_file *a, const void *data, size_t len) {
    if (len && fwrite(data, 1, len, a->f) != len)
        return olmoe_fail(OLMOE_ERR_IO, "%s: write failed: %s", a->tmp_path, strerror(errno));
    a->bytes += len;
    return OLMOE_OK;
}

olmoe_status atomic_file_commit(atomic_file *a) {
    olmoe_status st = OLMOE_OK;
    int failed = fflush(a->f) != 0 || ferror(a->f);
    failed |= fclose(a->f) != 0;
    a->f = NULL;
    if (failed) st = olmoe_fail(OLMOE_ERR_IO, "%s: write failed: %s", a->tmp_path, strerror(errno));
    else if (rename(a->tmp_path, a->path) != 0)
        st = olmoe_fail(OLMOE_ERR_IO, "%s: cannot rename into place: %s", a->path, strerror(errno));
    if (st) remove(a->tmp_path);
    free(a->path);
    free(a->tmp_path);
    a->path = a->tmp_path = NULL;
    return st;
}

void atomic_file_abort(atomic_file *a) {
    if (a->f) fclose(a->f);
    if (a->tmp_path) remove(a->tmp_path);
    free(a->path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
}

olmoe_status file_write_all(const char *path, const void *data, size_t len) {
    atomic_file a;
    olmoe_status st = atomic_file_open(&a, path);
    if (!st) st = atomic_file_write(&a, data, len);
    if (st) atomic_file_abort(&a);
    else st = atomic_file_commit(&a);
    return st;
}
