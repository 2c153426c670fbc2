// The figures of one sweep candidate by name, as floors, the cascade simulation and the report read
// them. The sweep fills one table per candidate from its evaluation, benchmark and cost estimate; every
// name a floor may use is listed in kMetricNames (a floor naming anything else is a config error).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace bitdial {

// A point estimate and, where the figure has one, its two-sided 95 % interval [lo, hi].
struct Metric {
  double value = 0;
  std::optional<double> lo, hi;
  bool has_interval() const { return lo.has_value() && hi.has_value(); }
};

// Keys: a metric name ("accuracy", "kld_mean"), its difference from the baseline ("accuracy_delta":
// candidate minus baseline), or either inside a slice of the task data ("slice[short].accuracy_delta").
using MetricTable = std::map<std::string, Metric>;

struct MetricName {
  std::string_view name;
  bool per_slice;      // also exists as slice[TAG].name
  bool has_delta;      // name_delta exists (candidate - baseline)
  bool accuracy_like;  // a proportion over task examples: statistical power is reported for its floors
  std::string_view unit;
  std::string_view meaning;
};

// Every metric a floor may name, with its units. Intervals: accuracies and agreement are Wilson 95 %;
// accuracy_delta and agreement are paired (bootstrap over examples); kld_mean and ppl are mean +- 1.96 se.
inline constexpr MetricName kMetricNames[] = {
    {"accuracy", true, true, true, "", "task accuracy (classification by raw log-likelihood, generation by match)"},
    {"accuracy_norm", true, true, true, "", "task accuracy with length-normalised choice log-likelihoods"},
    {"agreement", true, false, true, "", "share of examples where candidate and baseline predict the same"},
    {"kld_mean", false, false, false, "nats", "mean KL(baseline || candidate) per scored text position"},
    {"kld_p95", false, false, false, "nats", "95th percentile of the per-position KL divergence"},
    {"kld_p99", false, false, false, "nats", "99th percentile of the per-position KL divergence"},
    {"same_top1", false, false, false, "", "share of text positions where both models' top token agrees"},
    {"ppl", false, true, false, "", "perplexity of the candidate on the text"},
    {"ppl_ratio", false, false, false, "", "exp(mean NLL difference) vs the baseline"},
    {"pp_tokens_per_s", false, true, false, "tokens/s", "prompt processing speed measured here"},
    {"tg_tokens_per_s", false, true, false, "tokens/s", "generation speed measured here"},
    {"latency_ms", false, true, false, "ms", "median time of one request of the configured shape on the target"},
    {"p95_latency_ms", false, true, false, "ms", "95th percentile of that request time"},
    {"peak_memory_mb", false, true, false, "MiB", "peak resident memory of the benchmark run here"},
    {"file_mb", false, true, false, "MiB", "size of the model file"},
    {"bits_per_weight", false, true, false, "bits", "tensor bits per weight of the file"},
    {"cost_per_1m_tokens", false, true, false, "$", "serving cost per million tokens (prompt + output) on the target"},
    {"cost_per_month", false, true, false, "$", "serving cost per month at the configured traffic on the target"},
    {"devices", false, true, false, "", "target devices needed to hold the model and serve the traffic"},
};

}  // namespace bitdial
