// Quantization (encode) cost per type, single-threaded, in ns per value: every type with an encoder
// quantizes 4096-value rows of N(0, 0.02) weights with ~1% outliers (x8), the shape of real
// transformer weight rows, without and with an importance vector. Run:
//   build/quantize_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// The "per_value" counter (time per value) is the number to compare (lower is better).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "blocks/traits.h"

namespace bitdial {
namespace {

constexpr int64_t kRow = 4096;
constexpr int64_t kRows = 4;  // 16384 values per iteration: enough work per timing, L1/L2-resident

std::vector<float> make_weights(int64_t n) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) {
    v = normal(rng);
    if (unit(rng) < 0.01f) v *= 8.0f;  // outliers: what makes scale choice matter
  }
  return x;
}

// Importance as an imatrix gives it: positive, spread over about two orders of magnitude.
std::vector<float> make_importance(int64_t n) {
  std::mt19937 rng(99);
  std::lognormal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(n));
  for (float& v : w) v = dist(rng);
  return w;
}

void bm_quantize(benchmark::State& state, TensorType type, bool weighted) {
  const TypeTraits& tr = type_traits(type);
  const int64_t n = kRow * kRows;
  const std::vector<float> x = make_weights(n);
  const std::vector<float> importance = make_importance(kRow);
  const size_t rb = row_bytes(type, kRow);
  std::vector<uint8_t> packed(rb * kRows);
  for (auto _ : state) {
    for (int64_t r = 0; r < kRows; ++r)
      tr.quantize_row(x.data() + r * kRow, packed.data() + r * rb, kRow, weighted ? importance.data() : nullptr);
    benchmark::DoNotOptimize(packed.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
  // Iterations x values / seconds, inverted: seconds per value (the console shows e.g. "48.1ns";
  // JSON holds seconds).
  state.counters["per_value"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

int register_all() {
  for (const TypeInfo& info : all_type_infos()) {
    const TypeTraits& tr = type_traits(info.type);
    if (tr.quantize_row == nullptr || kRow % info.block_size != 0) continue;
    for (bool weighted : {false, true}) {
      const std::string name = std::string("quantize/") + info.name + (weighted ? "/importance" : "/plain");
      benchmark::RegisterBenchmark(name.c_str(), bm_quantize, info.type, weighted)->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace bitdial
