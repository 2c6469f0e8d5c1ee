#include "cli/common.h"
#include "util/clock.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

int arg_next(arg_iter *it, const char *flags, const char **name, const char **value) {
    if (it->i >= it->argc) return 0;
    const char *a = it->argv[it->i++];
    if (a[0] != '-' || a[1] == 0) {
        fprintf(stderr, "olmoe %s: unexpected argument '%s' (options start with -)\n", it->cmd, a);
        return -1;
    }
    *name = a;
    *value = NULL;
    /* Is `a` one of the value-less flags? Match whole words only. */
    size_t n = strlen(a);
    for (const char *f = flags; f && (f = strstr(f, a)) != NULL; f += n) {
        int starts = f == flags || f[-1] == ' ';
        int ends = f[n] == 0 || f[n] == ' ';
        if (starts && ends) return 1;
    }
    if (it->i >= it->argc) {
        fprintf(stderr, "olmoe %s: option %s needs a value\n", it->cmd, a);
        return -1;
    }
    *value = it->argv[it->i++];
    return 1;
}

int parse_int(const char *cmd, const char *name, const char *value, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || *end || end == value || v < lo || v > hi) {
        fprintf(stderr, "olmoe %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, name, lo,
                hi, value);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_float(const char *cmd, const char *name, const char *value, double lo, double hi,
                double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || *end || end == value || !(v >= lo && v <= hi)) {
        fprintf(stderr, "olmoe %s: %s expects a number in [%g, %g], got '%s'\n", cmd, name, lo, hi,
                value);
        return -1;
    }
    *out = v;
    return 0;
}

long parse_ids(const char *s, int32_t **out) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    while (ids && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && *end != ',')) { free(ids); return -1; }
        if (n == cap) {
            int32_t *g = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!g) { free(ids); return -1; }
            ids = g;
        }
        ids[n++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    *out = ids;
    return ids ? (long)n : -1;
}

int unknown_option(const char *cmd, const char *name) {
    fprintf(stderr, "olmoe %s: unknown option '%s' (see olmoe %s --help)\n", cmd, name, cmd);
    return EXIT_USAGE;
}

int common_opt(common_opts *o, const char *name, const char *value) {
    long v;
    if (!strcmp(name, "-m") || !strcmp(name, "--model")) o->model = value;
    else if (!strcmp(name, "-p") || !strcmp(name, "--prompt") || !strcmp(name, "--text")) o->text = value;
    else if (!strcmp(name, "-f") || !strcmp(name, "--file")) o->file = value;
    else if (!strcmp(name, "--json")) o->json = 1;
    else if (!strcmp(name, "-t") || !strcmp(name, "--threads")) {
        if (parse_int("", name, value, 1, 1024, &v)) return -1;
        o->threads = (int)v;
    } else if (!strcmp(name, "-c") || !strcmp(name, "--ctx-size")) {
        if (parse_int("", name, value, 1, 1 << 24, &v)) return -1;
        o->n_ctx = (int)v;
    } else return 0;
    return 1;
}

int report(const char *what) {
    fprintf(stderr, "olmoe: %s: %s\n", what, olmoe_last_error());
    return EXIT_RUNTIME;
}

olmoe_model *load_model(const char *cmd, const common_opts *o) {
    if (!o->model) {
        fprintf(stderr, "olmoe %s: -m MODEL_DIR is required\n", cmd);
        return NULL;
    }
    olmoe_model_params p = olmoe_model_default_params();
    p.n_threads = o->threads;
    olmoe_model *m;
    if (olmoe_model_load(o->model, &p, &m)) {
        fprintf(stderr, "olmoe %s: cannot load model: %s\n", cmd, olmoe_last_error());
        return NULL;
    }
    return m;
}

char *input_text(const char *cmd, const common_opts *o, size_t *len) {
    if (!!o->text == !!o->file) {
        fprintf(stderr, "olmoe %s: give exactly one of --text TEXT or --file FILE\n", cmd);
        return NULL;
    }
    if (o->text) {
        *len = strlen(o->text);
        return strdup(o->text);
    }
    FILE *f = fopen(o->file, "rb");
    if (!f) {
        fprintf(stderr, "olmoe %s: %s: %s\n", cmd, o->file, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; }
            else buf = b;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        fprintf(stderr, "olmoe %s: %s: read failed\n", cmd, o->file);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Length of the UTF-8 sequence a lead byte starts (1 for invalid bytes,
 * which are passed through as they are). */
static int utf8_seq_len(unsigned char c) {
    if (c >= 0xF0 && c < 0xF8) return 4;
    if (c >= 0xE0) return c < 0xF0 ? 3 : 1;
    if (c >= 0xC0) return 2;
    return 1;
}

void utf8_stream_write(utf8_stream *s, FILE *out, const char *bytes, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        int continuation = (c & 0xC0) == 0x80;
        if (s->n_pending && !continuation) utf8_stream_flush(s, out); /* broken sequence */
        if (!s->n_pending && utf8_seq_len(c) == 1) {
            fputc(c, out);
            continue;
        }
        if (!s->n_pending && continuation) { /* stray continuation byte */
            fputc(c, out);
            continue;
        }
        s->pending[s->n_pending++] = (char)c;
        if (s->n_pending == utf8_seq_len((unsigned char)s->pending[0])) utf8_stream_flush(s, out);
    }
    fflush(out);
}

void utf8_stream_flush(utf8_stream *s, FILE *out) {
    fwrite(s->pending, 1, (size_t)s->n_pending, out);
    s->n_pending = 0;
}

void print_token(int32_t id, void *printer) {
    token_printer *p = printer;
    if (p->quiet || olmoe_token_is_special(p->m, id)) return;
    size_t len;
    const char *b = olmoe_token_bytes(p->m, id, &len);
    if (b) utf8_stream_write(&p->out, stdout, b, len);
}

cJSON *json_id_array(const int32_t *ids, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

void json_print(cJSON *v) {
    char *s = cJSON_PrintUnformatted(v);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        cJSON_free(s);
    }
    fflush(stdout);
}

double now_seconds(void) { return monotonic_seconds(); }
