// The cost model: measured rows use the benchmark as is, other rows follow the roofline projection
// (decode from bandwidth, prefill from compute, batching, tensor-parallel split), p95 from the
// repetition samples, devices for the traffic, and the two cost definitions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "decide/cost_model.h"
#include "eval/statistics.h"
#include "test_support.h"

namespace bitdial {
namespace {

// A tiny model shape: KV per token = 2 layers x 2 (K, V) x 2 heads x 16 x 2 bytes = 256 bytes.
ModelShape tiny_shape() {
  ModelShape s;
  s.from = "test";
  s.n_layer = 2;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.head_dim = 16;
  s.n_ff = 96;
  s.n_vocab = 256;
  s.params = 2'000'000;
  return s;
}

MeasuredThroughput measured() {
  MeasuredThroughput m;
  m.pp_tokens_per_s = 1000;
  m.tg_tokens_per_s = 100;
  m.pp_samples = {900, 1000, 1100};
  m.tg_samples = {90, 100, 110};
  m.model_bytes = 1'000'000;
  m.weight_bytes_per_token = 1'000'000;
  m.params = 2'000'000;
  m.weight_type = "q4_0";
  return m;
}

HardwareSpec gpu() {
  HardwareSpec h;
  h.name = "test-gpu";
  h.hw_class = "gpu";
  h.memory_gb = 1;
  h.bandwidth_gb_s = 100;
  h.tflops_fp16 = 10;
  h.tops_int8 = 20;
  h.dollars_per_hour = 2.0;
  h.decode_efficiency = 0.5;
  h.prefill_efficiency = 0.4;
  return h;
}

Traffic traffic() {
  Traffic t;
  t.requests_per_day = 86400;  // 1 request/s
  t.prompt_tokens = 100;
  t.output_tokens = 50;
  t.utilization = 0.5;
  return t;
}

// The p95 of every (pp sample, tg sample) request time, each sample scaled.
double p95_of_pairs(const MeasuredThroughput& m, const Traffic& t, double pp_scale, double tg_scale) {
  std::vector<double> ms;
  for (double p : m.pp_samples)
    for (double g : m.tg_samples) ms.push_back(1e3 * (t.prompt_tokens / (p * pp_scale) + t.output_tokens / (g * tg_scale)));
  return percentile(ms, 95);
}

TEST(CostModel, MeasuredRowUsesTheBenchmarkAsIs) {
  HardwareSpec h = gpu();
  h.measured = true;
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), h);
  EXPECT_FALSE(c.projected);
  EXPECT_DOUBLE_EQ(c.pp_tokens_per_s, 1000);
  EXPECT_DOUBLE_EQ(c.tg_tokens_per_s, 100);
  EXPECT_NEAR(c.latency_ms, 1e3 * (100.0 / 1000 + 50.0 / 100), 1e-9);
  ASSERT_TRUE(c.p95_latency_ms.has_value());
  EXPECT_NEAR(*c.p95_latency_ms, p95_of_pairs(measured(), traffic(), 1, 1), 1e-9);
  EXPECT_GT(*c.p95_latency_ms, c.latency_ms);
}

TEST(CostModel, DecodeProjectionIsTheBandwidthRoofline) {
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  EXPECT_TRUE(c.projected);
  // decode_eff x bandwidth / (weight bytes + KV read at the mean length prompt + output / 2)
  const double step_bytes = 1e6 + 256.0 * (100 + 25);
  EXPECT_NEAR(c.tg_tokens_per_s, 0.5 * 100e9 / step_bytes, 1e-6);
}

TEST(CostModel, PrefillProjectionUsesInt8ForQuantizedAndFp16ForFloatWeights) {
  const CostEstimate q = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  EXPECT_EQ(q.compute_peak, "int8");
  EXPECT_NEAR(q.pp_tokens_per_s, 0.4 * 20e12 / (2 * 2e6), 1e-3);
  MeasuredThroughput f = measured();
  f.weight_type = "f16";
  const CostEstimate c = estimate_cost(f, tiny_shape(), traffic(), gpu());
  EXPECT_EQ(c.compute_peak, "fp16");
  EXPECT_NEAR(c.pp_tokens_per_s, 0.4 * 10e12 / (2 * 2e6), 1e-3);
}

