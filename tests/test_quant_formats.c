/* Tests for the ggml block formats (src/quant/formats*.c).
 *
 * 1. Byte equality with a real ggml file: every Q8_0 tensor of
 *    reference/gguf/olmoe-tiny-q8_0.gguf is re-quantized from the same
 *    tensor of olmoe-tiny-f32.gguf (a tiny GGUF reader lives below).
 * 2. Hand-derived blocks for every format: exact bytes and dequantized
 *    values, worked out in the comments.
 * 3. Round trips on seeded random data of several distributions: error
 *    bounds and stability of a second quantization.
 * 4. Expected output of ggml's own reference quantizers (ggml-org/ggml
 *    src/ggml-quants.c at d99724f2, built outside this repository for
 *    x86-64 with gcc -O2 -std=gnu11, i.e. without FMA, as ggml's default
 *    ggml-base build) for the inputs generated below: full hex of a few
 *    Q4_K/Q6_K blocks and FNV-1a hashes of 4096 super-blocks per format and
 *    distribution. Only the expected data is pasted here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/blocks.h"
#include "quant/formats.h"
#include "quant/types.h"

/* The inputs below must be the same floats the ggml generator made: no
 * fused multiply-adds (e.g. in 0.5f + 0.1f * g) whatever the flags. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Deterministic test inputs: splitmix64 + simple float arithmetic only
 * (no libm), so every machine generates the same floats. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1) with 24 random bits. */
static float rng_unif(uint64_t *s) { return (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f); }
/* Roughly normal(0, 1): Irwin-Hall sum of 4 uniforms, rescaled. */
static float rng_gauss(uint64_t *s) {
    /* One call per statement: the order of calls within an expression is
     * unspecified, and float addition is not associative. */
    float t = rng_unif(s);
    t += rng_unif(s);
    t += rng_unif(s);
    t += rng_unif(s);
    return (t - 2.0f) * 1.7320508f;
}

enum {
    DIST_WEIGHTS,   /* normal, sigma 0.02, like trained weights */
    DIST_UNIFORM,   /* uniform [-1, 1) */
    DIST_OUTLIERS,  /* normal with 1% outliers of 40x */
    DIST_NEGATIVE,  /* negative only */
    DIST_POSITIVE,  /* positive only, offset from zero */
    DIST_TINY,      /* ~1e-30: below f16 range */
    DIST_ZEROS,     /* all zero */
    DIST_MIXED,     /* each 16-group: zero, tiny or large scale */
    DIST_SPARSE,    /* 90% zeros */
    DIST_LARGE,     /* normal, sigma 300 */
    DIST_GRID,      /* small integers * 0.25: exact ties everywhere */
    DIST_COUNT
};

static void fill_dist(float *x, int n, int dist, uint64_t *s) {
    for (int i = 0; i < n; i++) {
        float g = rng_gauss(s);
        switch (dist) {
        case DIST_WEIGHTS: x[i] = 0.02f * g; break;
        case DIST_UNIFORM: x[i] = 2.0f * rng_unif(s) - 1.0f; break;
        case DIST_OUTLIERS: x[i] = (rng_unif(s) < 0.01f ? 40.0f : 1.0f) * g; break;
        case DIST_NEGATIVE: x[i] = -(g < 0 ? -g : g) - 0.001f; break;
        case DIST_POSITIVE: x[i] = 0.5f + 0.1f * g; break;
        case DIST_TINY: x[i] = 1e-30f * g; break;
        case DIST_ZEROS: x[i] = 0.0f; break;
        case DIST_MIXED: {
            int grp = (i / 16) % 3;
            x[i] = grp == 0 ? 0.0f : grp == 1 ? 1e-20f * g : 3.0f * g;
            break;
        }
        case DIST_SPARSE: x[i] = rng_unif(s) < 0.9f ? 0.0f : g; break;
        case DIST_LARGE: x[i] = 300.0f * g; break;
        case DIST_GRID: x[i] = 0.25f * (float)((int)(rng_next(s) % 33) - 16); break;
        }
    }
}

/* FNV-1a over bytes. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001B3ull; }
    return h;
}
#define FNV_SEED 0xCBF29CE484222325ull

/* ------------------------------------------------------------------ GGUF */

typedef struct {
    char name[128];
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t offset;
} gg_tensor;

typedef struct {
    unsigned char *buf;
    size_t size, pos;
    int bad;
    uint64_t n_tensors;
    gg_tensor *tensors;
    size_t data_start;
} gg_file;

static int gg_need(gg_file *f, size_t n) {
    if (f->bad || n > f->size - f->pos) {
        f->bad = 1;
        return 0;
    }
    return 1;
}
static uint64_t gg_uint(gg_file *f, int bytes) { /* little-endian */
    if (!gg_need(f, (size_t)bytes)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)f->buf[f->pos + (size_t)i] << (8 * i);
    f->pos += (size_t)bytes;
    return v;
}
/* A gguf string: u64 length + bytes. Returns a pointer into the buffer. */
static const char *gg_str(gg_file *f, uint64_t *len) {
    *len = gg_uint(f, 8);
    if (!gg_need(f, *len)) return NULL;
    const char *s = (const char *)f->buf + f->pos;
    f->pos += *len;
    return s;
}
/* Skips one metadata value of type t; stores it in *scalar if integral. */
static void gg_skip_value(gg_file *f, uint32_t t, uint64_t *scalar, int depth) {
    static const int sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    uint64_t len;
    if (t == 8) {
        gg_str(f, &len);
    } else if (t == 9) {
        uint32_t et = (uint32_t)gg_uint(f, 4);
        uint64_t count = gg_uint(f, 8);
        if (depth > 4 || et > 12) { f->bad = 1; return; }
        if (et != 8 && et != 9) { /* fixed-size elements: skip at once */
            if (count > f->size / (uint64_t)sizes[et] || !gg_need(f, count * (uint64_t)sizes[et])) {
                f->bad = 1;
                return;
            }
            f->pos += count * (uint64_t)sizes[et];
        } else {
            for (uint64_t i = 0; i < count && !f->bad; i++) gg_skip_value(f, et, NULL, depth + 1);
        }
    } else if (t <= 12) {
        uint64_t v = gg_uint(f, sizes[t]);
        if (scalar) *scalar = v;
    } else {
        f->bad = 1;
    }
}

