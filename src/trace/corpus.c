/* Dolma corpus reading: file listing, decompressing streams, JSON lines. */
#include "trace/corpus.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#include <zstd.h>

#include "util/error.h"
#include "util/file.h"

#define READ_CHUNK (1u << 20)

/* ---------------------------------------------------------------- listing */

typedef struct {
    corpus_file *files;
    int n, cap;
} file_list;

static olmoe_status list_add(file_list *l, const char *path, const char *rel, int is_jsonl,
                             uint64_t bytes) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        corpus_file *f = realloc(l->files, (size_t)cap * sizeof *f);
        if (!f) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory listing %s", path);
        l->files = f;
        l->cap = cap;
    }
    corpus_file *f = &l->files[l->n];
    f->path = strdup(path);
    f->rel = strdup(rel);
    f->is_jsonl = is_jsonl;
    f->bytes = bytes;
    if (!f->path || !f->rel) {
        free(f->path);
        free(f->rel);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory listing %s", path);
    }
    l->n++;
    return OLMOE_OK;
}

static int file_cmp(const void *a, const void *b) {
    return strcmp(((const corpus_file *)a)->path, ((const corpus_file *)b)->path);
}

/* Adds the ".json" files under dir (whose relative name is rel, "" at the
 * top), recursively. */
static olmoe_status list_dir(file_list *l, const char *dir, const char *rel) {
    DIR *d = opendir(dir);
    if (!d) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", dir, strerror(errno));
    olmoe_status st = OLMOE_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *path = path_join(dir, e->d_name);
        char *sub = *rel ? path_join(rel, e->d_name) : strdup(e->d_name);
        struct stat lst, st_file;
        if (!path || !sub) st = olmoe_fail(OLMOE_ERR_NOMEM, "out of memory listing %s", dir);
        else if (lstat(path, &lst) != 0 || stat(path, &st_file) != 0)
            st = S_ISLNK(lst.st_mode) ? OLMOE_OK /* dangling link */
                                      : olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
        else if (S_ISDIR(st_file.st_mode)) {
            if (!S_ISLNK(lst.st_mode)) st = list_dir(l, path, sub);
        } else if (S_ISREG(st_file.st_mode) && strstr(e->d_name, ".json"))
            st = list_add(l, path, sub, 1, (uint64_t)st_file.st_size);
        free(path);
        free(sub);
    }
    closedir(d);
    return st;
}

/* The last component of a path ("a/b.jsonl" -> "b.jsonl"). */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* One input argument: a directory (its .json files, sorted by path) or a
 * single file. */
static olmoe_status list_input(file_list *l, const char *input) {
    struct stat st_in;
    if (stat(input, &st_in) != 0) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", input, strerror(errno));
    if (!S_ISDIR(st_in.st_mode))
        return list_add(l, input, base_name(input), strstr(base_name(input), ".json") != NULL,
                        (uint64_t)st_in.st_size);
    int first = l->n;
    olmoe_status st = list_dir(l, input, "");
    if (!st) qsort(l->files + first, (size_t)(l->n - first), sizeof *l->files, file_cmp);
    return st;
}

/* ---------------------------------------------------------------- streams */

/* A file's decompressed bytes: plain, gzip or zstd. */
typedef struct {
    FILE *f;              /* plain and zstd */
    gzFile gz;
    ZSTD_DCtx *zd;
    ZSTD_inBuffer in;     /* zstd: compressed bytes read but not yet decoded */
    void *in_buf;
    size_t frame_left;    /* zstd: nonzero while a frame is incomplete */
    int zstd_pending;     /* zstd: the last call filled the output; more may follow */
    uint64_t raw_read;    /* plain and zstd: bytes read from the file */
    const char *path;
} byte_stream;

static void stream_close(byte_stream *s);

static olmoe_status stream_open(byte_stream *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    if (!(s->f = fopen(path, "rb"))) return olmoe_fail(OLMOE_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char magic[4] = {0};
    size_t n = fread(magic, 1, 4, s->f);
    rewind(s->f);
    olmoe_status st = OLMOE_OK;
    if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        fclose(s->f);
        s->f = NULL;
        if (!(s->gz = gzopen(path, "rb"))) st = olmoe_fail(OLMOE_ERR_IO, "%s: cannot open as gzip", path);
        else gzbuffer(s->gz, READ_CHUNK);
    } else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
               magic[3] == 0xfd) {
        s->zd = ZSTD_createDCtx();
        s->in_buf = malloc(ZSTD_DStreamInSize());
        if (!s->zd || !s->in_buf) st = olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", path);
        /* Dolma shards are written with long windows (zstd --long). */
        else ZSTD_DCtx_setParameter(s->zd, ZSTD_d_windowLogMax, 31);
        s->in.src = s->in_buf;
    }
    if (st) stream_close(s);
    return st;
}

static void stream_close(byte_stream *s) {
    if (s->f) fclose(s->f);
    if (s->gz) gzclose(s->gz);
    ZSTD_freeDCtx(s->zd);
    free(s->in_buf);
    memset(s, 0, sizeof *s);
}

