// The cost model: from throughput measured here (bitdial bench), a traffic shape and a catalogue row,
// the request latency, devices needed and dollars per month and per million tokens on that target.
// A row marked `measured` (cpu-here) uses the measurement as is; any other row is projected with the
// roofline formulas in docs/plan.md (decode from bandwidth, prefill from compute, both x efficiency).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "decide/hardware_catalog.h"
#include "decide/memory_plan.h"
#include "decide/metric_table.h"

namespace bitdial {

// What the benchmark measured here, reduced to what the cost model reads.
struct MeasuredThroughput {
  double pp_tokens_per_s = 0;           // prompt processing, median over repetitions
  double tg_tokens_per_s = 0;           // generation, median over repetitions
  std::vector<double> pp_samples;       // tokens/s, one per repetition
  std::vector<double> tg_samples;
  uint64_t model_bytes = 0;             // all tensor bytes (the weights held in device memory)
  uint64_t weight_bytes_per_token = 0;  // bytes decode streams per generated token
  uint64_t params = 0;                  // all tensor elements; prefill costs 2 x params FLOP per token
  uint64_t peak_memory_bytes = 0;       // peak RSS of the benchmark run (informational)
  std::string weight_type;              // dominant matrix type ("q4_K", "f16"): picks the compute peak
};
MeasuredThroughput measured_from_bench(const BenchResult& r);

// The traffic a deployment must serve.
struct Traffic {
  double requests_per_day = 0;
  int64_t prompt_tokens = 0;   // per request
  int64_t output_tokens = 0;   // per request
  double utilization = 0.5;    // share of device time busy at the planned traffic (headroom for peaks), (0, 1]
  int64_t concurrency = 1;     // requests decoded together in one batch on a replica (>= 1)
};
// Throws bitdial::Error naming the field (requests_per_day, prompt_tokens, ...) that is out of range.
void validate_traffic(const Traffic& t);
// results.json `traffic`: requests_per_day, prompt_tokens, output_tokens, utilization, concurrency.
nlohmann::ordered_json traffic_json(const Traffic& t);

struct CostOptions {
  int64_t context = 0;     // KV cache tokens per sequence; 0: prompt_tokens + output_tokens
  KvElement kv = KvElement::f16;
};

struct CostEstimate {
  std::string hardware;
  bool projected = false;          // false: the measurement was used as is (a `measured` row)
  std::string compute_peak;        // "fp16" or "int8": the peak prefill was projected from ("" when measured)
  bool fits = false;               // the model, KV cache and overhead fit in one device's memory
  uint64_t memory_bytes = 0;       // that total (decide/memory_plan.h)
  int64_t devices_per_replica = 1; // devices one copy of the model is split over (tensor parallel)
  int64_t replicas = 1;            // copies needed for the traffic
  int64_t devices = 1;             // devices_per_replica x replicas
  int64_t batch = 1;               // requests decoded together (1 on measured rows: measured at batch 1)
  double pp_tokens_per_s = 0;      // one request's prompt processing on one replica
  double tg_tokens_per_s = 0;      // one request's generation speed inside its batch
  double latency_ms = 0;           // prompt_tokens / pp + output_tokens / tg (medians)
  std::optional<double> p95_latency_ms;  // from the repetition samples; null without samples
  double requests_per_s_per_device = 0;  // at full use
  double cost_per_1m_tokens = 0;   // $ per 1e6 (prompt + output) tokens at full use
  double cost_per_month = 0;       // devices x $/h x 730 h
};

// Prices `measured` on `hw` for `traffic`. Throws bitdial::Error for invalid traffic, or a
// measurement with no throughput, weight bytes or parameters where the projection needs them.
CostEstimate estimate_cost(const MeasuredThroughput& measured, const ModelShape& shape, const Traffic& traffic,
                           const HardwareSpec& hw, const CostOptions& options = {});

// results.json candidate `cost`: hardware, fits, devices, pp_tokens_per_s, tg_tokens_per_s, latency_ms,
// p95_latency_ms, requests_per_s_per_device, cost_per_1m_tokens, cost_per_month (then the rest).
nlohmann::ordered_json cost_json(const CostEstimate& c);

// Sets latency_ms, p95_latency_ms (when known), cost_per_1m_tokens, cost_per_month and devices.
void add_cost_metrics(MetricTable& table, const CostEstimate& c);

}  // namespace bitdial
