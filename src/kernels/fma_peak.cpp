#include "kernels/fma_peak.h"

namespace bitdial {

float fma_chains(int64_t steps, float m, float c) {
  return active_isa() == Isa::Avx2 ? fma_chains_avx2(steps, m, c) : fma_chains_scalar(steps, m, c);
}

// Generic x86-64 has no FMA instruction: a multiply and an add, which the compiler does 4 lanes at
// a time with SSE2.
float fma_chains_scalar(int64_t steps, float m, float c) {
  float acc[kFmaChains * kFmaLanes];
  for (int i = 0; i < kFmaChains * kFmaLanes; ++i) acc[i] = static_cast<float>(i) / 8.0f;
  for (int64_t s = 0; s < steps; ++s)
    for (float& a : acc) a = a * m + c;
  float sum = 0.0f;
  for (const float a : acc) sum += a;
  return sum;
}

}  // namespace bitdial
