#include "blocks/ternary_quants.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "blocks/scale_search.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

constexpr int kBlock = 256;

// Candidate "k largest-magnitude values are non-zero" sets whose least-squares scale is checked in
// full (exact nearest codes for the stored fp16 scale), after ranking all k by a closed-form error.
constexpr int kFullChecks = 4;

double sq(double v) { return v * v; }

// Nearest trits for the stored scale d >= 0, returning the weighted squared error. A value becomes
// +-d when that is strictly closer than 0 (the decoder's +-1 * d is exact).
double ternary_codes(const float* x, const float* w, float d, int* t) {
  double err = 0;
  for (int j = 0; j < kBlock; ++j) {
    const double zero = sq(x[j]);
    const double one = sq(std::fabs(static_cast<double>(x[j])) - d);
    const bool nonzero = d > 0.0f && one < zero;
    t[j] = nonzero ? (x[j] > 0.0f ? 2 : 0) : 1;
    err += w[j] * (nonzero ? one : zero);
  }
  return err;
}

// Chooses the scale and trits minimising sum w (x - (t - 1) d)^2; returns the fp16 bits of d.
uint16_t fit_ternary(const float* x, const float* w, int* t) {
  // For a fixed non-zero set S the best scale is sum_S w|x| / sum_S w; the best S for a given scale
  // keeps the values above d/2, so scanning S = "k largest |x|" and then re-coding covers the optimum.
  int order[kBlock];
  std::iota(order, order + kBlock, 0);
  std::sort(order, order + kBlock, [&](int a, int b) { return std::fabs(x[a]) > std::fabs(x[b]); });
  double total = 0;
  for (int j = 0; j < kBlock; ++j) total += w[j] * sq(x[j]);

  struct Ranked {
    double err;
    uint16_t h;
  };
  Ranked top[kFullChecks];
  for (auto& r : top) r = {HUGE_VAL, 0};
  double swa = 0, sw = 0;
  for (int k = 0; k < kBlock; ++k) {
    swa += w[order[k]] * std::fabs(x[order[k]]);
    sw += w[order[k]];
    if (sw <= 0) continue;
    const uint16_t h = fp16_saturating(static_cast<float>(swa / sw));
    const double d = fp16_to_f32(h);
    const double err = total - 2 * d * swa + d * d * sw;
    if (err < top[kFullChecks - 1].err) {
      top[kFullChecks - 1] = {err, h};
      std::sort(top, top + kFullChecks, [](const Ranked& a, const Ranked& b) { return a.err < b.err; });
    }
  }

  int codes[kBlock];
  uint16_t best_h = 0;
  double best = ternary_codes(x, w, 0.0f, t);
  auto consider = [&](uint16_t h) {
    if ((h & 0x7c00u) == 0x7c00u) return;
    const double err = ternary_codes(x, w, fp16_to_f32(h), codes);
    if (err < best) {
      best = err, best_h = h;
      std::copy(codes, codes + kBlock, t);
    }
  };
  for (const Ranked& r : top) {
    if (r.err != HUGE_VAL) consider(r.h);
  }
  consider(fp16_saturating(std::fabs(x[order[0]])));  // plain absmax scale
  const uint16_t centre = best_h;
  for (int delta : {-2, -1, 1, 2}) {
    const int mag = centre + delta;
    if (mag > 0 && mag <= 0x7bff) consider(static_cast<uint16_t>(mag));
  }
  return best_h;
}

int trit(uint8_t byte, int k) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(byte * kPow3[k]);
  return (shifted * 3) >> 8;
}

// Trit k of each of kCount bytes, for k < kTrits: value k * kCount + m is trit k of q[m]. The fixed
// trip counts and per-k constant multipliers let the compiler vectorise over m (the byte index);
// __restrict because uint8_t may alias the output otherwise.
template <int kCount, int kTrits>
void decode_trits(const uint8_t* __restrict q, float d, float* __restrict y) {
  for (int k = 0; k < kTrits; ++k)
    for (int m = 0; m < kCount; ++m) y[k * kCount + m] = static_cast<float>(trit(q[m], k) - 1) * d;
}

// One 128-value half of a tq2_0 block: value 32k + l is bits 2k..2k+1 of qs[l].
void decode_tq2_half(const uint8_t* __restrict qs, float d, float* __restrict y) {
  for (int l = 0; l < 32; ++l) {
    y[l] = static_cast<float>((qs[l] & 3) - 1) * d;
    y[l + 32] = static_cast<float>(((qs[l] >> 2) & 3) - 1) * d;
    y[l + 64] = static_cast<float>(((qs[l] >> 4) & 3) - 1) * d;
    y[l + 96] = static_cast<float>((qs[l] >> 6) - 1) * d;
  }
}

// Packs up to five trits (most significant first) into the byte whose decode returns them.
uint8_t pack_trits(const int* t, int count, int stride) {
  int v = 0;
  for (int k = 0; k < 5; ++k) v = v * 3 + (k < count ? t[k * stride] : 0);
  return static_cast<uint8_t>((v * 256 + 242) / 243);
}

}  // namespace

void dequantize_row_tq1_0(const void* blocks, float* out, int64_t n) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  const auto* b = static_cast<const BlockTQ1_0*>(blocks);
  for (int64_t i = 0; i < n / kBlock; ++i) {
    const float d = fp16_to_f32(b[i].d);
    float* y = out + i * kBlock;
    decode_trits<32, 5>(b[i].qs, d, y);            // values 0..159
    decode_trits<16, 5>(b[i].qs + 32, d, y + 160);  // values 160..239
    decode_trits<4, 4>(b[i].qh, d, y + 240);        // values 240..255
  }
}

void quantize_row_tq1_0(const float* in, void* blocks, int64_t n, const float* importance) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  auto* b = static_cast<BlockTQ1_0*>(blocks);
  float w[kBlock];
  int t[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    b[i].d = fit_ternary(in + i * kBlock, w, t);
    for (int m = 0; m < 32; ++m) b[i].qs[m] = pack_trits(t + m, 5, 32);
    for (int m = 0; m < 16; ++m) b[i].qs[32 + m] = pack_trits(t + 160 + m, 5, 16);
    for (int m = 0; m < 4; ++m) b[i].qh[m] = pack_trits(t + 240 + m, 4, 4);
  }
}

void dequantize_row_tq2_0(const void* blocks, float* out, int64_t n) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  const auto* b = static_cast<const BlockTQ2_0*>(blocks);
  for (int64_t i = 0; i < n / kBlock; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int h = 0; h < 2; ++h) decode_tq2_half(b[i].qs + 32 * h, d, out + i * kBlock + 128 * h);
  }
}

void quantize_row_tq2_0(const float* in, void* blocks, int64_t n, const float* importance) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  auto* b = static_cast<BlockTQ2_0*>(blocks);
  float w[kBlock];
  int t[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    b[i].d = fit_ternary(in + i * kBlock, w, t);
    std::fill(b[i].qs, b[i].qs + 64, 0);
    for (int j = 0; j < kBlock; ++j) {
      b[i].qs[32 * (j / 128) + j % 32] |= static_cast<uint8_t>(t[j] << (2 * ((j % 128) / 32)));
    }
  }
}

}  // namespace bitdial
