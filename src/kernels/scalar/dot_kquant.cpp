// Reference dot products of q2_K .. q6_K, iq4_xs, tq1_0 and tq2_0 weight rows with Q8_K activation
// rows: the specification the AVX2 kernels are tested against. Per 256-value block, the codes are
// decoded to integers, multiplied with the activation codes in exact integer sums per sub-block,
// weighted by the integer sub-block scales, and combined in float once per block:
//   affine types (q2_K, q4_K, q5_K): (d * d_a) * sum_s sc_s * isum_s - (dmin * d_a) * sum_s m_s * bsum_s
//   scaled types (q3_K, q6_K, iq4_xs, tq*): (d * d_a) * sum_s sc_s * isum_s
// where isum_s = sum over sub-block s of q_w * q_a. Blocks are summed in float in row order.

#include "blocks/k_quants.h"
#include "blocks/nonlinear_quants.h"
#include "blocks/ternary_quants.h"
#include "core/fp16.h"
#include "kernels/dot_families.h"

namespace bitdial {
namespace {

constexpr int kQK = 256;

// sum_{j < len} q[j] * a[j], exact (|sum| < 256 * 127 * 127).
int dot_codes(const int8_t* q, const int8_t* a, int len) {
  int sum = 0;
  for (int j = 0; j < len; ++j) sum += q[j] * a[j];
  return sum;
}

float block_dot_q2_k(const BlockQ2_K& b, const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * j + l] = static_cast<int8_t>((b.qs[32 * h + l] >> (2 * j)) & 3);
  int isum = 0, msum = 0;
  for (int s = 0; s < 16; ++s) {
    isum += (b.scales[s] & 15) * dot_codes(q + 16 * s, a.qs + 16 * s, 16);
    msum += (b.scales[s] >> 4) * a.bsums[s];
  }
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(isum) -
         (fp16_to_f32(b.dmin) * a.d) * static_cast<float>(msum);
}

float block_dot_q3_k(const BlockQ3_K& b, const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        const int low = (b.qs[32 * h + l] >> (2 * j)) & 3;
        const int high = (b.hmask[l] >> (4 * h + j)) & 1;
        q[128 * h + 32 * j + l] = static_cast<int8_t>((low | high << 2) - 4);
      }
  int isum = 0;
  for (int s = 0; s < 16; ++s) isum += (q3_scale(b.scales, s) - 32) * dot_codes(q + 16 * s, a.qs + 16 * s, 16);
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(isum);
}

// q4_K and q5_K share everything but the fifth code bit (qh null for q4_K).
float block_dot_affine_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                          const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int c = 0; c < 4; ++c)
    for (int k = 0; k < 2; ++k)
      for (int l = 0; l < 32; ++l) {
        const int high = qh != nullptr ? ((qh[l] >> (2 * c + k)) & 1) << 4 : 0;
        q[64 * c + 32 * k + l] = static_cast<int8_t>(((qs[32 * c + l] >> (4 * k)) & 15) | high);
      }
  int isum = 0, msum = 0;
  for (int s = 0; s < 8; ++s) {
    int sc, m;
    unpack_scale_min_k4(s, scales, &sc, &m);
    isum += sc * dot_codes(q + 32 * s, a.qs + 32 * s, 32);
    msum += m * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
  }
  return (fp16_to_f32(d) * a.d) * static_cast<float>(isum) - (fp16_to_f32(dmin) * a.d) * static_cast<float>(msum);
}

float block_dot_q4_k(const BlockQ4_K& b, const ActBlockQ8K& a) {
  return block_dot_affine_k4(b.d, b.dmin, b.scales, b.qs, nullptr, a);
}

float block_dot_q5_k(const BlockQ5_K& b, const ActBlockQ8K& a) {
  return block_dot_affine_k4(b.d, b.dmin, b.scales, b.qs, b.qh, a);
}

float block_dot_q6_k(const BlockQ6_K& b, const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        const int low = (b.ql[64 * h + 32 * (j % 2) + l] >> (4 * (j / 2))) & 15;
        const int high = (b.qh[32 * h + l] >> (2 * j)) & 3;
        q[128 * h + 32 * j + l] = static_cast<int8_t>((low | high << 4) - 32);
      }
  int isum = 0;
  for (int s = 0; s < 16; ++s) isum += b.scales[s] * dot_codes(q + 16 * s, a.qs + 16 * s, 16);
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(isum);
}

