#include "serve/route_guard.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "serve/serve_metrics.h"

namespace bitdial::serve {
namespace {

// A route can be rolled back when it has a control to move to: an A/B control or a fallback.
bool watchable(const RouteConfig& r) { return r.ab.has_value() || !r.fallback.empty(); }

// RouteState stores `rolled_back`; a promotion is kept as not rolled back with a reason that says so.
RouteMode mode_of(const RouteState& s) {
  if (s.rolled_back) return RouteMode::rolled_back;
  return s.reason.rfind("promoted", 0) == 0 ? RouteMode::promoted : RouteMode::normal;
}

}  // namespace

RouteGuard::RouteGuard(const ServeConfig& config, EventStore& store, Metrics& metrics)
    : config_(config), store_(store), metrics_(metrics) {
  std::map<std::string, RouteState> saved;
  for (const RouteState& s : store_.route_states()) saved[s.route] = s;
  for (const RouteConfig& r : config_.routes) {
    Watch& w = watches_[r.name];
    if (auto it = saved.find(r.name); it != saved.end()) w.mode = mode_of(it->second);
    if (!watchable(r) || config_.rollback.empty()) continue;
    w.monitor = std::make_unique<RollbackMonitor>(config_.rollback);
    int64_t window = 0;
    for (const RollbackRule& rule : config_.rollback) window = std::max(window, rule.window);
    // Only the watched model's history: the control's answers say nothing about it.
    const std::string watched = r.ab ? r.ab->candidate : r.primary;
    w.monitor->seed_shadow(store_.recent_shadow_agreement(r.name, window));
    w.monitor->seed_feedback(store_.recent_overrides(r.name, window, watched));
    w.monitor->seed_latencies(store_.recent_latencies_ms(r.name, window, watched));
    std::vector<bool> errors, escalations;
    for (const EventStore::Outcome& o : store_.recent_outcomes(r.name, window, watched)) {
      errors.push_back(o.error);
      escalations.push_back(o.escalated);
    }
    w.monitor->seed_errors(errors);
    w.monitor->seed_escalations(escalations);
  }
}

RouteMode RouteGuard::mode(const std::string& route) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watches_.find(route);
  return it == watches_.end() ? RouteMode::normal : it->second.mode;
}

void RouteGuard::on_request(const std::string& route, double latency_ms, bool error, bool escalated) {
  std::lock_guard<std::mutex> lock(mu_);
  Watch& w = watches_[route];
  if (!w.monitor) return;
  w.monitor->add_request(latency_ms, error, escalated);
  check(route, w);
}

void RouteGuard::on_feedback(const std::string& route, bool overridden) {
  std::lock_guard<std::mutex> lock(mu_);
  Watch& w = watches_[route];
  if (!w.monitor) return;
  w.monitor->add_feedback(overridden);
  check(route, w);
}

void RouteGuard::on_shadow(const std::string& route, bool agree) {
  std::lock_guard<std::mutex> lock(mu_);
  Watch& w = watches_[route];
  if (!w.monitor) return;
  w.monitor->add_shadow(agree);
  check(route, w);
}

void RouteGuard::check(const std::string& route, Watch& w) {
  if (w.mode == RouteMode::rolled_back) return;
  const auto failed = w.monitor->check();
  if (!failed) return;
  const auto& [rule, verdict] = *failed;
  RollbackEvent e;
  e.time = event_time_now();
  e.route = route;
  e.action = "rollback";
  e.metric = rollback_metric_name(rule.metric);
  e.value = verdict.value;
  e.bound = rule.below ? *rule.below : rule.above ? *rule.above : 0;
  e.window = rule.window;
  e.n = verdict.n;
  nlohmann::ordered_json ev = {{"rule", describe_rule(rule)}, {"verdict", verdict.describe}, {"previous_mode", route_mode_name(w.mode)}};
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& [r, v] : w.monitor->evaluate_all())
    all.push_back({{"metric", rollback_metric_name(r.metric)}, {"value", v.value}, {"n", v.n}, {"triggered", v.triggered}});
  ev["rules"] = all;
  e.evidence = ev.dump();
  store_.record(e);
  metrics_.add(metric::rollbacks, {{"route", route}, {"action", "rollback"}});
  std::fprintf(stderr, "bitdial serve: route '%s' rolled back: %s\n", route.c_str(), verdict.describe.c_str());
  set_mode(route, w, RouteMode::rolled_back, verdict.describe);
}

void RouteGuard::set_mode(const std::string& route, Watch& w, RouteMode mode, const std::string& reason) {
  w.mode = mode;
  if (w.monitor) w.monitor->clear();
  RouteState s;
  s.route = route;
  s.rolled_back = mode == RouteMode::rolled_back;
  s.time = event_time_now();
  s.reason = mode == RouteMode::promoted ? "promoted: " + reason : reason;
  store_.set_route_state(s);
}

void RouteGuard::manual(const std::string& route, const std::string& action, const std::string& who) {
  const RouteConfig* cfg = nullptr;
  for (const RouteConfig& r : config_.routes)
    if (r.name == route) cfg = &r;
  if (cfg == nullptr) fail("no route named '", route, "'");
  if (action != "rollback" && action != "promote") fail("unknown action '", action, "' (rollback or promote)");
  if (!watchable(*cfg)) fail("route '", route, "' has no A/B control or fallback to ", action, " to");
  std::lock_guard<std::mutex> lock(mu_);
  Watch& w = watches_[route];
  // Promoting a rolled-back route restores the configured split; promoting a normal one gives the
  // candidate all traffic.
  const RouteMode next = action == "rollback" ? RouteMode::rolled_back
                         : w.mode == RouteMode::rolled_back || !cfg->ab ? RouteMode::normal
                                                                       : RouteMode::promoted;
  RollbackEvent e;
  e.time = event_time_now();
  e.route = route;
  e.action = "manual_" + action;
  e.metric = "manual";
  e.evidence = nlohmann::ordered_json{{"by", who}, {"from", route_mode_name(w.mode)}, {"to", route_mode_name(next)}}.dump();
  store_.record(e);
  metrics_.add(metric::rollbacks, {{"route", route}, {"action", e.action}});
  set_mode(route, w, next, "manual " + action + " by " + who);
}

nlohmann::ordered_json RouteGuard::describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [name, w] : watches_) {
    nlohmann::ordered_json r = {{"route", name}, {"mode", route_mode_name(w.mode)}, {"rules", nlohmann::ordered_json::array()}};
    if (w.monitor)
      for (const auto& [rule, v] : w.monitor->evaluate_all())
        r["rules"].push_back({{"metric", rollback_metric_name(rule.metric)}, {"value", v.value}, {"n", v.n},
                              {"window", rule.window}, {"describe", v.describe}});
    out.push_back(r);
  }
  return out;
}

void RouteGuard::export_gauges() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, w] : watches_) {
    for (const RouteMode m : {RouteMode::normal, RouteMode::rolled_back, RouteMode::promoted})
      metrics_.set(metric::route_mode, {{"route", name}, {"mode", route_mode_name(m)}}, w.mode == m ? 1 : 0);
    if (w.monitor)
      for (const auto& [rule, v] : w.monitor->evaluate_all()) {
        const std::string m = rollback_metric_name(rule.metric);
        metrics_.set(metric::rule_value, {{"route", name}, {"metric", m}}, v.value);
        metrics_.set(metric::rule_samples, {{"route", name}, {"metric", m}}, static_cast<double>(v.n));
      }
  }
}

}  // namespace bitdial::serve
