#include "decide/cost_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "eval/statistics.h"

namespace bitdial {
namespace {

constexpr double kHoursPerMonth = 730;  // 365 x 24 / 12
constexpr double kSecondsPerDay = 86400;

bool is_float_type(const std::string& t) { return t == "f32" || t == "f16" || t == "bf16" || t.empty(); }

}  // namespace

MeasuredThroughput measured_from_bench(const BenchResult& r) {
  MeasuredThroughput m;
  m.pp_tokens_per_s = r.pp.median;
  m.tg_tokens_per_s = r.tg.median;
  m.pp_samples = r.pp.samples;
  m.tg_samples = r.tg.samples;
  m.model_bytes = r.model_bytes;
  m.weight_bytes_per_token = r.weight_bytes_per_token;
  m.params = r.params;
  m.peak_memory_bytes = r.peak_rss_bytes;
  m.weight_type = r.type;
  return m;
}

void validate_traffic(const Traffic& t) {
  if (!(t.requests_per_day >= 0) || !std::isfinite(t.requests_per_day))
    fail("traffic: requests_per_day ", t.requests_per_day, " must be >= 0");
  if (t.prompt_tokens < 0) fail("traffic: prompt_tokens ", t.prompt_tokens, " must be >= 0");
  if (t.output_tokens < 0) fail("traffic: output_tokens ", t.output_tokens, " must be >= 0");
  if (t.prompt_tokens + t.output_tokens < 1) fail("traffic: a request needs at least one prompt or output token");
  if (!(t.utilization > 0 && t.utilization <= 1)) fail("traffic: utilization ", t.utilization, " is not in (0, 1]");
  if (t.concurrency < 1) fail("traffic: concurrency ", t.concurrency, " must be >= 1");
}

nlohmann::ordered_json traffic_json(const Traffic& t) {
  return {{"requests_per_day", t.requests_per_day}, {"prompt_tokens", t.prompt_tokens}, {"output_tokens", t.output_tokens},
          {"utilization", t.utilization}, {"concurrency", t.concurrency}};
}

CostEstimate estimate_cost(const MeasuredThroughput& m, const ModelShape& shape, const Traffic& traffic, const HardwareSpec& hw,
                           const CostOptions& options) {
  validate_traffic(traffic);
  const double prompt = double(traffic.prompt_tokens), output = double(traffic.output_tokens);
  CostEstimate c;
  c.hardware = hw.name;
  c.projected = !hw.measured;

  // Memory: the file's tensors, the KV cache of `concurrency` sequences, runtime overhead.
  MemoryOptions mo;
  mo.context = options.context > 0 ? options.context : std::max<int64_t>(1, traffic.prompt_tokens + traffic.output_tokens);
  mo.batch = traffic.concurrency;
  mo.kv = options.kv;
  WeightEstimate w;
  w.params = m.params;
  w.bytes = m.model_bytes;
  const MemoryPlan plan = plan_memory(shape, w, mo);
  c.memory_bytes = plan.total_bytes;
  c.fits = plan.total_bytes <= hw.memory_bytes();
  c.devices_per_replica = devices_to_fit(plan.total_bytes, hw);
  const double k = double(c.devices_per_replica);

  // Speeds of one request on one replica, and the scale from measured to target for the samples.
  double pp = 0, tg = 0, pp_scale = 1, tg_scale = 1;
  // Seconds one replica is busy per batch of `batch` requests (their prefills run one after another,
  // their decode steps are shared).
  double busy_s = 0;
  if (hw.measured) {
    if (traffic.prompt_tokens > 0 && !(m.pp_tokens_per_s > 0)) fail("cost on ", hw.name, ": no measured prompt tokens/s");
    if (traffic.output_tokens > 0 && !(m.tg_tokens_per_s > 0)) fail("cost on ", hw.name, ": no measured generation tokens/s");
    c.batch = 1;  // the benchmark measured one sequence
    pp = m.pp_tokens_per_s;
    tg = m.tg_tokens_per_s;
    busy_s = (prompt > 0 ? prompt / pp : 0) + (output > 0 ? output / tg : 0);
  } else {
    if (m.params == 0) fail("cost on ", hw.name, ": the measurement has no parameter count to project prefill from");
    if (m.weight_bytes_per_token == 0) fail("cost on ", hw.name, ": the measurement has no weight bytes per token to project decode from");
    c.batch = traffic.concurrency;
    // Prefill: quantized weights run integer matrix kernels (activations quantized to 8 bits, as
    // llama.cpp's quantized matmuls do), float weights run FP16 tensor cores.
    const bool int8 = !is_float_type(m.weight_type);
    c.compute_peak = int8 ? "int8" : "fp16";
    const double compute = k * (int8 ? hw.tops_int8 : hw.tflops_fp16) * 1e12;  // ops/s of the replica
    const double bandwidth = k * hw.bandwidth_gb_s * 1e9;                       // bytes/s of the replica
    const double flop_per_token = 2.0 * double(m.params);
    pp = hw.prefill_efficiency * compute / flop_per_token;
    // One decode step for `batch` sequences reads the weights once plus each sequence's KV cache at its
    // mean length (prompt + output / 2), and does 2 x params FLOP per sequence: the slower of the two.
    const double b = double(c.batch);
    const double kv_read = b * double(kv_bytes_per_token(shape, options.kv)) * (prompt + output / 2);
    const double step_bytes_s = (double(m.weight_bytes_per_token) + kv_read) / (hw.decode_efficiency * bandwidth);
    const double step_flop_s = b * flop_per_token / (hw.prefill_efficiency * compute);
    const double step_s = std::max(step_bytes_s, step_flop_s);
    tg = 1.0 / step_s;
    busy_s = b * (prompt > 0 ? prompt / pp : 0) + output * step_s;
    if (m.pp_tokens_per_s > 0) pp_scale = pp / m.pp_tokens_per_s;
    if (m.tg_tokens_per_s > 0) tg_scale = tg / m.tg_tokens_per_s;
  }
  c.pp_tokens_per_s = pp;
  c.tg_tokens_per_s = tg;
  const double latency_s = (prompt > 0 ? prompt / pp : 0) + (output > 0 ? output / tg : 0);
  c.latency_ms = latency_s * 1e3;

  // p95: every (pp repetition, tg repetition) pair is one plausible request time; samples scaled by
  // the same ratio as the medians.
  const bool need_pp = prompt > 0, need_tg = output > 0;
  const bool have_pp = !m.pp_samples.empty(), have_tg = !m.tg_samples.empty();
  if ((!need_pp || have_pp) && (!need_tg || have_tg)) {
    const std::vector<double> pps = need_pp ? m.pp_samples : std::vector<double>{1.0};
    const std::vector<double> tgs = need_tg ? m.tg_samples : std::vector<double>{1.0};
    std::vector<double> times;
    for (double p : pps)
      for (double t : tgs) {
        const double s = (need_pp ? prompt / (p * pp_scale) : 0) + (need_tg ? output / (t * tg_scale) : 0);
        if (std::isfinite(s)) times.push_back(s * 1e3);
      }
    if (!times.empty()) c.p95_latency_ms = percentile(times, 95);
  }

  // Capacity and devices: replicas of devices_per_replica devices, each kept `utilization` busy.
  const double replica_rps = double(c.batch) / busy_s;
  c.requests_per_s_per_device = replica_rps / k;
  const double rps = traffic.requests_per_day / kSecondsPerDay;
  c.replicas = std::max<int64_t>(1, int64_t(std::ceil(rps / (replica_rps * traffic.utilization) - 1e-9)));
  c.devices = c.devices_per_replica * c.replicas;
  c.cost_per_month = double(c.devices) * hw.dollars_per_hour * kHoursPerMonth;
  // $ per million tokens at full use: what one replica-hour costs over the tokens it serves in an hour.
  const double tokens_per_hour = replica_rps * 3600 * (prompt + output);
  c.cost_per_1m_tokens = k * hw.dollars_per_hour / tokens_per_hour * 1e6;
  return c;
}

nlohmann::ordered_json cost_json(const CostEstimate& c) {
  nlohmann::ordered_json j = {{"hardware", c.hardware},
                              {"fits", c.fits},
                              {"devices", c.devices},
                              {"pp_tokens_per_s", c.pp_tokens_per_s},
                              {"tg_tokens_per_s", c.tg_tokens_per_s},
                              {"latency_ms", c.latency_ms},
                              {"p95_latency_ms", nullptr},
                              {"requests_per_s_per_device", c.requests_per_s_per_device},
                              {"cost_per_1m_tokens", c.cost_per_1m_tokens},
                              {"cost_per_month", c.cost_per_month},
                              {"projected", c.projected},
                              {"compute_peak", c.compute_peak.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(c.compute_peak)},
                              {"memory_bytes", c.memory_bytes},
                              {"devices_per_replica", c.devices_per_replica},
                              {"replicas", c.replicas},
                              {"batch", c.batch}};
  if (c.p95_latency_ms) j["p95_latency_ms"] = *c.p95_latency_ms;
  return j;
}

void add_cost_metrics(MetricTable& table, const CostEstimate& c) {
  table["latency_ms"] = Metric{c.latency_ms, {}, {}};
  if (c.p95_latency_ms) table["p95_latency_ms"] = Metric{*c.p95_latency_ms, {}, {}};
  table["cost_per_1m_tokens"] = Metric{c.cost_per_1m_tokens, {}, {}};
  table["cost_per_month"] = Metric{c.cost_per_month, {}, {}};
  table["devices"] = Metric{double(c.devices), {}, {}};
}

}  // namespace bitdial
