// Gram accumulation H += X^T X (kernels/gram.h, the Hessian step of GPTQ calibration): GFLOP/s
// (2 * tokens * cols * (cols + 1) / 2 flops: the lower triangle) for 2048 tokens and the two input widths
// of a llama-1b layer, scalar reference vs AVX2, on all OpenMP threads; and the whole Hessian step of
// one 2048-token call (HessianCollector: the Gram kernel on the active path plus the add into double).
// Run: build/gram_bench (OMP_NUM_THREADS sets the thread count).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/gram.h"
#include "quant/hessian.h"

namespace bitdial {
namespace {

void bm_gram(benchmark::State& state, Isa isa) {
  if (isa == Isa::Avx2 && detected_isa() != Isa::Avx2) {
    state.SkipWithError("CPU lacks AVX2/FMA/F16C");
    return;
  }
  const int64_t cols = state.range(0), n = state.range(1);
  std::vector<float> x(static_cast<size_t>(n * cols));
  std::mt19937 rng(1);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  for (float& v : x) v = n01(rng);
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  for (auto _ : state) {
    gram_accumulate_isa(isa, x.data(), n, cols, h.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(cols) * static_cast<double>(cols + 1) / 2;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}

void bm_hessian_call(benchmark::State& state) {
  const int64_t cols = state.range(0), n = state.range(1);
  std::vector<float> x(static_cast<size_t>(n * cols));
  std::mt19937 rng(1);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  for (float& v : x) v = n01(rng);
  HessianCollector collector({"blk.0.ffn_down.weight"});
  for (auto _ : state) collector.on_matmul_input(MatmulSite::ffn_mid, 0, x.data(), n, cols);
  state.counters["isa"] = static_cast<double>(active_isa() == Isa::Avx2);
}

BENCHMARK(bm_hessian_call)->Args({2048, 2048})->Args({5632, 2048})->Iterations(4)->Unit(benchmark::kSecond)->UseRealTime();

BENCHMARK_CAPTURE(bm_gram, avx2, Isa::Avx2)->Args({2048, 2048})->Args({5632, 2048})->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(bm_gram, scalar, Isa::Scalar)->Args({2048, 2048})->Args({5632, 2048})->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace bitdial
