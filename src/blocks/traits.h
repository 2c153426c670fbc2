// One table row per tensor type: its reference (scalar) row codecs, next to the geometry from
// core/tensor_type.h. Adding a type means one block struct, one quantize/dequantize pair and one
// row in traits.cpp. A row of n values occupies n / block_size blocks (n % block_size == 0).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"

namespace bitdial {

// Decodes n values (n % block_size == 0) from packed blocks into floats.
using DequantizeRowFn = void (*)(const void* blocks, float* out, int64_t n);

// Encodes n values into packed blocks. `importance` is null or holds n non-negative per-column
// weights: the quantizer then minimises sum_i importance[i] * (x[i] - q[i])^2 instead of the
// plain squared error. Must never write NaN/Inf for finite input.
using QuantizeRowFn = void (*)(const float* in, void* blocks, int64_t n, const float* importance);

struct TypeTraits {
  TensorType type;
  DequantizeRowFn dequantize_row;  // null: bitdial cannot decode this type
  QuantizeRowFn quantize_row;      // null: bitdial cannot encode this type

  const TypeInfo& info() const { return type_info(type); }
};

// The codecs of a type; every TensorType has a row (with null codecs where bitdial has none).
const TypeTraits& type_traits(TensorType type);

}  // namespace bitdial
