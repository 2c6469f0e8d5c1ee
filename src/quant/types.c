#include "quant/types.h"

#include <string.h>

const char *tensor_type_name(tensor_type t) {
    switch (t) {
    case TYPE_F32: return "f32";
    case TYPE_F16: return "f16";
    case TYPE_BF16: return "bf16";
    case TYPE_I32: return "i32";
    case TYPE_I64: return "i64";
    case TYPE_F64: return "f64";
    }
    return "?";
}

size_t tensor_type_bytes(tensor_type t, int64_t n) {
    switch (t) {
    case TYPE_F32: return (size_t)n * 4;
    case TYPE_F16:
    case TYPE_BF16: return (size_t)n * 2;
    case TYPE_I32: return (size_t)n * 4;
    case TYPE_I64:
    case TYPE_F64: return (size_t)n * 8;
    }
    return 0;
}

int tensor_type_is_weight(tensor_type t) {
    return t == TYPE_F32 || t == TYPE_BF16 || t == TYPE_F16;
}

int64_t tensor_numel(const tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
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
