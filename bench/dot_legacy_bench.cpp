// Single-thread throughput of the 32-value block dot kernels (q4_0 .. iq4_nl with Q8 activations):
// token generation (4096 x 4096 weights times one token: weight bytes/s; 9-18 MB of weights, past L2)
// and prompt processing (2048 x 2048 weights times 64 tokens: GMAC/s), plain rows and, for q4_0 and
// q8_0, rows packed 8 at a time (kernels/packed_rows.h). Run: build/dot_legacy_bench.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "kernels/dispatch.h"
#include "kernels/dot_families.h"
#include "kernels/packed_rows.h"

namespace bitdial {
namespace {

struct Operands {
  std::vector<uint8_t> weights;  // rows x cols in the weight type
  std::vector<uint8_t> acts;     // tokens x cols in Q8 blocks
};

Operands make_operands(TensorType type, int64_t rows, int64_t cols, int64_t tokens) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(tokens * cols));
  for (float& v : w) v = nd(rng);
  for (float& v : x) v = nd(rng);
  Operands op{quantize_tensor(type, w.data(), rows * cols, cols, nullptr, "w"),
              std::vector<uint8_t>(act_row_bytes(ActFormat::Q8, cols) * tokens)};
  for (int64_t t = 0; t < tokens; ++t)
    quantize_act_q8_scalar(x.data() + t * cols, op.acts.data() + t * act_row_bytes(ActFormat::Q8, cols), cols);
  return op;
}

// One tile call over the whole matrix: y (tokens, rows) = W (rows, cols) . x (tokens, cols). With
// `packed`, the weights are packed 8 rows at a time first and the packed tile runs.
void bm_tile(benchmark::State& state, const DotKernel* kernel, TensorType type, int64_t rows, int64_t cols,
             int64_t tokens, bool packed) {
  if (kernel == nullptr || kernel->tile == nullptr || (packed && kernel->packed_tile == nullptr)) {
    state.SkipWithError("no kernel on this CPU");
    return;
  }
  Operands op = make_operands(type, rows, cols, tokens);
  size_t stride = row_bytes(type, cols);
  DotTileFn tile = kernel->tile;
  if (packed) {
    std::vector<uint8_t> groups(static_cast<size_t>(rows / kPackedRows) * packed_group_bytes(type, cols));
    pack_rows(type, op.weights.data(), stride, rows, cols, groups.data());
    op.weights = std::move(groups);
    stride = packed_group_bytes(type, cols);
    tile = kernel->packed_tile;
  }
  std::vector<float> y(static_cast<size_t>(rows * tokens));
  for (auto _ : state) {
    tile(cols, op.weights.data(), stride, rows, op.acts.data(), act_row_bytes(ActFormat::Q8, cols), tokens, y.data(),
         rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(op.weights.size()));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * tokens) * 1e-9 *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void bm_quantize_act(benchmark::State& state, bool avx2) {
  if (avx2 && detected_isa() != Isa::Avx2) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  const int64_t n = 4096 * 16;
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = nd(rng);
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8, n));
  for (auto _ : state) {
    (avx2 ? quantize_act_q8_avx2 : quantize_act_q8_scalar)(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
}

int register_all() {
  const bool avx2 = detected_isa() == Isa::Avx2;
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                TensorType::Q8_0, TensorType::IQ4_NL}) {
    const std::string name = type_name(type);
    const DotKernel* fast = avx2 ? avx2_legacy_kernel(type) : nullptr;
    benchmark::RegisterBenchmark(("gemv_avx2/" + name).c_str(), bm_tile, fast, type, 4096, 4096, 1, false);
    benchmark::RegisterBenchmark(("gemm_avx2/" + name).c_str(), bm_tile, fast, type, 2048, 2048, 64, false);
    if (has_packed_layout(type)) {
      benchmark::RegisterBenchmark(("gemv_avx2_packed/" + name).c_str(), bm_tile, fast, type, 4096, 4096, 1, true);
      benchmark::RegisterBenchmark(("gemm_avx2_packed/" + name).c_str(), bm_tile, fast, type, 2048, 2048, 64, true);
    }
    // The reference on a small case, for scale.
    benchmark::RegisterBenchmark(("gemm_scalar/" + name).c_str(), bm_tile, scalar_legacy_kernel(type), type, 256,
                                 2048, 16, false);
  }
  benchmark::RegisterBenchmark("quantize_act_q8/scalar", bm_quantize_act, false);
  benchmark::RegisterBenchmark("quantize_act_q8/avx2", bm_quantize_act, true);
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace bitdial
