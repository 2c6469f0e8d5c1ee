/* Index building (olmoe_index_build) and its parts:
 *  (a) the exact bytes of every file for a tiny corpus, derived by hand;
 *  (b) the suffix array against a brute-force memcmp sort, 2- and 4-byte
 *      tokens, 32- and 64-bit sorters;
 *  (c) .gz, .zst (also Dolma's long-window shards), folders and plain text
 *      read like plain JSONL; every way of naming the tokenizer;
 *  (d) bad inputs fail with one line naming the file (and line), leaving
 *      no index behind;
 *  (e) gutenberg-mini in two shards: counts agree across every file, and
 *      each table is a sorted permutation of the token positions;
 *  (f) an existing index is kept unless force. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#include <zstd.h>

#include "check.h"
#include "olmoe.h"
#include "trace/corpus.h"
#include "trace/suffix_sort.h"
#include "util/file.h"

static const char *shared;
static char tok_neox[1024], tok_dolma2[1024];

/* ---------------------------------------------------------------- helpers */

static char *make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *p = path_join(base && *base ? base : "/tmp", "olmoe-index-build-XXXXXX");
    return p && mkdtemp(p) ? p : NULL;
}

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *sub = path_join(path, e->d_name);
            rm_rf(sub);
            free(sub);
        }
        closedir(d);
        rmdir(path);
    } else remove(path);
}

/* dir/name into buf (tests use short names: a longer path is a failure). */
static char *join_into(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    CHECK_MSG(n > 0 && (size_t)n < cap, "path too long: %s/%s", dir, name);
    return buf;
}

/* dir/name in a static buffer reused after 8 calls: for paths used at once.
 * Paths kept longer are PATHs. */
static const char *at(const char *dir, const char *name) {
    static char bufs[8][1024];
    static int k;
    return join_into(bufs[k++ % 8], sizeof bufs[0], dir, name);
}

#define PATH(var, dir, name) \
    char var[1024];          \
    join_into(var, sizeof var, dir, name)

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f && fwrite(data, 1, len, f) == len, "cannot write %s", path);
    if (f) fclose(f);
}

static void write_gz(const char *path, const char *text) {
    gzFile gz = gzopen(path, "wb");
    CHECK(gz && gzwrite(gz, text, (unsigned)strlen(text)) == (int)strlen(text));
    if (gz) gzclose(gz);
}

/* Two zstd frames (readers must continue past the first). */
static void write_zst(const char *path, const char *text) {
    size_t len = strlen(text), half = len / 2, cap = ZSTD_compressBound(len) + 64;
    char *out = malloc(cap);
    size_t a = ZSTD_compress(out, cap, text, half, 3);
    size_t b = ZSTD_compress(out + a, cap - a, text + half, len - half, 3);
    CHECK(!ZSTD_isError(a) && !ZSTD_isError(b));
    write_bytes(path, out, a + b);
    free(out);
}

static char *slurp(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    if (file_read_all(path, &data, &n)) return NULL;
    if (len) *len = n;
    return data;
}

static void check_file_bytes(const char *path, const void *want, size_t want_len) {
    size_t len;
    char *got = slurp(path, &len);
    CHECK_MSG(got && len == want_len && memcmp(got, want, len) == 0,
              "%s: %zu bytes, want %zu%s", path, got ? len : 0, want_len,
              got && len == want_len ? " (content differs)" : "");
    free(got);
}

/* 1 if both files exist with the same bytes. */
static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static olmoe_status build(const char *tokenizer, const char *out, const char *const *inputs,
                          int n, uint64_t shard_tokens, int force, olmoe_index_build_stats *s) {
    olmoe_index_build_params p = olmoe_index_build_default_params();
    p.tokenizer = tokenizer;
    p.out_dir = out;
    p.inputs = inputs;
    p.n_inputs = n;
    p.shard_tokens = shard_tokens;
    p.n_threads = 2;
    p.force = force;
    return olmoe_index_build(&p, s);
}

