#include "serve/rollback_rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace bitdial::serve {
namespace {

constexpr std::array<RollbackMetric, 5> kAllMetrics = {
    RollbackMetric::shadow_agreement, RollbackMetric::override_rate, RollbackMetric::p95_latency_ms,
    RollbackMetric::error_rate, RollbackMetric::escalation_rate};

// "serve.yaml:12" (yaml-cpp lines are 0-based; a node built in code has no mark).
std::string where(const std::string& source, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? concat(source, ":", m.line + 1) : source;
}

[[noreturn]] void bad(const std::string& source, const YAML::Node& n, const std::string& what) {
  fail(where(source, n), ": ", what);
}

double number(const std::string& source, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) bad(source, n, "rollback rule '" + key + "' must be a number");
  try {
    const double v = n.as<double>();
    if (!std::isfinite(v)) bad(source, n, "rollback rule '" + key + "' must be a finite number");
    return v;
  } catch (const YAML::Exception&) {
    bad(source, n, "rollback rule '" + key + "' must be a number, not '" + n.as<std::string>() + "'");
  }
}

// Up to 3 significant digits for rates, whole numbers for large values (milliseconds).
std::string fmt(double v) {
  char buf[64];
  if (std::fabs(v) >= 100)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Nearest-rank p-quantile (ceil(p * n)-th smallest) of `v`, which it reorders.
double nearest_rank(std::vector<double>& v, double p) {
  const double n = static_cast<double>(v.size());
  const auto rank = static_cast<size_t>(std::clamp(std::ceil(p * n), 1.0, n));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(rank - 1), v.end());
  return v[rank - 1];
}

}  // namespace

std::string rollback_metric_name(RollbackMetric metric) {
  switch (metric) {
    case RollbackMetric::shadow_agreement: return "shadow_agreement";
    case RollbackMetric::override_rate: return "override_rate";
    case RollbackMetric::p95_latency_ms: return "p95_latency_ms";
    case RollbackMetric::error_rate: return "error_rate";
    case RollbackMetric::escalation_rate: return "escalation_rate";
  }
  return "?";
}

std::string describe_rule(const RollbackRule& rule) {
  return concat(rollback_metric_name(rule.metric), rule.below ? " below " : " above ",
                fmt(rule.below ? *rule.below : rule.above.value_or(0)), " over ", rule.window, " samples");
}

RollbackRule parse_rollback_rule(const YAML::Node& node, const std::string& source) {
  if (!node.IsMap()) bad(source, node, "a rollback rule must be a mapping {metric:, below: | above:, window:}");
  for (const auto& kv : node) {
    const std::string k = kv.first.as<std::string>();
    if (k != "metric" && k != "below" && k != "above" && k != "window")
      bad(source, kv.first, "unknown key '" + k + "' in a rollback rule (allowed: metric, below, above, window)");
  }
  RollbackRule rule;
  const YAML::Node m = node["metric"];
  if (!m) bad(source, node, "a rollback rule needs 'metric'");
  if (!m.IsScalar()) bad(source, m, "rollback rule 'metric' must be a string");
  const std::string name = m.as<std::string>();
  bool found = false;
  for (RollbackMetric k : kAllMetrics)
    if (rollback_metric_name(k) == name) rule.metric = k, found = true;
  if (!found) {
    std::string valid;
    for (RollbackMetric k : kAllMetrics) valid += (valid.empty() ? "" : ", ") + rollback_metric_name(k);
    bad(source, m, "unknown rollback 'metric' '" + name + "' (valid: " + valid + ")");
  }
  const YAML::Node below = node["below"], above = node["above"];
  if (below && above) bad(source, node, "a rollback rule takes 'below' or 'above', not both");
  if (!below && !above) bad(source, node, "a rollback rule needs 'below' or 'above'");
  if (below) rule.below = number(source, below, "below");
  if (above) rule.above = number(source, above, "above");
  if (const YAML::Node w = node["window"]) {
    if (!w.IsScalar()) bad(source, w, "rollback rule 'window' must be an integer");
    try {
      rule.window = w.as<int64_t>();
    } catch (const YAML::Exception&) {
      bad(source, w, "rollback rule 'window' must be an integer, not '" + w.as<std::string>() + "'");
    }
    if (rule.window < 1) bad(source, w, concat("rollback rule 'window' must be >= 1, not ", rule.window));
  }
  return rule;
}

std::vector<RollbackRule> parse_rollback_rules(const YAML::Node& node, const std::string& source) {
  if (!node.IsSequence()) bad(source, node, "'rollback' must be a list of rules");
  std::vector<RollbackRule> rules;
  for (const auto& n : node) rules.push_back(parse_rollback_rule(n, source));
  return rules;
}

