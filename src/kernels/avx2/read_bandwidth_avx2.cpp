// AVX2 streaming read: 128 bytes per iteration into four independent 4 x u64 accumulators, enough
// loads in flight to saturate DRAM bandwidth from one core.
#include <immintrin.h>

#include "core/error.h"
#include "kernels/read_bandwidth.h"

namespace bitdial {

uint64_t read_stream_avx2(const uint8_t* data, size_t n) {
  BITDIAL_ASSERT(n % kReadStreamBlock == 0);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += kReadStreamBlock) {
    const auto* p = reinterpret_cast<const __m256i*>(data + i);
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(p + 0));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(p + 1));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(p + 2));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(p + 3));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace bitdial
