// `bitdial serve -m PRIMARY [--fallback BASE] ...`: the common deployment without a YAML file, turned
// into the same ServeConfig a file would give (backends "primary" and "baseline", one route "default"),
// plus starting the configured backends.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "serve/generation.h"
#include "serve/serve_config.h"

namespace bitdial::serve {

struct QuickServeOptions {
  std::string primary;                    // GGUF path or http(s)://host/v1
  std::string fallback;                   // "" : none
  std::optional<double> cascade_threshold;
  std::string confidence = "mixed";
  std::optional<double> ab_percent;       // candidate = primary, control = fallback
  double shadow_sample = 0;
  std::string upstream_api_key_env;       // for URL backends
  int max_batch = 16;
};

// Throws bitdial::Error for inconsistent flags (a cascade or A/B split without --fallback, ...).
ServeConfig quick_serve_config(const QuickServeOptions& options);

// Adds the SHA-256 of the key held in environment variable `var` (API or admin key); throws when it is
// unset or empty.
void add_key_from_env(ServeConfig& config, const std::string& var, bool admin);

// Loads every backend of the config (local models are mapped and validated now, so a bad file fails
// at start-up rather than on the first request).
std::map<std::string, std::unique_ptr<Backend>> start_backends(const ServeConfig& config);

}  // namespace bitdial::serve