namespace {
// Which stream a metric reads.
int stream_of(RollbackMetric m) {
  switch (m) {
    case RollbackMetric::shadow_agreement: return 0;
    case RollbackMetric::override_rate: return 1;
    case RollbackMetric::p95_latency_ms: return 2;
    case RollbackMetric::error_rate: return 3;
    case RollbackMetric::escalation_rate: return 4;
  }
  return 0;
}
}  // namespace

RollbackMonitor::RollbackMonitor(std::vector<RollbackRule> rules) : rules_(std::move(rules)) {
  static_assert(shadow == 0 && feedback == 1 && latency == 2 && error == 3 && escalation == 4);
  for (const RollbackRule& r : rules_) {
    BITDIAL_ASSERT(r.window >= 1 && (r.below.has_value() != r.above.has_value()));
    size_t& cap = capacity_[stream_of(r.metric)];
    cap = std::max(cap, static_cast<size_t>(r.window));
  }
}

void RollbackMonitor::push(int stream, double v) {
  if (capacity_[stream] == 0) return;
  std::deque<double>& d = samples_[stream];
  d.push_back(v);
  while (d.size() > capacity_[stream]) d.pop_front();
}

void RollbackMonitor::add_shadow(bool agree) {
  std::lock_guard lock(mutex_);
  push(shadow, agree);
}

void RollbackMonitor::add_feedback(bool overridden) {
  std::lock_guard lock(mutex_);
  push(feedback, overridden);
}

void RollbackMonitor::add_request(double latency_ms, bool is_error, bool escalated) {
  std::lock_guard lock(mutex_);
  push(latency, latency_ms);
  push(error, is_error);
  push(escalation, escalated);
}

void RollbackMonitor::seed_shadow(const std::vector<bool>& agree) {
  std::lock_guard lock(mutex_);
  for (bool b : agree) push(shadow, b);
}

void RollbackMonitor::seed_feedback(const std::vector<bool>& overridden) {
  std::lock_guard lock(mutex_);
  for (bool b : overridden) push(feedback, b);
}

void RollbackMonitor::seed_latencies(const std::vector<double>& latency_ms) {
  std::lock_guard lock(mutex_);
  for (double v : latency_ms) push(latency, v);
}

void RollbackMonitor::seed_errors(const std::vector<bool>& is_error) {
  std::lock_guard lock(mutex_);
  for (bool b : is_error) push(error, b);
}

void RollbackMonitor::seed_escalations(const std::vector<bool>& escalated) {
  std::lock_guard lock(mutex_);
  for (bool b : escalated) push(escalation, b);
}

RuleVerdict RollbackMonitor::evaluate(const RollbackRule& rule) const {
  const std::deque<double>& d = samples_[stream_of(rule.metric)];
  RuleVerdict v;
  v.n = std::min(static_cast<int64_t>(d.size()), rule.window);
  const std::string name = rollback_metric_name(rule.metric);
  const double limit = rule.below ? *rule.below : *rule.above;
  const char* op = rule.below ? "<" : ">";
  if (v.n > 0) {
    std::vector<double> last(d.end() - v.n, d.end());
    if (rule.metric == RollbackMetric::p95_latency_ms) {
      v.value = nearest_rank(last, 0.95);
    } else {
      double sum = 0;
      for (double x : last) sum += x;
      v.value = sum / static_cast<double>(v.n);
    }
  }
  if (v.n < rule.window) {
    v.describe = concat(name, " ", fmt(v.value), " over ", v.n, " of ", rule.window,
                        " samples (too few to decide; rollback ", rule.below ? "below " : "above ", fmt(limit), ")");
    return v;
  }
  v.triggered = rule.below ? v.value < limit : v.value > limit;
  if (v.triggered)
    v.describe = concat(name, " ", fmt(v.value), " ", op, " ", fmt(limit), " over the last ", v.n, " samples");
  else
    v.describe = concat(name, " ", fmt(v.value), " (rollback ", rule.below ? "below " : "above ", fmt(limit),
                        ") over the last ", v.n, " samples");
  return v;
}

std::optional<std::pair<RollbackRule, RuleVerdict>> RollbackMonitor::check() const {
  std::lock_guard lock(mutex_);
  for (const RollbackRule& r : rules_) {
    RuleVerdict v = evaluate(r);
    if (v.triggered) return std::make_pair(r, std::move(v));
  }
  return std::nullopt;
}

std::vector<std::pair<RollbackRule, RuleVerdict>> RollbackMonitor::evaluate_all() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<RollbackRule, RuleVerdict>> out;
  for (const RollbackRule& r : rules_) out.emplace_back(r, evaluate(r));
  return out;
}

void RollbackMonitor::clear() {
  std::lock_guard lock(mutex_);
  for (auto& d : samples_) d.clear();
}

}  // namespace bitdial::serve
