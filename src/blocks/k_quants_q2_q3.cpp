// q2_K and q3_K: layouts and decode formulas are documented on the block structs in k_quants.h;
// the encoders hand each 256-value super-block to the searches in k_quant_search.h and pack what
// they choose.
#include "blocks/k_quant_search.h"
#include "blocks/k_quants.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

void check_row(int64_t n, const char* what) {
  if (n % kQK_K != 0) fail(what, ": row length ", n, " is not a multiple of ", kQK_K);
}

// q2_K: 16 sub-blocks of 16, codes 0..3, 4-bit scales and mins.
constexpr kq::AffineSpec kQ2Spec{16, 16, 3, 15, 0.5f, 2.0f};
// q3_K: 16 sub-blocks of 16, codes -4..3, 6-bit scales stored with a +32 bias.
constexpr kq::ScaledSpec kQ3Spec{16, 16, -4, 3, -32, 31, 7.0f, 0.5f, 2.5f};

// Decoders work on a 16-byte slice l0..l0+15 of one 128-value half h, which holds value
// 128h + 32j + l for all four j: four 16-value sub-blocks (scales s = 8h + 2j + l0/16, so dl[2j]
// relative to the slice's first). Fixed shifts per j and __restrict on the output (uint8_t may alias
// it otherwise) let the compiler vectorise over l.
void decode_q2_k_slice(const uint8_t* __restrict qs, const float* dl, const float* ml, float* __restrict y) {
  const float d0 = dl[0], d1 = dl[2], d2 = dl[4], d3 = dl[6];
  const float m0 = ml[0], m1 = ml[2], m2 = ml[4], m3 = ml[6];
  for (int l = 0; l < 16; ++l) {
    y[l] = d0 * (qs[l] & 3) - m0;
    y[l + 32] = d1 * ((qs[l] >> 2) & 3) - m1;
    y[l + 64] = d2 * ((qs[l] >> 4) & 3) - m2;
    y[l + 96] = d3 * (qs[l] >> 6) - m3;
  }
}

// The high bit of value 128h + 32j + l is bit 4h + j of hmask[l], tested with a byte mask: a shift by
// the run-time h has no per-byte SSE2 instruction. Code = low 2 bits | high << 2, minus 4.
void decode_q3_k_slice(const uint8_t* __restrict qs, const uint8_t* __restrict hmask, int h, const float* dl,
                       float* __restrict y) {
  const float d0 = dl[0], d1 = dl[2], d2 = dl[4], d3 = dl[6];
  const uint8_t b0 = static_cast<uint8_t>(1 << (4 * h)), b1 = static_cast<uint8_t>(2 << (4 * h));
  const uint8_t b2 = static_cast<uint8_t>(4 << (4 * h)), b3 = static_cast<uint8_t>(8 << (4 * h));
  for (int l = 0; l < 16; ++l) {
    y[l] = d0 * ((qs[l] & 3) - ((hmask[l] & b0) != 0 ? 0 : 4));
    y[l + 32] = d1 * (((qs[l] >> 2) & 3) - ((hmask[l] & b1) != 0 ? 0 : 4));
    y[l + 64] = d2 * (((qs[l] >> 4) & 3) - ((hmask[l] & b2) != 0 ? 0 : 4));
    y[l + 96] = d3 * ((qs[l] >> 6) - ((hmask[l] & b3) != 0 ? 0 : 4));
  }
}

}  // namespace

int q3_scale(const uint8_t* scales, int s) {
  const int low = s < 8 ? scales[s] & 15 : scales[s - 8] >> 4;
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return low | high << 4;
}

void dequantize_row_q2_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q2_k");
  const auto* b = static_cast<const BlockQ2_K*>(blocks);
  float dl[16], ml[16];
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    for (int s = 0; s < 16; ++s) {
      dl[s] = d * (b->scales[s] & 15);
      ml[s] = dmin * (b->scales[s] >> 4);
    }
    for (int h = 0; h < 2; ++h)
      for (int half = 0; half < 2; ++half)
        decode_q2_k_slice(b->qs + 32 * h + 16 * half, dl + 8 * h + half, ml + 8 * h + half,
                          out + 128 * h + 16 * half);
  }
}

void quantize_row_q2_k(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n, "quantize_row_q2_k");
  auto* b = static_cast<BlockQ2_K*>(blocks);
  float w[kQK_K];
  kq::AffineChoice ch;
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, in += kQK_K) {
    kq::super_block_weights(importance ? importance + k * kQK_K : nullptr, w);
    kq::search_affine(kQ2Spec, in, w, &ch);
    b->d = ch.d;
    b->dmin = ch.dmin;
    for (int s = 0; s < 16; ++s) b->scales[s] = static_cast<uint8_t>(ch.sc[s] | ch.m[s] << 4);
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        int byte = 0;
        for (int j = 0; j < 4; ++j) byte |= ch.q[128 * h + 32 * j + l] << (2 * j);
        b->qs[32 * h + l] = static_cast<uint8_t>(byte);
      }
    }
  }
}

void dequantize_row_q3_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q3_k");
  const auto* b = static_cast<const BlockQ3_K*>(blocks);
  float dl[16];
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d);
    for (int s = 0; s < 16; ++s) dl[s] = d * (q3_scale(b->scales, s) - 32);
    for (int h = 0; h < 2; ++h)
      for (int half = 0; half < 2; ++half)
        decode_q3_k_slice(b->qs + 32 * h + 16 * half, b->hmask + 16 * half, h, dl + 8 * h + half,
                          out + 128 * h + 16 * half);
  }
}

void quantize_row_q3_k(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n, "quantize_row_q3_k");
  auto* b = static_cast<BlockQ3_K*>(blocks);
  float w[kQK_K];
  kq::ScaledChoice ch;
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, in += kQK_K) {
    kq::super_block_weights(importance ? importance + k * kQK_K : nullptr, w);
    kq::search_scaled(kQ3Spec, in, w, &ch);
    b->d = ch.d;
    for (int i = 0; i < 12; ++i) b->scales[i] = 0;
    for (int s = 0; s < 16; ++s) {
      const int v = ch.sc[s] + 32;  // 0..63
      b->scales[s < 8 ? s : s - 8] |= static_cast<uint8_t>((v & 15) << (s < 8 ? 0 : 4));
      b->scales[8 + s % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s / 4)));
    }
    for (int l = 0; l < 32; ++l) b->hmask[l] = 0;
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        int byte = 0;
        for (int j = 0; j < 4; ++j) {
          const int v = ch.q[128 * h + 32 * j + l] + 4;  // 0..7
          byte |= (v & 3) << (2 * j);
          b->hmask[l] = static_cast<uint8_t>(b->hmask[l] | (v >> 2) << (4 * h + j));
        }
        b->qs[32 * h + l] = static_cast<uint8_t>(byte);
      }
    }
  }
}

}  // namespace bitdial