static cJSON *manifest(const char *dir) {
    cJSON *m = NULL;
    json_load_file(at(dir, "olmoe-index.json"), &m);
    return m;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static uint64_t le(const unsigned char *p, int size) {
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------- (a) exact tiny layout */

/* Ids from Hugging Face tokenizers (shared/reference/tokenizer):
 * "Hello world" = 12092 1533, " " = 209, "\n\n\n" = 2756. */
static void test_tiny_layout(const char *tmp) {
    PATH(in, tmp, "tiny-in");
    PATH(out, tmp, "tiny-idx");
    mkdir(in, 0755);
    const char *jsonl = "{\"text\": \"Hello world\", \"id\": \"a\"}\n"
                        "{\"id\": \"b\", \"text\": \" \", \"n\": 3}\n"
                        "{\"text\": \"\\n\\n\\n\"}\n";
    write_bytes(at(in, "tiny.jsonl"), jsonl, strlen(jsonl));
    const char *inputs[] = {in};
    olmoe_index_build_stats s;
    olmoe_status st = build(tok_neox, out, inputs, 1, 0, 0, &s);
    CHECK_MSG(st == OLMOE_OK, "tiny build: %s", olmoe_last_error());
    CHECK_INT_EQ(s.n_docs, 3);
    CHECK_INT_EQ(s.n_tokens, 7);
    CHECK_INT_EQ(s.n_shards, 1);
    CHECK_INT_EQ(s.token_width, 2);

    /* separator ff ff before each document; ids little-endian:
     * 12092 = 0x2f3c, 1533 = 0x05fd, 209 = 0x00d1, 2756 = 0x0ac4 */
    static const unsigned char tokenized[] = {0xff, 0xff, 0x3c, 0x2f, 0xfd, 0x05, 0xff,
                                              0xff, 0xd1, 0x00, 0xff, 0xff, 0xc4, 0x0a};
    check_file_bytes(at(out, "tokenized.0"), tokenized, sizeof tokenized);
    /* Suffixes at even offsets by their bytes: 2 (3c..), 12 (c4 0a), 8 (d1..),
     * 4 (fd..), then the separators by what follows: 0 (ff ff 3c), 10 (ff ff
     * c4), 6 (ff ff d1). 14 bytes fit one-byte pointers. */
    static const unsigned char table[] = {2, 12, 8, 4, 0, 10, 6};
    check_file_bytes(at(out, "table.0"), table, sizeof table);
    static const unsigned char offset[24] = {0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0,
                                             0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0};
    check_file_bytes(at(out, "offset.0"), offset, sizeof offset);
    const char *l0 = "{\"path\":\"tiny.jsonl\",\"linenum\":0,\"metadata\":{\"id\":\"a\"}}\n";
    const char *l1 = "{\"path\":\"tiny.jsonl\",\"linenum\":1,\"metadata\":{\"id\":\"b\",\"n\":3}}\n";
    const char *l2 = "{\"path\":\"tiny.jsonl\",\"linenum\":2,\"metadata\":{}}\n";
    char meta[512];
    snprintf(meta, sizeof meta, "%s%s%s", l0, l1, l2);
    check_file_bytes(at(out, "metadata.0"), meta, strlen(meta));
    unsigned char metaoff[24] = {0};
    metaoff[8] = (unsigned char)strlen(l0);
    metaoff[16] = (unsigned char)(strlen(l0) + strlen(l1));
    check_file_bytes(at(out, "metaoff.0"), metaoff, sizeof metaoff);
    const char *unigram = "209 1\n1533 1\n2756 1\n12092 1\n65535 3\n";
    check_file_bytes(at(out, "unigram.0"), unigram, strlen(unigram));

    cJSON *m = manifest(out);
    CHECK_MSG(m != NULL, "no manifest in %s", out);
    CHECK_STR_EQ(str(m, "format"), "infini-gram");
    CHECK_INT_EQ(num(m, "version"), 4);
    CHECK_INT_EQ(num(m, "token_width"), 2);
    CHECK_STR_EQ(str(m, "tokenizer"), "tokenizer.json");
    CHECK_INT_EQ(num(m, "eos_token_id"), 50279);
    CHECK_INT_EQ(num(m, "vocab_size"), 50280);
    CHECK_INT_EQ(num(m, "n_shards"), 1);
    CHECK_INT_EQ(num(m, "n_tokens"), 7);
    CHECK_INT_EQ(num(m, "n_docs"), 3);
    CHECK(!strncmp(str(m, "builder"), "olmoe.c", 7));
    cJSON_Delete(m);
    CHECK(same_file(at(out, "tokenizer.json"), tok_neox));
    CHECK(!file_exists(at(out, "tokenized.0.tmp")) && !file_exists(at(out, "table.0.tmp")));
}

/* ------------------------------------------- (b) suffix array vs brute force */

static const unsigned char *bf_text;
static size_t bf_len;

static int bf_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    size_t lx = bf_len - x, ly = bf_len - y;
    int c = memcmp(bf_text + x, bf_text + y, lx < ly ? lx : ly);
    return c ? c : (lx < ly ? -1 : lx > ly);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void check_suffix_array(const char *tmp, int width, size_t n_tokens, int repetitive) {
    /* Few distinct ids whose byte order differs from their numeric order
     * (0x0100 sorts before 0x0001 as LE bytes), plus separators. */
    static const uint32_t ids[] = {0x0001, 0x0100, 0x0101, 0x00ff, 0x1234, 0xffffffff,
                                   0x00010000, 0x01000000};
    int n_ids = width == 2 ? 6 : 8;
    size_t n = n_tokens * (size_t)width;
    unsigned char *text = malloc(n ? n : 1);
    for (size_t i = 0; i < n_tokens; i++) {
        uint32_t id = repetitive ? ids[i % 2 ? 0 : 1] : ids[rnd() % (uint32_t)n_ids];
        if (i == 0) id = 0xffffffff;
        for (int b = 0; b < width; b++) text[i * width + b] = (unsigned char)(id >> (8 * b));
    }
    uint64_t *want = malloc((n_tokens ? n_tokens : 1) * sizeof *want);
    for (size_t i = 0; i < n_tokens; i++) want[i] = i * (uint64_t)width;
    bf_text = text;
    bf_len = n;
    qsort(want, n_tokens, sizeof *want, bf_cmp);
    int ptr = table_ptr_size(n);
    for (int wide = 0; wide <= 1; wide++) {
        const char *path = at(tmp, "table.test");
        olmoe_status st = suffix_table_write(text, n, width, wide, path);
        CHECK_MSG(st == OLMOE_OK, "suffix_table_write: %s", olmoe_last_error());
        size_t len;
        unsigned char *got = (unsigned char *)slurp(path, &len);
        int ok = got && len == n_tokens * (size_t)ptr;
        for (size_t i = 0; ok && i < n_tokens; i++) ok = le(got + i * ptr, ptr) == want[i];
        CHECK_MSG(ok, "suffix array differs: width %d, %zu tokens, wide %d, repetitive %d", width,
                  n_tokens, wide, repetitive);
        free(got);
        remove(path);
    }
    free(want);
    free(text);
}

static void test_suffix_arrays(const char *tmp) {
    CHECK_INT_EQ(table_ptr_size(1), 1);
    CHECK_INT_EQ(table_ptr_size(256), 1);
    CHECK_INT_EQ(table_ptr_size(257), 2);
    CHECK_INT_EQ(table_ptr_size(65536), 2);
    CHECK_INT_EQ(table_ptr_size(65537), 3);
    CHECK_INT_EQ(table_ptr_size(1ull << 32), 4);
    CHECK_INT_EQ(table_ptr_size((1ull << 32) + 2), 5);
    CHECK_INT_EQ(table_ptr_size(1ull << 40), 5);
    static const size_t sizes[] = {1, 2, 3, 50, 129, 1000, 5000};
    for (int width = 2; width <= 4; width += 2)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_suffix_array(tmp, width, sizes[k], 0);
    check_suffix_array(tmp, 2, 2000, 1);
    check_suffix_array(tmp, 4, 2000, 1);
}

/* A u32 build (dolma2 has 100278 ids) checked byte by byte. */
static void test_u32_build(const char *tmp) {
    PATH(in, tmp, "u32.jsonl");
    PATH(out, tmp, "u32-idx");
    const char *jsonl = "{\"text\": \"Hello world\"}\n{\"text\": \"Hello, world! Hello world\"}\n";
    write_bytes(in, jsonl, strlen(jsonl));
    const char *inputs[] = {in};
    olmoe_index_build_stats s;
    olmoe_status st = build(tok_dolma2, out, inputs, 1, 0, 0, &s);
    CHECK_MSG(st == OLMOE_OK, "u32 build: %s", olmoe_last_error());
    CHECK_INT_EQ(s.token_width, 4);
    size_t len;
    unsigned char *tok = (unsigned char *)slurp(at(out, "tokenized.0"), &len);
    CHECK(tok && len == s.n_tokens * 4 && le(tok, 4) == 0xffffffffu);
    if (tok) { /* the table equals the brute-force order */
        size_t n_tokens = len / 4;
        uint64_t *want = malloc(n_tokens * sizeof *want);
        for (size_t i = 0; i < n_tokens; i++) want[i] = i * 4;
        bf_text = tok;
        bf_len = len;
        qsort(want, n_tokens, sizeof *want, bf_cmp);
        size_t tlen;
        unsigned char *table = (unsigned char *)slurp(at(out, "table.0"), &tlen);
        int ok = table && tlen == n_tokens;
        for (size_t i = 0; ok && i < n_tokens; i++) ok = table[i] == want[i];
        CHECK_MSG(ok, "u32 table differs from the brute-force order");
        free(table);
        free(want);
    }
    free(tok);
    char *uni = slurp(at(out, "unigram.0"), NULL);
    CHECK_MSG(uni && strstr(uni, "\n4294967295 2\n"), "u32 unigram: %s", uni ? uni : "(none)");
    free(uni);
    cJSON *m = manifest(out);
    CHECK_INT_EQ(num(m, "token_width"), 4);
    CHECK_INT_EQ(num(m, "vocab_size"), 100278);
    CHECK_INT_EQ(num(m, "eos_token_id"), 100257);
    cJSON_Delete(m);
}

/* ------------------------------------------ (c) compressed and plain inputs */

static const char *doc_a = "The year 2024 had 366 days; 1234567890 digits.";
static const char *doc_b = "Hello, world!\nHow are you today?";

static void test_input_forms(const char *tmp) {
    char jsonl[512];
    snprintf(jsonl, sizeof jsonl, "{\"text\": \"%s\"}\n{\"text\": \"Hello, world!\\nHow are you "
             "today?\", \"id\": 2}\n", doc_a);
    PATH(dir, tmp, "forms");
    mkdir(dir, 0755);
    write_bytes(at(dir, "docs.jsonl"), jsonl, strlen(jsonl));
    write_gz(at(dir, "docs.jsonl.gz"), jsonl);
    write_zst(at(dir, "docs.jsonl.zst"), jsonl);
    write_bytes(at(dir, "a.txt"), doc_a, strlen(doc_a));
    write_bytes(at(dir, "b.txt"), doc_b, strlen(doc_b));
    /* a folder: only .json files count, in path order, recursively */
    PATH(tree, tmp, "tree");
    mkdir(tree, 0755);
    mkdir(at(tree, "a"), 0755);
    char line_a[256], line_b[256];
    snprintf(line_a, sizeof line_a, "{\"text\": \"%s\"}\n", doc_a);
    snprintf(line_b, sizeof line_b, "{\"text\": \"Hello, world!\\nHow are you today?\"}");
    write_bytes(at(tree, "b.jsonl"), line_b, strlen(line_b)); /* no final newline */
    write_gz(at(tree, "a/c.json.gz"), line_a);
    write_bytes(at(tree, "notes.txt"), "ignored", 7);

    PATH(base, tmp, "forms-jsonl");
    PATH(docs, dir, "docs.jsonl");
    PATH(docs_gz, dir, "docs.jsonl.gz");
    PATH(docs_zst, dir, "docs.jsonl.zst");
    PATH(a_txt, dir, "a.txt");
    PATH(b_txt, dir, "b.txt");
    const char *in_jsonl[] = {docs};
    CHECK_MSG(build(tok_neox, base, in_jsonl, 1, 0, 0, NULL) == OLMOE_OK, "%s", olmoe_last_error());
    struct {
        const char *name;
        const char *inputs[2];
        int n;
    } forms[] = {
        {"gz", {docs_gz}, 1},
        {"zst", {docs_zst}, 1},
        {"txt", {a_txt, b_txt}, 2},
        {"tree", {tree}, 1},
    };
    char out[1024];
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        snprintf(out, sizeof out, "%s/forms-%s", tmp, forms[k].name);
        olmoe_status st = build(tok_neox, out, forms[k].inputs, forms[k].n, 0, 0, NULL);
        CHECK_MSG(st == OLMOE_OK, "%s: %s", forms[k].name, olmoe_last_error());
        const char *files[] = {"tokenized.0", "table.0", "offset.0", "unigram.0"};
        for (int f = 0; f < 4; f++)
            CHECK_MSG(same_file(at(base, files[f]), at(out, files[f])), "%s: %s differs",
                      forms[k].name, files[f]);
    }
    snprintf(out, sizeof out, "%s/forms-txt", tmp);
    char *meta = slurp(at(out, "metadata.0"), NULL);
    CHECK(meta && !strcmp(meta, "{\"path\":\"a.txt\",\"linenum\":0,\"metadata\":{}}\n"
                                "{\"path\":\"b.txt\",\"linenum\":0,\"metadata\":{}}\n"));
    free(meta);
    snprintf(out, sizeof out, "%s/forms-tree", tmp);
    meta = slurp(at(out, "metadata.0"), NULL);
    CHECK_MSG(meta && !strcmp(meta, "{\"path\":\"a/c.json.gz\",\"linenum\":0,\"metadata\":{}}\n"
                                    "{\"path\":\"b.jsonl\",\"linenum\":0,\"metadata\":{}}\n"),
              "tree metadata: %s", meta ? meta : "(none)");
    free(meta);

    /* the tokenizer named by a model folder or a GGUF file tokenizes alike */
    char model_dir[1024], gguf[1024];
    snprintf(model_dir, sizeof model_dir, "%s/reference/models/olmoe-tiny", shared);
    snprintf(gguf, sizeof gguf, "%s/reference/gguf/olmoe-tiny-f32.gguf", shared);
    const char *sources[] = {model_dir, gguf};
    for (int k = 0; k < 2; k++) {
        snprintf(out, sizeof out, "%s/forms-src%d", tmp, k);
        olmoe_status st = build(sources[k], out, in_jsonl, 1, 0, 0, NULL);
        CHECK_MSG(st == OLMOE_OK, "%s: %s", sources[k], olmoe_last_error());
        CHECK_MSG(same_file(at(base, "tokenized.0"), at(out, "tokenized.0")), "%s", sources[k]);
        cJSON *m = manifest(out);
        CHECK_INT_EQ(num(m, "eos_token_id"), 50279);
        char *abs = k ? realpath(gguf, NULL) : NULL; /* the manifest records it resolved */
        CHECK_STR_EQ(str(m, "tokenizer"), k ? (abs ? abs : gguf) : "tokenizer.json");
        free(abs);
        CHECK(k ? !file_exists(at(out, "tokenizer.json")) : file_exists(at(out, "tokenizer.json")));
        cJSON_Delete(m);
    }
}

/* Dolma's shards are zstd with long windows: read all of heldout. */
static void test_long_window_zstd(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/corpus/gutenberg/heldout.jsonl.zst", shared);
    const char *inputs[] = {path};
    corpus *c;
    olmoe_status st = corpus_open(inputs, 1, &c);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    if (st) return;
    int n = 0, got, bad = 0;
    corpus_record rec;
    while ((st = corpus_next(c, &rec, &got)) == OLMOE_OK && got) {
        corpus_doc doc;
        if (corpus_record_parse(&rec, &doc)) bad++;
        else if (n == 0) CHECK(strstr(doc.meta_line, "\"path\":\"heldout.jsonl.zst\",\"linenum\":0,"));
        corpus_doc_free(&doc);
        corpus_record_free(&rec);
        n++;
    }
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    CHECK_INT_EQ(n, 103);
    CHECK_INT_EQ(bad, 0);
    CHECK(corpus_bytes_read(c) == corpus_total_bytes(c));
    corpus_close(c);
}

/* ----------------------------------------------------------- (d) bad input */

/* 1 if dir holds exactly the one file `name` (no index files, no .tmp). */
static int dir_holds_only(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int others = 0, found = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, name)) found = 1;
        else if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) others++;
    }
    closedir(d);
    return found && !others;
}

