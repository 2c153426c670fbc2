#include "bench/bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/error.h"
#include "kernels/read_bandwidth.h"

namespace bitdial {
namespace {

// Keeps the checksums observable, so the reads cannot be optimised away.
volatile uint64_t g_sink = 0;

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(uint64_t bytes, int threads) {
  threads_ = threads > 0 ? threads : omp_get_max_threads();
  const uint64_t unit = kReadStreamBlock * static_cast<uint64_t>(threads_);
  bytes_ = std::max<uint64_t>(bytes, uint64_t{1} << 20) / unit * unit;
  slice_ = bytes_ / static_cast<uint64_t>(threads_);
  buf_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, bytes_)));
  if (!buf_) fail("bandwidth probe: cannot allocate ", bytes_, " bytes");
  uint8_t* base = buf_.get();
  const uint64_t slice = slice_;
  // First touch by the thread that will read each slice (NUMA-local pages), with non-zero bytes so
  // no page is a shared zero page.
#pragma omp parallel for num_threads(threads_) schedule(static, 1)
  for (int t = 0; t < threads_; ++t) std::memset(base + slice * static_cast<uint64_t>(t), 0x5A, slice);
}

double ReadBandwidthProbe::pass() {
  const uint8_t* base = buf_.get();
  const uint64_t slice = slice_;
  uint64_t sum = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads_) schedule(static, 1) reduction(+ : sum)
  for (int t = 0; t < threads_; ++t) sum += read_stream(base + slice * static_cast<uint64_t>(t), slice);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_sink = g_sink + sum;
  return s > 0 ? static_cast<double>(bytes_) / s : 0.0;
}

BandwidthResult summarize_bandwidth(uint64_t buffer_bytes, int threads, std::vector<double> passes) {
  BITDIAL_ASSERT(!passes.empty());
  BandwidthResult r;
  r.buffer_bytes = buffer_bytes;
  r.threads = threads;
  r.pass_bytes_per_s = passes;
  std::sort(passes.begin(), passes.end());
  r.best_bytes_per_s = passes.back();
  const size_t m = passes.size() / 2;
  r.median_bytes_per_s = passes.size() % 2 ? passes[m] : 0.5 * (passes[m - 1] + passes[m]);
  return r;
}

BandwidthResult measure_read_bandwidth(uint64_t bytes, int threads, int passes) {
  if (passes < 1) fail("bandwidth probe: ", passes, " passes (need at least 1)");
  ReadBandwidthProbe probe(bytes, threads);
  std::vector<double> rates;
  for (int p = 0; p < passes; ++p) rates.push_back(probe.pass());
  return summarize_bandwidth(probe.buffer_bytes(), probe.threads(), std::move(rates));
}

}  // namespace bitdial
