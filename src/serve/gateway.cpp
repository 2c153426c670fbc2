#include "serve/gateway.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/sha256.h"
#include "serve/ab_split.h"
#include "serve/api_error.h"
#include "serve/confidence.h"
#include "serve/local_backend.h"
#include "serve/serve_metrics.h"

namespace bitdial::serve {
namespace {

using Clock = std::chrono::steady_clock;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

Gateway::Gateway(ServeConfig config, std::map<std::string, std::unique_ptr<Backend>> backends)
    : config_(std::move(config)), backends_(std::move(backends)) {
  for (const BackendConfig& b : config_.backends)
    if (backends_.find(b.name) == backends_.end()) fail("backend '", b.name, "' was configured but not started");
  metric::declare_all(metrics_);
  store_ = std::make_unique<EventStore>(config_.db);
  guard_ = std::make_unique<RouteGuard>(config_, *store_, metrics_);
  shadow_ = std::make_unique<ShadowReplayer>(config_.monitoring.shadow_queue, [this](const ShadowEvent& e) {
    store_->record(e);
    metrics_.add(metric::shadow, {{"route", e.route}, {"outcome", !e.error.empty() ? "error" : e.agree ? "agree" : "disagree"}});
    if (e.error.empty()) guard_->on_shadow(e.route, e.agree);
  });
}

Gateway::~Gateway() {
  shadow_.reset();
  try {
    store_->flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitdial serve: event store: %s\n", e.what());
  }
}

Backend* Gateway::backend(const std::string& name) const {
  auto it = backends_.find(name);
  return it == backends_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Gateway::model_names() const {
  std::vector<std::string> v;
  for (const RouteConfig& r : config_.routes) {
    v.push_back(r.name);
    for (const std::string& m : r.models) v.push_back(m);
  }
  for (const BackendConfig& b : config_.backends) {
    v.push_back(b.name);
    for (const std::string& a : b.aliases) v.push_back(a);
  }
  return v;
}

std::string Gateway::render_metrics() {
  guard_->export_gauges();
  for (const auto& [name, b] : backends_)
    if (const auto* local = dynamic_cast<const LocalBackend*>(b.get())) {
      const LocalBackend::Stats s = local->stats();
      // Counters are monotonic: add what happened since the last scrape.
      const double steps = metrics_.counter_value(metric::batch_steps, {{"backend", name}});
      const double seqs = metrics_.counter_value(metric::batch_sequences, {{"backend", name}});
      metrics_.add(metric::batch_steps, {{"backend", name}}, static_cast<double>(s.steps) - steps);
      metrics_.add(metric::batch_sequences, {{"backend", name}}, static_cast<double>(s.sequence_steps) - seqs);
    }
  return metrics_.render();
}

Answer Gateway::answer(ParsedRequest& request, const RouteInputs& inputs, const std::string& request_id,
                       const std::string& endpoint, const TokenCallback& stream) {
  const double arrival = event_time_now();
  const Clock::time_point t0 = Clock::now();
  GenerationRequest& gen = request.gen;
  gen.request_id = request_id;
  if (gen.timeout_s <= 0) gen.timeout_s = config_.limits.request_timeout_s;
  // A seed fixed here (not inside the backend) lets a shadow replay or a cascade draw the same way.
  if (gen.sampling.seed == 0) gen.sampling.seed = stable_hash(request_id) | 1;

  Answer a;
  a.plan = plan_route(config_, inputs, guard_->mode(select_route(config_, inputs.model).name));
  const RouteConfig& route = *a.plan.route;
  Clock::time_point last_token = t0;
  bool streamed = false;
  const TokenCallback forward = [&](const TokenLogprob& t) {
    const Clock::time_point now = Clock::now();
    if (streamed)
      metrics_.observe(metric::inter_token, {{"backend", a.backend}}, std::chrono::duration<double>(now - last_token).count());
    last_token = now;
    streamed = true;
    return stream ? stream(t) : true;
  };

  std::optional<BackendError> last_error;
  for (size_t i = 0; i < a.plan.chain.size(); ++i) {
    const std::string& name = a.plan.chain[i];
    Backend* b = backend(name);
    const bool cascade_here = i == 0 && a.plan.cascade;
    a.backend = name;
    try {
      const bool live = gen.stream && !cascade_here;
      a.result = b->generate(gen, live ? forward : TokenCallback());
      const ConfidenceSpec spec = route.cascade ? route.cascade->confidence : ConfidenceSpec{};
      if (i == 0) a.confidence = confidence_of(a.result, spec);
      if (cascade_here && *a.confidence < route.cascade->threshold) {
        metrics_.add(metric::escalations, {{"route", route.name}});
        try {
          a.result = backend(route.fallback)->generate(gen, gen.stream ? forward : TokenCallback());
          a.backend = route.fallback;
          a.escalated = true;
        } catch (const BackendError&) {
          // The primary's answer stands when the model it would escalate to is down.
          metrics_.add(metric::errors, {{"route", route.name}, {"backend", route.fallback}});
          a.escalation_failed = true;
        }
      }
      if (cascade_here && gen.stream && !a.escalated)
        for (const TokenLogprob& t : a.result.tokens)
          if (!forward(t)) break;
      break;
    } catch (const BackendError& e) {
      metrics_.add(metric::errors, {{"route", route.name}, {"backend", name}});
      metrics_.add(metric::failovers, {{"route", route.name}, {"backend", name}});
      a.failed.push_back(name);
      last_error = e;
      if (streamed) break;  // tokens already reached the client: another backend cannot take over
      if (i == 0 && a.plan.candidate)
        guard_->on_request(route.name, std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), true, false);
      continue;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (a.failed.size() == a.plan.chain.size() || (last_error && a.failed.back() == a.backend && streamed)) {
    RequestEvent ev;
    ev.request_id = request_id;
    ev.time = arrival;
    ev.route = route.name;
    ev.primary = a.plan.chain.front();
    ev.decision = a.plan.decision;
    ev.endpoint = endpoint;
    ev.user_hash = request.user.empty() ? "" : sha256_hex(request.user).substr(0, 16);
    ev.failed_over = join(a.failed);
    ev.status = last_error ? last_error->status() : 502;
    ev.error = last_error ? last_error->what() : "no backend answered";
    ev.total_ms = seconds * 1e3;
    ev.stream = gen.stream;
    store_->record(ev);
    metrics_.add(metric::requests, {{"route", route.name}, {"backend", ""}, {"decision", a.plan.decision}, {"status", std::to_string(ev.status)}});
    const int status = ev.status;
    throw ApiException(ApiError{status, status == 504 ? "timeout_error" : "server_error",
                                "no backend could answer: " + ev.error, "", status == 503 ? "overloaded" : "backend_unavailable"});
  }
  after_answer(request, a, request_id, endpoint, inputs, arrival, seconds);
  return a;
}

void Gateway::after_answer(const ParsedRequest& request, const Answer& a, const std::string& request_id,
                           const std::string& endpoint, const RouteInputs& inputs, double arrival, double seconds) {
  const RouteConfig& route = *a.plan.route;
  const GenerationResult& r = a.result;
  RequestEvent ev;
  ev.request_id = request_id;
  ev.time = arrival;
  ev.route = route.name;
  ev.backend = a.backend;
  ev.primary = a.plan.chain.front();
  ev.decision = a.escalated ? "cascade_escalated" : !a.failed.empty() ? "failover" : a.plan.decision;
  ev.endpoint = endpoint;
  ev.user_hash = request.user.empty() ? "" : sha256_hex(request.user).substr(0, 16);
  ev.confidence = a.confidence;
  ev.escalated = a.escalated;
  ev.failed_over = join(a.failed);
  ev.n_prompt_tokens = r.n_prompt_tokens;
  ev.n_completion_tokens = r.n_completion_tokens;
  ev.ttft_ms = r.time_to_first_token_s * 1e3;
  ev.total_ms = seconds * 1e3;
  ev.stream = request.gen.stream;
  store_->record(ev);

  const Metrics::Labels rb = {{"route", route.name}, {"backend", a.backend}};
  metrics_.add(metric::requests, {{"route", route.name}, {"backend", a.backend}, {"decision", ev.decision}, {"status", "200"}});
  metrics_.observe(metric::latency, rb, seconds);
  if (r.n_completion_tokens > 0) metrics_.observe(metric::ttft, rb, r.time_to_first_token_s);
  metrics_.add(metric::prompt_tokens, {{"backend", a.backend}}, static_cast<double>(r.n_prompt_tokens));
  metrics_.add(metric::completion_tokens, {{"backend", a.backend}}, static_cast<double>(r.n_completion_tokens));
  const double decode_s = r.total_s - r.time_to_first_token_s;
  if (r.n_completion_tokens > 1 && decode_s > 0) {
    metrics_.set(metric::decode_rate, {{"backend", a.backend}}, static_cast<double>(r.n_completion_tokens - 1) / decode_s);
    if (!request.gen.stream)  // streamed requests observed each gap as it happened
      metrics_.observe(metric::inter_token, {{"backend", a.backend}}, decode_s / static_cast<double>(r.n_completion_tokens - 1));
  }
  if (a.plan.candidate && a.failed.empty()) guard_->on_request(route.name, seconds * 1e3, false, a.escalated);

  // Shadow: only the candidate's own answers, and never escalated ones (the baseline already answered).
  const std::string baseline = baseline_of(route);
  if (a.plan.candidate && !a.escalated && a.failed.empty() && config_.monitoring.shadow_sample > 0 && !baseline.empty() &&
      baseline != a.backend) {
    bool sample = false;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      sample = std::uniform_real_distribution<double>(0, 1)(rng_) < config_.monitoring.shadow_sample;
    }
    if (sample) {
      ShadowEvent se;
      se.request_id = request_id;
      se.route = route.name;
      se.primary = a.backend;
      se.baseline = baseline;
      if (!shadow_->submit(*backend(baseline), request.gen, r, se)) metrics_.add(metric::shadow_dropped, {{"route", route.name}});
    }
  }
  (void)inputs;
}

void Gateway::feedback(const std::string& request_id, bool overridden, const std::optional<std::string>& correct_answer) {
  const std::optional<RequestEvent> req = store_->find_request(request_id);
  if (!req) throw ApiException(ApiError{404, "not_found_error", "no request with id '" + request_id + "' was recorded", "request_id", ""});
  FeedbackEvent f;
  f.request_id = request_id;
  f.time = event_time_now();
  f.overridden = overridden;
  f.correct_answer = correct_answer;
  store_->record(f);
  metrics_.add(metric::feedback, {{"route", req->route}, {"overridden", overridden ? "true" : "false"}});
  // Feedback counts against the candidate only when the candidate gave the answer.
  for (const RouteConfig& r : config_.routes)
    if (r.name == req->route) {
      const std::string watched = r.ab ? r.ab->candidate : r.primary;
      if (req->backend == watched) guard_->on_feedback(r.name, overridden);
    }
}

}  // namespace bitdial::serve
