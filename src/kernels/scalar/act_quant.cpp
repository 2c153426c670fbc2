// Reference activation converters. Rounding is to nearest, ties to even, which is what
// _mm256_round_ps(_MM_FROUND_TO_NEAREST_INT) does, so the AVX2 converters produce identical bytes.
#include <cmath>
#include <cstring>

#include "kernels/dot_families.h"

namespace bitdial {
namespace {

// One block of `len` values: d = amax / 127, q = round(x / d) computed as x * (1 / d).
float quantize_block(const float* x, int8_t* q, int len) {
  float amax = 0.0f;
  for (int j = 0; j < len; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d >= kMinActScale ? 1.0f / d : 0.0f;
  // |x * id| <= 127: adding and subtracting 1.5 * 2^23 leaves the value rounded to an integer by
  // the FPU's default mode (nearest, ties to even) without nearbyintf's library call.
  constexpr float kRound = 12582912.0f;
  for (int j = 0; j < len; ++j) {
    const float shifted = x[j] * id + kRound;  // not folded: (a + c) - c == a is not an IEEE identity
    q[j] = static_cast<int8_t>(shifted - kRound);
  }
  return d;
}

}  // namespace

void quantize_act_q8_scalar(const float* x, uint8_t* out, int64_t n) {
  auto* blocks = reinterpret_cast<ActBlockQ8*>(out);
  for (int64_t b = 0; b < n / 32; ++b) {
    ActBlockQ8& blk = blocks[b];
    blk.d = quantize_block(x + b * 32, blk.qs, 32);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += blk.qs[j];
    blk.s = blk.d * static_cast<float>(sum);
  }
  finish_act_q8_row(out, n / 32);
}

void quantize_act_q8k_scalar(const float* x, uint8_t* out, int64_t n) {
  auto* blocks = reinterpret_cast<ActBlockQ8K*>(out);
  for (int64_t b = 0; b < n / 256; ++b) {
    ActBlockQ8K& blk = blocks[b];
    blk.d = quantize_block(x + b * 256, blk.qs, 256);
    for (int i = 0; i < 16; ++i) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += blk.qs[16 * i + j];
      blk.bsums[i] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace bitdial
