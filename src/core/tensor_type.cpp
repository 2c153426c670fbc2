#include "core/tensor_type.h"

#include <array>
#include <cctype>
#include <iterator>

#include "core/error.h"

namespace bitdial {
namespace {

// Geometry as the GGUF format defines it (ggml's block layouts).
constexpr TypeInfo kTypes[] = {
    {TensorType::F32, "f32", 1, 4},          {TensorType::F16, "f16", 1, 2},
    {TensorType::Q4_0, "q4_0", 32, 18},      {TensorType::Q4_1, "q4_1", 32, 20},
    {TensorType::Q5_0, "q5_0", 32, 22},      {TensorType::Q5_1, "q5_1", 32, 24},
    {TensorType::Q8_0, "q8_0", 32, 34},      {TensorType::Q8_1, "q8_1", 32, 36},
    {TensorType::Q2_K, "q2_K", 256, 84},     {TensorType::Q3_K, "q3_K", 256, 110},
    {TensorType::Q4_K, "q4_K", 256, 144},    {TensorType::Q5_K, "q5_K", 256, 176},
    {TensorType::Q6_K, "q6_K", 256, 210},    {TensorType::Q8_K, "q8_K", 256, 292},
    {TensorType::IQ2_XXS, "iq2_xxs", 256, 66}, {TensorType::IQ2_XS, "iq2_xs", 256, 74},
    {TensorType::IQ3_XXS, "iq3_xxs", 256, 98}, {TensorType::IQ1_S, "iq1_s", 256, 50},
    {TensorType::IQ4_NL, "iq4_nl", 32, 18},  {TensorType::IQ3_S, "iq3_s", 256, 110},
    {TensorType::IQ2_S, "iq2_s", 256, 82},   {TensorType::IQ4_XS, "iq4_xs", 256, 136},
    {TensorType::I8, "i8", 1, 1},            {TensorType::I16, "i16", 1, 2},
    {TensorType::I32, "i32", 1, 4},          {TensorType::I64, "i64", 1, 8},
    {TensorType::F64, "f64", 1, 8},          {TensorType::IQ1_M, "iq1_m", 256, 56},
    {TensorType::BF16, "bf16", 1, 2},        {TensorType::TQ1_0, "tq1_0", 256, 54},
    {TensorType::TQ2_0, "tq2_0", 256, 66},   {TensorType::MXFP4, "mxfp4", 32, 17},
};

constexpr uint32_t kMaxId = 64;

constexpr std::array<int, kMaxId> make_index() {
  std::array<int, kMaxId> index{};
  for (auto& i : index) i = -1;
  for (size_t i = 0; i < std::size(kTypes); ++i) index[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int>(i);
  return index;
}

constexpr std::array<int, kMaxId> kIndex = make_index();

}  // namespace

const TypeInfo* find_type_info(uint32_t id) {
  if (id >= kMaxId || kIndex[id] < 0) return nullptr;
  return &kTypes[kIndex[id]];
}

const TypeInfo& type_info(TensorType type) {
  const TypeInfo* t = find_type_info(static_cast<uint32_t>(type));
  BITDIAL_ASSERT(t != nullptr);
  return *t;
}

std::optional<TensorType> type_from_name(std::string_view name) {
  for (const TypeInfo& t : kTypes) {
    std::string_view n = t.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(n[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return t.type;
  }
  return std::nullopt;
}

double bits_per_weight(TensorType type) {
  const TypeInfo& t = type_info(type);
  return 8.0 * static_cast<double>(t.block_bytes) / static_cast<double>(t.block_size);
}

size_t row_bytes(TensorType type, int64_t n) {
  const TypeInfo& t = type_info(type);
  BITDIAL_ASSERT(n >= 0 && n % t.block_size == 0);
  return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

TypeInfoList all_type_infos() { return {std::begin(kTypes), std::end(kTypes)}; }

}  // namespace bitdial