float block_dot_iq4_xs(const BlockIQ4_XS& b, const ActBlockQ8K& a) {
  int isum = 0;
  for (int s = 0; s < 8; ++s) {
    int8_t q[32];
    for (int j = 0; j < 16; ++j) {
      q[j] = kIq4Grid[b.qs[16 * s + j] & 15];
      q[j + 16] = kIq4Grid[b.qs[16 * s + j] >> 4];
    }
    const int low = (b.scales_l[s / 2] >> (4 * (s % 2))) & 15;
    const int high = (b.scales_h >> (2 * s)) & 3;
    isum += ((low | high << 4) - 32) * dot_codes(q, a.qs + 32 * s, 32);
  }
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(isum);
}

// Trit k (most significant first) of a tq1_0 byte: ((byte * 3^k) mod 256) * 3 >> 8.
int tq1_trit(uint8_t byte, int k) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  return (static_cast<uint8_t>(byte * kPow3[k]) * 3) >> 8;
}

float block_dot_tq1_0(const BlockTQ1_0& b, const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int k = 0; k < 5; ++k)
    for (int m = 0; m < 32; ++m) q[32 * k + m] = static_cast<int8_t>(tq1_trit(b.qs[m], k) - 1);
  for (int k = 0; k < 5; ++k)
    for (int m = 0; m < 16; ++m) q[160 + 16 * k + m] = static_cast<int8_t>(tq1_trit(b.qs[32 + m], k) - 1);
  for (int k = 0; k < 4; ++k)
    for (int m = 0; m < 4; ++m) q[240 + 4 * k + m] = static_cast<int8_t>(tq1_trit(b.qh[m], k) - 1);
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(dot_codes(q, a.qs, kQK));
}

float block_dot_tq2_0(const BlockTQ2_0& b, const ActBlockQ8K& a) {
  int8_t q[kQK];
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l)
        q[128 * h + 32 * k + l] = static_cast<int8_t>(((b.qs[32 * h + l] >> (2 * k)) & 3) - 1);
  return (fp16_to_f32(b.d) * a.d) * static_cast<float>(dot_codes(q, a.qs, kQK));
}

// y[t * ldy + r] = sum over blocks, in order, of BlockDot(weight row r, activation row t).
template <class Block, float (*BlockDot)(const Block&, const ActBlockQ8K&)>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride, int64_t nt,
          float* y, int64_t ldy) {
  const int64_t nb = n / kQK;
  for (int64_t t = 0; t < nt; ++t) {
    const auto* act = reinterpret_cast<const ActBlockQ8K*>(a + static_cast<size_t>(t) * a_stride);
    for (int64_t r = 0; r < nr; ++r) {
      const auto* blocks = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * w_stride);
      float sum = 0.0f;
      for (int64_t ib = 0; ib < nb; ++ib) sum += BlockDot(blocks[ib], act[ib]);
      y[t * ldy + r] = sum;
    }
  }
}

const DotKernel kQ2K{ActFormat::Q8_K, tile<BlockQ2_K, block_dot_q2_k>};
const DotKernel kQ3K{ActFormat::Q8_K, tile<BlockQ3_K, block_dot_q3_k>};
const DotKernel kQ4K{ActFormat::Q8_K, tile<BlockQ4_K, block_dot_q4_k>};
const DotKernel kQ5K{ActFormat::Q8_K, tile<BlockQ5_K, block_dot_q5_k>};
const DotKernel kQ6K{ActFormat::Q8_K, tile<BlockQ6_K, block_dot_q6_k>};
const DotKernel kIQ4XS{ActFormat::Q8_K, tile<BlockIQ4_XS, block_dot_iq4_xs>};
const DotKernel kTQ1{ActFormat::Q8_K, tile<BlockTQ1_0, block_dot_tq1_0>};
const DotKernel kTQ2{ActFormat::Q8_K, tile<BlockTQ2_0, block_dot_tq2_0>};

}  // namespace

const DotKernel* scalar_kquant_kernel(TensorType type) {
  switch (type) {
    case TensorType::Q2_K: return &kQ2K;
    case TensorType::Q3_K: return &kQ3K;
    case TensorType::Q4_K: return &kQ4K;
    case TensorType::Q5_K: return &kQ5K;
    case TensorType::Q6_K: return &kQ6K;
    case TensorType::IQ4_XS: return &kIQ4XS;
    case TensorType::TQ1_0: return &kTQ1;
    case TensorType::TQ2_0: return &kTQ2;
    default: return nullptr;
  }
}

}  // namespace bitdial