static int gg_open(gg_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc(size > 0 ? (size_t)size : 1);
    f->size = size > 0 ? (size_t)size : 0;
    int ok = f->buf && fread(f->buf, 1, f->size, fp) == f->size;
    fclose(fp);
    if (!ok) return 0;

    if (gg_uint(f, 4) != 0x46554747u /* "GGUF" */ || gg_uint(f, 4) != 3) return 0;
    f->n_tensors = gg_uint(f, 8);
    uint64_t n_kv = gg_uint(f, 8);
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv && !f->bad; i++) {
        uint64_t klen;
        const char *key = gg_str(f, &klen);
        uint32_t t = (uint32_t)gg_uint(f, 4);
        uint64_t v = 0;
        gg_skip_value(f, t, &v, 0);
        if (key && klen == 17 && memcmp(key, "general.alignment", 17) == 0 && t == 4) alignment = v;
    }
    if (f->bad || f->n_tensors > 100000 || alignment == 0) return 0;
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    for (uint64_t i = 0; i < f->n_tensors && !f->bad; i++) {
        gg_tensor *t = &f->tensors[i];
        uint64_t len;
        const char *name = gg_str(f, &len);
        if (!name || len >= sizeof t->name) return 0;
        memcpy(t->name, name, len);
        t->n_dims = (uint32_t)gg_uint(f, 4);
        if (t->n_dims < 1 || t->n_dims > 4) return 0;
        for (int d = 0; d < 4; d++) t->ne[d] = d < (int)t->n_dims ? gg_uint(f, 8) : 1;
        t->type = (uint32_t)gg_uint(f, 4);
        t->offset = gg_uint(f, 8);
    }
    if (f->bad) return 0;
    f->data_start = (size_t)((f->pos + alignment - 1) / alignment * alignment);
    return f->data_start <= f->size;
}

static void gg_close(gg_file *f) {
    free(f->buf);
    free(f->tensors);
}

static const gg_tensor *gg_find(const gg_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static void test_gguf_q8_0(const char *shared) {
    char p32[1024], p8[1024];
    snprintf(p32, sizeof p32, "%s/reference/gguf/olmoe-tiny-f32.gguf", shared);
    snprintf(p8, sizeof p8, "%s/reference/gguf/olmoe-tiny-q8_0.gguf", shared);
    gg_file f32, f8;
    int ok32 = gg_open(&f32, p32), ok8 = gg_open(&f8, p8);
    CHECK_MSG(ok32, "cannot read %s", p32);
    CHECK_MSG(ok8, "cannot read %s", p8);
    if (!ok32 || !ok8) {
        gg_close(&f32);
        gg_close(&f8);
        return;
    }
    int tensors = 0, tensors_same = 0;
    long long blocks = 0, blocks_same = 0;
    for (uint64_t i = 0; i < f8.n_tensors; i++) {
        const gg_tensor *q = &f8.tensors[i];
        if (q->type != TYPE_Q8_0) continue;
        tensors++;
        const gg_tensor *s = gg_find(&f32, q->name);
        CHECK_MSG(s != NULL, "%s missing from the f32 file", q->name);
        if (!s) continue;
        CHECK_MSG(s->type == TYPE_F32, "%s: type %u in the f32 file", q->name, s->type);
        int same_shape = s->n_dims == q->n_dims;
        for (int d = 0; d < 4; d++) same_shape &= s->ne[d] == q->ne[d];
        CHECK_MSG(same_shape, "%s: shapes differ", q->name);
        if (s->type != TYPE_F32 || !same_shape || q->ne[0] % QK8_0) continue;

        const int64_t ne0 = (int64_t)q->ne[0];
        const int64_t rows = (int64_t)(q->ne[1] * q->ne[2] * q->ne[3]);
        const size_t row_bytes = (size_t)(ne0 / QK8_0) * sizeof(block_q8_0);
        const size_t src_off = f32.data_start + s->offset, dst_off = f8.data_start + q->offset;
        int in_range = src_off + (size_t)rows * (size_t)ne0 * 4 <= f32.size &&
                       dst_off + (size_t)rows * row_bytes <= f8.size;
        CHECK_MSG(in_range, "%s: data past the end of the file", q->name);
        if (!in_range) continue;

        float *row = malloc((size_t)ne0 * sizeof *row);
        block_q8_0 *mine = malloc(row_bytes);
        long long bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            memcpy(row, f32.buf + src_off + (size_t)r * (size_t)ne0 * 4, (size_t)ne0 * 4);
            quantize_row_q8_0(row, mine, ne0);
            const unsigned char *theirs = f8.buf + dst_off + (size_t)r * row_bytes;
            for (int64_t b = 0; b < ne0 / QK8_0; b++) {
                blocks++;
                if (memcmp(&mine[b], theirs + (size_t)b * sizeof(block_q8_0), sizeof(block_q8_0)) == 0)
                    blocks_same++;
                else if (bad++ < 3)
                    fprintf(stderr, "%s row %lld block %lld differs\n", q->name, (long long)r, (long long)b);
            }
        }
        tensors_same += bad == 0;
        free(row);
        free(mine);
    }
    printf("gguf q8_0: %d/%d Q8_0 tensors identical, %lld/%lld blocks identical\n", tensors_same,
           tensors, blocks_same, blocks);
    CHECK(tensors > 0);
    CHECK_INT_EQ(tensors_same, tensors);
    CHECK_INT_EQ(blocks_same, blocks);
    gg_close(&f32);
    gg_close(&f8);
}

