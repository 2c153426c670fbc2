// Which backend answers a request, decided before any model runs: the route (by `model`), then in
// order high-stakes, hybrid (task or backend alias), the A/B arm (sticky per user) or the primary,
// and the failover order behind it. Pure logic: the gateway executes the plan and applies the cascade.
#pragma once

#include <string>
#include <vector>

#include "serve/serve_config.h"

namespace bitdial::serve {

// Where a route stands after automatic or manual rollback decisions.
enum class RouteMode {
  normal,       // as configured (A/B split at its percent, cascade on)
  rolled_back,  // everything to the control (ab.control, else the fallback); the candidate serves nothing
  promoted,     // the A/B candidate takes all traffic (cascade still on)
};
std::string route_mode_name(RouteMode m);

struct RouteInputs {
  std::string model;        // request's `model`
  std::string task;         // request's `task` field or X-Bitdial-Task header
  bool high_stakes = false; // request's `high_stakes` field or X-Bitdial-High-Stakes header
  std::string sticky_key;   // request's `user` (else the request id: then the arm is per request)
};

struct RoutePlan {
  const RouteConfig* route = nullptr;
  std::string decision;            // "primary", "ab_candidate", "ab_control", "high_stakes", "hybrid", "rolled_back"
  std::vector<std::string> chain;  // backends in failover order; chain[0] answers when it can
  bool cascade = false;            // apply the route's cascade when chain[0] answers
  bool candidate = false;          // chain[0] is the model under watch: its answers feed the monitors
};

// Throws InvalidRequest("model", ...) when `model` names neither a route, a backend nor an alias, and
// there is no route named "default" (or only one route) to fall back on; an empty model takes the default.
const RouteConfig& select_route(const ServeConfig& config, const std::string& model);

RoutePlan plan_route(const ServeConfig& config, const RouteInputs& in, RouteMode mode);

// The backend a route's cascade escalates to and shadows replay on: fallback, else the A/B control.
std::string baseline_of(const RouteConfig& route);

}  // namespace bitdial::serve
