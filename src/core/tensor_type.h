// Tensor element types, numbered exactly as GGUF files store them (ggml_type ids), with their block
// geometry (values per block, bytes per block). The geometry lives here, below formats/, because file
// readers need it to validate tensor sizes; the codecs for each type live in blocks/traits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bitdial {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct TypeInfo {
  TensorType type;
  const char* name;    // lower-case GGUF/ggml name: "q4_K", "iq4_nl", "f16"
  int64_t block_size;  // values per block (1 for plain scalar types)
  size_t block_bytes;  // bytes per block
};

// The geometry of a raw type id read from a file, or null when the id is not a known type.
const TypeInfo* find_type_info(uint32_t id);

// The geometry of a known type (asserts the type is in the table).
const TypeInfo& type_info(TensorType type);

// Case-insensitive lookup by name ("Q4_K", "q4_k", "bf16").
std::optional<TensorType> type_from_name(std::string_view name);

inline const char* type_name(TensorType type) { return type_info(type).name; }

// Bits per stored value: 8 * block_bytes / block_size.
double bits_per_weight(TensorType type);

// Bytes of a row of n values; asserts n % block_size == 0.
size_t row_bytes(TensorType type, int64_t n);

struct TypeInfoList {
  const TypeInfo* begin_;
  const TypeInfo* end_;
  const TypeInfo* begin() const { return begin_; }
  const TypeInfo* end() const { return end_; }
};
// Every known type, in id order.
TypeInfoList all_type_infos();

}  // namespace bitdial
