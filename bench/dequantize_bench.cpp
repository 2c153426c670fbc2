// Dequantization throughput per type (reference row codecs): GB/s of f32 output written, for a
// 4096 x 64 weight slice (1 MiB of output, L2-resident on most CPUs so it measures decode work, and
// a 64 MiB slice that streams from memory). Run: build/dequantize_bench (or `make bench`).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "blocks/traits.h"

namespace bitdial {
namespace {

void bm_dequantize(benchmark::State& state, TensorType type) {
  const TypeTraits& tr = type_traits(type);
  const int64_t n = state.range(0);
  std::vector<float> src(static_cast<size_t>(n));
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  for (float& v : src) v = dist(rng);
  const int64_t row = 4096;
  std::vector<uint8_t> packed(row_bytes(type, n));
  const size_t rb = row_bytes(type, row);
  for (int64_t r = 0; r < n / row; ++r)
    tr.quantize_row(src.data() + r * row, packed.data() + static_cast<size_t>(r) * rb, row, nullptr);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    for (int64_t r = 0; r < n / row; ++r)
      tr.dequantize_row(packed.data() + static_cast<size_t>(r) * rb, out.data() + r * row, row);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
  state.counters["bpw"] = bits_per_weight(type);
}

int register_all() {
  for (const TypeInfo& info : all_type_infos()) {
    const TypeTraits& tr = type_traits(info.type);
    if (tr.dequantize_row == nullptr || tr.quantize_row == nullptr) continue;
    benchmark::RegisterBenchmark((std::string("dequantize/") + info.name).c_str(), bm_dequantize, info.type)
        ->Arg(int64_t{4096} * 64)
        ->Arg(int64_t{4096} * 4096);
  }
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace bitdial
