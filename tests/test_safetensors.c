/* safetensors reading and Hugging Face weight folders: hand-written files
 * (valid ones with F32/BF16/F16 tensors, and one per malformation), sharded
 * folders, and the real sharded olmoe-gqa-bf16 checkpoint. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "io/hf_weights.h"
#include "io/safetensors.h"
#include "quant/types.h"
#include "util/file.h"

static char tmpdir[64];

/* ------------------------------------------------------------ helpers */

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (len && fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "short write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* 8-byte little-endian header length (hlen, usually strlen(header)), the
 * header text, then `data`. */
static void write_st_raw(const char *path, uint64_t hlen, const char *header, const void *data,
                         size_t data_len) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + data_len;
    unsigned char *buf = malloc(total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len) memcpy(buf + 8 + hl, data, data_len);
    write_bytes(path, buf, total);
    free(buf);
}

static void write_st(const char *path, const char *header, const void *data, size_t data_len) {
    write_st_raw(path, strlen(header), header, data, data_len);
}

static char *tmp_path(const char *name) {
    return path_join(tmpdir, name);
}

static int contains(const char *hay, const char *needle) {
    return hay && needle && strstr(hay, needle) != NULL;
}

/* Opens `path`, expects status `want` and a message naming the path and,
 * if given, `what` (a tensor name or other detail). */
static void expect_open_fail(const char *label, const char *path, olmoe_status want,
                             const char *what) {
    safetensors_file f;
    olmoe_status st = safetensors_open(path, &f);
    CHECK_MSG(st == want, "%s: status %s, want %s (%s)", label, olmoe_status_name(st),
              olmoe_status_name(want), st ? olmoe_last_error() : "ok");
    if (st == OLMOE_OK) {
        safetensors_close(&f);
        return;
    }
    const char *msg = olmoe_last_error();
    CHECK_MSG(contains(msg, path), "%s: message does not name the file: %s", label, msg);
    if (what) CHECK_MSG(contains(msg, what), "%s: message does not name '%s': %s", label, what, msg);
    /* a failed open leaves the struct empty */
    CHECK_MSG(f.n_tensors == 0 && f.tensors == NULL, "%s: failed open left tensors", label);
}