/* ------------------------------------------------------- hand-made blocks */

static float f16v(uint16_t h) { return f16_to_f32(h); }

static void test_hand_q8_0(void) {
    /* amax = 127 at x[0] = -127, so d = 127/127 = 1 (f16 0x3c00) and
     * id = 1: every level is roundf(x). x[j] = 8j - 127 are integers; the
     * halves in x[1..4] show roundf's ties away from zero. */
    float x[64];
    int8_t want[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(8 * j - 127), want[j] = (int8_t)(8 * j - 127);
    x[1] = 2.5f, want[1] = 3;
    x[2] = -2.5f, want[2] = -3;
    x[3] = 0.5f, want[3] = 1;
    x[4] = -0.5f, want[4] = -1;
    /* Just below a half rounds down, the largest halves still round out. */
    x[5] = 0.49999997f, want[5] = 0;
    x[6] = -0.49999997f, want[6] = 0;
    x[7] = 126.5f, want[7] = 127;
    x[8] = -126.5f, want[8] = -127;
    x[9] = 1.49999988f, want[9] = 1;
    x[10] = -1.5f, want[10] = -2;
    x[11] = 0.0f, want[11] = 0;
    /* Second block: one value -3, the rest 0. d = 3/127 = 0.0236220...
     * = 2^-6 * 1.51181; mantissa 0.51181 * 1024 = 524.09 -> 524, exponent
     * -6 + 15 = 9: f16 0x2400 | 0x20c = 0x260c = 1548/65536. */
    for (int j = 32; j < 64; j++) x[j] = 0.0f;
    x[32 + 5] = -3.0f;
    block_q8_0 q[2];
    quantize_row_q8_0(x, q, 64);
    CHECK_INT_EQ(q[0].d, 0x3c00);
    CHECK(memcmp(q[0].qs, want, 32) == 0);
    CHECK_INT_EQ(q[1].d, 0x260c);
    for (int j = 0; j < 32; j++) CHECK_INT_EQ(q[1].qs[j], j == 5 ? -127 : 0);
    float y[64];
    dequantize_row_q8_0(q, y, 64);
    for (int j = 0; j < 32; j++) CHECK_NEAR(y[j], want[j], 0);
    CHECK_NEAR(y[32 + 5], -127.0 * 1548.0 / 65536.0, 0); /* exact in f32 */
    CHECK_NEAR(y[32], 0.0, 0);

    /* All zero: d = 0 and id = 0, no division by zero. */
    float z[32] = {0};
    quantize_row_q8_0(z, q, 32);
    CHECK_INT_EQ(q[0].d, 0);
    for (int j = 0; j < 32; j++) CHECK_INT_EQ(q[0].qs[j], 0);
}

static void test_hand_q4_0(void) {
    /* Block 0: max-magnitude value -8, so d = -8 / -8 = 1 (0x3c00) and the
     * level of x is trunc(x + 8.5), clamped to 15.
     *   x[j]    = j - 8    (j < 16) -> level j        (exact)
     *   x[16+j] = j - 7.5           -> level j + 1    (a tie: rounds up),
     *   x[31]   = 7.5               -> 16, clamped to 15.
     * Block 1 is block 0 negated: max = +8, d = -1 (0xbc00), x*id is the
     * same, so the nibbles are identical. */
    float x[64];
    for (int j = 0; j < 16; j++) {
        x[j] = (float)(j - 8);
        x[16 + j] = (float)j - 7.5f;
    }
    for (int j = 0; j < 32; j++) x[32 + j] = -x[j];
    block_q4_0 q[2];
    quantize_row_q4_0(x, q, 64);
    CHECK_INT_EQ(q[0].d, 0x3c00);
    CHECK_INT_EQ(q[1].d, 0xbc00);
    for (int j = 0; j < 16; j++) {
        int hi = j + 1 < 15 ? j + 1 : 15;
        CHECK_INT_EQ(q[0].qs[j], j | (hi << 4));
        CHECK_INT_EQ(q[1].qs[j], j | (hi << 4));
    }
    float y[64];
    dequantize_row_q4_0(q, y, 64);
    for (int j = 0; j < 16; j++) {
        int hi = j + 1 < 15 ? j + 1 : 15;
        CHECK_NEAR(y[j], j - 8, 0);
        CHECK_NEAR(y[16 + j], hi - 8, 0);
        CHECK_NEAR(y[32 + j], -(j - 8), 0);
        CHECK_NEAR(y[48 + j], -(hi - 8), 0);
    }
    /* All zero: max = +0, d = 0 / -8 = -0 (f16 0x8000, as ggml writes
     * it), id = 0, every level trunc(8.5) = 8. */
    float z[32] = {0};
    quantize_row_q4_0(z, q, 32);
    CHECK_INT_EQ(q[0].d, 0x8000);
    for (int j = 0; j < 16; j++) CHECK_INT_EQ(q[0].qs[j], 0x88); /* level 8 = value 0 */
}

static void test_hand_q8_K(void) {
    /* x[j] = j - 127 for j < 253, so the largest magnitude is x[0] = -127:
     * iscale = -127 / -127 = 1, d = 1/1 = 1.0f and levels nearest_int(x).
     * x[253] = 2.5 -> 2 and x[254] = 1.5 -> 2, x[255] = -0.5 -> 0 (ties to
     * even, unlike Q8_0's roundf). bsums: sums of 16 consecutive levels.
     * Block 1 = block 0 negated: max = +127, iscale = -1, d = -1.0f, and
     * x * iscale equals block 0's x, so the levels (and bsums) are
     * identical; only d's sign flips. */
    float x[512];
    int want[256];
    for (int j = 0; j < 256; j++) x[j] = (float)(j - 127), want[j] = j - 127;
    x[253] = 2.5f, want[253] = 2;
    x[254] = 1.5f, want[254] = 2;
    x[255] = -0.5f, want[255] = 0;
    for (int j = 0; j < 256; j++) x[256 + j] = -x[j];
    block_q8_K q[2];
    quantize_row_q8_K(x, q, 512);
    CHECK(q[0].d == 1.0f);
    CHECK(q[1].d == -1.0f);
    for (int b = 0; b < 2; b++) {
        int mism = 0;
        for (int j = 0; j < 256; j++) mism += q[b].qs[j] != want[j];
        CHECK_INT_EQ(mism, 0);
        for (int g = 0; g < 16; g++) {
            /* 16 (16g - 127) + (0 + ... + 15) = 256 g - 1912 except the
             * last group, whose three edited values sum to 4 instead of
             * 126 + 127 + 128. */
            int expect = 256 * g - 1912 + (g == 15 ? 4 - (126 + 127 + 128) : 0);
            CHECK_INT_EQ(q[b].bsums[g], expect);
        }
    }
    float y[512];
    dequantize_row_q8_K(q, y, 512);
    for (int j = 0; j < 256; j++) {
        CHECK_NEAR(y[j], want[j], 0);
        CHECK_NEAR(y[256 + j], -want[j], 0);
    }
    /* All zero: d = 0, qs = 0, bsums = 0. */
    float z[256] = {0};
    memset(q, 0x5a, sizeof q[0]);
    quantize_row_q8_K(z, q, 256);
    CHECK(q[0].d == 0.0f);
    int nz = 0;
    for (int j = 0; j < 256; j++) nz += q[0].qs[j] != 0;
    for (int g = 0; g < 16; g++) nz += q[0].bsums[g] != 0;
    CHECK_INT_EQ(nz, 0);
}

/* Q6_K level of element e (0..255) from the packed bytes, per the layout
 * in the notes (section 4): halves of 128; in a half, element l + 32k
 * (k = 0..3) has its low nibble in ql[l] (k = 0: low, k = 2: high) or
 * ql[l + 32] (k = 1: low, k = 3: high), and its 2 high bits in qh[l] at
 * shift 2k. */
static int q6k_level(const block_q6_K *b, int e) {
    int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    int lo = (k & 1) ? ql[l + 32] : ql[l];
    lo = (k & 2) ? lo >> 4 : lo & 0xF;
    return lo | (((qh[l] >> (2 * k)) & 3) << 4);
}

static void test_hand_q6_K(void) {
    /* Each 16-element sub-block j is s_j * v with integer v in -32..31,
     * v[0] = -32 the only value of magnitude 32: the first grid
     * (iscale = -32 / (-32 s_j) = 1/s_j) is exact, no other grid can
     * beat zero error, so the sub-block scale is s_j exactly (powers of two
     * keep all sums exact). s_j = 2^-4 for even j, 2^-5 for odd j, and
     * sub-block 15 is all zero (scale 0, levels 0).
     * max_scale = 2^-4, iscale = -128 / 2^-4 = -2048, d = 1/iscale =
     * -2^-11 -> f16 sign | (15 - 11) << 10 = 0x9000. Sub-block scales:
     * nearest_int(-2048 s_j) = -128 / -64 / 0. Effective steps
     * d * scale = s_j, so the final levels are v + 32 again; sub-block 15
     * keeps level 0 (step 0: levels are not recomputed). */
    float x[256];
    int level[256];
    for (int j = 0; j < 16; j++) {
        float s = (j % 2) ? 1.0f / 32 : 1.0f / 16;
        for (int i = 0; i < 16; i++) {
            int v = i == 0 ? -32 : (i * 7 + j * 3) % 63 - 31;
            x[16 * j + i] = j == 15 ? 0.0f : s * (float)v;
            level[16 * j + i] = j == 15 ? 0 : v + 32;
        }
    }
    block_q6_K q;
    quantize_row_q6_K(x, &q, 256);
    CHECK_INT_EQ(q.d, 0x9000);
    for (int j = 0; j < 16; j++) CHECK_INT_EQ(q.scales[j], j == 15 ? 0 : (j % 2) ? -64 : -128);
    int mism = 0;
    for (int e = 0; e < 256; e++) mism += q6k_level(&q, e) != level[e];
    CHECK_INT_EQ(mism, 0);
    float y[256];
    dequantize_row_q6_K(&q, y, 256);
    mism = 0;
    for (int e = 0; e < 256; e++) mism += y[e] != x[e];
    CHECK_INT_EQ(mism, 0); /* exact: d * scale * (level - 32) = x */

    /* A block under GROUP_MAX_EPS (1e-15) is all zero bytes. */
    for (int e = 0; e < 256; e++) x[e] = (e % 3 - 1) * 1e-16f;
    memset(&q, 0x5a, sizeof q);
    quantize_row_q6_K(x, &q, 256);
    static const block_q6_K zero;
    CHECK(memcmp(&q, &zero, sizeof q) == 0);
}

static void test_hand_q4_K(void) {
    /* Sub-block j (32 elements) is x = L + c_j with L = (5i + j) mod 16 —
     * every level 0..15 occurs — and offsets c_j = 0,-1,-2,-3,-4,-5,-6,-8.
     * Its min is c_j and max c_j + 15, so the first grid (iscale =
     * 15 / 15 = 1) fits exactly with zero error, and a candidate must be
     * strictly better to replace it: scale 1, min -c_j for every j.
     * 6-bit scales: max_scale = 1 -> 63 everywhere; max_min = 8 ->
     * inv_min = 63/8 = 7.875, lm = nearest_int(7.875 * -c_j) =
     * 0, 8 (7.875), 16 (15.75), 24 (23.625), 32 (31.5: tie to even),
     * 39 (39.375), 47 (47.25), 63.
     * d = f16(1/63): 1/63 = 2^-6 * 1.015873, mantissa 16.25 -> 16,
     * exponent 9: 0x2410 = 1040/65536. dmin = f16(8/63) = 2^-3 * 1.015873
     * -> 0x3010 = 1040/8192.
     * scales[]: bytes 0-3 = 63 | (63 >> 4) << 6 = 0xff; bytes 4-7 = lm_j |
     * (lm_{j+4} >> 4) << 6 = 0x80, 0x88, 0x90, 0xd8; bytes 8-11 = (63 & 15)
     * | (lm_{j+4} & 15) << 4 = 0x0f, 0x7f, 0xff, 0xff.
     * Levels recomputed with step d*63 = 0.99976 and offset dmin * lm
     * (e.g. 4.0625 for c = -4, 7.998 for c = -8) round back to L. */
    static const int c[8] = {0, -1, -2, -3, -4, -5, -6, -8};
    static const int lm[8] = {0, 8, 16, 24, 32, 39, 47, 63};
    static const uint8_t want_scales[12] = {0xff, 0xff, 0xff, 0xff, 0x80, 0x88,
                                            0x90, 0xd8, 0x0f, 0x7f, 0xff, 0xff};
    float x[256];
    int L[256];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 32; i++) {
            L[32 * j + i] = (5 * i + j) % 16;
            x[32 * j + i] = (float)(L[32 * j + i] + c[j]);
        }
    block_q4_K q;
    quantize_row_q4_K(x, &q, 256);
    CHECK_INT_EQ(q.d, 0x2410);
    CHECK_INT_EQ(q.dmin, 0x3010);
    CHECK(memcmp(q.scales, want_scales, 12) == 0);
    int mism = 0;
    for (int ch = 0; ch < 4; ch++) /* chunk ch: sub-blocks 2ch (low), 2ch+1 (high) */
        for (int l = 0; l < 32; l++)
            mism += q.qs[32 * ch + l] != (L[64 * ch + l] | (L[64 * ch + 32 + l] << 4));
    CHECK_INT_EQ(mism, 0);
    float y[256];
    dequantize_row_q4_K(&q, y, 256);
    mism = 0;
    const float d1 = 1040.0f / 65536 * 63, dm = 1040.0f / 8192;
    for (int e = 0; e < 256; e++) {
        /* d * 63 * L - dmin * lm, exact in f32 (multiples of 2^-16). */
        float want = d1 * (float)L[e] - dm * (float)lm[e / 32];
        mism += y[e] != want;
        CHECK_NEAR(y[e], x[e], 0.07);
    }
    CHECK_INT_EQ(mism, 0);

    /* All zero: every sub-block has max == min, so everything is 0. */
    float z[256] = {0};
    memset(&q, 0x5a, sizeof q);
    quantize_row_q4_K(z, &q, 256);
    static const block_q4_K zero;
    CHECK(memcmp(&q, &zero, sizeof q) == 0);
}

