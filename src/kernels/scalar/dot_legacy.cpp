// Reference dot kernels for the 32-value block types (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl) against
// Q8 activations. These define the result: per block an exact int32 sum of weight codes times
// activation codes, then one float expression per block, blocks added in order in float.
#include <cstring>

#include "blocks/legacy_quants.h"
#include "blocks/nonlinear_quants.h"
#include "core/fp16.h"
#include "kernels/dot_families.h"

namespace bitdial {
namespace {

// Codes of one block in value order j = 0..31: the low nibbles of qs[0..15], then the high ones.
void nibble_codes(const uint8_t* qs, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0x0f;
    q[j + 16] = qs[j] >> 4;
  }
}

// Adds bit 4 of each 5-bit code: bit j of the little-endian word qh belongs to value j.
void add_high_bits(const uint8_t* qh, int* q) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int j = 0; j < 32; ++j) q[j] |= static_cast<int>((bits >> j) & 1u) << 4;
}

int dot_codes(const int* q, const int8_t* a) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += q[j] * a[j];
  return sum;
}

// sum_j (q_j - 8) d a_j x_a = d (d_a sum q_j a_j - 8 s_a), with s_a = d_a sum a_j.
float dot_block_q4_0(const BlockQ4_0& w, const ActBlockQ8& a) {
  int q[32];
  nibble_codes(w.qs, q);
  return fp16_to_f32(w.d) * (a.d * static_cast<float>(dot_codes(q, a.qs)) - 8.0f * a.s);
}

// sum_j (q_j d + m) d_a a_j = (d d_a) sum q_j a_j + m s_a.
float dot_block_q4_1(const BlockQ4_1& w, const ActBlockQ8& a) {
  int q[32];
  nibble_codes(w.qs, q);
  return fp16_to_f32(w.d) * a.d * static_cast<float>(dot_codes(q, a.qs)) + fp16_to_f32(w.m) * a.s;
}

float dot_block_q5_0(const BlockQ5_0& w, const ActBlockQ8& a) {
  int q[32];
  nibble_codes(w.qs, q);
  add_high_bits(w.qh, q);
  return fp16_to_f32(w.d) * (a.d * static_cast<float>(dot_codes(q, a.qs)) - 16.0f * a.s);
}

float dot_block_q5_1(const BlockQ5_1& w, const ActBlockQ8& a) {
  int q[32];
  nibble_codes(w.qs, q);
  add_high_bits(w.qh, q);
  return fp16_to_f32(w.d) * a.d * static_cast<float>(dot_codes(q, a.qs)) + fp16_to_f32(w.m) * a.s;
}

float dot_block_q8_0(const BlockQ8_0& w, const ActBlockQ8& a) {
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = w.qs[j];
  return fp16_to_f32(w.d) * a.d * static_cast<float>(dot_codes(q, a.qs));
}

// The codes index the grid: sum_j d kIq4Grid[q_j] d_a a_j = (d d_a) sum kIq4Grid[q_j] a_j.
float dot_block_iq4_nl(const BlockIQ4_NL& w, const ActBlockQ8& a) {
  int q[32];
  nibble_codes(w.qs, q);
  for (int& v : q) v = kIq4Grid[v];
  return fp16_to_f32(w.d) * a.d * static_cast<float>(dot_codes(q, a.qs));
}

// y[t * ldy + r] = sum over blocks b, in order, of dot_block(w[r][b], a[t][b]).
template <class Block, float (*kDotBlock)(const Block&, const ActBlockQ8&)>
void dot_tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride,
              int64_t nt, float* y, int64_t ldy) {
  const int64_t nb = n / 32;
  for (int64_t t = 0; t < nt; ++t) {
    const auto* act = reinterpret_cast<const ActBlockQ8*>(a + static_cast<size_t>(t) * a_stride);
    for (int64_t r = 0; r < nr; ++r) {
      const auto* row = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * w_stride);
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) sum += kDotBlock(row[b], act[b]);
      y[t * ldy + r] = sum;
    }
  }
}

const DotKernel kQ4_0{ActFormat::Q8, dot_tile<BlockQ4_0, dot_block_q4_0>};
const DotKernel kQ4_1{ActFormat::Q8, dot_tile<BlockQ4_1, dot_block_q4_1>};
const DotKernel kQ5_0{ActFormat::Q8, dot_tile<BlockQ5_0, dot_block_q5_0>};
const DotKernel kQ5_1{ActFormat::Q8, dot_tile<BlockQ5_1, dot_block_q5_1>};
const DotKernel kQ8_0{ActFormat::Q8, dot_tile<BlockQ8_0, dot_block_q8_0>};
const DotKernel kIq4Nl{ActFormat::Q8, dot_tile<BlockIQ4_NL, dot_block_iq4_nl>};

}  // namespace

const DotKernel* scalar_legacy_kernel(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return &kQ4_0;
    case TensorType::Q4_1: return &kQ4_1;
    case TensorType::Q5_0: return &kQ5_0;
    case TensorType::Q5_1: return &kQ5_1;
    case TensorType::Q8_0: return &kQ8_0;
    case TensorType::IQ4_NL: return &kIq4Nl;
    default: return nullptr;
  }
}

}  // namespace bitdial
