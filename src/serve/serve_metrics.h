// The Prometheus series `bitdial serve` exports at /metrics: names, help texts and buckets in one
// place, so the gateway, the rollback guard and the docs (docs/serve.md) agree.
#pragma once

#include "serve/metrics.h"

namespace bitdial::serve::metric {

inline constexpr const char* requests = "bitdial_requests_total";              // {route, backend, decision, status}
inline constexpr const char* errors = "bitdial_errors_total";                  // {route, backend}
inline constexpr const char* escalations = "bitdial_escalations_total";        // {route}
inline constexpr const char* failovers = "bitdial_failovers_total";            // {route, backend} (the one that failed)
inline constexpr const char* ttft = "bitdial_time_to_first_token_seconds";     // {route, backend}
inline constexpr const char* inter_token = "bitdial_inter_token_latency_seconds";  // {backend}
inline constexpr const char* latency = "bitdial_request_duration_seconds";     // {route, backend}
inline constexpr const char* prompt_tokens = "bitdial_prompt_tokens_total";    // {backend}
inline constexpr const char* completion_tokens = "bitdial_completion_tokens_total";  // {backend}
inline constexpr const char* decode_rate = "bitdial_decode_tokens_per_second"; // {backend}: last request's rate
inline constexpr const char* feedback = "bitdial_feedback_total";              // {route, overridden}
inline constexpr const char* shadow = "bitdial_shadow_total";                  // {route, outcome: agree|disagree|error}
inline constexpr const char* shadow_dropped = "bitdial_shadow_dropped_total";  // {route}: queue full
inline constexpr const char* rollbacks = "bitdial_rollbacks_total";            // {route, action}
inline constexpr const char* route_mode = "bitdial_route_mode";                // {route, mode}: 1 for the current mode
inline constexpr const char* rule_value = "bitdial_rollback_rule_value";       // {route, metric}
inline constexpr const char* rule_samples = "bitdial_rollback_rule_samples";   // {route, metric}
inline constexpr const char* in_flight = "bitdial_in_flight_requests";
inline constexpr const char* rejected = "bitdial_rejected_total";              // {reason}
inline constexpr const char* batch_steps = "bitdial_batch_steps_total";        // {backend}: forward passes
inline constexpr const char* batch_sequences = "bitdial_batch_sequences_total";  // {backend}: sequences in them

void declare_all(Metrics& m);

}  // namespace bitdial::serve::metric
