#include "bench/bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "kernels/read_bandwidth.h"

namespace bitdial {
namespace {

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// Keeps the checksums observable, so the reads cannot be optimised away.
volatile uint64_t g_sink = 0;

}  // namespace

BandwidthResult measure_read_bandwidth(uint64_t bytes, int threads, int passes) {
  if (passes < 1) fail("bandwidth probe: ", passes, " passes (need at least 1)");
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const uint64_t unit = kReadStreamBlock * static_cast<uint64_t>(nt);
  bytes = std::max<uint64_t>(bytes, uint64_t{1} << 20) / unit * unit;
  const uint64_t slice = bytes / static_cast<uint64_t>(nt);

  std::unique_ptr<uint8_t, FreeDeleter> buf(static_cast<uint8_t*>(std::aligned_alloc(64, bytes)));
  if (!buf) fail("bandwidth probe: cannot allocate ", bytes, " bytes");
  uint8_t* base = buf.get();
  // First touch by the thread that will read each slice (NUMA-local pages), with non-zero bytes so
  // no page is a shared zero page.
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) std::memset(base + slice * static_cast<uint64_t>(t), 0x5A, slice);

  BandwidthResult r;
  r.buffer_bytes = bytes;
  r.threads = nt;
  for (int p = 0; p < passes; ++p) {
    uint64_t sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(+ : sum)
    for (int t = 0; t < nt; ++t) sum += read_stream(base + slice * static_cast<uint64_t>(t), slice);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g_sink = g_sink + sum;
    r.pass_bytes_per_s.push_back(s > 0 ? static_cast<double>(bytes) / s : 0.0);
  }
  std::vector<double> sorted = r.pass_bytes_per_s;
  std::sort(sorted.begin(), sorted.end());
  r.best_bytes_per_s = sorted.back();
  const size_t m = sorted.size() / 2;
  r.median_bytes_per_s = sorted.size() % 2 ? sorted[m] : 0.5 * (sorted[m - 1] + sorted[m]);
  return r;
}

}  // namespace bitdial