static void expect_failure(const char *tmp, const char *input, const char *needle1,
                           const char *needle2) {
    PATH(out, tmp, "bad-idx");
    PATH(ok, tmp, "ok.jsonl");
    const char *inputs[] = {ok, input};
    olmoe_status st = build(tok_neox, out, inputs, 2, 0, 0, NULL);
    const char *msg = olmoe_last_error();
    CHECK_MSG(st != OLMOE_OK && strstr(msg, needle1) && strstr(msg, needle2) && !strchr(msg, '\n'),
              "%s: status %d, message \"%s\", want \"%s\" and \"%s\"", input, (int)st, msg, needle1,
              needle2);
    CHECK_MSG(!file_exists(out), "%s: the failed build left %s", input, out);
    rm_rf(out);
}

static void test_bad_inputs(const char *tmp) {
    write_bytes(at(tmp, "ok.jsonl"), "{\"text\": \"fine\"}\n", 17);
    const char *missing = "{\"text\": \"a\"}\n{\"id\": 1}\n";
    write_bytes(at(tmp, "missing.jsonl"), missing, strlen(missing));
    expect_failure(tmp, at(tmp, "missing.jsonl"), "missing.jsonl:2", "\"text\"");
    write_bytes(at(tmp, "number.jsonl"), "{\"text\": 5}\n", 12);
    expect_failure(tmp, at(tmp, "number.jsonl"), "number.jsonl:1", "\"text\"");
    const char *broken = "{\"text\": \"a\"}\n\n{\"text\": \"b\"\n";
    write_bytes(at(tmp, "broken.jsonl"), broken, strlen(broken));
    expect_failure(tmp, at(tmp, "broken.jsonl"), "broken.jsonl:3", "JSON");
    write_bytes(at(tmp, "trailing.jsonl"), "{\"text\": \"a\"} x\n", 16);
    expect_failure(tmp, at(tmp, "trailing.jsonl"), "trailing.jsonl:1", "JSON");
    write_bytes(at(tmp, "array.jsonl"), "[1, 2]\n", 7);
    expect_failure(tmp, at(tmp, "array.jsonl"), "array.jsonl:1", "object");

    /* compressed files cut short */
    char *big = malloc(200000);
    size_t n = 0;
    for (int i = 0; n + 64 < 200000; i++)
        n += (size_t)snprintf(big + n, 200000 - n, "{\"text\": \"line %d of many\"}\n", i * 7919);
    write_gz(at(tmp, "full.jsonl.gz"), big);
    write_zst(at(tmp, "full.jsonl.zst"), big);
    free(big);
    const char *kinds[] = {"gz", "zst"};
    for (int k = 0; k < 2; k++) {
        char full[64], cut[64];
        snprintf(full, sizeof full, "full.jsonl.%s", kinds[k]);
        snprintf(cut, sizeof cut, "cut.jsonl.%s", kinds[k]);
        size_t len;
        char *data = slurp(at(tmp, full), &len);
        if (data) write_bytes(at(tmp, cut), data, len * 3 / 4); /* inside the second zstd frame */
        free(data);
        expect_failure(tmp, at(tmp, cut), cut, k ? "zstd" : "gzip");
    }
    expect_failure(tmp, at(tmp, "no-such-file.jsonl"), "no-such-file.jsonl", "No such file");

    /* the tokenizer and the parameters */
    const char *inputs[] = {at(tmp, "ok.jsonl")};
    olmoe_status st = build(at(tmp, "no-tokenizer.json"), at(tmp, "x-idx"), inputs, 1, 0, 0, NULL);
    CHECK(st != OLMOE_OK && strstr(olmoe_last_error(), "no-tokenizer.json"));
    CHECK(olmoe_index_build(NULL, NULL) == OLMOE_ERR_ARG);
    /* an input with no documents */
    write_bytes(at(tmp, "empty.jsonl"), "", 0);
    const char *empty[] = {at(tmp, "empty.jsonl")};
    st = build(tok_neox, at(tmp, "empty-idx"), empty, 1, 0, 0, NULL);
    CHECK(st != OLMOE_OK && strstr(olmoe_last_error(), "no documents"));
    CHECK(!file_exists(at(tmp, "empty-idx")));
    /* a folder that existed keeps what it held, and nothing else */
    PATH(mine, tmp, "mine-idx");
    mkdir(mine, 0755);
    write_bytes(at(mine, "notes.txt"), "mine", 4);
    const char *bad[] = {at(tmp, "ok.jsonl"), at(tmp, "broken.jsonl")};
    CHECK(build(tok_neox, mine, bad, 2, 0, 0, NULL) == OLMOE_ERR_FORMAT);
    CHECK(dir_holds_only(mine, "notes.txt"));
}

