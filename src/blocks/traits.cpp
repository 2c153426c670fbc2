#include "blocks/traits.h"

#include <array>
#include <iterator>

#include "blocks/float_types.h"
#include "blocks/k_quants.h"
#include "blocks/legacy_quants.h"
#include "blocks/nonlinear_quants.h"
#include "blocks/ternary_quants.h"
#include "core/error.h"

namespace bitdial {
namespace {

// Rows with null codecs are types bitdial can size, list and copy but not decode or encode: the
// grid-based IQ1/IQ2/IQ3 families, the activation-only Q8_1/Q8_K, and MXFP4.
constexpr TypeTraits kTable[] = {
    {TensorType::F32, dequantize_row_f32, quantize_row_f32},
    {TensorType::F16, dequantize_row_f16, quantize_row_f16},
    {TensorType::Q4_0, dequantize_row_q4_0, quantize_row_q4_0},
    {TensorType::Q4_1, dequantize_row_q4_1, quantize_row_q4_1},
    {TensorType::Q5_0, dequantize_row_q5_0, quantize_row_q5_0},
    {TensorType::Q5_1, dequantize_row_q5_1, quantize_row_q5_1},
    {TensorType::Q8_0, dequantize_row_q8_0, quantize_row_q8_0},
    {TensorType::Q8_1, nullptr, nullptr},
    {TensorType::Q2_K, dequantize_row_q2_k, quantize_row_q2_k},
    {TensorType::Q3_K, dequantize_row_q3_k, quantize_row_q3_k},
    {TensorType::Q4_K, dequantize_row_q4_k, quantize_row_q4_k},
    {TensorType::Q5_K, dequantize_row_q5_k, quantize_row_q5_k},
    {TensorType::Q6_K, dequantize_row_q6_k, quantize_row_q6_k},
    {TensorType::Q8_K, nullptr, nullptr},
    {TensorType::IQ2_XXS, nullptr, nullptr},
    {TensorType::IQ2_XS, nullptr, nullptr},
    {TensorType::IQ3_XXS, nullptr, nullptr},
    {TensorType::IQ1_S, nullptr, nullptr},
    {TensorType::IQ4_NL, dequantize_row_iq4_nl, quantize_row_iq4_nl},
    {TensorType::IQ3_S, nullptr, nullptr},
    {TensorType::IQ2_S, nullptr, nullptr},
    {TensorType::IQ4_XS, dequantize_row_iq4_xs, quantize_row_iq4_xs},
    {TensorType::I8, dequantize_row_i8, nullptr},
    {TensorType::I16, dequantize_row_i16, nullptr},
    {TensorType::I32, dequantize_row_i32, nullptr},
    {TensorType::I64, dequantize_row_i64, nullptr},
    {TensorType::F64, dequantize_row_f64, nullptr},
    {TensorType::IQ1_M, nullptr, nullptr},
    {TensorType::BF16, dequantize_row_bf16, quantize_row_bf16},
    {TensorType::TQ1_0, dequantize_row_tq1_0, quantize_row_tq1_0},
    {TensorType::TQ2_0, dequantize_row_tq2_0, quantize_row_tq2_0},
    {TensorType::MXFP4, nullptr, nullptr},
};

constexpr uint32_t kMaxId = 64;

constexpr std::array<int, kMaxId> make_index() {
  std::array<int, kMaxId> index{};
  for (auto& i : index) i = -1;
  for (size_t i = 0; i < std::size(kTable); ++i) index[static_cast<uint32_t>(kTable[i].type)] = static_cast<int>(i);
  return index;
}

constexpr std::array<int, kMaxId> kIndex = make_index();

}  // namespace

const TypeTraits& type_traits(TensorType type) {
  const uint32_t id = static_cast<uint32_t>(type);
  BITDIAL_ASSERT(id < kMaxId && kIndex[id] >= 0);
  return kTable[kIndex[id]];
}

}  // namespace bitdial
