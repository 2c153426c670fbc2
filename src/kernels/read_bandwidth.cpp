#include "kernels/read_bandwidth.h"

#include <cstring>

#include "core/error.h"
#include "kernels/dispatch.h"

namespace bitdial {

uint64_t read_stream(const uint8_t* data, size_t n) {
  return active_isa() == Isa::Avx2 ? read_stream_avx2(data, n) : read_stream_scalar(data, n);
}

// Four independent accumulators, 32 bytes per step; the compiler turns this into SSE2 adds, which
// is as wide as generic x86-64 goes.
uint64_t read_stream_scalar(const uint8_t* data, size_t n) {
  BITDIAL_ASSERT(n % kReadStreamBlock == 0);
  uint64_t acc[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, data + i, sizeof w);  // alignment-safe load
    for (int k = 0; k < 4; ++k) acc[k] += w[k];
  }
  return acc[0] + acc[1] + acc[2] + acc[3];
}

}  // namespace bitdial
