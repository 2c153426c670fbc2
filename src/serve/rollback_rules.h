// Automatic rollback of a route's candidate: rules from serve.yaml ("shadow_agreement below 0.95 over
// the last 200 samples") checked against sliding windows of what the server observed, so a candidate
// that starts disagreeing, erroring or slowing down is taken out without a person watching.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace YAML {
class Node;
}

namespace bitdial::serve {

enum class RollbackMetric {
  shadow_agreement,  // fraction of shadowed requests where the candidate answered as the baseline did
  override_rate,     // fraction of feedback events where a user overrode (corrected) the answer
  p95_latency_ms,    // 95th percentile request latency, milliseconds, nearest-rank
  error_rate,        // fraction of requests that failed
  escalation_rate,   // fraction of requests the cascade escalated to the next model
};

struct RollbackRule {
  RollbackMetric metric = RollbackMetric::shadow_agreement;
  std::optional<double> below, above;  // exactly one: triggered when value < below, or value > above
  int64_t window = 200;                // samples (events of the metric's kind), >= 1
};

// One rule from a mapping {metric: NAME, below: X | above: X, window: N}. Errors are bitdial::Error as
// "<source>:<line>: ..." naming the key (unknown key, unknown metric, both or neither of below/above,
// non-numeric values, window < 1).
RollbackRule parse_rollback_rule(const YAML::Node& node, const std::string& source);
// A sequence of such mappings.
std::vector<RollbackRule> parse_rollback_rules(const YAML::Node& node, const std::string& source);
std::string rollback_metric_name(RollbackMetric metric);
// "shadow_agreement below 0.95 over 200 samples".
std::string describe_rule(const RollbackRule& rule);

struct RuleVerdict {
  bool triggered = false;
  double value = 0;  // over the last min(n, window) samples; 0 with no samples
  int64_t n = 0;     // samples the value is over (at most the rule's window)
  // "shadow_agreement 0.912 < 0.95 over the last 200 samples" when triggered; otherwise the value and
  // the limit ("shadow_agreement 0.97 (rollback below 0.95) over the last 200 samples"), or how many
  // samples are still missing.
  std::string describe;
};

// Sliding windows for one route's candidate, fed by the server as events happen. Each data stream
// keeps as many samples as the largest window of the rules that read it; streams no rule reads keep
// nothing. Thread-safe.
class RollbackMonitor {
 public:
  explicit RollbackMonitor(std::vector<RollbackRule> rules);

  void add_shadow(bool agree);
  void add_feedback(bool overridden);
  // Every answered or failed request of the candidate; `latency_ms` counts failed ones too (a timeout
  // is slow as well as an error).
  void add_request(double latency_ms, bool error, bool escalated);

  // Seed windows from history after a restart, oldest first, before live events arrive.
  void seed_shadow(const std::vector<bool>& agree);
  void seed_feedback(const std::vector<bool>& overridden);
  void seed_latencies(const std::vector<double>& latency_ms);
  void seed_errors(const std::vector<bool>& error);
  void seed_escalations(const std::vector<bool>& escalated);

  // The first rule (in configuration order) that fails. A rule decides only once its window holds
  // `window` samples; fewer samples never trigger.
  std::optional<std::pair<RollbackRule, RuleVerdict>> check() const;
  // Every rule with its current value and n (for /metrics and status).
  std::vector<std::pair<RollbackRule, RuleVerdict>> evaluate_all() const;
  // After a rollback or a promotion the windows start again empty.
  void clear();

  const std::vector<RollbackRule>& rules() const { return rules_; }

 private:
  enum Stream { shadow, feedback, latency, error, escalation, n_streams };
  void push(int stream, double v);  // caller holds mutex_
  RuleVerdict evaluate(const RollbackRule& rule) const;  // caller holds mutex_

  std::vector<RollbackRule> rules_;
  size_t capacity_[n_streams] = {};  // the largest window of the rules reading each stream
  mutable std::mutex mutex_;
  std::deque<double> samples_[n_streams];  // booleans as 0/1; newest at the back
};

}  // namespace bitdial::serve