static olmoe_status zstd_read(byte_stream *s, char *buf, size_t cap, size_t *got) {
    ZSTD_outBuffer out = {buf, cap, 0};
    while (out.pos == 0) {
        if (s->in.pos == s->in.size && !s->zstd_pending) {
            s->in.size = fread(s->in_buf, 1, ZSTD_DStreamInSize(), s->f);
            s->in.pos = 0;
            s->raw_read += s->in.size;
            if (s->in.size == 0) {
                if (ferror(s->f)) return olmoe_fail(OLMOE_ERR_IO, "%s: read failed", s->path);
                if (s->frame_left)
                    return olmoe_fail(OLMOE_ERR_FORMAT, "%s: truncated zstd data", s->path);
                break;
            }
        }
        size_t r = ZSTD_decompressStream(s->zd, &out, &s->in);
        if (ZSTD_isError(r))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: bad zstd data: %s", s->path, ZSTD_getErrorName(r));
        s->frame_left = r;
        s->zstd_pending = out.pos == out.size;
    }
    *got = out.pos;
    return OLMOE_OK;
}

/* Reads up to cap decompressed bytes; *got = 0 at the end of the file. */
static olmoe_status stream_read(byte_stream *s, char *buf, size_t cap, size_t *got) {
    if (s->zd) return zstd_read(s, buf, cap, got);
    if (s->gz) {
        int n = gzread(s->gz, buf, (unsigned)(cap > INT32_MAX ? INT32_MAX : cap));
        int err = Z_OK;
        const char *msg = gzerror(s->gz, &err);
        if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
            return olmoe_fail(OLMOE_ERR_FORMAT, "%s: corrupt gzip data: %s", s->path, msg);
        *got = (size_t)n;
        return OLMOE_OK;
    }
    *got = fread(buf, 1, cap, s->f);
    s->raw_read += *got;
    if (*got == 0 && ferror(s->f)) return olmoe_fail(OLMOE_ERR_IO, "%s: read failed", s->path);
    return OLMOE_OK;
}

static uint64_t stream_raw_read(const byte_stream *s) {
    if (s->gz) {
        long off = gzoffset(s->gz);
        return off > 0 ? (uint64_t)off : 0;
    }
    return s->raw_read;
}

/* ---------------------------------------------------------------- corpus */

struct corpus {
    file_list files;
    int cur;               /* index of the open file, or files.n at the end */
    int open;
    byte_stream s;
    char *buf;             /* decompressed bytes: [start, end) not yet returned */
    size_t cap, start, end, scan;
    int eof;
    uint64_t linenum;      /* of the next line in the open file */
    uint64_t done_bytes;   /* on-disk bytes of the files already finished */
};

olmoe_status corpus_open(const char *const *inputs, int n_inputs, corpus **out) {
    *out = NULL;
    corpus *c = calloc(1, sizeof *c);
    if (!c) return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    olmoe_status st = OLMOE_OK;
    for (int i = 0; !st && i < n_inputs; i++) st = list_input(&c->files, inputs[i]);
    if (st) {
        corpus_close(c);
        return st;
    }
    *out = c;
    return OLMOE_OK;
}

void corpus_close(corpus *c) {
    if (!c) return;
    if (c->open) stream_close(&c->s);
    for (int i = 0; i < c->files.n; i++) {
        free(c->files.files[i].path);
        free(c->files.files[i].rel);
    }
    free(c->files.files);
    free(c->buf);
    free(c);
}

uint64_t corpus_total_bytes(const corpus *c) {
    uint64_t total = 0;
    for (int i = 0; i < c->files.n; i++) total += c->files.files[i].bytes;
    return total;
}

uint64_t corpus_bytes_read(const corpus *c) {
    return c->done_bytes + (c->open ? stream_raw_read(&c->s) : 0);
}

/* Reads more decompressed bytes after buf[end], moving the unreturned part
 * to the front and growing the buffer when a line fills it. */
static olmoe_status fill(corpus *c) {
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->scan -= c->start;
        c->start = 0;
    }
    if (c->cap - c->end < READ_CHUNK) {
        size_t cap = c->cap ? 2 * c->cap : 4 * READ_CHUNK;
        char *b = realloc(c->buf, cap);
        if (!b) return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", c->s.path);
        c->buf = b;
        c->cap = cap;
    }
    size_t got = 0;
    olmoe_status st = stream_read(&c->s, c->buf + c->end, c->cap - c->end, &got);
    if (got == 0) c->eof = 1;
    c->end += got;
    return st;
}

/* The next line of the open file (without its '\n'), or *got = 0 at its
 * end. With whole = 1 the rest of the file is one "line". */
