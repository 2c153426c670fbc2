// q4_K, q5_K and q6_K: layouts and decode formulas are documented on the block structs in
// k_quants.h; the encoders hand each 256-value super-block to the searches in k_quant_search.h and
// pack what they choose. q2_K and q3_K live in k_quants_q2_q3.cpp.
#include "blocks/k_quants.h"

#include "blocks/k_quant_search.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

// Eight 6-bit scales and eight 6-bit mins in 12 bytes (q4_K / q5_K): bytes 0..3 hold sc[0..3] and
// bytes 4..7 hold m[0..3] in their low 6 bits; bytes 8..11 hold the low nibbles of sc[4..7] (low)
// and m[4..7] (high); the top two bits of sc[4..7] and m[4..7] sit in bits 6..7 of bytes 0..3 and 4..7.
void pack_scale_min_k4(const uint8_t* sc, const uint8_t* m, uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    out[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
  }
}

void check_row(int64_t n, const char* what) {
  if (n % kQK_K != 0) fail(what, ": row length ", n, " is not a multiple of ", kQK_K);
}

// 8 sub-blocks of 32, codes 0..15 / 0..31, 6-bit scales and mins.
constexpr kq::AffineSpec kQ4Spec{8, 32, 15, 63, 0.7f, 1.4f};
constexpr kq::AffineSpec kQ5Spec{8, 32, 31, 63, 0.7f, 1.4f};
// 16 sub-blocks of 16, codes -32..31, int8 scales.
constexpr kq::ScaledSpec kQ6Spec{16, 16, -32, 31, -128, 127, 2.0f, 0.8f, 1.25f};

}  // namespace

void unpack_scale_min_k4(int j, const uint8_t* in, int* sc, int* m) {
  if (j < 4) {
    *sc = in[j] & 63;
    *m = in[j + 4] & 63;
  } else {
    *sc = (in[j + 4] & 15) | (in[j - 4] >> 6) << 4;
    *m = (in[j + 4] >> 4) | (in[j] >> 6) << 4;
  }
}

void dequantize_row_q4_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q4_k");
  const auto* b = static_cast<const BlockQ4_K*>(blocks);
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      unpack_scale_min_k4(2 * c, b->scales, &sc0, &m0);
      unpack_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
      const float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
      const uint8_t* q = b->qs + 32 * c;
      for (int l = 0; l < 32; ++l) out[64 * c + l] = d0 * (q[l] & 15) - o0;
      for (int l = 0; l < 32; ++l) out[64 * c + 32 + l] = d1 * (q[l] >> 4) - o1;
    }
  }
}

void quantize_row_q4_k(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n, "quantize_row_q4_k");
  auto* b = static_cast<BlockQ4_K*>(blocks);
  float w[kQK_K];
  kq::AffineChoice ch;
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, in += kQK_K) {
    kq::super_block_weights(importance ? importance + k * kQK_K : nullptr, w);
    kq::search_affine(kQ4Spec, in, w, &ch);
    b->d = ch.d;
    b->dmin = ch.dmin;
    pack_scale_min_k4(ch.sc, ch.m, b->scales);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b->qs[32 * c + l] = static_cast<uint8_t>(ch.q[64 * c + l] | ch.q[64 * c + 32 + l] << 4);
  }
}

// 64 values of a q5_K block: the 32 low nibbles of qs then the 32 high nibbles, bit 4 of each from
// bit 2c (low) or 2c + 1 (high) of qh[l]. The high bit is tested with a byte mask rather than a
// shift by c, which SSE2 has no per-byte instruction for. __restrict as in decode_q6_k_slice.
void decode_q5_k_pair(const uint8_t* __restrict qs, const uint8_t* __restrict qh, int c, float d0, float o0,
                      float d1, float o1, float* __restrict y) {
  const uint8_t bit0 = static_cast<uint8_t>(1 << (2 * c)), bit1 = static_cast<uint8_t>(2 << (2 * c));
  for (int l = 0; l < 32; ++l) {
    y[l] = d0 * ((qs[l] & 15) | ((qh[l] & bit0) != 0 ? 16 : 0)) - o0;
    y[l + 32] = d1 * ((qs[l] >> 4) | ((qh[l] & bit1) != 0 ? 16 : 0)) - o1;
  }
}

