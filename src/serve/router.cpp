#include "serve/router.h"

#include <algorithm>

#include "core/error.h"
#include "serve/ab_split.h"
#include "serve/generation.h"

namespace bitdial::serve {
namespace {

// The backend a model name or alias stands for, or "" when it is none.
std::string backend_named(const ServeConfig& c, const std::string& model) {
  for (const BackendConfig& b : c.backends) {
    if (b.name == model) return b.name;
    if (std::find(b.aliases.begin(), b.aliases.end(), model) != b.aliases.end()) return b.name;
  }
  return {};
}

void append_unique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

std::string route_mode_name(RouteMode m) {
  switch (m) {
    case RouteMode::normal: return "normal";
    case RouteMode::rolled_back: return "rolled_back";
    case RouteMode::promoted: return "promoted";
  }
  return "?";
}

std::string baseline_of(const RouteConfig& r) { return !r.fallback.empty() ? r.fallback : r.ab ? r.ab->control : ""; }

const RouteConfig& select_route(const ServeConfig& c, const std::string& model) {
  for (const RouteConfig& r : c.routes)
    if (r.name == model || std::find(r.models.begin(), r.models.end(), model) != r.models.end()) return r;
  const RouteConfig* fallback = nullptr;
  for (const RouteConfig& r : c.routes)
    if (r.name == "default") fallback = &r;
  if (fallback == nullptr) fallback = &c.routes.front();
  if (model.empty() || !backend_named(c, model).empty()) return *fallback;
  if (c.routes.size() == 1 || fallback->name == "default") {
    // Clients often send whatever model name their SDK defaults to; one route takes them all.
    return *fallback;
  }
  throw InvalidRequest("model", "model '" + model + "' is neither a route nor a backend of this server (see /v1/models)");
}

RoutePlan plan_route(const ServeConfig& c, const RouteInputs& in, RouteMode mode) {
  const RouteConfig& r = select_route(c, in.model);
  RoutePlan p;
  p.route = &r;
  std::string first;
  const std::string control = r.ab ? r.ab->control : r.fallback;
  if (in.high_stakes) {
    first = !r.high_stakes.empty() ? r.high_stakes : baseline_of(r);
    if (first.empty()) first = r.primary;
    p.decision = "high_stakes";
  } else if (auto t = r.tasks.find(in.task); !in.task.empty() && t != r.tasks.end()) {
    first = t->second;
    p.decision = "hybrid";
  } else if (const std::string b = backend_named(c, in.model); !b.empty() && b != r.name) {
    first = b;
    p.decision = "hybrid";
  } else if (mode == RouteMode::rolled_back && !control.empty()) {
    first = control;
    p.decision = "rolled_back";
  } else if (r.ab) {
    const bool cand = mode == RouteMode::promoted || in_candidate_arm(r.name, in.sticky_key, r.ab->percent);
    first = cand ? r.ab->candidate : r.ab->control;
    p.decision = cand ? "ab_candidate" : "ab_control";
  } else {
    first = r.primary;
    p.decision = "primary";
  }
  // The cascade and the monitors concern the route's primary (the model under watch) only.
  const std::string watched = r.ab ? r.ab->candidate : r.primary;
  p.candidate = first == watched && first != control;
  p.cascade = r.cascade.has_value() && first == r.primary && p.decision != "high_stakes" && first != r.fallback;
  append_unique(p.chain, first);
  if (r.failover.empty())
    append_unique(p.chain, r.fallback);
  else
    for (const std::string& b : r.failover) append_unique(p.chain, b);
  return p;
}

}  // namespace bitdial::serve
