#include "bench/compute_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "kernels/fma_peak.h"

namespace bitdial {
namespace {

// Keeps the chains' results observable, so no step can be optimised away.
volatile float g_sink = 0.0f;

}  // namespace

double fma_peak_pass(int threads, int64_t steps) {
  const int n = threads > 0 ? threads : omp_get_max_threads();
  // m and c come from a volatile so the compiler cannot fold the chains into a closed form.
  static volatile float multiplier = 0.5f, addend = 1.0f;
  const float m = multiplier, c = addend;
  float sum = 0.0f;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(n) schedule(static, 1) reduction(+ : sum)
  for (int t = 0; t < n; ++t) sum += fma_chains(steps, m, c);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_sink = g_sink + sum;
  return s > 0 ? static_cast<double>(n) * static_cast<double>(steps) * static_cast<double>(kFmaChainsFlopsPerStep) / s : 0.0;
}

double fma_peak_best(int threads, int64_t steps, int passes) {
  double best = 0;
  for (int p = 0; p < passes; ++p) best = std::max(best, fma_peak_pass(threads, steps));
  return best;
}

}  // namespace bitdial