static const tensor *find_in(const safetensors_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static uint16_t rd16(const void *p, int i) {
    const unsigned char *b = (const unsigned char *)p + 2 * i;
    return (uint16_t)(b[0] | (b[1] << 8));
}

static float rdf32(const void *p, int i) {
    float f;
    memcpy(&f, (const unsigned char *)p + 4 * i, 4);
    return f;
}

static void put16(unsigned char *b, uint16_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
}

/* ------------------------------------------------------- conversions */

static void test_conversions(void) {
    CHECK(f16_to_f32(0x3C00) == 1.0f);
    CHECK(f16_to_f32(0xC000) == -2.0f);
    CHECK(f16_to_f32(0x0000) == 0.0f);
    CHECK(f16_to_f32(0x8000) == 0.0f && signbit(f16_to_f32(0x8000)));
    CHECK_NEAR(f16_to_f32(0x0001), 5.96046448e-8, 1e-15);
    CHECK(f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(f16_to_f32(0x03FF) == 1023.0f * ldexpf(1.0f, -24)); /* largest subnormal */
    CHECK(f16_to_f32(0x0400) == ldexpf(1.0f, -14));           /* smallest normal */
    CHECK(f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(isinf(f16_to_f32(0x7C00)) && f16_to_f32(0x7C00) > 0);
    CHECK(isinf(f16_to_f32(0xFC00)) && f16_to_f32(0xFC00) < 0);
    CHECK(isnan(f16_to_f32(0x7E00)));
    CHECK(bf16_to_f32(0x3F80) == 1.0f);
    CHECK(bf16_to_f32(0xC040) == -3.0f);
    CHECK(bf16_to_f32(0x3E20) == 0.15625f);
    CHECK(isinf(bf16_to_f32(0x7F80)));
}

/* -------------------------------------------------------- valid file */

static void test_valid_file(void) {
    /* F32 a[2,3] at 0..24, BF16 b[4] at 24..32, F16 c[2,2,1] at 32..40,
     * F32 scalar s[] at 40..44, F32 empty e[0,5] at 44..44 */
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
        "\"c\":{\"dtype\":\"F16\",\"shape\":[2,2,1],\"data_offsets\":[32,40]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[44,44]}}";
    unsigned char data[44];
    const float av[6] = {1.5f, -2.25f, 0.0f, 3.0e6f, -1.0e-3f, 42.0f};
    memcpy(data, av, 24); /* little-endian host */
    const uint16_t bv[4] = {0x3F80, 0xC040, 0x3E20, 0x0000};
    for (int i = 0; i < 4; i++) put16(data + 24 + 2 * i, bv[i]);
    const uint16_t cv[4] = {0x3C00, 0xC000, 0x0001, 0x7C00};
    for (int i = 0; i < 4; i++) put16(data + 32 + 2 * i, cv[i]);
    const float sv = -7.5f;
    memcpy(data + 40, &sv, 4);

    char *path = tmp_path("valid.safetensors");
    write_st(path, header, data, sizeof data);
    safetensors_file f;
    olmoe_status st = safetensors_open(path, &f);
    CHECK_MSG(st == OLMOE_OK, "open valid: %s", olmoe_last_error());
    if (st == OLMOE_OK) {
        CHECK_INT_EQ(f.n_tensors, 5); /* __metadata__ is not a tensor */
        CHECK(find_in(&f, "__metadata__") == NULL);
        const tensor *a = find_in(&f, "a"), *b = find_in(&f, "b"), *c = find_in(&f, "c");
        const tensor *s = find_in(&f, "s"), *e = find_in(&f, "e");
        CHECK(a && b && c && s && e);
        if (a) {
            CHECK_INT_EQ(a->type, TYPE_F32);
            CHECK_INT_EQ(a->n_dims, 2);
            CHECK_INT_EQ(a->shape[0], 2);
            CHECK_INT_EQ(a->shape[1], 3);
            CHECK_INT_EQ(a->nbytes, 24);
            CHECK_INT_EQ(tensor_numel(a), 6);
            for (int i = 0; i < 6; i++) CHECK(rdf32(a->data, i) == av[i]);
        }
        if (b) {
            CHECK_INT_EQ(b->type, TYPE_BF16);
            CHECK_INT_EQ(b->n_dims, 1);
            CHECK_INT_EQ(b->shape[0], 4);
            CHECK_INT_EQ(b->nbytes, 8);
            CHECK(bf16_to_f32(rd16(b->data, 0)) == 1.0f);
            CHECK(bf16_to_f32(rd16(b->data, 1)) == -3.0f);
            CHECK(bf16_to_f32(rd16(b->data, 2)) == 0.15625f);
            CHECK(bf16_to_f32(rd16(b->data, 3)) == 0.0f);
        }
        if (c) {
            CHECK_INT_EQ(c->type, TYPE_F16);
            CHECK_INT_EQ(c->n_dims, 3);
            CHECK_INT_EQ(c->shape[0], 2);
            CHECK_INT_EQ(c->shape[1], 2);
            CHECK_INT_EQ(c->shape[2], 1);
            CHECK_INT_EQ(c->nbytes, 8);
            CHECK(f16_to_f32(rd16(c->data, 0)) == 1.0f);
            CHECK(f16_to_f32(rd16(c->data, 1)) == -2.0f);
            CHECK_NEAR(f16_to_f32(rd16(c->data, 2)), 5.96046448e-8, 1e-15);
            CHECK(isinf(f16_to_f32(rd16(c->data, 3))));
        }
        if (s) {
            CHECK_INT_EQ(s->n_dims, 0);
            CHECK_INT_EQ(s->nbytes, 4);
            CHECK_INT_EQ(tensor_numel(s), 1);
            CHECK(rdf32(s->data, 0) == -7.5f);
        }
        if (e) {
            CHECK_INT_EQ(e->n_dims, 2);
            CHECK_INT_EQ(e->shape[0], 0);
            CHECK_INT_EQ(e->shape[1], 5);
            CHECK_INT_EQ(e->nbytes, 0);
        }
        /* data points into the mapping, right after the header */
        if (a) CHECK((const unsigned char *)a->data == f.file.data + 8 + strlen(header));
        safetensors_close(&f);
        CHECK(f.tensors == NULL && f.n_tensors == 0);
    }
    unlink(path);
    free(path);

    /* header with only __metadata__: zero tensors, fine */
    path = tmp_path("meta_only.safetensors");
    write_st(path, "{\"__metadata__\":{}}", NULL, 0);
    st = safetensors_open(path, &f);
    CHECK_MSG(st == OLMOE_OK, "metadata only: %s", olmoe_last_error());
    if (!st) {
        CHECK_INT_EQ(f.n_tensors, 0);
        safetensors_close(&f);
    }
    unlink(path);
    free(path);

    /* the header may be padded with trailing spaces (as the Python writer does) */
    path = tmp_path("padded.safetensors");
    const float one = 1.0f;
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}       ", &one, 4);
    st = safetensors_open(path, &f);
    CHECK_MSG(st == OLMOE_OK, "padded header: %s", olmoe_last_error());
    if (!st) {
        CHECK_INT_EQ(f.n_tensors, 1);
        if (f.n_tensors == 1) CHECK(rdf32(f.tensors[0].data, 0) == 1.0f);
        safetensors_close(&f);
    }
    unlink(path);
    free(path);
}

/* ----------------------------------------------------------- errors */

static void test_errors(void) {
    char *path;
    unsigned char zeros[64] = {0};

    /* shorter than 8 bytes */
    path = tmp_path("short.safetensors");
    write_bytes(path, "\x05\x00\x00", 3);
    expect_open_fail("short file", path, OLMOE_ERR_FORMAT, NULL);
    write_bytes(path, "", 0);
    expect_open_fail("empty file", path, OLMOE_ERR_FORMAT, NULL);
    unlink(path);
    free(path);

    /* header length larger than the file */
    path = tmp_path("hlen.safetensors");
    write_st_raw(path, 1000, "{}", NULL, 0);
    expect_open_fail("header too long", path, OLMOE_ERR_FORMAT, NULL);
    write_st_raw(path, UINT64_MAX, "{}", NULL, 0); /* overflow-prone length */
    expect_open_fail("header length 2^64-1", path, OLMOE_ERR_FORMAT, NULL);
    unlink(path);
    free(path);

    /* header not JSON */
    path = tmp_path("notjson.safetensors");
    write_st(path, "this is not json", NULL, 0);
    expect_open_fail("not json", path, OLMOE_ERR_FORMAT, NULL);
    write_st_raw(path, 0, "", NULL, 0); /* empty header */
    expect_open_fail("empty header", path, OLMOE_ERR_FORMAT, NULL);
    unlink(path);
    free(path);

    /* header JSON but not an object */
    path = tmp_path("array.safetensors");
    write_st(path, "[1,2,3]", NULL, 0);
    expect_open_fail("json array", path, OLMOE_ERR_FORMAT, NULL);
    unlink(path);
    free(path);

    /* entry not an object */
    path = tmp_path("entry.safetensors");
    write_st(path, "{\"w\":5}", NULL, 0);
    expect_open_fail("entry not object", path, OLMOE_ERR_FORMAT, "w");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", zeros, 4);
    expect_open_fail("no data_offsets", path, OLMOE_ERR_FORMAT, "w");
    unlink(path);
    free(path);

    /* data_offsets beyond the data: truncated file */
    path = tmp_path("trunc.safetensors");
    write_st(path,
             "{\"ok\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"weight.cut\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
             zeros, 20);
    expect_open_fail("truncated", path, OLMOE_ERR_FORMAT, "weight.cut");
    unlink(path);
    free(path);

    /* begin > end */
    path = tmp_path("order.safetensors");
    write_st(path, "{\"rev\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", zeros, 8);
    expect_open_fail("begin > end", path, OLMOE_ERR_FORMAT, "rev");
    unlink(path);
    free(path);

    /* negative offset */
    path = tmp_path("negoff.safetensors");
    write_st(path, "{\"neg\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", zeros, 8);
    expect_open_fail("negative offset", path, OLMOE_ERR_FORMAT, "neg");
    unlink(path);
    free(path);

    /* byte count not matching shape x dtype */
    path = tmp_path("count.safetensors");
    write_st(path, "{\"mism\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", zeros, 24);
    expect_open_fail("count mismatch f32", path, OLMOE_ERR_FORMAT, "mism");
    write_st(path, "{\"mism16\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", zeros, 12);
    expect_open_fail("count mismatch bf16", path, OLMOE_ERR_FORMAT, "mism16");
    unlink(path);
    free(path);

    /* unsupported dtypes */
    path = tmp_path("dtype.safetensors");
    write_st(path, "{\"bytes\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_fail("dtype U8", path, OLMOE_ERR_UNSUPPORTED, "bytes");
    CHECK_MSG(contains(olmoe_last_error(), "U8"), "dtype not named: %s", olmoe_last_error());
    write_st(path, "{\"fp8\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_fail("dtype F8_E4M3", path, OLMOE_ERR_UNSUPPORTED, "fp8");
    CHECK_MSG(contains(olmoe_last_error(), "F8_E4M3"), "dtype not named: %s", olmoe_last_error());
    write_st(path, "{\"lower\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_fail("dtype lower-case f32", path, OLMOE_ERR_UNSUPPORTED, "lower");
    write_st(path, "{\"num\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_fail("dtype a number", path, OLMOE_ERR_FORMAT, "num");
    unlink(path);
    free(path);

    /* more than 4 dims */
    path = tmp_path("dims.safetensors");
    write_st(path, "{\"five\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_fail("5 dims", path, OLMOE_ERR_FORMAT, "five");
    unlink(path);
    free(path);
    /* exactly 4 dims is fine */
    path = tmp_path("dims4.safetensors");
    write_st(path, "{\"four\":{\"dtype\":\"F16\",\"shape\":[1,2,1,3],\"data_offsets\":[0,12]}}", zeros, 12);
    {
        safetensors_file f;
        olmoe_status st = safetensors_open(path, &f);
        CHECK_MSG(st == OLMOE_OK, "4 dims: %s", olmoe_last_error());
        if (!st) {
            CHECK_INT_EQ(f.tensors[0].n_dims, 4);
            CHECK_INT_EQ(f.tensors[0].shape[3], 3);
            safetensors_close(&f);
        }
    }
    unlink(path);
    free(path);

    /* negative / non-numeric / non-integer shape */
    path = tmp_path("shape.safetensors");
    write_st(path, "{\"negshape\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,0]}}", zeros, 8);
    expect_open_fail("negative shape", path, OLMOE_ERR_FORMAT, "negshape");
    write_st(path, "{\"negshape2\":{\"dtype\":\"F32\",\"shape\":[-1,-2],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_fail("two negative dims", path, OLMOE_ERR_FORMAT, "negshape2");
    write_st(path, "{\"strshape\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_fail("string dim", path, OLMOE_ERR_FORMAT, "strshape");
    write_st(path, "{\"objshape\":{\"dtype\":\"F32\",\"shape\":{\"a\":1},\"data_offsets\":[0,4]}}", zeros, 8);
    expect_open_fail("shape an object", path, OLMOE_ERR_FORMAT, "objshape");
    /* shape [2.5] with 8 bytes: a fractional dimension is malformed, it must
     * not be truncated to 2 */
    write_st(path, "{\"fracshape\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", zeros, 8);
    expect_open_fail("fractional dim", path, OLMOE_ERR_FORMAT, "fracshape");
    unlink(path);
    free(path);

    /* data_offsets must be two integers */
    path = tmp_path("offs.safetensors");
    write_st(path, "{\"offs3\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", zeros, 8);
    expect_open_fail("3 offsets", path, OLMOE_ERR_FORMAT, "offs3");
    /* strings are not offsets (cJSON gives them valuedouble 0) */
    write_st(path, "{\"offstr\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[\"a\",\"b\"]}}", zeros, 8);
    expect_open_fail("string offsets", path, OLMOE_ERR_FORMAT, "offstr");
    unlink(path);
    free(path);

    /* missing file: IO error naming it */
    path = tmp_path("does-not-exist.safetensors");
    expect_open_fail("missing file", path, OLMOE_ERR_IO, NULL);
    free(path);
    /* a directory is not a file */
    expect_open_fail("directory", tmpdir, OLMOE_ERR_IO, NULL);
}

/* Shape whose element count overflows int64 (2^32 * 2^32 = 2^64 wraps to 0):
 * with 0 data bytes the byte-count check passes unless the product is
 * checked, giving a tensor that claims 2^64 elements backed by no data. */
static void shape_overflow_cases(const char *path) {
    write_st(path,
             "{\"huge\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
             NULL, 0);
    expect_open_fail("numel overflow", path, OLMOE_ERR_FORMAT, "huge");
    /* 2^36 * 2^14 * 2^14 = 2^64 likewise, in four dims */
    write_st(path,
             "{\"huge4\":{\"dtype\":\"BF16\",\"shape\":[68719476736,16384,16384,1],"
             "\"data_offsets\":[0,0]}}",
             NULL, 0);
    expect_open_fail("numel overflow 4d", path, OLMOE_ERR_FORMAT, "huge4");
}

/* Run in a child process: the unchecked product is signed overflow, which
 * aborts a sanitizer build; the parent still cleans up and reports. */
static void test_shape_overflow(void) {
    char *path = tmp_path("overflow.safetensors");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        check_failures = 0; /* report only this child's cases */
        shape_overflow_cases(path);
        fflush(NULL);
        _exit(check_failures ? 1 : 0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "element-count overflow cases failed (%s %d)",
              WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    unlink(path);
    free(path);
}

/* ------------------------------------------------------ HF folders */

static char *make_subdir(const char *name) {
    char *d = tmp_path(name);
    if (mkdir(d, 0700) != 0) {
        fprintf(stderr, "mkdir %s failed\n", d);
        exit(2);
    }
    return d;
}

static void write_in(const char *dir, const char *name, const char *header, const void *data,
                     size_t len) {
    char *p = path_join(dir, name);
    write_st(p, header, data, len);
    free(p);
}

static void write_text_in(const char *dir, const char *name, const char *text) {
    char *p = path_join(dir, name);
    write_bytes(p, text, strlen(text));
    free(p);
}

static void remove_in(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    unlink(p);
    free(p);
}

static void test_hf_single(void) {
    char *dir = make_subdir("single");
    float vals[5] = {1, 2, 3, 4, 5};
    write_in(dir, "model.safetensors",
             "{\"zeta\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
             "\"alpha\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
             vals, sizeof vals);
    weight_store ws;
    olmoe_status st = weight_store_open_hf(dir, &ws);
    CHECK_MSG(st == OLMOE_OK, "single: %s", olmoe_last_error());
    if (!st) {
        CHECK_INT_EQ(ws.n_files, 1);
        CHECK_INT_EQ(ws.n_tensors, 2);
        const tensor *z = weight_store_find(&ws, "zeta"), *a = weight_store_find(&ws, "alpha");
        CHECK(z && a);
        if (z) CHECK(rdf32(z->data, 2) == 3.0f);
        if (a) CHECK(rdf32(a->data, 0) == 4.0f && rdf32(a->data, 1) == 5.0f);
        CHECK(weight_store_find(&ws, "beta") == NULL);
        CHECK(weight_store_find(&ws, "") == NULL);
        CHECK_INT_EQ(weight_store_bytes(&ws), 20);
        weight_store_close(&ws);
        CHECK(ws.n_tensors == 0 && ws.files == NULL);
    }
    /* a corrupt single file: the error comes through and names the file */
    write_in(dir, "model.safetensors",
             "{\"bad\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", vals, 8);
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "model.safetensors") &&
                  contains(olmoe_last_error(), "bad"),
              "corrupt single: %s", olmoe_last_error());
    remove_in(dir, "model.safetensors");
    rmdir(dir);
    free(dir);
}

static const char *SHARD1_HDR =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"model.embed.weight\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
    "\"model.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
static const char *SHARD2_HDR =
    "{\"model.norm.weight\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
    "\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[6,14]}}";

static void write_shards(const char *dir) {
    unsigned char d1[12], d2[14];
    put16(d1 + 0, 0x3F80);
    put16(d1 + 2, 0xC040);
    put16(d1 + 4, 0x3E20);
    put16(d1 + 6, 0x0000);
    const float fa = 9.25f;
    memcpy(d1 + 8, &fa, 4);
    put16(d2 + 0, 0x3C00);
    put16(d2 + 2, 0xC000);
    put16(d2 + 4, 0x0001);
    const float fl[2] = {-1.0f, 0.5f};
    memcpy(d2 + 6, fl, 8);
    write_in(dir, "model-00001-of-00002.safetensors", SHARD1_HDR, d1, sizeof d1);
    write_in(dir, "model-00002-of-00002.safetensors", SHARD2_HDR, d2, sizeof d2);
}

static void test_hf_sharded(void) {
    char *dir = make_subdir("sharded");
    write_shards(dir);
    const char *index =
        "{\"metadata\":{\"total_size\":26},\"weight_map\":{"
        "\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
        "\"model.a\":\"model-00001-of-00002.safetensors\","
        "\"model.norm.weight\":\"model-00002-of-00002.safetensors\","
        "\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}";
    write_text_in(dir, "model.safetensors.index.json", index);
    /* a stray model.safetensors must not be preferred over the index */
    write_in(dir, "model.safetensors",
             "{\"stray\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "\0\0\0\0", 4);
    weight_store ws;
    olmoe_status st = weight_store_open_hf(dir, &ws);
    CHECK_MSG(st == OLMOE_OK, "sharded: %s", olmoe_last_error());
    if (!st) {
        CHECK_INT_EQ(ws.n_files, 2);
        CHECK_INT_EQ(ws.n_tensors, 4);
        const tensor *e = weight_store_find(&ws, "model.embed.weight");
        const tensor *a = weight_store_find(&ws, "model.a");
        const tensor *n = weight_store_find(&ws, "model.norm.weight");
        const tensor *l = weight_store_find(&ws, "lm_head.weight");
        CHECK(e && a && n && l);
        if (e) {
            CHECK_INT_EQ(e->type, TYPE_BF16);
            CHECK_INT_EQ(e->shape[0], 2);
            CHECK_INT_EQ(e->shape[1], 2);
            CHECK(bf16_to_f32(rd16(e->data, 1)) == -3.0f);
        }
        if (a) CHECK(rdf32(a->data, 0) == 9.25f);
        if (n) {
            CHECK_INT_EQ(n->type, TYPE_F16);
            CHECK(f16_to_f32(rd16(n->data, 0)) == 1.0f);
            CHECK(f16_to_f32(rd16(n->data, 1)) == -2.0f);
        }
        if (l) CHECK(rdf32(l->data, 0) == -1.0f && rdf32(l->data, 1) == 0.5f);
        CHECK(weight_store_find(&ws, "__metadata__") == NULL);
        CHECK(weight_store_find(&ws, "stray") == NULL);
        CHECK_INT_EQ(weight_store_bytes(&ws), 26);
        weight_store_close(&ws);
    }

    /* index naming a tensor absent from its shard */
    const char *index_missing =
        "{\"weight_map\":{"
        "\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
        "\"model.ghost.weight\":\"model-00002-of-00002.safetensors\","
        "\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}";
    write_text_in(dir, "model.safetensors.index.json", index_missing);
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "model.ghost.weight"), "missing tensor: %s",
              olmoe_last_error());
    CHECK(ws.n_files == 0 && ws.sorted == NULL);

    /* index naming a shard file that does not exist: IO error naming it */
    const char *index_noshard =
        "{\"weight_map\":{"
        "\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
        "\"x\":\"model-00009-of-00009.safetensors\"}}";
    write_text_in(dir, "model.safetensors.index.json", index_noshard);
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_IO);
    CHECK_MSG(contains(olmoe_last_error(), "model-00009-of-00009.safetensors"), "missing shard: %s",
              olmoe_last_error());

    /* index that is not valid JSON / has no weight_map */
    write_text_in(dir, "model.safetensors.index.json", "{\"weight_map\": ");
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "model.safetensors.index.json"), "bad index: %s",
              olmoe_last_error());
    write_text_in(dir, "model.safetensors.index.json", "{\"metadata\":{}}");
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "weight_map"), "no weight_map: %s", olmoe_last_error());

    /* the same tensor in two shards */
    write_in(dir, "model-00002-of-00002.safetensors",
             "{\"model.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "\0\0\0\0", 4);
    write_text_in(dir, "model.safetensors.index.json",
                  "{\"weight_map\":{"
                  "\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
                  "\"model.a\":\"model-00002-of-00002.safetensors\"}}");
    st = weight_store_open_hf(dir, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_FORMAT);
    CHECK_MSG(contains(olmoe_last_error(), "model.a"), "duplicate tensor: %s", olmoe_last_error());
    CHECK(ws.n_files == 0);

    remove_in(dir, "model.safetensors");
    remove_in(dir, "model.safetensors.index.json");
    remove_in(dir, "model-00001-of-00002.safetensors");
    remove_in(dir, "model-00002-of-00002.safetensors");
    rmdir(dir);
    free(dir);

    /* a folder with neither file */
    char *empty = make_subdir("empty");
    st = weight_store_open_hf(empty, &ws);
    CHECK_INT_EQ(st, OLMOE_ERR_IO);
    CHECK_MSG(contains(olmoe_last_error(), empty), "empty folder: %s", olmoe_last_error());
    rmdir(empty);
    free(empty);
}

/* ------------------------------------------------------ real folder */

static void test_real_folder(const char *shared) {
    char *models = path_join(shared, "reference/models/olmoe-gqa-bf16");
    char *index_path = path_join(models, "model.safetensors.index.json");
    cJSON *index = NULL;
    olmoe_status st = json_load_file(index_path, &index);
    CHECK_MSG(st == OLMOE_OK, "cannot read %s: %s", index_path, olmoe_last_error());
    weight_store ws;
    st = weight_store_open_hf(models, &ws);
    CHECK_MSG(st == OLMOE_OK, "open %s: %s", models, olmoe_last_error());
    if (!st && index) {
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
        int n_map = cJSON_GetArraySize(map);
        CHECK_INT_EQ(ws.n_tensors, n_map);
        CHECK_INT_EQ(ws.n_files, 3);
        /* every indexed tensor is found */
        int found = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, map) found += weight_store_find(&ws, e->string) != NULL;
        CHECK_INT_EQ(found, n_map);
        const cJSON *total = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(index, "metadata"), "total_size");
        if (cJSON_IsNumber(total)) CHECK_INT_EQ(weight_store_bytes(&ws), (long long)total->valuedouble);
        const tensor *emb = weight_store_find(&ws, "model.embed_tokens.weight");
        CHECK(emb != NULL);
        if (emb) {
            CHECK_INT_EQ(emb->type, TYPE_BF16);
            CHECK_INT_EQ(emb->n_dims, 2);
            CHECK_INT_EQ(emb->shape[0], 50304);
            CHECK_INT_EQ(emb->shape[1], 48);
            CHECK_INT_EQ(emb->nbytes, (size_t)50304 * 48 * 2);
        }
        const tensor *q = weight_store_find(&ws, "model.layers.0.self_attn.q_proj.weight");
        const tensor *k = weight_store_find(&ws, "model.layers.0.self_attn.k_proj.weight");
        CHECK(q && k);
        if (q && k) {
            CHECK_INT_EQ(q->shape[0], 48); /* 6 heads x 8 */
            CHECK_INT_EQ(k->shape[0], 16); /* 2 kv heads x 8 */
        }
        /* sorted index is strictly ordered */
        int sorted = 1;
        for (int i = 1; i < ws.n_tensors; i++)
            sorted &= strcmp(ws.sorted[i - 1]->name, ws.sorted[i]->name) < 0;
        CHECK(sorted);
        weight_store_close(&ws);
    }
    cJSON_Delete(index);
    free(index_path);
    free(models);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    strcpy(tmpdir, "/tmp/olmoe_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_conversions();
    test_valid_file();
    test_errors();
    test_hf_single();
    test_hf_sharded();
    test_shape_overflow();
    test_real_folder(shared);
    rmdir(tmpdir);
    return check_report("test_safetensors");
}