TEST(CostModel, LatencyIsPromptOverPpPlusOutputOverTg) {
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  EXPECT_NEAR(c.latency_ms, 1e3 * (100 / c.pp_tokens_per_s + 50 / c.tg_tokens_per_s), 1e-9);
}

TEST(CostModel, ProjectedP95ScalesTheSamplesByTheMedianRatios) {
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  ASSERT_TRUE(c.p95_latency_ms.has_value());
  EXPECT_NEAR(*c.p95_latency_ms, p95_of_pairs(measured(), traffic(), c.pp_tokens_per_s / 1000, c.tg_tokens_per_s / 100), 1e-9);
  EXPECT_GT(*c.p95_latency_ms, c.latency_ms);
}

TEST(CostModel, P95IsNullWithoutSamples) {
  MeasuredThroughput m = measured();
  m.tg_samples.clear();
  const CostEstimate c = estimate_cost(m, tiny_shape(), traffic(), gpu());
  EXPECT_FALSE(c.p95_latency_ms.has_value());
  EXPECT_TRUE(cost_json(c)["p95_latency_ms"].is_null());
}

TEST(CostModel, BatchedDecodeReadsTheWeightsOncePerStep) {
  Traffic t = traffic();
  t.concurrency = 8;
  const CostEstimate one = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), t, gpu());
  EXPECT_EQ(c.batch, 8);
  EXPECT_NEAR(c.tg_tokens_per_s, 0.5 * 100e9 / (1e6 + 8 * 256.0 * 125), 1e-6);
  EXPECT_LT(c.tg_tokens_per_s, one.tg_tokens_per_s);       // each stream a bit slower (more KV read)
  EXPECT_GT(8 * c.tg_tokens_per_s, 5 * one.tg_tokens_per_s);  // but the batch far faster in total
}

TEST(CostModel, LargeBatchesBecomeComputeBound) {
  Traffic t = traffic();
  t.concurrency = 4096;
  t.prompt_tokens = 0;
  t.output_tokens = 1;
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), t, gpu());
  EXPECT_NEAR(c.tg_tokens_per_s, 0.4 * 20e12 / (2 * 2e6 * 4096), 1e-9);
}

TEST(CostModel, MeasuredRowsIgnoreConcurrency) {
  HardwareSpec h = gpu();
  h.measured = true;
  Traffic t = traffic();
  t.concurrency = 8;
  EXPECT_EQ(estimate_cost(measured(), tiny_shape(), t, h).batch, 1);
}

TEST(CostModel, DevicesCoverTheTrafficAtTheUtilization) {
  Traffic t = traffic();
  t.requests_per_day = 86400.0 * 10000;  // 10000 requests/s
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), t, gpu());
  const double capacity = c.requests_per_s_per_device;  // one device per replica here
  EXPECT_EQ(c.devices_per_replica, 1);
  EXPECT_EQ(c.devices, int64_t(std::ceil(10000 / (capacity * 0.5))));
  EXPECT_NEAR(capacity, 1.0 / (100 / c.pp_tokens_per_s + 50 / c.tg_tokens_per_s), 1e-6);
}

TEST(CostModel, NoTrafficStillNeedsOneCopyOfTheModel) {
  Traffic t = traffic();
  t.requests_per_day = 0;
  EXPECT_EQ(estimate_cost(measured(), tiny_shape(), t, gpu()).devices, 1);
}

TEST(CostModel, CostPerMonthIsDevicesTimesPriceTimes730Hours) {
  Traffic t = traffic();
  t.requests_per_day = 86400.0 * 5000;
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), t, gpu());
  EXPECT_GT(c.devices, 1);
  EXPECT_DOUBLE_EQ(c.cost_per_month, double(c.devices) * 2.0 * 730);
}

