// Automatic rollback: one RollbackMonitor per watched route fed with the candidate's requests,
// feedback and shadow comparisons; when a rule fails, the route moves to its control, the decision is
// recorded with its evidence (event store, /metrics, stderr) and survives restarts. Operators can
// promote or roll back by hand through the admin endpoint.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/event_store.h"
#include "serve/metrics.h"
#include "serve/router.h"
#include "serve/rollback_rules.h"
#include "serve/serve_config.h"

#include <nlohmann/json.hpp>

namespace bitdial::serve {

class RouteGuard {
 public:
  // Reads each route's saved mode and seeds the monitors with the recorded history, so a restart
  // neither forgets a rollback nor starts its windows empty.
  RouteGuard(const ServeConfig& config, EventStore& store, Metrics& metrics);

  RouteMode mode(const std::string& route) const;
  // The candidate's traffic (RoutePlan::candidate) only: the control's answers say nothing about it.
  void on_request(const std::string& route, double latency_ms, bool error, bool escalated);
  void on_feedback(const std::string& route, bool overridden);
  void on_shadow(const std::string& route, bool agree);

  // Manual decisions (admin endpoint). action: "rollback" or "promote"; throws bitdial::Error for an
  // unknown route or a promote on a route without an A/B split or cascade.
  void manual(const std::string& route, const std::string& action, const std::string& who);

  // {route, mode, rules with current value and n} for /admin/routes and tests.
  nlohmann::ordered_json describe() const;
  // Writes the rule values and modes into the gauges (called before /metrics renders).
  void export_gauges() const;

 private:
  struct Watch {
    RouteMode mode = RouteMode::normal;
    std::unique_ptr<RollbackMonitor> monitor;
  };
  void check(const std::string& route, Watch& w);  // caller holds mu_
  void set_mode(const std::string& route, Watch& w, RouteMode mode, const std::string& reason);  // caller holds mu_

  const ServeConfig& config_;
  EventStore& store_;
  Metrics& metrics_;
  mutable std::mutex mu_;
  std::map<std::string, Watch> watches_;  // every route; monitors only where something can be rolled back
};

}  // namespace bitdial::serve