/* ------------------------------------------------- (e) gutenberg-mini, 2 shards */

/* Checks one shard's files against each other; returns its tokens. */
static uint64_t check_shard(const char *dir, int s, uint64_t *docs) {
    char name[64];
    size_t tok_len = 0, table_len = 0, off_len = 0, meta_len = 0, metaoff_len = 0;
#define SHARD_FILE(var, kind, len) \
    snprintf(name, sizeof name, "%s.%d", kind, s); \
    unsigned char *var = (unsigned char *)slurp(at(dir, name), &len)
    SHARD_FILE(tok, "tokenized", tok_len);
    SHARD_FILE(table, "table", table_len);
    SHARD_FILE(off, "offset", off_len);
    SHARD_FILE(meta, "metadata", meta_len);
    SHARD_FILE(metaoff, "metaoff", metaoff_len);
    SHARD_FILE(uni, "unigram", meta_len);
#undef SHARD_FILE
    uint64_t n_tokens = tok_len / 2, n_docs = off_len / 8;
    int ptr = table_ptr_size(tok_len);
    CHECK_MSG(tok && table && off && meta && metaoff && uni, "shard %d: files missing", s);
    if (!(tok && table && off && meta && metaoff && uni)) n_tokens = 0;
    CHECK_INT_EQ(table_len, n_tokens * (uint64_t)ptr);
    CHECK_INT_EQ(metaoff_len, off_len);
    for (uint64_t d = 0; n_tokens && d < n_docs; d++) {
        uint64_t o = le(off + 8 * d, 8), mo = le(metaoff + 8 * d, 8);
        CHECK(o < tok_len && tok[o] == 0xff && tok[o + 1] == 0xff);
        CHECK(meta[mo] == '{' && (mo == 0 || meta[mo - 1] == '\n'));
    }
    /* unigram counts sum to the tokens; separators = documents */
    uint64_t sum = 0, id, cnt, seps = 0;
    int used;
    for (const char *p = (const char *)uni; p && sscanf(p, "%llu %llu%n", (unsigned long long *)&id,
                                                        (unsigned long long *)&cnt, &used) == 2;
         p += used) {
        sum += cnt;
        if (id == 65535) seps = cnt;
    }
    CHECK_INT_EQ(sum, n_tokens);
    CHECK_INT_EQ(seps, n_docs);
    /* the table: each token position once, in ascending suffix order */
    unsigned char *seen = calloc(n_tokens + 1, 1);
    int ok = 1;
    bf_text = tok;
    bf_len = tok_len;
    for (uint64_t i = 0; ok && i < n_tokens; i++) {
        uint64_t pos = le(table + i * ptr, ptr);
        ok = pos % 2 == 0 && pos < tok_len && !seen[pos / 2];
        if (ok) seen[pos / 2] = 1;
        if (ok && i > 0) {
            uint64_t prev = le(table + (i - 1) * ptr, ptr);
            ok = bf_cmp(&prev, &pos) < 0;
        }
    }
    CHECK_MSG(ok, "shard %d: table is not the sorted token positions", s);
    free(seen);
    free(tok);
    free(table);
    free(off);
    free(meta);
    free(metaoff);
    free(uni);
    *docs += n_docs;
    return n_tokens;
}

