// The gateway behind the HTTP endpoints: owns the backends, routes each parsed request (plan_route),
// runs it with failover and the cascade, and records everything about it — metrics, the event store,
// the rollback guard's monitors and shadow replays. HTTP parsing and formatting stay in http_server.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "serve/event_store.h"
#include "serve/generation.h"
#include "serve/metrics.h"
#include "serve/openai_request.h"
#include "serve/route_guard.h"
#include "serve/router.h"
#include "serve/serve_config.h"
#include "serve/shadow_replayer.h"

namespace bitdial::serve {

struct Answer {
  GenerationResult result;
  std::string backend;               // that answered
  RoutePlan plan;
  bool escalated = false;
  std::optional<double> confidence;  // the primary's, when it answered first
  std::vector<std::string> failed;   // backends that failed before `backend` answered
  bool escalation_failed = false;    // the cascade's fallback failed; the primary's answer stands
};

class Gateway {
 public:
  // Backends by name (every name the config uses). Opens the event store at config.db.
  Gateway(ServeConfig config, std::map<std::string, std::unique_ptr<Backend>> backends);
  // Stops the shadow replayer (finishing its queue), then flushes the event store.
  ~Gateway();

  // Routes and answers one request, records it (metrics, events, monitors, shadow sample) and returns
  // the answer. `stream` receives tokens as they are produced (request.gen.stream); with a cascade the
  // primary's answer is held until its confidence is known, then streamed (or the fallback's live).
  // Throws ApiException (already recorded) when no backend could answer, InvalidRequest for the client's
  // mistakes. `endpoint`: "completions" or "chat".
  Answer answer(ParsedRequest& request, const RouteInputs& inputs, const std::string& request_id,
                const std::string& endpoint, const TokenCallback& stream);

  // POST /v1/feedback. Throws ApiException 404 for an unknown request id.
  void feedback(const std::string& request_id, bool overridden, const std::optional<std::string>& correct_answer);

  const ServeConfig& config() const { return config_; }
  Metrics& metrics() { return metrics_; }
  EventStore& store() { return *store_; }
  RouteGuard& guard() { return *guard_; }
  Backend* backend(const std::string& name) const;
  std::vector<std::string> model_names() const;  // routes, backends and aliases (for /v1/models)
  // Prometheus text with the gauges refreshed.
  std::string render_metrics();

 private:
  void after_answer(const ParsedRequest& request, const Answer& a, const std::string& request_id, const std::string& endpoint,
                    const RouteInputs& inputs, double arrival_unix, double seconds);

  ServeConfig config_;
  std::map<std::string, std::unique_ptr<Backend>> backends_;
  Metrics metrics_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<RouteGuard> guard_;
  std::unique_ptr<ShadowReplayer> shadow_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace bitdial::serve
