// kFmaChains 8-lane FMA accumulators: two FMA units with 4-cycle latency need 8 in flight.
#include <immintrin.h>

#include "kernels/fma_peak.h"

namespace bitdial {

float fma_chains_avx2(int64_t steps, float m, float c) {
  const __m256 vm = _mm256_set1_ps(m), vc = _mm256_set1_ps(c);
  __m256 acc[kFmaChains];
  for (int k = 0; k < kFmaChains; ++k) {
    const float b = static_cast<float>(k * kFmaLanes);
    acc[k] = _mm256_div_ps(_mm256_setr_ps(b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7), _mm256_set1_ps(8.0f));
  }
  for (int64_t s = 0; s < steps; ++s)
    for (__m256& a : acc) a = _mm256_fmadd_ps(a, vm, vc);
  float sum = 0.0f;
  for (const __m256& a : acc) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, a);
    for (const float v : lanes) sum += v;
  }
  return sum;
}

}  // namespace bitdial