/* ---------------------------------------------------------- round trips */

enum { F_Q4_0, F_Q8_0, F_Q4_K, F_Q6_K, F_Q8_K, F_COUNT };
static const char *fmt_name[F_COUNT] = {"q4_0", "q8_0", "q4_K", "q6_K", "q8_K"};
static const size_t fmt_bytes[F_COUNT] = {sizeof(block_q4_0), sizeof(block_q8_0), sizeof(block_q4_K),
                                          sizeof(block_q6_K), sizeof(block_q8_K)};
static const int fmt_elems[F_COUNT] = {QK4_0, QK8_0, QK_K, QK_K, QK_K};

static void quantize_any(int f, const float *x, void *y, int64_t n) {
    switch (f) {
    case F_Q4_0: quantize_row_q4_0(x, y, n); break;
    case F_Q8_0: quantize_row_q8_0(x, y, n); break;
    case F_Q4_K: quantize_row_q4_K(x, y, n); break;
    case F_Q6_K: quantize_row_q6_K(x, y, n); break;
    case F_Q8_K: quantize_row_q8_K(x, y, n); break;
    }
}
static void dequantize_any(int f, const void *x, float *y, int64_t n) {
    switch (f) {
    case F_Q4_0: dequantize_row_q4_0(x, y, n); break;
    case F_Q8_0: dequantize_row_q8_0(x, y, n); break;
    case F_Q4_K: dequantize_row_q4_K(x, y, n); break;
    case F_Q6_K: dequantize_row_q6_K(x, y, n); break;
    case F_Q8_K: dequantize_row_q8_K(x, y, n); break;
    }
}

