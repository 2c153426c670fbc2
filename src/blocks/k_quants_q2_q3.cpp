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

// The 6-bit biased scale of sub-block s (0..63) from q3_K's 12-byte packing.
int q3_scale(const uint8_t* scales, int s) {
  const int low = s < 8 ? scales[s] & 15 : scales[s - 8] >> 4;
  const int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return low | high << 4;
}

}  // namespace

void dequantize_row_q2_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q2_k");
  const auto* b = static_cast<const BlockQ2_K*>(blocks);
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {  // the two 16-value sub-blocks of these 32 values
          const int s = 8 * h + 2 * j + half;
          const float dl = d * (b->scales[s] & 15), ml = dmin * (b->scales[s] >> 4);
          for (int l = 16 * half; l < 16 * half + 16; ++l)
            out[128 * h + 32 * j + l] = dl * ((b->qs[32 * h + l] >> (2 * j)) & 3) - ml;
        }
      }
    }
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
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d);
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const int s = 8 * h + 2 * j + half;
          const float dl = d * (q3_scale(b->scales, s) - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int low = (b->qs[32 * h + l] >> (2 * j)) & 3;
            const int high = (b->hmask[l] >> (4 * h + j)) & 1;
            out[128 * h + 32 * j + l] = dl * (low - (high ? 0 : 4));
          }
        }
      }
    }
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
