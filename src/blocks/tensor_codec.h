// Whole-tensor decoding and encoding through the per-type row codecs (blocks/traits.h): what file
// conversion, evaluation and the quantizer use when they need a tensor as floats or in another type.
// A tensor is rows of row_len values (GGUF ne[0]); n_elements must be a multiple of row_len.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial {

// Decodes a tensor to floats. Throws bitdial::Error (prefixed with `what`) when the type has no
// decoder or row_len is not a multiple of its block size.
std::vector<float> dequantize_tensor(TensorType type, const uint8_t* data, int64_t n_elements, int64_t row_len,
                                     const std::string& what);

// Encodes floats into `type`, row by row; `importance` is null or row_len per-column weights.
std::vector<uint8_t> quantize_tensor(TensorType type, const float* values, int64_t n_elements, int64_t row_len,
                                     const float* importance, const std::string& what);

// Re-types a tensor: a byte copy when from == to, else decode to floats and encode as `to`.
std::vector<uint8_t> convert_tensor_bytes(TensorType from, TensorType to, const uint8_t* data, int64_t n_elements,
                                          int64_t row_len, const std::string& what);

}  // namespace bitdial