#define NBLK 64 /* super-blocks per run */
#define NEL (NBLK * QK_K)

static double rel_rmse(const float *x, const float *y, int n) {
    double se = 0, sx = 0;
    for (int i = 0; i < n; i++) {
        se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        sx += (double)x[i] * x[i];
    }
    return sx > 0 ? sqrt(se / sx) : (se > 0 ? INFINITY : 0);
}

/* Per-element bound for Q8_0 / Q4_0: half a step (a full step for Q4_0,
 * whose top level is clamped) of the f32 scale dx = amax / levels, plus
 * what rounding dx to the stored f16 d moves the largest level. */
static int check_block_bound(int f, const float *x, const float *y, const void *blk) {
    const int qk = 32;
    float amax = 0;
    for (int j = 0; j < qk; j++) amax = fmaxf(amax, fabsf(x[j]));
    uint16_t dh = f == F_Q8_0 ? ((const block_q8_0 *)blk)->d : ((const block_q4_0 *)blk)->d;
    double d16 = fabs(f16v(dh));
    double dx = f == F_Q8_0 ? amax / 127.0 : amax / 8.0;
    double maxq = f == F_Q8_0 ? 127 : 8;
    double bound = (f == F_Q8_0 ? 0.5 : 1.0) * dx + maxq * fabs(d16 - dx) + 1e-6 * amax;
    int bad = 0;
    for (int j = 0; j < qk; j++) bad += fabs((double)x[j] - y[j]) > bound;
    return bad;
}

