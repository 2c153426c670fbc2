// `bitdial serve --status`: what an event database says about the traffic so far, per route and
// backend (volume, errors, escalations, latency, speed, feedback, shadow agreement), which routes are
// rolled back and every rollback decision with its evidence. Read-only; safe while the server runs.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bitdial::serve {

// The figures, as JSON:
//   path, totals {requests, errors, feedback, feedback_unmatched, shadow, rollbacks, first, last, span_s},
//   routes [{route, backend, requests, errors, escalation_rate, latency_ms {p50, p95, p99}, mean_ttft_ms,
//            completion_tokens_per_s, feedback, override_rate, shadow_samples, shadow_errors,
//            shadow_agreement}],
//   route_states [{route, rolled_back, since, reason}],
//   rollbacks [{time, route, action, metric, value, bound, n, window, evidence}].
// Times are UTC ISO-8601 ("2026-01-31T12:00:00Z"). Latency, TTFT and tokens/s cover status-200 requests
// only; percentiles are nearest-rank (the ceil(q*n)-th smallest, a value actually observed);
// tokens/s is completion tokens over their requests' total time. A rate with no samples is null.
// Feedback counts toward the route and backend of the request it names; shadow comparisons toward the
// route and its primary. Raises bitdial::Error if the file is missing or not a bitdial event store.
nlohmann::ordered_json summarize_events_json(const std::string& db_path);

// The same figures as a human-readable report (rendered from summarize_events_json).
std::string summarize_events(const std::string& db_path);

// Renders a summarize_events_json object as text.
std::string render_events_summary(const nlohmann::ordered_json& summary);

}  // namespace bitdial::serve
