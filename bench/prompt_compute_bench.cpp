// What limits prompt processing of float weights: matmul of an F16 matrix of the llama-1b FFN shape
// (5632 x 2048) with 512 tokens, on 1 and 2 threads, next to the FP32 multiply-add peak of the same
// threads (bench/compute_peak.h, best of 3 passes taken right before each benchmark). Both in
// GFLOP/s, and the matmul's share of the peak as `of_fma_peak`. Run: build/prompt_compute_bench.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
#include <random>
#include <vector>

#include "bench/compute_peak.h"
#include "blocks/tensor_codec.h"
#include "kernels/fma_peak.h"
#include "kernels/matmul.h"

namespace bitdial {
namespace {

constexpr int64_t kRows = 5632, kCols = 2048, kTokens = 512;

void bm_fma_peak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(fma_peak_pass(threads, kFmaPeakSteps));
  const double flops = static_cast<double>(state.iterations()) * threads * kFmaPeakSteps * kFmaChainsFlopsPerStep;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
}

void bm_matmul_f16(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  omp_set_num_threads(threads);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(kRows * kCols)), x(static_cast<size_t>(kTokens * kCols));
  for (float& v : w) v = nd(rng);
  for (float& v : x) v = nd(rng);
  const std::vector<uint8_t> w16 = quantize_tensor(TensorType::F16, w.data(), kRows * kCols, kCols, nullptr, "w");
  const WeightView view{TensorType::F16, w16.data(), kRows, kCols, nullptr};
  std::vector<float> y(static_cast<size_t>(kRows * kTokens));
  matmul(view, x.data(), kTokens, y.data());  // warm-up
  const double peak = fma_peak_best(threads, kFmaPeakSteps, 3);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    matmul(view, x.data(), kTokens, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double flops = 2.0 * kRows * kCols * kTokens * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["fma_peak_GFLOP/s"] = peak * 1e-9;
  state.counters["of_fma_peak"] = s > 0 && peak > 0 ? flops / s / peak : 0.0;
}

BENCHMARK(bm_fma_peak)->Name("fma_peak")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(bm_matmul_f16)->Name("matmul_f16_pp512")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bitdial
