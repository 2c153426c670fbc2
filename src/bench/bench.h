// `bitdial bench`: prompt-processing and generation speed of a model, llama-bench style (pp512 /
// tg128 rows), with peak resident memory, the machine's memory read bandwidth, and decode
// efficiency: the share of that bandwidth generation uses to stream the weights once per token.
//
//   pp test: reps x (empty cache, one eval of n_prompt random token ids)      -> n_prompt / s
//   tg test: reps x (empty cache, n_gen evals of one random token id each)    -> n_gen / s
// Each test is warmed up once (pp: the whole batch; tg: one token) before its timed repetitions.
// The bandwidth probe runs right before each tg repetition, and that repetition's decode efficiency
// is taken against it: on a shared machine the bandwidth on offer moves within seconds. Likewise,
// for float-weight models on the AVX2 path (their products run on FP32 multiply-adds), an FMA-peak
// probe runs right before each pp repetition and gives its compute efficiency.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/llama_model.h"

namespace bitdial {

struct BenchOptions {
  int64_t n_prompt = 512;  // pp test batch (>= 1)
  int64_t n_gen = 128;     // tg test tokens (>= 1)
  int threads = 0;         // OpenMP threads for everything (0: leave the current default, all cores)
  int reps = 5;            // timed repetitions per test (>= 1)
  uint64_t bandwidth_bytes = uint64_t{1} << 30;  // probe buffer; much larger than any last-level cache
  int bandwidth_passes = 2;  // probe passes before each tg repetition; the best of them pairs with it
  int fma_peak_passes = 2;   // FMA-peak passes before each pp repetition (float weights, AVX2); the best pairs with it
  uint64_t seed = 1234;    // random token ids
};

// tokens/s over the repetitions.
struct RateStats {
  std::vector<double> samples;  // one per repetition, in order
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0;  // stddev: sample (n - 1); 0 for one rep
};

// Median, mean, sample standard deviation, min and max of samples (not empty).
RateStats rate_stats(std::vector<double> samples);

struct BenchResult {
  // The model
  std::string model_path;
  std::string model_name;    // general.name, or the file name
  std::string arch;
  std::string type;          // the type holding most of the matrix bytes ("q4_0")
  uint64_t model_bytes = 0;  // all tensor bytes
  uint64_t params = 0;       // all tensor elements
  // The run
  int threads = 0;
  std::string isa;           // kernel path ("avx2", "scalar")
  int64_t n_prompt = 0, n_gen = 0;
  int reps = 0;
  RateStats pp, tg;          // tokens/s
  uint64_t peak_rss_bytes = 0;  // getrusage ru_maxrss after pp and tg's warm-up (before the probe)
  // Bandwidth and efficiency
  double bandwidth_bytes_per_s = 0;         // best probe pass of the run
  double bandwidth_median_bytes_per_s = 0;  // median probe pass of the run
  uint64_t bandwidth_buffer_bytes = 0;
  int bandwidth_passes = 0;                 // all passes of the run
  std::vector<double> tg_bandwidth_bytes_per_s;  // per tg repetition: the best pass just before it
  uint64_t weight_bytes_per_token = 0;      // matrices read per generated token (see weight_bytes_per_token())
  std::vector<double> decode_efficiency_samples;  // per tg repetition: weight bytes x its t/s / its bandwidth
  double decode_efficiency = 0;             // median of the samples
  // Compute efficiency of the pp test: only for f32/f16/bf16 main types on the AVX2 path (the
  // vectors are empty otherwise: quantized products run on 8-bit integer dot products, whose peak
  // this does not measure).
  double pp_flops_per_token = 0;                   // prompt_flops_per_token(model, n_prompt)
  std::vector<double> pp_fma_peak_flops_per_s;     // per pp repetition: the best FMA-peak pass just before it
  std::vector<double> pp_compute_efficiency_samples;  // per pp repetition: flops/token x its t/s / its peak
  double pp_compute_efficiency = 0;                // median of the samples (0 when there are none)
};

// Bytes of weights one generated token reads: every layer's wq, wk, wv, wo, gate, up, down, the
// output projection, and one token_embd row. (Norms, biases and the KV cache are left out.)
uint64_t weight_bytes_per_token(const LlamaModel& model);

// Floating-point operations per token of a pp test of n_prompt tokens from an empty cache: 2 per
// multiply-add of every layer's seven matrices, of the output projection once per batch (only the
// last token's logits are computed), and of causal attention (QK^T and AV: head_dim multiply-adds
// per query head per visible key, on average (n_prompt + 1) / 2 keys).
double prompt_flops_per_token(const LlamaModel& model, int64_t n_prompt);

// Throws bitdial::Error naming the flag (-p, -n, -r, -t) of the first option out of range.
void validate_bench_options(const BenchOptions& options);

// Runs the pp and tg tests, then the bandwidth probe. Throws bitdial::Error for options out of
// range (naming the flag) or when the context cannot hold the tests.
BenchResult run_benchmark(const LlamaModel& model, const BenchOptions& options);

// The documented --json object (docs/bench.md).
nlohmann::ordered_json bench_result_json(const BenchResult& r);
// llama-bench's table (model, size, params, type, threads, test, t/s) and lines for bandwidth,
// peak RSS and decode efficiency.
std::string bench_result_table(const BenchResult& r);

}  // namespace bitdial