void dequantize_row_q5_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q5_k");
  const auto* b = static_cast<const BlockQ5_K*>(blocks);
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      unpack_scale_min_k4(2 * c, b->scales, &sc0, &m0);
      unpack_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
      decode_q5_k_pair(b->qs + 32 * c, b->qh, c, d * sc0, dmin * m0, d * sc1, dmin * m1, out + 64 * c);
    }
  }
}

void quantize_row_q5_k(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n, "quantize_row_q5_k");
  auto* b = static_cast<BlockQ5_K*>(blocks);
  float w[kQK_K];
  kq::AffineChoice ch;
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, in += kQK_K) {
    kq::super_block_weights(importance ? importance + k * kQK_K : nullptr, w);
    kq::search_affine(kQ5Spec, in, w, &ch);
    b->d = ch.d;
    b->dmin = ch.dmin;
    pack_scale_min_k4(ch.sc, ch.m, b->scales);
    for (int l = 0; l < 32; ++l) b->qh[l] = 0;
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = ch.q[64 * c + l], hi = ch.q[64 * c + 32 + l];
        b->qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | (hi & 15) << 4);
        b->qh[l] = static_cast<uint8_t>(b->qh[l] | (lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
      }
    }
  }
}

// One 16-value slice of each of the four 32-value groups of a q6_K half: ql/qh point at the slice's
// first bytes, dl at the four sub-block scales. __restrict: out cannot alias the block (uint8_t may
// alias anything otherwise, which keeps the compiler from vectorising the loads past the stores).
void decode_q6_k_slice(const uint8_t* __restrict ql, const uint8_t* __restrict qh, const float* dl,
                       float* __restrict y) {
  const float d0 = dl[0], d1 = dl[2], d2 = dl[4], d3 = dl[6];
  for (int l = 0; l < 16; ++l) {
    const int q0 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
    const int q1 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
    const int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
    const int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
    y[l] = d0 * q0;
    y[l + 32] = d1 * q1;
    y[l + 64] = d2 * q2;
    y[l + 96] = d3 * q3;
  }
}

void dequantize_row_q6_k(const void* blocks, float* out, int64_t n) {
  check_row(n, "dequantize_row_q6_k");
  const auto* b = static_cast<const BlockQ6_K*>(blocks);
  float dl[16];
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, out += kQK_K) {
    const float d = fp16_to_f32(b->d);
    for (int s = 0; s < 16; ++s) dl[s] = d * b->scales[s];  // (d * scale) first, as the format defines
    for (int h = 0; h < 2; ++h)
      for (int half = 0; half < 2; ++half)
        decode_q6_k_slice(b->ql + 64 * h + 16 * half, b->qh + 32 * h + 16 * half, dl + 8 * h + half,
                          out + 128 * h + 16 * half);
  }
}

void quantize_row_q6_k(const float* in, void* blocks, int64_t n, const float* importance) {
  check_row(n, "quantize_row_q6_k");
  auto* b = static_cast<BlockQ6_K*>(blocks);
  float w[kQK_K];
  kq::ScaledChoice ch;
  for (int64_t k = 0; k < n / kQK_K; ++k, ++b, in += kQK_K) {
    kq::super_block_weights(importance ? importance + k * kQK_K : nullptr, w);
    kq::search_scaled(kQ6Spec, in, w, &ch);
    b->d = ch.d;
    for (int s = 0; s < 16; ++s) b->scales[s] = static_cast<int8_t>(ch.sc[s]);
    for (int h = 0; h < 2; ++h) {
      const int8_t* q = ch.q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q0 = q[l] + 32, q1 = q[l + 32] + 32, q2 = q[l + 64] + 32, q3 = q[l + 96] + 32;
        b->ql[64 * h + l] = static_cast<uint8_t>((q0 & 15) | (q2 & 15) << 4);
        b->ql[64 * h + 32 + l] = static_cast<uint8_t>((q1 & 15) | (q3 & 15) << 4);
        b->qh[32 * h + l] = static_cast<uint8_t>(q0 >> 4 | (q1 >> 4) << 2 | (q2 >> 4) << 4 | (q3 >> 4) << 6);
      }
    }
  }
}

}  // namespace bitdial
