// The bench library (bench/bench.h): statistics over repetitions, the weight bytes a generated token
// reads, and a full run on a tiny synthetic model.
#include "bench/bench.h"
#include "bench/bandwidth.h"
#include "bench/compute_peak.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "model/synth.h"
#include "test_support.h"

namespace bitdial {
namespace {

// 64 wide, 2 layers, 4 query / 2 kv heads (head 16), ffn 96, vocab 400, all matrices f16.
LlamaModel tiny_model(const test::TempDir& dir) {
  const SynthSpec spec = make_synth_spec("", test::tiny_synth_shape(400));
  write_synth_model(dir.file("m.gguf"), spec, synth_byte_vocab(400), {});
  return LlamaModel::load(dir.file("m.gguf"));
}

// A short run on one thread with a 4 MiB bandwidth probe, one pass per probe.
BenchOptions short_run(int64_t n_prompt, int64_t n_gen, int reps) {
  BenchOptions o;
  o.n_prompt = n_prompt;
  o.n_gen = n_gen;
  o.reps = reps;
  o.threads = 1;
  o.bandwidth_bytes = uint64_t{4} << 20;
  o.bandwidth_passes = 1;
  o.fma_peak_passes = 1;
  return o;
}

TEST(RateStats, OddCountHasTheMiddleValueAsMedian) {
  const RateStats s = rate_stats({4.0, 1.0, 2.0});
  EXPECT_DOUBLE_EQ(s.median, 2.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 4.0);
  EXPECT_DOUBLE_EQ(s.mean, 7.0 / 3.0);
  // sample variance: ((4-7/3)^2 + (1-7/3)^2 + (2-7/3)^2) / 2 = (25/9 + 16/9 + 1/9) / 2 = 7/3
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(7.0 / 3.0));
  EXPECT_EQ(s.samples, (std::vector<double>{4.0, 1.0, 2.0}));  // in run order
}

TEST(RateStats, EvenCountAveragesTheMiddlePair) {
  EXPECT_DOUBLE_EQ(rate_stats({1.0, 2.0, 10.0, 3.0}).median, 2.5);
}

TEST(RateStats, OneSampleHasZeroSpread) {
  EXPECT_DOUBLE_EQ(rate_stats({5.0}).stddev, 0.0);
}

TEST(Bench, WeightBytesPerTokenCountEveryMatrixAndOneEmbeddingRow) {
  test::TempDir dir;
  const LlamaModel m = tiny_model(dir);
  // per layer (f16, 2 bytes): wq 64x64, wk 32x64, wv 32x64, wo 64x64, gate/up/down 96x64 each
  const uint64_t layer = 2 * (64 * 64 + 32 * 64 + 32 * 64 + 64 * 64 + 3 * 96 * 64);
  const uint64_t output = 2 * 400 * 64, embd_row = 2 * 64;
  EXPECT_EQ(weight_bytes_per_token(m), 2 * layer + output + embd_row);
}

TEST(Bench, PromptFlopsCountEveryMatrixPerTokenTheOutputOncePerBatchAndCausalAttention) {
  test::TempDir dir;
  const LlamaModel m = tiny_model(dir);
  // multiply-adds per token: layers 2 x (64x64 + 2 x 32x64 + 64x64 + 3 x 96x64) = 61440; output
  // 400x64 / 8 tokens = 3200; attention 2 (QK^T, AV) x 2 layers x 4 heads x 16 x (8 + 1) / 2 = 1152
  EXPECT_DOUBLE_EQ(prompt_flops_per_token(m, 8), 2.0 * (61440 + 3200 + 1152));
}

TEST(Bench, FmaPeakPassIsPositive) {
  EXPECT_GT(fma_peak_pass(1, 1 << 12), 0.0);
}

TEST(Bench, ComputeEfficiencyPairsEachPpRepetitionWithTheFmaPeakProbedBeforeIt) {
  test::TempDir dir;
  const LlamaModel m = tiny_model(dir);  // f16: its products run on FP32 FMA
  const BenchResult r = run_benchmark(m, short_run(8, 2, 3));
  EXPECT_DOUBLE_EQ(r.pp_flops_per_token, prompt_flops_per_token(m, 8));
  if (active_isa() != Isa::Avx2) {
    EXPECT_TRUE(r.pp_compute_efficiency_samples.empty());
    EXPECT_TRUE(bench_result_json(r)["pp_compute_efficiency"].is_null());
    return;
  }
  ASSERT_EQ(r.pp_fma_peak_flops_per_s.size(), 3u);
  ASSERT_EQ(r.pp_compute_efficiency_samples.size(), 3u);
  std::vector<double> expected;
  for (size_t i = 0; i < 3; ++i) {
    expected.push_back(r.pp_flops_per_token * r.pp.samples[i] / r.pp_fma_peak_flops_per_s[i]);
    EXPECT_DOUBLE_EQ(r.pp_compute_efficiency_samples[i], expected.back()) << i;
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_DOUBLE_EQ(r.pp_compute_efficiency, expected[1]);
  EXPECT_DOUBLE_EQ(bench_result_json(r)["pp_compute_efficiency"].get<double>(), expected[1]);
}

TEST(Bench, QuantizedModelHasNoComputeEfficiency) {
  test::TempDir dir;
  SynthOptions q8;
  q8.type = TensorType::Q8_0;
  write_synth_model(dir.file("q.gguf"), make_synth_spec("", test::tiny_synth_shape(400)), synth_byte_vocab(400), q8);
  const LlamaModel m = LlamaModel::load(dir.file("q.gguf"));
  const BenchResult r = run_benchmark(m, short_run(4, 2, 1));
  EXPECT_EQ(r.type, "q8_0");
  EXPECT_TRUE(r.pp_fma_peak_flops_per_s.empty());
  EXPECT_TRUE(r.pp_compute_efficiency_samples.empty());
  const nlohmann::ordered_json j = bench_result_json(r);
  EXPECT_TRUE(j["fma_peak_flops_per_s"].is_null());
  EXPECT_TRUE(j["pp_compute_efficiency"].is_null());
  EXPECT_GT(j["pp_flops_per_token"].get<double>(), 0.0);
  EXPECT_TRUE(test::contains(bench_result_table(r), "prompt compute: ")) << bench_result_table(r);
}

TEST(Bench, ZeroFmaPeakPassesIsRejected) {
  BenchOptions o;
  o.fma_peak_passes = 0;
  EXPECT_THROW(validate_bench_options(o), Error);
}

TEST(Bench, RunOnTinyModelGivesPositiveRatesAndBandwidth) {
  test::TempDir dir;
  const LlamaModel m = tiny_model(dir);
  BenchOptions o = short_run(8, 4, 3);
  o.bandwidth_passes = 2;
  const BenchResult r = run_benchmark(m, o);
  EXPECT_EQ(r.pp.samples.size(), 3u);
  EXPECT_EQ(r.tg.samples.size(), 3u);
  EXPECT_GT(r.pp.min, 0.0);
  EXPECT_GT(r.tg.min, 0.0);
  EXPECT_GT(r.bandwidth_bytes_per_s, 0.0);
  EXPECT_GT(r.peak_rss_bytes, 0u);
  EXPECT_EQ(r.threads, 1);
  EXPECT_EQ(r.type, "f16");
  EXPECT_EQ(r.bandwidth_passes, 6);
}

TEST(Bench, DecodeEfficiencyPairsEachTgRepetitionWithTheBandwidthProbedBeforeIt) {
  test::TempDir dir;
  const LlamaModel m = tiny_model(dir);
  const BenchResult r = run_benchmark(m, short_run(4, 4, 3));
  ASSERT_EQ(r.tg_bandwidth_bytes_per_s.size(), 3u);
  ASSERT_EQ(r.decode_efficiency_samples.size(), 3u);
  std::vector<double> expected;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LE(r.tg_bandwidth_bytes_per_s[i], r.bandwidth_bytes_per_s);
    expected.push_back(static_cast<double>(r.weight_bytes_per_token) * r.tg.samples[i] / r.tg_bandwidth_bytes_per_s[i]);
    EXPECT_DOUBLE_EQ(r.decode_efficiency_samples[i], expected.back()) << i;
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_DOUBLE_EQ(r.decode_efficiency, expected[1]);
}

TEST(Bench, BandwidthSummaryTakesTheBestAndTheMedianPass) {
  const BandwidthResult r = summarize_bandwidth(1 << 20, 2, {3.0, 9.0, 1.0, 5.0});
  EXPECT_EQ(r.best_bytes_per_s, 9.0);
  EXPECT_EQ(r.median_bytes_per_s, 4.0);
  EXPECT_EQ(r.pass_bytes_per_s, (std::vector<double>{3.0, 9.0, 1.0, 5.0}));
}

TEST(Bench, ZeroPromptTokensIsRejectedNamingTheFlag) {
  BenchOptions o;
  o.n_prompt = 0;
  try {
    validate_bench_options(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-p 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bitdial
