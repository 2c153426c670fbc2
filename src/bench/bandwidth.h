// Memory read bandwidth of this machine, as the decode-efficiency figure of `bitdial bench` needs
// it: several threads stream through a buffer much larger than the last-level cache, each reading
// its own contiguous slice. Passes can be timed one at a time, so a benchmark can probe right
// before each repetition it measures (the bandwidth a shared machine gives moves within seconds).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace bitdial {

class ReadBandwidthProbe {
 public:
  // Allocates and first-touches `bytes` (rounded down to a multiple of 128 x threads; at least
  // 1 MiB) with `threads` OpenMP threads (0: the current OpenMP default). Throws bitdial::Error
  // when the buffer cannot be allocated.
  ReadBandwidthProbe(uint64_t bytes, int threads);

  // One timed read of the whole buffer, every thread its own slice: bytes / second.
  double pass();

  uint64_t buffer_bytes() const { return bytes_; }
  int threads() const { return threads_; }

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  uint64_t bytes_ = 0, slice_ = 0;
  int threads_ = 0;
  std::unique_ptr<uint8_t, FreeDeleter> buf_;
};

struct BandwidthResult {
  uint64_t buffer_bytes = 0;
  int threads = 0;
  std::vector<double> pass_bytes_per_s;  // one per timed pass, in order
  double best_bytes_per_s = 0;
  double median_bytes_per_s = 0;
};

// Best and median of the passes (not empty).
BandwidthResult summarize_bandwidth(uint64_t buffer_bytes, int threads, std::vector<double> passes);

// A probe of `bytes` and `passes` timed reads. Throws bitdial::Error when passes < 1.
BandwidthResult measure_read_bandwidth(uint64_t bytes, int threads, int passes);

}  // namespace bitdial
