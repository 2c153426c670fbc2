#include "blocks/tensor_codec.h"

#include "blocks/traits.h"
#include "core/error.h"

namespace bitdial {
namespace {

int64_t checked_rows(TensorType type, int64_t n_elements, int64_t row_len, const std::string& what) {
  const TypeInfo& info = type_info(type);
  if (row_len <= 0 || row_len % info.block_size != 0)
    fail(what, ": row of ", row_len, " values is not a multiple of the ", info.name, " block size ", info.block_size);
  if (n_elements < 0 || n_elements % row_len != 0) fail(what, ": ", n_elements, " values do not form rows of ", row_len);
  return n_elements / row_len;
}

}  // namespace

std::vector<float> dequantize_tensor(TensorType type, const uint8_t* data, int64_t n_elements, int64_t row_len,
                                     const std::string& what) {
  const TypeTraits& tr = type_traits(type);
  if (tr.dequantize_row == nullptr) fail(what, ": bitdial cannot decode type ", type_name(type));
  const int64_t rows = checked_rows(type, n_elements, row_len, what);
  const size_t rb = row_bytes(type, row_len);
  std::vector<float> out(static_cast<size_t>(n_elements));
  for (int64_t r = 0; r < rows; ++r) tr.dequantize_row(data + static_cast<size_t>(r) * rb, out.data() + r * row_len, row_len);
  return out;
}

std::vector<uint8_t> quantize_tensor(TensorType type, const float* values, int64_t n_elements, int64_t row_len,
                                     const float* importance, const std::string& what) {
  const TypeTraits& tr = type_traits(type);
  if (tr.quantize_row == nullptr) fail(what, ": bitdial cannot encode type ", type_name(type));
  const int64_t rows = checked_rows(type, n_elements, row_len, what);
  const size_t rb = row_bytes(type, row_len);
  std::vector<uint8_t> out(static_cast<size_t>(rows) * rb);
  for (int64_t r = 0; r < rows; ++r) tr.quantize_row(values + r * row_len, out.data() + static_cast<size_t>(r) * rb, row_len, importance);
  return out;
}

std::vector<uint8_t> convert_tensor_bytes(TensorType from, TensorType to, const uint8_t* data, int64_t n_elements,
                                          int64_t row_len, const std::string& what) {
  if (from == to) {
    const int64_t rows = checked_rows(from, n_elements, row_len, what);
    return {data, data + static_cast<size_t>(rows) * row_bytes(from, row_len)};
  }
  const std::vector<float> values = dequantize_tensor(from, data, n_elements, row_len, what);
  return quantize_tensor(to, values.data(), n_elements, row_len, nullptr, what);
}

}  // namespace bitdial