static void test_gutenberg_mini(const char *tmp) {
    char path[1024];
    snprintf(path, sizeof path, "%s/corpus/gutenberg-mini.jsonl.gz", shared);
    PATH(out, tmp, "mini-idx");
    const char *inputs[] = {path};
    olmoe_index_build_stats s;
    olmoe_status st = build(tok_neox, out, inputs, 1, 1000000, 0, &s);
    CHECK_MSG(st == OLMOE_OK, "gutenberg-mini: %s", olmoe_last_error());
    CHECK_INT_EQ(s.n_docs, 25);
    CHECK_INT_EQ(s.n_shards, 2);
    uint64_t tokens = 0, docs = 0;
    for (int k = 0; k < 2; k++) tokens += check_shard(out, k, &docs);
    CHECK_INT_EQ(tokens, s.n_tokens);
    CHECK_INT_EQ(docs, 25);
    CHECK(!file_exists(at(out, "tokenized.2")));
    cJSON *m = manifest(out);
    CHECK_INT_EQ(num(m, "n_tokens"), s.n_tokens);
    CHECK_INT_EQ(num(m, "n_docs"), 25);
    CHECK_INT_EQ(num(m, "n_shards"), 2);
    cJSON_Delete(m);
    printf("gutenberg-mini: %llu tokens, %.2f s, %.2f M tokens/s\n",
           (unsigned long long)s.n_tokens, s.seconds, s.n_tokens * 1e-6 / s.seconds);
}

