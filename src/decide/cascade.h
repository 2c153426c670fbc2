// Cascade simulation: serve the candidate and escalate a request to the baseline when the
// candidate's confidence is below a threshold. For every useful threshold this replays the task
// examples, checks the user's floors on the result, and recommends the cheapest threshold that holds.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/floors.h"
#include "decide/metric_table.h"

namespace bitdial {

// One task example scored by both models (the same example, same order for both).
struct CascadeExample {
  double confidence = 0;           // candidate's predicted-choice probability, or a generation's mean token probability; in [0, 1]
  bool candidate_correct = false;
  bool baseline_correct = false;
  bool same_prediction = false;    // candidate and baseline give the same answer
  std::vector<std::string> tags;
};

// Serving cost of each model alone at the configured traffic, $ per month. Every request runs the
// candidate first and escalated ones run the baseline too, so at escalation rate e:
//   cost_per_month = candidate_cost_per_month + e * baseline_cost_per_month
// (the baseline's share scales with the traffic it sees; its fixed minimum is not modelled).
struct CascadeCosts {
  double candidate_cost_per_month = 0;
  double baseline_cost_per_month = 0;
};

struct CascadeOptions {
  // Bootstrap resamples per point. All points share one pass over the resamples (see cascade.cpp),
  // so the cost is about resamples * (n + points) per slice, not resamples * n * points.
  int resamples = 2000;
  uint64_t seed = 0;  // every slice restarts from it, as compare_paired does
};

struct CascadePoint {
  double threshold = 0;            // escalate when confidence < threshold
  int64_t escalated = 0;
  double escalation_rate = 0;      // escalated / n
  double accuracy = 0;             // the cascade's
  Metric accuracy_delta;           // cascade - baseline, paired percentile bootstrap 95 %
  double cost_per_month = 0;
  bool passes = false;             // every floor holds on `metrics`
  MetricTable metrics;             // the table the floors were checked on
  std::vector<FloorResult> floors;
};

struct CascadeResult {
  std::vector<CascadePoint> points;   // ascending threshold; first never escalates, last always does
  std::optional<size_t> recommended;  // index into points: cheapest passing point, ties to the lower threshold
  int resamples = 0;
  uint64_t seed = 0;
};

// Thresholds: 0 (never escalate), then each distinct confidence above the smallest (each escalates
// a different set of examples), then one above every confidence (always escalate: 1, or the next
// double after 1 when some confidence is exactly 1).
// The table of each point: `fixed` (the candidate's figures the cascade does not change: kld,
// latency, memory...) minus every accuracy-like key, plus the cascade's accuracy, accuracy_delta and
// agreement overall and per tag, cost_per_month and cost_per_month_delta (vs the baseline alone).
// Accuracy-like figures the simulation cannot produce (accuracy_norm) are absent: their floors fail
// as "not measured". Throws bitdial::Error on no examples or a confidence outside [0, 1].
CascadeResult simulate_cascade(std::span<const CascadeExample> examples, const CascadeCosts& costs,
                               const std::vector<Floor>& floors, FloorMode mode, const MetricTable& fixed,
                               const CascadeOptions& options = {});

// results.json "cascade" (docs/results.md): {"candidate","confidence","resamples","seed","points":[...],
// "recommended": {...} or null}.
nlohmann::ordered_json cascade_json(const CascadeResult& result, const std::string& candidate);

}  // namespace bitdial
