// The sweep's judgement from its measurements: each candidate's metric table and floor results, the
// decision (cheapest passing candidate, else the best effort and what failed), the statistical power
// of the task data, the cascade examples, and the serve.yaml for the chosen setup.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/cascade.h"
#include "decide/cost_model.h"
#include "decide/floors.h"
#include "decide/metric_table.h"
#include "decide/power.h"

namespace bitdial {

// What the cost model reads, from a cached `bench --json` document.
MeasuredThroughput measured_from_bench_json(const nlohmann::ordered_json& bench);

// pp/tg tokens/s, peak memory, file size and bits per weight as metrics.
void add_speed_metrics(MetricTable& t, const nlohmann::ordered_json* bench, uint64_t file_bytes, double bits_per_weight);

struct CandidateVerdict {
  std::string name;
  MetricTable metrics;
  FloorsCheck floors;
  double cost_per_month = 0;  // +inf when unknown (a remote candidate without a given cost)
  uint64_t file_bytes = 0;    // 0 when unknown (remote)
};

struct Decision {
  std::string status;       // "chosen" | "none_passed"
  std::string chosen;       // "" when none passed
  std::string best_effort;  // none passed: fewest failed floors, then smallest total shortfall, then cost
  std::string reason;
  nlohmann::ordered_json failed = nlohmann::ordered_json::array();  // every failed floor of every candidate
};

// The passing candidate with the smallest cost_per_month (ties: smallest file, then config order).
Decision decide(const std::vector<CandidateVerdict>& verdicts);
nlohmann::ordered_json decision_json(const Decision& d);

// Power inputs per floor key from the candidates' eval summaries (paired slices) and the baseline's
// accuracy: n and the discordant rate, each the largest over the candidates, and the observed/baseline
// proportion. The McNemar counts are of raw-score correctness: accuracy_norm floors get n only.
std::map<std::string, PowerInput> power_inputs(const std::vector<Floor>& floors,
                                               const std::vector<const nlohmann::ordered_json*>& eval_summaries);

// Rows of the eval examples file scored by both models (classification and generation).
std::vector<CascadeExample> cascade_examples_from_rows(const nlohmann::ordered_json& rows);

// What the cascade's confidence is for these rows: "choice_probability" (classification),
// "mean_token_probability" (generation) or "mixed" (both: each row by its own kind).
std::string cascade_confidence_kind(const nlohmann::ordered_json& rows);

// The first `limit` flips each way with the example's input and both answers.
nlohmann::ordered_json flips_json(const nlohmann::ordered_json& eval_doc, const std::string& task_path, size_t limit = 10);

// serve.yaml for the chosen candidate: primary, the baseline as fallback and control, the cascade
// threshold (when recommended), and rollback rules derived from the evidence.
std::string serve_yaml(const nlohmann::ordered_json& results);

}  // namespace bitdial
