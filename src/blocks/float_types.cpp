#include "blocks/float_types.h"

#include <cstring>

#include "core/fp16.h"

namespace bitdial {

// f32: 32 bits per weight, stored as is.
void dequantize_row_f32(const void* blocks, float* out, int64_t n) { std::memcpy(out, blocks, static_cast<size_t>(n) * 4); }

void quantize_row_f32(const float* in, void* blocks, int64_t n, const float*) {
  std::memcpy(blocks, in, static_cast<size_t>(n) * 4);
}

// f16: IEEE binary16, 16 bits per weight; encoding rounds to nearest even (the least-error choice
// for every value, so importance weights cannot change it). Finite weights beyond the half range
// saturate to +-65504 rather than becoming infinities that would poison every dot product.
void dequantize_row_f16(const void* blocks, float* out, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(h[i]);
}

void quantize_row_f16(const float* in, void* blocks, int64_t n, const float*) {
  auto* h = static_cast<uint16_t*>(blocks);
  constexpr float kMaxHalf = 65504.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = in[i];
    h[i] = f32_to_fp16(v > kMaxHalf ? kMaxHalf : v < -kMaxHalf ? -kMaxHalf : v);  // NaN passes through
  }
}

// bf16: the top 16 bits of an f32 (8-bit exponent, 7-bit mantissa), 16 bits per weight.
void dequantize_row_bf16(const void* blocks, float* out, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
}

void quantize_row_bf16(const float* in, void* blocks, int64_t n, const float*) {
  auto* h = static_cast<uint16_t*>(blocks);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(in[i]);
}

namespace {
template <class T>
void widen_row(const void* blocks, float* out, int64_t n) {
  const auto* bytes = static_cast<const unsigned char*>(blocks);
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, bytes + static_cast<size_t>(i) * sizeof(T), sizeof(T));  // may be unaligned
    out[i] = static_cast<float>(v);
  }
}
}  // namespace

void dequantize_row_i8(const void* blocks, float* out, int64_t n) { widen_row<int8_t>(blocks, out, n); }
void dequantize_row_i16(const void* blocks, float* out, int64_t n) { widen_row<int16_t>(blocks, out, n); }
void dequantize_row_i32(const void* blocks, float* out, int64_t n) { widen_row<int32_t>(blocks, out, n); }
void dequantize_row_i64(const void* blocks, float* out, int64_t n) { widen_row<int64_t>(blocks, out, n); }
void dequantize_row_f64(const void* blocks, float* out, int64_t n) { widen_row<double>(blocks, out, n); }

}  // namespace bitdial
