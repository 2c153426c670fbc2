// What `bitdial serve` writes down about its traffic, as plain values: one row per answered request,
// per feedback report, per shadow comparison, per rollback decision, and each route's current state.
// The EventStore persists them (SQLite); the rollback monitor and `--status` read them back.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace bitdial::serve {

// The clock every event's `time` is on: unix seconds (UTC), sub-second.
inline double event_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct RequestEvent {
  std::string request_id;
  double time = 0;               // unix seconds (UTC) when the request arrived
  std::string route;
  std::string backend;           // the backend that answered; "" if none did
  std::string primary;           // the route's primary backend
  // "primary", "cascade_escalated", "ab_candidate", "ab_control", "high_stakes", "hybrid", "failover"
  std::string decision;
  std::string endpoint;          // "completions", "chat", "models", ...
  std::string user_hash;         // hashed user id (never the raw id)
  std::optional<double> confidence;  // the router's confidence score, when one was computed
  bool escalated = false;        // cascade: the cheap answer was not trusted and a bigger model answered
  std::string failed_over;       // comma-separated backends that failed before `backend` answered
  int status = 200;              // HTTP status sent to the client
  std::string error;             // message sent with a non-200 status
  int64_t n_prompt_tokens = 0;
  int64_t n_completion_tokens = 0;
  double ttft_ms = 0;            // time to first token, milliseconds
  double total_ms = 0;           // arrival to last byte, milliseconds
  bool stream = false;
};

// A client's verdict on an earlier answer (POST /v1/feedback), joined to its request by request_id.
struct FeedbackEvent {
  std::string request_id;
  double time = 0;               // unix seconds
  bool overridden = false;       // a human replaced the answer
  std::optional<std::string> correct_answer;
};

// The primary's answer compared with the full-precision baseline's on a sampled request.
struct ShadowEvent {
  std::string request_id;
  double time = 0;               // unix seconds
  std::string route, primary, baseline;
  bool agree = false;
  std::string kind;              // "exact" (same text) or "choice" (same classification choice)
  std::string primary_answer, baseline_answer;
  std::string error;             // non-empty: the baseline failed, `agree` is meaningless and not counted
};

// The rollback monitor (or an operator) moved a route back to its baseline, or promoted it again.
struct RollbackEvent {
  double time = 0;               // unix seconds
  std::string route;
  std::string action;            // "rollback", "promote", "manual_rollback", "manual_promote"
  std::string metric;            // the guarded metric that tripped, e.g. "shadow_agreement"
  double value = 0, bound = 0;   // its measured value and the bound it crossed
  int64_t window = 0, n = 0;     // samples asked for and samples actually seen
  std::string evidence;          // JSON text: whatever the monitor wants kept with the decision
};

// Whether a route currently answers from its baseline; survives restarts.
struct RouteState {
  std::string route;
  bool rolled_back = false;
  double time = 0;               // unix seconds of the last change
  std::string reason;
};

}  // namespace bitdial::serve
