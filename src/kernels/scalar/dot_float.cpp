// Reference dot products for float weights (f32, f16, bf16) with F32 activations. The summation
// order is part of the specification (the AVX2 kernels follow it exactly, so both paths give the
// same bits): it is the order llama.cpp's CPU backend uses for F32 products, which makes our fp16
// KV-cache rounding decisions agree with llama.cpp's and keeps logits within 1e-3 of its output.
#include <cmath>

#include "core/fp16.h"
#include "kernels/dot_families.h"

namespace bitdial {
namespace {

inline float as_float(float v) { return v; }
inline float from_fp16(uint16_t v) { return fp16_to_f32(v); }
inline float from_bf16(uint16_t v) { return bf16_to_f32(v); }

// n % 8 == 0: eight lanes, lane j accumulates elements i = j (mod 8) with fused multiply-adds;
// then lanes are folded as (j, j + 4) -> (0, 2), (1, 3) -> (0, 1).
// Otherwise: four groups of eight lanes over the first n - n % 32 elements, folded groups
// (0 + 2, 1 + 3, 0 + 1), then lanes (j, j + 4) -> (0 + 1, 2 + 3) -> sum; the remaining n % 32
// products (rounded to float) are added in double precision, in order.
template <typename Elem, float (*Load)(Elem)>
float dot_float_ref(const Elem* w, const float* x, int64_t n) {
  if (n % 8 == 0) {
    float lane[8] = {};
    for (int64_t i = 0; i < n; i += 8)
      for (int j = 0; j < 8; ++j) lane[j] = std::fma(Load(w[i + j]), x[i + j], lane[j]);
    float t[4];
    for (int j = 0; j < 4; ++j) t[j] = lane[j + 4] + lane[j];
    return (t[0] + t[2]) + (t[1] + t[3]);
  }
  float acc[4][8] = {};
  const int64_t np = n - n % 32;
  for (int64_t i = 0; i < np; i += 32)
    for (int g = 0; g < 4; ++g)
      for (int j = 0; j < 8; ++j) acc[g][j] = std::fma(Load(w[i + 8 * g + j]), x[i + 8 * g + j], acc[g][j]);
  float lane[8];
  for (int j = 0; j < 8; ++j) lane[j] = (acc[0][j] + acc[2][j]) + (acc[1][j] + acc[3][j]);
  float t[4];
  for (int j = 0; j < 4; ++j) t[j] = lane[j] + lane[j + 4];
  double sum = static_cast<double>((t[0] + t[1]) + (t[2] + t[3]));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(Load(w[i]) * x[i]);
  return static_cast<float>(sum);
}

template <typename Elem, float (*Load)(Elem)>
void tile_float(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride,
                int64_t nt, float* y, int64_t ldy) {
  for (int64_t t = 0; t < nt; ++t) {
    const auto* x = reinterpret_cast<const float*>(a + static_cast<size_t>(t) * a_stride);
    for (int64_t r = 0; r < nr; ++r) {
      const auto* row = reinterpret_cast<const Elem*>(w + static_cast<size_t>(r) * w_stride);
      y[t * ldy + r] = dot_float_ref<Elem, Load>(row, x, n);
    }
  }
}

const DotKernel kF32{ActFormat::F32, tile_float<float, as_float>};
const DotKernel kF16{ActFormat::F32, tile_float<uint16_t, from_fp16>};
const DotKernel kBF16{ActFormat::F32, tile_float<uint16_t, from_bf16>};

}  // namespace

float dot_f32_reference(const float* w, const float* x, int64_t n) { return dot_float_ref<float, as_float>(w, x, n); }

const DotKernel* scalar_float_kernel(TensorType type) {
  switch (type) {
    case TensorType::F32: return &kF32;
    case TensorType::F16: return &kF16;
    case TensorType::BF16: return &kBF16;
    default: return nullptr;
  }
}

}  // namespace bitdial