static float xs[NEL], ys[NEL], ys2[NEL];
static unsigned char qa[NBLK * 8 * sizeof(block_q8_0) + NBLK * sizeof(block_q8_K)];
static unsigned char qb[sizeof qa];

static void test_round_trips(void) {
    /* Bounds on rmse / rms. A symmetric b-bit format's rmse is about
     * step / sqrt(12) with step = amax / levels, and for near-normal data
     * amax / rms is ~3 in a block of 256 (so Q8_K: 3 / 127 / 3.46 = 0.0068,
     * above the 0.006 one might guess). With 1% outliers of 40 sigma the
     * step is set by the outliers and the bounds are looser. */
    static const double rel_bound[F_COUNT] = {0.12, 0.008, 0.10, 0.025, 0.008};
    static const double rel_bound_outliers[F_COUNT] = {0.15, 0.02, 0.12, 0.05, 0.05};
    static const char *dist_name[DIST_COUNT] = {"weights", "uniform", "outliers", "negative",
                                                "positive", "tiny", "zeros",    "mixed",
                                                "sparse",  "large",   "grid"};
    printf("rmse / rms per distribution, and %% of blocks byte-identical after a 2nd round\n");
    printf("%-9s", "");
    for (int f = 0; f < F_COUNT; f++) printf(" %14s", fmt_name[f]);
    printf("\n");
    for (int dist = 0; dist < DIST_COUNT; dist++) {
        printf("%-9s", dist_name[dist]);
        for (int f = 0; f < F_COUNT; f++) {
            uint64_t seed = 77 + (uint64_t)dist;
            fill_dist(xs, NEL, dist, &seed);
            const int nb = NEL / fmt_elems[f];
            const size_t bs = fmt_bytes[f];
            quantize_any(f, xs, qa, NEL);
            dequantize_any(f, qa, ys, NEL);
            double rr = rel_rmse(xs, ys, NEL);

            /* f16 scales cannot represent ~1e-30 data: it must dequantize
             * to exactly zero (no garbage); Q8_K keeps an f32 scale. */
            int f16_scaled = f != F_Q8_K;
            if (dist == DIST_ZEROS || (dist == DIST_TINY && f16_scaled)) {
                int nz = 0;
                for (int i = 0; i < NEL; i++) nz += ys[i] != 0.0f;
                CHECK_MSG(nz == 0, "%s %s: %d nonzero outputs", fmt_name[f], dist_name[dist], nz);
            } else {
                double bound = dist == DIST_OUTLIERS ? rel_bound_outliers[f] : rel_bound[f];
                CHECK_MSG(rr < bound, "%s %s: relative rmse %g >= %g", fmt_name[f], dist_name[dist], rr,
                          bound);
            }
            if (f == F_Q8_K) { /* per element: half a step of the f32 d */
                int bad = 0;
                for (int b = 0; b < nb; b++) {
                    const float d = fabsf(((const block_q8_K *)qa)[b].d);
                    for (int j = 0; j < QK_K; j++) {
                        const int i = QK_K * b + j;
                        bad += fabs((double)xs[i] - ys[i]) > 0.5 * d * (1 + 1e-5);
                    }
                }
                CHECK_MSG(bad == 0, "q8_K %s: %d elements beyond half a step", dist_name[dist], bad);
            }
            if (f == F_Q8_0 || f == F_Q4_0) {
                int bad = 0;
                for (int b = 0; b < nb; b++)
                    bad += check_block_bound(f, xs + 32 * b, ys + 32 * b, qa + bs * (size_t)b);
                CHECK_MSG(bad == 0, "%s %s: %d elements beyond the step bound", fmt_name[f],
                          dist_name[dist], bad);
            }

            /* Second round: quantizing the dequantized data. For Q8_0/Q4_0
             * the block is a fixed point (same d, same levels). For Q8_K the
             * values are, up to an ulp of d (the sign of d and of all
             * levels can flip when a +127 level precedes the -127 one). The
             * Q4_K/Q6_K searches may pick another grid, but must not lose
             * accuracy. */
            quantize_any(f, ys, qb, NEL);
            dequantize_any(f, qb, ys2, NEL);
            int same = 0;
            for (int b = 0; b < nb; b++) same += memcmp(qa + bs * (size_t)b, qb + bs * (size_t)b, bs) == 0;
            if (f == F_Q8_0 || f == F_Q4_0) {
                /* Compared after dequantization: where d underflows f16
                 * (tiny data) the first levels are arbitrary, the second
                 * are 0, and both decode to 0. */
                int moved = 0;
                for (int i = 0; i < NEL; i++) moved += ys2[i] != ys[i];
                CHECK_MSG(moved == 0, "%s %s: %d values moved on re-quantization", fmt_name[f],
                          dist_name[dist], moved);
            } else if (f == F_Q8_K) {
                int bad = 0;
                for (int b = 0; b < nb; b++) {
                    const float d = fabsf(((const block_q8_K *)qa)[b].d);
                    for (int j = 0; j < QK_K; j++) {
                        const int i = QK_K * b + j;
                        bad += fabsf(ys2[i] - ys[i]) > 1e-5f * 127 * d;
                    }
                }
                CHECK_MSG(bad == 0, "q8_K %s: %d values moved on re-quantization", dist_name[dist], bad);
            } else {
                double r2 = rel_rmse(ys, ys2, NEL);
                CHECK_MSG(r2 <= rr + 1e-9 || r2 < 0.5 * rel_bound[f], "%s %s: 2nd round rmse %g", fmt_name[f],
                          dist_name[dist], r2);
            }
            printf(" %8.5f %4.0f%%", rr, 100.0 * same / nb);
        }
        printf("\n");
    }
}