TEST(CostModel, CostPerMillionTokensIsPriceOverTokensServedPerHourAtFullUse) {
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  EXPECT_NEAR(c.cost_per_1m_tokens, 2.0 / (c.requests_per_s_per_device * 3600 * 150) * 1e6, 1e-12);
  Traffic busier = traffic();
  busier.requests_per_day *= 1000;  // more devices, same price per token
  EXPECT_NEAR(estimate_cost(measured(), tiny_shape(), busier, gpu()).cost_per_1m_tokens, c.cost_per_1m_tokens, 1e-12);
}

TEST(CostModel, AModelLargerThanOneDeviceIsSplitAndProjectedOnTheGroup) {
  HardwareSpec small = gpu();
  small.memory_gb = 0.25;  // the 512 MiB runtime overhead alone needs more
  const CostEstimate big = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), small);
  EXPECT_TRUE(big.fits);
  EXPECT_FALSE(c.fits);
  EXPECT_EQ(c.devices_per_replica, devices_to_fit(c.memory_bytes, small));
  EXPECT_GT(c.devices_per_replica, 1);
  EXPECT_NEAR(c.tg_tokens_per_s, big.tg_tokens_per_s * double(c.devices_per_replica), 1e-6);
  EXPECT_EQ(c.devices % c.devices_per_replica, 0);
}

TEST(CostModel, InvalidTrafficNamesTheField) {
  Traffic t = traffic();
  t.utilization = 0;
  EXPECT_NE(test::error_of([&] { estimate_cost(measured(), tiny_shape(), t, gpu()); }).find("utilization"), std::string::npos);
  t = traffic();
  t.prompt_tokens = -1;
  EXPECT_NE(test::error_of([&] { validate_traffic(t); }).find("prompt_tokens"), std::string::npos);
}

TEST(CostModel, ProjectionWithoutWeightBytesPerTokenIsAnError) {
  MeasuredThroughput m = measured();
  m.weight_bytes_per_token = 0;
  EXPECT_NE(test::error_of([&] { estimate_cost(m, tiny_shape(), traffic(), gpu()); }).find("weight bytes per token"),
            std::string::npos);
}

TEST(CostModel, JsonAndMetricsUseTheResultsNames) {
  const CostEstimate c = estimate_cost(measured(), tiny_shape(), traffic(), gpu());
  const auto j = cost_json(c);
  for (const char* k : {"hardware", "fits", "devices", "pp_tokens_per_s", "tg_tokens_per_s", "latency_ms", "p95_latency_ms",
                        "requests_per_s_per_device", "cost_per_1m_tokens", "cost_per_month"})
    EXPECT_TRUE(j.contains(k)) << k;
  const auto tj = traffic_json(traffic());
  for (const char* k : {"requests_per_day", "prompt_tokens", "output_tokens", "utilization"}) EXPECT_TRUE(tj.contains(k)) << k;
  MetricTable table;
  add_cost_metrics(table, c);
  for (const char* k : {"latency_ms", "p95_latency_ms", "cost_per_1m_tokens", "cost_per_month", "devices"})
    EXPECT_TRUE(table.count(k)) << k;
  EXPECT_DOUBLE_EQ(table["devices"].value, double(c.devices));
}

TEST(CostModel, MeasuredFromBenchCopiesTheBenchFields) {
  BenchResult r;
  r.pp = rate_stats({10, 12, 11});
  r.tg = rate_stats({3, 2, 4});
  r.model_bytes = 123;
  r.weight_bytes_per_token = 45;
  r.params = 67;
  r.peak_rss_bytes = 89;
  r.type = "q8_0";
  const MeasuredThroughput m = measured_from_bench(r);
  EXPECT_EQ(m.pp_tokens_per_s, 11);
  EXPECT_EQ(m.tg_tokens_per_s, 3);
  EXPECT_EQ(m.tg_samples, (std::vector<double>{3, 2, 4}));
  EXPECT_EQ(m.model_bytes, 123u);
  EXPECT_EQ(m.weight_bytes_per_token, 45u);
  EXPECT_EQ(m.params, 67u);
  EXPECT_EQ(m.peak_memory_bytes, 89u);
  EXPECT_EQ(m.weight_type, "q8_0");
}

}  // namespace
}  // namespace bitdial
