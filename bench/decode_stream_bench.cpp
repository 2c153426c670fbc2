// What limits decoding once the weights come from DRAM: one token times a matrix far larger than the
// last-level cache (16384 x 8192, 75-140 MB; q4_0, q8_0, q4_K, q6_K), through matmul with its packed kernels and OpenMP
// split, on 1 and 2 threads, next to a plain streaming read of a buffer of the same size on the
// same threads. Bytes/s of weights for both, so the ratio is the share of the machine's read
// bandwidth a decoding core reaches. And the products of one llama-1b token (22 layers of q/k/v as
// one shared-input product, o, gate/up shared, down; q4_0, 545 MiB) in the model's order, with
// nothing between them: what the split into 88 products of 0.5-6 MiB costs against one big matrix.
// Run: build/decode_stream_bench (make bench runs it).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "kernels/matmul.h"
#include "kernels/read_bandwidth.h"

namespace bitdial {
namespace {

constexpr int64_t kRows = 16384, kCols = 8192;

struct Matrix {
  std::vector<uint8_t> plain, packed;
  WeightView view;
};

// Quantized once per type (tens of seconds for all types otherwise) and kept for the process.
const Matrix& matrix(TensorType type) {
  static Matrix m[4];
  const int i = type == TensorType::Q4_0 ? 0 : type == TensorType::Q8_0 ? 1 : type == TensorType::Q4_K ? 2 : 3;
  if (m[i].plain.empty()) {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(kCols));
    for (int64_t r = 0; r < kRows; ++r) {
      for (float& v : row) v = nd(rng);
      const std::vector<uint8_t> q = quantize_tensor(type, row.data(), kCols, kCols, nullptr, "w");
      m[i].plain.insert(m[i].plain.end(), q.begin(), q.end());
    }
    m[i].view = WeightView{type, m[i].plain.data(), kRows, kCols, nullptr};
    m[i].packed = pack_for_matmul(m[i].view);
    if (!m[i].packed.empty()) m[i].view.packed = m[i].packed.data();
  }
  return m[i];
}

void bm_decode(benchmark::State& state, TensorType type) {
  const int threads = static_cast<int>(state.range(0));
  omp_set_num_threads(threads);
  const Matrix& m = matrix(type);
  std::vector<float> x(static_cast<size_t>(kCols), 0.5f), y(static_cast<size_t>(kRows));
  for (auto _ : state) {
    matmul(m.view, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const size_t bytes = m.packed.empty() ? m.plain.size() : m.packed.size();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetLabel((m.packed.empty() ? "plain, " : "packed, ") + std::to_string(bytes >> 20) + " MiB");
}

// One token through the matrices of llama-1b's 22 layers (q4_0, packed), as session_batch.cpp
// calls them: bytes/s of weights.
void bm_decode_layers(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  omp_set_num_threads(threads);
  constexpr int64_t kEmbd = 2048, kKv = 256, kFf = 5632, kLayers = 22;
  struct Layer {
    std::vector<uint8_t> plain[7], packed[7];
    WeightView w[7];  // q, k, v, o, gate, up, down
  };
  static std::vector<Layer> layers;
  if (layers.empty()) {
    std::mt19937 rng(13);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t shape[7][2] = {{kEmbd, kEmbd}, {kKv, kEmbd}, {kKv, kEmbd}, {kEmbd, kEmbd}, {kFf, kEmbd}, {kFf, kEmbd}, {kEmbd, kFf}};
    layers.resize(kLayers);
    for (Layer& l : layers)
      for (int i = 0; i < 7; ++i) {
        std::vector<float> v(static_cast<size_t>(shape[i][0] * shape[i][1]));
        for (float& x : v) x = nd(rng);
        l.plain[i] = quantize_tensor(TensorType::Q4_0, v.data(), static_cast<int64_t>(v.size()), shape[i][1], nullptr, "w");
        l.w[i] = WeightView{TensorType::Q4_0, l.plain[i].data(), shape[i][0], shape[i][1], nullptr};
        l.packed[i] = pack_for_matmul(l.w[i]);
        if (!l.packed[i].empty()) l.w[i].packed = l.packed[i].data();
      }
  }
  std::vector<float> x(static_cast<size_t>(kFf), 0.5f), q(kEmbd), k(kKv), v(kKv), o(kEmbd), gate(kFf), up(kFf), down(kEmbd);
  size_t bytes = 0;
  for (const Layer& l : layers)
    for (int i = 0; i < 7; ++i) bytes += l.packed[i].empty() ? l.plain[i].size() : l.packed[i].size();
  for (auto _ : state) {
    for (const Layer& l : layers) {
      const MatmulOut qkv[3] = {{&l.w[0], q.data()}, {&l.w[1], k.data()}, {&l.w[2], v.data()}};
      matmul_shared_input(qkv, x.data(), 1);
      matmul(l.w[3], x.data(), 1, o.data());
      const MatmulOut gate_up[2] = {{&l.w[4], gate.data()}, {&l.w[5], up.data()}};
      matmul_shared_input(gate_up, x.data(), 1);
      matmul(l.w[6], x.data(), 1, down.data());
    }
    benchmark::DoNotOptimize(down.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetLabel(std::to_string(bytes >> 20) + " MiB in 88 products");
}

// The bandwidth probe's loop (bench/bandwidth.cpp) on a buffer as large as the q4_0 matrix.
void bm_read(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t bytes = matrix(TensorType::Q4_0).plain.size() / (kReadStreamBlock * threads) * (kReadStreamBlock * threads);
  const size_t slice = bytes / static_cast<size_t>(threads);
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t)
    for (size_t i = 0; i < slice; ++i) buf[slice * static_cast<size_t>(t) + i] = static_cast<uint8_t>(i * 7 + 1);
  for (auto _ : state) {
    uint64_t sum = 0;
#pragma omp parallel for num_threads(threads) schedule(static, 1) reduction(+ : sum)
    for (int t = 0; t < threads; ++t) sum += read_stream(buf + slice * static_cast<size_t>(t), slice);
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  std::free(buf);
}

BENCHMARK(bm_read)->Name("read_stream")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_decode, q4_0, TensorType::Q4_0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_decode, q8_0, TensorType::Q8_0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_decode, q4_K, TensorType::Q4_K)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_decode, q6_K, TensorType::Q6_K)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(bm_decode_layers)->Name("decode_llama1b_layers/q4_0")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bitdial