/* -------------------------------------------------- ggml's own output */

#define HASH_NBLK 4096
/* [format][distribution]: FNV-1a of the bytes ggml writes for HASH_NBLK
 * super-blocks (HASH_NBLK * 256 values) of fill_dist(seed 1000 + dist). */
static const uint64_t ggml_hash[F_COUNT][DIST_COUNT] = {
    {0x61686d6fd9afcc5dull, 0x92dd2ee34d25e6d7ull, 0x40dbb4171ada3218ull,
     0xb81e7c7d8d165ce4ull, 0x879e485abf39a92aull, 0xca49cc819f7288beull,
     0xe51b60dfbe562325ull, 0x084f30fc93dade08ull, 0xd26438361a615710ull,
     0x00f0856909d2bb97ull, 0x9aae607477da0b0dull, }, /* q4_0 */
    {0x68bcee15ddeb68e3ull, 0xc3cb7d6a0fbf4b36ull, 0xb59b5879502cb353ull,
     0x8f0952219a1d9061ull, 0x34faf19bedb06779ull, 0x79735b10b68cd15full,
     0x71b78450bef62325ull, 0x0b68976113e63f82ull, 0x6172d7f120f87988ull,
     0x71b450eed497701bull, 0x5aec3dd778b03819ull, }, /* q8_0 */
    {0x3d57ab39286b6e56ull, 0xf32d54c4db85ae1cull, 0x65c1702ce7bcfb94ull,
     0x2e319e07918dccceull, 0xf2e99551232ceea4ull, 0x9cf62171c5d3f3c5ull,
     0x47e2fabfb2562325ull, 0x8c4e23deb3491373ull, 0xff19de65c78dc3dcull,
     0x40cd9e47206d3926ull, 0x59610a95e831cae5ull, }, /* q4_K */
    {0xd2ecbd018a1ef73aull, 0xe20cc213faaf52d1ull, 0x629bcbb5bcd84a93ull,
     0x7d1b1dbbcb076fd9ull, 0x74faef7e7e68c067ull, 0x46fd96e31cd8a325ull,
     0x46fd96e31cd8a325ull, 0xb081dcc1878a49adull, 0x14e22ca600cd3b52ull,
     0xa371d93de08d49a3ull, 0x7cb0c3a193feefc6ull, }, /* q6_K */
    {0xd63a3be6dce53a31ull, 0xdc2496d900a9e2e5ull, 0xd0034fddaca1fc06ull,
     0x09ce6757216d88caull, 0x151ec34fbf91dd6eull, 0x5fbbf387586c2d80ull,
     0x2401ffede8ef2325ull, 0xadcdf0e5ecb15af3ull, 0xae1c57166b6a8b80ull,
     0xe18c95cde8c1a8f1ull, 0x4c6a65dbe99765f1ull, }, /* q8_K */
};

/* dist 0 seed 7 */
static const char q4k_case0[] =
    "ca065f13eef7f3efa2f8f7a9274ff5c2e683648f7bc3e96925c296247ad0f7b679b94b65c750a70bcd916fbb6e877649"
    "838b48cbd8e4d91d5bbffb7f048b4e698768a67a8b9b8a2c0aaaf4b59628765061d9b0d645555f776441d3c525536555"
    "a82494865688e735b505d4c444a17835dc46779f503d9d76d62d0f6c3d25599bfb79c24f9c87860f378e56cd5df4b766"
    ;
static const char q6k_case0[] =
    "139d7a81815ce737a4a070d753676fd075c76f255f592d8d3623e00f43be5017d6fbe30d867eb8b2a01e1f42f7f10c7a"
    "c9868026ecc1f580dc621736c46d3a9e5f4552ed1290813a357ff9627217d1321fc809467741ea1e2ce0f397c48112eb"
    "7611dd5160bb6db0649103a4ba7b397b1d39e9d3b6d20dff30e0b9f4b31b2e8d4e669664150a1df5a27b26b2c56ffd9a"
    "559954a6696769e0e86b045854d59681ea5153a14e2aa859da2e22622e1a5aaa2a9109ba665b8ef1dd628d2da5085781"
    "5e57a990b59254557ac75696809eaa58f080"
    ;
/* dist 2 seed 8 */
static const char q4k_case1[] =
    "892deb3a8fc2c443c2018242fd046f9382d12171a150514001d2c150ef53b2b21121c10221520170f1a12262c2425021"
    "00512388c30570705882988ab97c468863417024876743a458956422521346550e0e0e0e000e0e0e0e0e0e0f0e0e0e0e"
    "0e0e0e0e0e0e0e0e0e0e0e0f0e0e0efec6d6e6d6e6d6d6d6d6e6e6c6e6e606d0d6d6d6d6d6d6e6e6e6c6d6c6e6dfc6d6"
    ;