/* ---------------------------------------------------- (f) existing index */

static void test_existing_index(const char *tmp) {
    PATH(out, tmp, "again-idx");
    PATH(ok, tmp, "ok.jsonl");
    const char *inputs[] = {ok};
    const char *two[] = {ok, ok};
    CHECK(build(tok_neox, out, two, 2, 2, 0, NULL) == OLMOE_OK); /* one document per shard */
    CHECK(file_exists(at(out, "table.1")));
    write_bytes(at(out, "notes.txt"), "mine", 4);
    olmoe_status st = build(tok_neox, out, inputs, 1, 0, 0, NULL);
    CHECK_MSG(st == OLMOE_ERR_ARG && strstr(olmoe_last_error(), "force"), "%s", olmoe_last_error());
    CHECK(file_exists(at(out, "olmoe-index.json")) && file_exists(at(out, "table.1")));
    st = build(tok_neox, out, inputs, 1, 0, 1, NULL);
    CHECK_MSG(st == OLMOE_OK, "%s", olmoe_last_error());
    CHECK(!file_exists(at(out, "table.1")) && file_exists(at(out, "table.0")));
    CHECK(file_exists(at(out, "notes.txt")));
    cJSON *m = manifest(out);
    CHECK_INT_EQ(num(m, "n_shards"), 1);
    cJSON_Delete(m);
    /* leftovers of an interrupted build also need force */
    remove(at(out, "olmoe-index.json"));
    write_bytes(at(out, "table.0.tmp"), "x", 1);
    CHECK(build(tok_neox, out, inputs, 1, 0, 0, NULL) == OLMOE_ERR_ARG);
    CHECK(build(tok_neox, out, inputs, 1, 0, 1, NULL) == OLMOE_OK);
    CHECK(!file_exists(at(out, "table.0.tmp")));
}

int main(int argc, char **argv) {
    shared = argc > 1 ? argv[1] : "../shared";
    snprintf(tok_neox, sizeof tok_neox, "%s/tokenizers/olmo-gpt-neox.json", shared);
    snprintf(tok_dolma2, sizeof tok_dolma2, "%s/tokenizers/dolma2.json", shared);
    char *tmp = make_tmpdir();
    CHECK_MSG(tmp != NULL, "cannot create a temporary directory");
    if (!tmp) return check_report("test_index_build");
    test_tiny_layout(tmp);
    test_suffix_arrays(tmp);
    test_u32_build(tmp);
    test_input_forms(tmp);
    test_long_window_zstd();
    test_bad_inputs(tmp);
    test_gutenberg_mini(tmp);
    test_existing_index(tmp);
    rm_rf(tmp);
    free(tmp);
    return check_report("test_index_build");
}
