#include "blocks/legacy_quants.h"

#include <cstring>

#include "blocks/scale_search.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

constexpr int kBlock = 32;

// Unpacks the 32 unsigned 4-bit codes of a block.
void unpack_codes(const uint8_t* qs, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0x0f;
    q[j + 16] = qs[j] >> 4;
  }
}

// Unpacks the 32 unsigned 5-bit codes of a block: the nibbles as for the 4-bit types, then bit 4 in
// a separate pass. Bit j of qh is tested against a table of single-bit masks rather than by shifting
// qh right by j: a per-lane variable shift does not vectorise on baseline x86-64 (SSE2), a lane-wise
// AND and compare do. (Fusing the two passes makes GCC 12 extract the nibbles with scalar code.)
void unpack_codes5(const uint8_t* __restrict qs, const uint8_t* __restrict qh, int* __restrict q) {
  static constexpr uint32_t kBit[kBlock] = {
      1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
      1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
      1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
      1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31};
  uint32_t high;
  std::memcpy(&high, qh, 4);
  unpack_codes(qs, q);
  for (int j = 0; j < kBlock; ++j) q[j] |= (high & kBit[j]) != 0 ? 16 : 0;
}

// Packs 32 unsigned codes (0..15, or 0..31 when qh is given).
void pack_codes(const int* q, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    high |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    high |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  if (qh != nullptr) std::memcpy(qh, &high, 4);
}

// Decodes a symmetric block: x_j = (q_j - offset) * d.
void decode_symmetric(float d, const int* __restrict q, int offset, float* __restrict out) {
  for (int j = 0; j < kBlock; ++j) out[j] = static_cast<float>(q[j] - offset) * d;
}

void decode_affine(float d, float m, const int* __restrict q, float* __restrict out) {
  for (int j = 0; j < kBlock; ++j) out[j] = affine_value(q[j], d, m);
}

// Block of a symmetric type: the fp16 scale and unsigned codes (signed code + offset).
template <class Block>
void encode_symmetric(const float* x, const float* w, int offset, Block* b, int* q) {
  const SymmetricFit fit = fit_symmetric(x, w, kBlock, -offset, offset - 1, q);
  b->d = fit.d;
  for (int j = 0; j < kBlock; ++j) q[j] += offset;
}

template <class Block>
void encode_affine(const float* x, const float* w, int qmax, Block* b, int* q) {
  const AffineFit fit = fit_affine(x, w, kBlock, qmax, q);
  b->d = fit.d;
  b->m = fit.m;
}

void check_row(int64_t n) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
}

}  // namespace

void dequantize_row_q4_0(const void* blocks, float* out, int64_t n) {
  check_row(n);
  const auto* b = static_cast<const BlockQ4_0*>(blocks);
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    unpack_codes(b[i].qs, q);
    decode_symmetric(fp16_to_f32(b[i].d), q, 8, out + i * kBlock);
  }
}

void quantize_row_q4_0(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n);
  auto* b = static_cast<BlockQ4_0*>(blocks);
  float w[kBlock];
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    encode_symmetric(in + i * kBlock, w, 8, &b[i], q);
    pack_codes(q, b[i].qs, nullptr);
  }
}

void dequantize_row_q4_1(const void* blocks, float* out, int64_t n) {
  check_row(n);
  const auto* b = static_cast<const BlockQ4_1*>(blocks);
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    unpack_codes(b[i].qs, q);
    decode_affine(fp16_to_f32(b[i].d), fp16_to_f32(b[i].m), q, out + i * kBlock);
  }
}

void quantize_row_q4_1(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n);
  auto* b = static_cast<BlockQ4_1*>(blocks);
  float w[kBlock];
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    encode_affine(in + i * kBlock, w, 15, &b[i], q);
    pack_codes(q, b[i].qs, nullptr);
  }
}

void dequantize_row_q5_0(const void* blocks, float* out, int64_t n) {
  check_row(n);
  const auto* b = static_cast<const BlockQ5_0*>(blocks);
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    unpack_codes5(b[i].qs, b[i].qh, q);
    decode_symmetric(fp16_to_f32(b[i].d), q, 16, out + i * kBlock);
  }
}

void quantize_row_q5_0(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n);
  auto* b = static_cast<BlockQ5_0*>(blocks);
  float w[kBlock];
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    encode_symmetric(in + i * kBlock, w, 16, &b[i], q);
    pack_codes(q, b[i].qs, b[i].qh);
  }
}

void dequantize_row_q5_1(const void* blocks, float* out, int64_t n) {
  check_row(n);
  const auto* b = static_cast<const BlockQ5_1*>(blocks);
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    unpack_codes5(b[i].qs, b[i].qh, q);
    decode_affine(fp16_to_f32(b[i].d), fp16_to_f32(b[i].m), q, out + i * kBlock);
  }
}

void quantize_row_q5_1(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n);
  auto* b = static_cast<BlockQ5_1*>(blocks);
  float w[kBlock];
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    encode_affine(in + i * kBlock, w, 31, &b[i], q);
    pack_codes(q, b[i].qs, b[i].qh);
  }
}

void dequantize_row_q8_0(const void* blocks, float* out, int64_t n) {
  check_row(n);
  const auto* b = static_cast<const BlockQ8_0*>(blocks);
  for (int64_t i = 0; i < n / kBlock; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kBlock; ++j) out[i * kBlock + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void quantize_row_q8_0(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n);
  auto* b = static_cast<BlockQ8_0*>(blocks);
  float w[kBlock];
  int q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    // -127..127 rather than -128..127: a symmetric range keeps sign-flipping dot kernels exact.
    b[i].d = fit_symmetric_refined(in + i * kBlock, w, kBlock, -127, 127, q).d;
    for (int j = 0; j < kBlock; ++j) b[i].qs[j] = static_cast<int8_t>(q[j]);
  }
}

}  // namespace bitdial