static const char q6k_case1[] =
    "6f1190217112614251d021a3f02dce2e43c206999ed834d000f8ac171952640f44b2db4a5f012e038865874ff001495b"
    "c9470d8f87b04f3b63d2d98c9d4210871f100011101121000f10101100000f000114020a0b0bf80e0ef211f0110c2d0d"
    "e70b1c0b21060f04ff1f3beb15190500e09000d080a0103011a041207f6061f035722a96e22ab6ba5ea2928680895191"
    "594a811ba96a5ad472955b16521b686869a2aaaaa4aeaeaa65a2a666aaaa21822a6a6929ab6adbe9e91b6918e58a2b22"
    "dc03fdfcfb04040368fcfd8041a32a033024"
    ;
/* dist 4 seed 9 */
static const char q4k_case2[] =
    "c6125b0df5f9f9f8403f0d001f07020bddcbbbafacca9dbabbdca8abcbbe9aa7cafefffcdb8cd78ccceddbb78dacbcca"
    "ef8b7abdc99dac9aaaa9cddbd6bcad8999ccadcdabbacdbb8dc8a9ab67bef7bac8aaba8adb9bb8b8cab76aaaba8b7beb"
    "bb7bcf8cdd8ccb9b7a9ad9d8b99aaaca6aafafcb9baee87decaebed98d9c7afdbdaaab9cb9aebf8bbd9f9d8acbad897c"
    ;
static const char q6k_case2[] =
    "0488ba51e85b75bba9d65f9949834ad1db63203889a7317647e5c9811408f7ac11d4167868c4acb6b7a1583a4376acf9"
    "e881b070c49f7580f683b4b93f8c09a6aa1303838222f95b533d25e34561b04258c88077d53709994a1b4ecf9c4bcc7a"
    "36aab87ed3cc271725b7a249f7de1100467f74ad416c42ca5f8a81c1167ab8e300004000000000000000000010000001"
    "000000000000010400000001500000004000000000000040000004000000440000000000000000000000000000000000"
    "92919a8e8b91928b9f80959d9a98879a3d0a"
    ;

static int unhex(const char *s, unsigned char *out, size_t n) {
    if (strlen(s) != 2 * n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return 0;
        out[i] = (unsigned char)v;
    }
    return 1;
}

static void compare_bytes(const char *what, const void *mine, const char *hex, size_t n) {
    unsigned char want[512];
    CHECK(n <= sizeof want && unhex(hex, want, n));
    const unsigned char *m = mine;
    int first = -1, diff = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] != want[i]) {
            if (first < 0) first = (int)i;
            diff++;
        }
    CHECK_MSG(diff == 0, "%s: %d bytes differ from ggml, first at %d (%02x vs %02x)", what, diff, first,
              first >= 0 ? m[first] : 0, first >= 0 ? want[first] : 0);
}

static void test_ggml_vectors(void) {
    /* Whole blocks, hex. */
    static const struct { int dist; uint64_t seed; } cases[3] = {
        {DIST_WEIGHTS, 7}, {DIST_OUTLIERS, 8}, {DIST_POSITIVE, 9}};
    const char *q4k_hex[3] = {q4k_case0, q4k_case1, q4k_case2};
    const char *q6k_hex[3] = {q6k_case0, q6k_case1, q6k_case2};
    for (int c = 0; c < 3; c++) {
        uint64_t s = cases[c].seed;
        fill_dist(xs, QK_K, cases[c].dist, &s);
        block_q4_K a;
        block_q6_K b;
        quantize_row_q4_K(xs, &a, QK_K);
        quantize_row_q6_K(xs, &b, QK_K);
        char what[64];
        snprintf(what, sizeof what, "q4_K case %d", c);
        compare_bytes(what, &a, q4k_hex[c], sizeof a);
        snprintf(what, sizeof what, "q6_K case %d", c);
        compare_bytes(what, &b, q6k_hex[c], sizeof b);
    }

    /* Hashes over HASH_NBLK super-blocks per format and distribution.
     * That many because a wrong operation order (say (w*d)*d for w*(d*d))
     * changes only about one super-block in a few thousand. The output
     * buffer is zeroed first, as in the generator: ggml leaves the bsums
     * of an all-zero Q8_K block unwritten. */
    const int64_t hn = (int64_t)HASH_NBLK * QK_K;
    float *hx = malloc((size_t)hn * sizeof *hx);
    unsigned char *hq = malloc((size_t)HASH_NBLK * sizeof(block_q8_K));
    CHECK(hx && hq);
    if (!hx || !hq) return;
    int total = 0, same = 0;
    for (int f = 0; f < F_COUNT; f++) {
        for (int dist = 0; dist < DIST_COUNT; dist++) {
            uint64_t s = 1000 + (uint64_t)dist;
            fill_dist(hx, (int)hn, dist, &s);
            memset(hq, 0, (size_t)HASH_NBLK * sizeof(block_q8_K));
            quantize_any(f, hx, hq, hn);
            size_t bytes = (size_t)(hn / fmt_elems[f]) * fmt_bytes[f];
            uint64_t h = fnv1a(FNV_SEED, hq, bytes);
            total++;
            same += h == ggml_hash[f][dist];
            CHECK_MSG(h == ggml_hash[f][dist], "%s dist %d: hash %016llx, ggml %016llx", fmt_name[f], dist,
                      (unsigned long long)h, (unsigned long long)ggml_hash[f][dist]);
        }
    }
    printf("ggml vectors: %d/%d (format, distribution) runs of %d super-blocks identical, "
           "6 full Q4_K/Q6_K blocks compared\n", same, total, HASH_NBLK);
    free(hx);
    free(hq);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../../shared";
    test_hand_q8_0();
    test_hand_q4_0();
    test_hand_q8_K();
    test_hand_q6_K();
    test_hand_q4_K();
    test_round_trips();
    test_ggml_vectors();
    test_gguf_q8_0(shared);
    return check_report("test_quant_formats");
}
