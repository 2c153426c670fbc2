// Memory read bandwidth of this machine, as the decode-efficiency figure of `bitdial bench` needs
// it: several threads stream through a buffer much larger than the last-level cache, each reading
// its own contiguous slice, and the fastest of several timed passes counts.
#pragma once

#include <cstdint>
#include <vector>

namespace bitdial {

struct BandwidthResult {
  uint64_t buffer_bytes = 0;
  int threads = 0;
  std::vector<double> pass_bytes_per_s;  // one per timed pass, in order
  double best_bytes_per_s = 0;
  double median_bytes_per_s = 0;
};

// Allocates and first-touches `bytes` (rounded down to a multiple of 128 x threads; at least
// 1 MiB) with `threads` OpenMP threads (0: the current OpenMP default), then times `passes` full
// reads. Throws bitdial::Error when the buffer cannot be allocated or passes < 1.
BandwidthResult measure_read_bandwidth(uint64_t bytes, int threads, int passes);

}  // namespace bitdial
