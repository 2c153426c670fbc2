// Single-thread speed of the Q8_K-family dot kernels (q2_K .. q6_K, iq4_xs, tq1_0, tq2_0), called as
// one tile: AVX2 gemv 4096 x 4096 with one token (token generation: bytes/s = weight bytes streamed),
// AVX2 gemm 2048 x 2048 x 64 tokens (prompt processing: GMAC/s), the scalar reference on a small
// gemv for comparison, the q4_K and q6_K tiles on rows packed 8 at a time (kernels/packed_rows.h;
// registered for every type with a packed layout), and the Q8_K activation converters.
// Run: build/dot_kquant_bench.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "blocks/k_quants.h"
#include "blocks/nonlinear_quants.h"
#include "blocks/ternary_quants.h"
#include "core/fp16.h"
#include "kernels/dispatch.h"
#include "kernels/dot_families.h"
#include "kernels/packed_rows.h"

namespace bitdial {
namespace {

constexpr TensorType kTypes[] = {TensorType::Q2_K, TensorType::Q3_K,   TensorType::Q4_K,  TensorType::Q5_K,
                                 TensorType::Q6_K, TensorType::IQ4_XS, TensorType::TQ1_0, TensorType::TQ2_0};

// Random code bytes with sane fp16 scales patched in (random scale bits would include NaN, infinity
// and subnormals, which no quantizer writes). Quantizing 16M floats would take far longer than the runs.
template <class Block>
void patch_scales(std::vector<uint8_t>& w, bool has_min) {
  auto* blocks = reinterpret_cast<Block*>(w.data());
  for (size_t i = 0; i < w.size() / sizeof(Block); ++i) {
    blocks[i].d = f32_to_fp16(1e-3f);
    if constexpr (requires { blocks[i].dmin; })
      if (has_min) blocks[i].dmin = f32_to_fp16(5e-4f);
  }
}

std::vector<uint8_t> random_weights(TensorType type, int64_t rows, int64_t cols) {
  std::vector<uint8_t> w(row_bytes(type, cols) * static_cast<size_t>(rows));
  std::mt19937 rng(1);
  for (uint8_t& b : w) b = static_cast<uint8_t>(rng());
  switch (type) {
    case TensorType::Q2_K: patch_scales<BlockQ2_K>(w, true); break;
    case TensorType::Q3_K: patch_scales<BlockQ3_K>(w, false); break;
    case TensorType::Q4_K: patch_scales<BlockQ4_K>(w, true); break;
    case TensorType::Q5_K: patch_scales<BlockQ5_K>(w, true); break;
    case TensorType::Q6_K: patch_scales<BlockQ6_K>(w, false); break;
    case TensorType::IQ4_XS: patch_scales<BlockIQ4_XS>(w, false); break;
    case TensorType::TQ1_0: patch_scales<BlockTQ1_0>(w, false); break;
    case TensorType::TQ2_0: patch_scales<BlockTQ2_0>(w, false); break;
    default: break;
  }
  return w;
}

std::vector<float> random_floats(int64_t count) {
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(count));
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<uint8_t> random_activations(int64_t tokens, int64_t cols) {
  const std::vector<float> x = random_floats(tokens * cols);
  const size_t stride = act_row_bytes(ActFormat::Q8_K, cols);
  std::vector<uint8_t> a(stride * static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) quantize_act_q8k_scalar(x.data() + t * cols, a.data() + t * stride, cols);
  return a;
}

// W (rows, cols) @ x (tokens, cols)^T -> y (tokens, rows) as one tile; `packed`: on packed rows.
void bm_tile(benchmark::State& state, TensorType type, bool use_avx2, int64_t rows, int64_t cols, int64_t tokens,
             bool packed) {
  if (use_avx2 && detected_isa() != Isa::Avx2) {
    state.SkipWithError("CPU lacks AVX2");
    return;
  }
  const DotKernel* kernel = use_avx2 ? avx2_kquant_kernel(type) : scalar_kquant_kernel(type);
  DotTileFn tile = packed ? kernel->packed_tile : kernel->tile;
  std::vector<uint8_t> w = random_weights(type, rows, cols);
  size_t stride = row_bytes(type, cols);
  if (packed) {
    std::vector<uint8_t> groups(static_cast<size_t>(rows / kPackedRows) * packed_group_bytes(type, cols));
    pack_rows(type, w.data(), stride, rows, cols, groups.data());
    w = std::move(groups);
    stride = packed_group_bytes(type, cols);
  }
  const std::vector<uint8_t> a = random_activations(tokens, cols);
  std::vector<float> y(static_cast<size_t>(rows * tokens));
  for (auto _ : state) {
    tile(cols, w.data(), stride, rows, a.data(), act_row_bytes(ActFormat::Q8_K, cols), tokens, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * tokens) * 1e-9 *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}

void bm_quantize_act(benchmark::State& state, bool use_avx2) {
  if (use_avx2 && detected_isa() != Isa::Avx2) {
    state.SkipWithError("CPU lacks AVX2");
    return;
  }
  const int64_t n = 4096;
  const std::vector<float> x = random_floats(n);
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8_K, n));
  for (auto _ : state) {
    (use_avx2 ? quantize_act_q8k_avx2 : quantize_act_q8k_scalar)(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
}

int register_all() {
  for (TensorType type : kTypes) {
    const std::string name = type_info(type).name;
    benchmark::RegisterBenchmark(("gemv_avx2/" + name + "/4096x4096").c_str(), bm_tile, type, true, 4096, 4096, 1, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("gemm_avx2/" + name + "/2048x2048x64").c_str(), bm_tile, type, true, 2048, 2048, 64, false)
        ->Unit(benchmark::kMillisecond);
    if (has_packed_layout(type)) {
      benchmark::RegisterBenchmark(("gemv_avx2_packed/" + name + "/4096x4096").c_str(), bm_tile, type, true, 4096, 4096,
                                   1, true)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("gemm_avx2_packed/" + name + "/2048x2048x64").c_str(), bm_tile, type, true, 2048,
                                   2048, 64, true)
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("gemv_scalar/" + name + "/256x4096").c_str(), bm_tile, type, false, 256, 4096, 1, false)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("quantize_act_q8k/scalar/4096", bm_quantize_act, false);
  benchmark::RegisterBenchmark("quantize_act_q8k/avx2/4096", bm_quantize_act, true);
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace bitdial