static olmoe_status next_line(corpus *c, int whole, corpus_record *rec, int *got) {
    for (;;) {
        char *nl = whole || c->scan == c->end ? NULL
                                              : memchr(c->buf + c->scan, '\n', c->end - c->scan);
        if (nl || (c->eof && c->start < c->end)) {
            size_t len = nl ? (size_t)(nl - (c->buf + c->start)) : c->end - c->start;
            if (!(rec->line = malloc(len + 1)))
                return olmoe_fail(OLMOE_ERR_NOMEM, "%s: out of memory", c->s.path);
            memcpy(rec->line, c->buf + c->start, len);
            rec->line[len] = 0;
            rec->len = len;
            rec->linenum = c->linenum++;
            c->start = c->scan = nl ? (size_t)(nl + 1 - c->buf) : c->end;
            *got = 1;
            return OLMOE_OK;
        }
        if (c->eof) {
            *got = 0;
            return OLMOE_OK;
        }
        c->scan = c->end;
        olmoe_status st = fill(c);
        if (st) return st;
    }
}

static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

olmoe_status corpus_next(corpus *c, corpus_record *rec, int *got) {
    memset(rec, 0, sizeof *rec);
    *got = 0;
    while (c->cur < c->files.n) {
        const corpus_file *f = &c->files.files[c->cur];
        if (!c->open) {
            olmoe_status st = stream_open(&c->s, f->path);
            if (st) return st;
            c->open = 1;
            c->start = c->end = c->scan = 0;
            c->eof = 0;
            c->linenum = 0;
        }
        olmoe_status st = next_line(c, !f->is_jsonl, rec, got);
        if (st) return st;
        if (*got && f->is_jsonl && is_blank(rec->line, rec->len)) { /* Dolma has none; skip */
            corpus_record_free(rec);
            *got = 0;
            continue;
        }
        if (*got) {
            rec->file = f;
            return OLMOE_OK;
        }
        stream_close(&c->s);
        c->open = 0;
        c->done_bytes += f->bytes;
        c->cur++;
    }
    return OLMOE_OK;
}

void corpus_record_free(corpus_record *rec) {
    free(rec->line);
    memset(rec, 0, sizeof *rec);
}

/* ---------------------------------------------------------------- parsing */

/* {"path": ..., "linenum": N, "metadata": meta} + "\n"; takes meta. */
static olmoe_status meta_line(const corpus_record *rec, cJSON *meta, corpus_doc *doc) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "path", rec->file->rel) ||
        !cJSON_AddNumberToObject(o, "linenum", (double)rec->linenum)) {
        cJSON_Delete(o);
        cJSON_Delete(meta);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToObject(o, "metadata", meta);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t len = s ? strlen(s) : 0;
    doc->meta_line = s ? malloc(len + 2) : NULL;
    if (doc->meta_line) {
        memcpy(doc->meta_line, s, len);
        memcpy(doc->meta_line + len, "\n", 2);
        doc->meta_len = len + 1;
    }
    cJSON_free(s);
    return doc->meta_line ? OLMOE_OK : olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
}

static olmoe_status parse_json_line(const corpus_record *rec, corpus_doc *doc) {
    const char *path = rec->file->path;
    unsigned long long line = (unsigned long long)rec->linenum + 1;
    /* (cJSON also notes a failure's position in a global, which parallel
     * parses may overwrite; `end` is ours.) */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(rec->line, rec->len, &end, 0);
    if (root && end && !is_blank(end, rec->len - (size_t)(end - rec->line))) {
        cJSON_Delete(root);
        root = NULL;
    }
    if (!root)
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s:%llu: invalid JSON near byte %zu", path, line,
                          end ? (size_t)(end - rec->line) : 0);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s:%llu: expected a JSON object", path, line);
    }
    cJSON *text = cJSON_DetachItemFromObjectCaseSensitive(root, "text");
    if (!cJSON_IsString(text)) {
        cJSON_Delete(text);
        cJSON_Delete(root);
        return olmoe_fail(OLMOE_ERR_FORMAT, "%s:%llu: no string field \"text\"", path, line);
    }
    doc->text = strdup(text->valuestring);
    doc->text_len = doc->text ? strlen(doc->text) : 0;
    cJSON_Delete(text);
    if (!doc->text) {
        cJSON_Delete(root);
        return olmoe_fail(OLMOE_ERR_NOMEM, "out of memory");
    }
    return meta_line(rec, root, doc);
}

olmoe_status corpus_record_parse(const corpus_record *rec, corpus_doc *doc) {
    memset(doc, 0, sizeof *doc);
    olmoe_status st;
    if (rec->file->is_jsonl) st = parse_json_line(rec, doc);
    else {
        doc->text = malloc(rec->len + 1);
        if (doc->text) {
            memcpy(doc->text, rec->line, rec->len + 1);
            doc->text_len = rec->len;
        }
        cJSON *meta = cJSON_CreateObject();
        st = doc->text && meta ? meta_line(rec, meta, doc)
                               : (cJSON_Delete(meta), olmoe_fail(OLMOE_ERR_NOMEM, "out of memory"));
    }
    if (st) corpus_doc_free(doc);
    return st;
}

void corpus_doc_free(corpus_doc *doc) {
    free(doc->text);
    free(doc->meta_line);
    memset(doc, 0, sizeof *doc);
}
