// One training step's forward and backward pass (train/train_model.h forward_backward) on a 4.2M
// parameter llama shape: n_embd 256, 4 layers, 8 query heads on 4 K/V heads, n_ff 768, vocabulary
// 2048, untied; 4 sequences of 128 tokens. Reports tokens/s and GFLOP/s (6 * matrix parameters *
// tokens for the linear layers plus 6 * n_layer * n_seq * seq_len^2 * n_embd for attention: forward 2,
// backward 4). Run: build/train_step_bench (OMP_NUM_THREADS sets the thread count).
#include <benchmark/benchmark.h>

#include <random>

#include "train/init_params.h"
#include "train/train_model.h"

namespace bitdial {
namespace {

void bm_train_step(benchmark::State& state) {
  SynthSpec spec;
  spec.name = "bench-train";
  spec.n_embd = 256;
  spec.n_layer = 4;
  spec.n_head = 8;
  spec.n_head_kv = 4;
  spec.n_ff = 768;
  spec.n_vocab = 2048;
  spec.n_ctx = 128;
  ParamSet ps = init_params(spec, 1);
  TrainBatch batch;
  batch.n_seq = state.range(0);
  batch.seq_len = 128;
  std::mt19937 rng(2);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(spec.n_vocab - 1));
  for (int64_t i = 0; i < batch.n_seq * batch.seq_len; ++i) batch.tokens.push_back(id(rng));
  for (int64_t i = 0; i < batch.n_seq * batch.seq_len; ++i)
    batch.targets.push_back(i % batch.seq_len == batch.seq_len - 1 ? kIgnoreTarget
                                                                   : batch.tokens[static_cast<size_t>(i + 1)]);
  TrainWorkspace ws;
  for (auto _ : state) {
    ps.zero_grads();
    benchmark::DoNotOptimize(forward_backward(ps, batch, {}, ws));
  }
  const double tokens = static_cast<double>(batch.n_seq * batch.seq_len);
  int64_t matrix_params = 0;
  for (const Param& p : ps.params)
    if (p.shape.size() == 2 && p.name != "token_embd.weight") matrix_params += p.numel();  // the lookup is no product
  const double flops =
      6.0 * static_cast<double>(matrix_params) * tokens +
      6.0 * static_cast<double>(spec.n_layer * batch.n_seq * batch.seq_len * batch.seq_len * spec.n_embd);
  const double iters = static_cast<double>(state.iterations());
  state.counters["params"] = static_cast<double>(ps.numel());
  state.counters["tokens/s"] = benchmark::Counter(tokens * iters, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * iters, benchmark::Counter::kIsRate);
}

BENCHMARK(bm_train_step)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace bitdial
