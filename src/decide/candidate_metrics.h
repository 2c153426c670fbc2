// Turns one candidate's evaluation summary (docs/eval.md), benchmark and cost figures into the
// MetricTable floors are checked against: the names of decide/metric_table.h, with 95 % intervals
// where the evaluation gives them, per task slice, and differences from the baseline.
#pragma once

#include <nlohmann/json.hpp>

#include "decide/metric_table.h"

namespace bitdial {

// Quality figures of the "candidate" side of an eval summary: task accuracy (Wilson interval), and
// with a baseline in the summary the paired accuracy_delta (bootstrap interval) and agreement, each
// overall and per slice; the first text's KL divergence (mean +- 1.96 se, p95, p99), same_top1 and
// perplexity (+- 1.96 se).
MetricTable quality_metrics(const nlohmann::ordered_json& eval_summary);

// The baseline compared with itself, which needs no measurement: with a text, kld_mean / kld_p95 /
// kld_p99 = 0, same_top1 = ppl_ratio = 1; with task figures, accuracy_delta = 0 and agreement = 1
// overall and for every slice the table holds. So floors read "holds" for the baseline, not "missing".
void add_self_comparison(MetricTable& baseline);

// Adds NAME_delta = candidate - baseline for every name with has_delta that both tables hold and the
// candidate does not already carry (the paired accuracy_delta keeps its own interval), per slice too.
void add_baseline_deltas(MetricTable& candidate, const MetricTable& baseline);

// The table as {"key": {"value", "lo", "hi"}} (lo/hi only where known).
nlohmann::ordered_json metric_table_json(const MetricTable& table);

}  // namespace bitdial
