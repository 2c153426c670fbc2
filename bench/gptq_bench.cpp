// GPTQ solve time on a layer-sized weight without a model: a random W (rows, cols) and a random SPD
// Hessian H = D K D (K_ij = 0.9^|i-j|, D a random positive diagonal), Q4_K, 2 threads. Reports seconds
// for prepare (dampening + the factor U of H^-1; timed as a 0-row call) and for the row-tile loop
// (the full call minus prepare). One iteration each: the 5632-column case is the ffn_down shape of a
// llama-1b layer. Run: build/gptq_bench --benchmark_filter=gptq/2048/5632.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/gptq.h"

namespace bitdial {
namespace {

Eigen::MatrixXd random_spd(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.25, 4.0);
  std::vector<double> d(static_cast<size_t>(n));
  for (double& v : d) v = u(rng);
  Eigen::MatrixXd h(n, n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < n; ++i) h(i, j) = d[i] * d[j] * std::pow(0.9, std::abs(static_cast<double>(i - j)));
  return h;
}

double seconds_of(const auto& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bm_gptq(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const Eigen::MatrixXd h = random_spd(cols, 1);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  std::mt19937 rng(2);
  std::normal_distribution<float> n01(0.0f, 0.02f);
  for (float& v : w) v = n01(rng);
  GptqOptions o;
  o.n_threads = 2;
  o.progress = nullptr;
  double prep = 0, total = 0;
  for (auto _ : state) {
    prep = seconds_of([&] { benchmark::DoNotOptimize(gptq_quantize(w.data(), 0, cols, h, TensorType::Q4_K, o)); });
    total = seconds_of([&] { benchmark::DoNotOptimize(gptq_quantize(w.data(), rows, cols, h, TensorType::Q4_K, o)); });
    state.SetIterationTime(total);
  }
  state.counters["prepare_s"] = prep;
  state.counters["tiles_s"] = total - prep;
}

BENCHMARK(bm_gptq)
    ->Name("gptq")
    ->Args({2048, 2048})
    ->Args({2048, 5632})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace bitdial
