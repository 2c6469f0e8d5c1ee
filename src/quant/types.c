#include "quant/types.h"

#include <string.h>

#include "quant/blocks.h"

typedef struct {
    const char *name;
    int block_elems;
    size_t block_bytes;
    int is_weight;
} type_info;

static type_info info_of(tensor_type t) {
    switch (t) {
    case TYPE_F32: return (type_info){"f32", 1, 4, 1};
    case TYPE_F16: return (type_info){"f16", 1, 2, 1};
    case TYPE_BF16: return (type_info){"bf16", 1, 2, 1};
    case TYPE_Q4_0: return (type_info){"q4_0", QK4_0, sizeof(block_q4_0), 1};
    case TYPE_Q8_0: return (type_info){"q8_0", QK8_0, sizeof(block_q8_0), 1};
    case TYPE_Q4_K: return (type_info){"q4_K", QK_K, sizeof(block_q4_K), 1};
    case TYPE_Q6_K: return (type_info){"q6_K", QK_K, sizeof(block_q6_K), 1};
    case TYPE_Q8_K: return (type_info){"q8_K", QK_K, sizeof(block_q8_K), 0};
    case TYPE_Q8_0X2: return (type_info){"q8_0x2", QK8_0, sizeof(block_q8_0x2) / 2, 0};
    case TYPE_Q8_0R: return (type_info){"q8_0r", QK8_0, sizeof(float) + QK8_0, 0};
    /* Per row, as Q4_0 / Q8_0 / Q4_K (eight rows share each interleaved block).
     * Never a file's type: packing makes them (quant/pack.h). */
    case TYPE_Q4_0X8: return (type_info){"q4_0x8", QK4_0, sizeof(block_q4_0), 0};
    case TYPE_Q8_0X8: return (type_info){"q8_0x8", QK8_0, sizeof(block_q8_0), 0};
    case TYPE_Q4_KX8: return (type_info){"q4_Kx8", QK_K, sizeof(block_q4_K), 0};
    case TYPE_Q8_0S: return (type_info){"q8_0s", QK8_0, sizeof(block_q8_0s), 0};
    case TYPE_I32: return (type_info){"i32", 1, 4, 0};
    case TYPE_I64: return (type_info){"i64", 1, 8, 0};
    case TYPE_F64: return (type_info){"f64", 1, 8, 0};
    }
    return (type_info){"?", 1, 0, 0};
}

const char *tensor_type_name(tensor_type t) { return info_of(t).name; }
int tensor_type_block_elems(tensor_type t) { return info_of(t).block_elems; }
size_t tensor_type_block_bytes(tensor_type t) { return info_of(t).block_bytes; }
int tensor_type_is_weight(tensor_type t) { return info_of(t).is_weight; }

size_t tensor_type_bytes(tensor_type t, int64_t n) {
    type_info i = info_of(t);
    return (size_t)(n / i.block_elems) * i.block_bytes;
}

int64_t tensor_numel(const tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

tensor tensor_stack_slice(const tensor *t, int64_t e, int64_t r0, int64_t rows) {
    tensor v = *t;
    const size_t row_bytes = tensor_type_bytes(t->type, t->shape[2]);
    v.n_dims = 2;
    v.shape[0] = rows;
    v.shape[1] = t->shape[2];
    v.data = (const char *)t->data + ((size_t)e * (size_t)t->shape[1] + (size_t)r0) * row_bytes;
    v.nbytes = (size_t)rows * row_bytes;
    return v;
}

/* IEEE binary16 -> binary32, including subnormals, inf and NaN. */
float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t mant = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00); /* overflow: inf */
    if (e <= 0) {                                  /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into inf: correct */
    return (uint16_t)(sign | half);
}

uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 64); /* quiet NaN */
    return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}
