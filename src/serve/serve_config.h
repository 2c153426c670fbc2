// `bitdial serve`'s configuration: backends (local GGUF files or upstream endpoints), routes (cascade,
// A/B split, hybrid task routing, high-stakes and failover), monitoring, rollback rules, limits and
// keys. Read from YAML (the format `bitdial sweep` writes as serve.yaml) or built from command-line flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "serve/confidence.h"
#include "serve/openai_request.h"
#include "serve/rollback_rules.h"

namespace bitdial::serve {

struct BackendConfig {
  std::string name;
  std::string model;             // local GGUF (absolute path), or
  std::string url;               // upstream base URL ending in /v1
  std::string upstream_model;    // the name the upstream knows the model by ("" : the backend's name)
  std::string api_key_env;       // upstream bearer token's environment variable
  double timeout_s = 120;        // upstream: whole request
  int retries = 1;               // upstream: extra attempts before anything was streamed
  int max_batch = 16;            // local: sequences per forward pass (1: no continuous batching)
  int64_t n_ctx = 0;             // local: positions per request (0: the model's)
  std::string chat_template;     // local: "" detects from the GGUF
  std::vector<std::string> aliases;  // other model names that select this backend (hybrid routing)
  bool local() const { return !model.empty(); }
};

struct CascadeConfig {
  ConfidenceSpec confidence;
  double threshold = 0;          // escalate when the primary's confidence < threshold
};

struct AbConfig {
  std::string candidate, control;
  double percent = 0;            // of users (sticky by the request's `user`, else per request)
};

struct RouteConfig {
  std::string name;
  std::vector<std::string> models;       // `model` values that select this route (its name always does)
  std::string primary;                   // answers first
  std::string fallback;                  // cascade target, first failover, default high-stakes backend
  std::vector<std::string> failover;     // tried in order when the chosen backend fails (default: fallback)
  std::optional<CascadeConfig> cascade;
  std::optional<AbConfig> ab;
  std::string high_stakes;               // forced by high-stakes requests ("" : fallback, else ab control)
  std::map<std::string, std::string> tasks;  // hybrid: request `task` -> backend
};

struct MonitoringConfig {
  double shadow_sample = 0;      // share of primary answers replayed to the baseline in the background
  size_t shadow_queue = 256;     // replays waiting beyond this are dropped (counted in /metrics)
};

struct LimitsConfig {
  RequestLimits request;
  size_t max_body_bytes = 1 << 20;
  int max_concurrency = 64;      // requests in flight; more get HTTP 429
  double request_timeout_s = 120;
};

struct AuthConfig {
  std::vector<std::string> api_key_sha256;  // lower-case hex; none: the API is open
  std::string admin_key_sha256;             // "" : admin endpoints are off
};

struct ServeConfig {
  std::string source;            // the file, or "command line"
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;               // HTTP worker threads (0: max_concurrency + 8)
  int engine_threads = 0;        // OpenMP threads of the forward pass (0: all cores)
  std::string db = "bitdial-events.db";
  std::vector<BackendConfig> backends;
  std::vector<RouteConfig> routes;
  MonitoringConfig monitoring;
  std::vector<RollbackRule> rollback;
  LimitsConfig limits;
  AuthConfig auth;

  const BackendConfig* backend(const std::string& name) const;
};

// Throws bitdial::Error "<file>:<line>: <what>" for unknown keys, wrong types, unknown backend names,
// missing model files, percentages outside [0, 100] and similar.
ServeConfig load_serve_config(const std::string& path);
ServeConfig parse_serve_config(const std::string& yaml_text, const std::string& source, const std::string& dir);

// Cross-checks a config however it was built (names unique, routes refer to backends that exist).
void validate_serve_config(const ServeConfig& c);

// lower-case hex SHA-256 of a key, as stored in auth.api_key_sha256.
std::string key_hash(const std::string& key);

}  // namespace bitdial::serve
