#include "serve/quick_config.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "eval/base_url.h"
#include "serve/local_backend.h"
#include "serve/upstream_backend.h"

namespace bitdial::serve {
namespace {


BackendConfig backend_for(const std::string& name, const std::string& where, const QuickServeOptions& o, const char* flag) {
  BackendConfig b;
  b.name = name;
  b.max_batch = o.max_batch;
  if (is_http_url(where)) {
    b.url = where;
    b.api_key_env = o.upstream_api_key_env;
  } else {
    if (!std::filesystem::exists(where)) fail(flag, " ", where, ": no such file");
    b.model = std::filesystem::absolute(where).lexically_normal().string();
  }
  return b;
}

}  // namespace

ServeConfig quick_serve_config(const QuickServeOptions& o) {
  ServeConfig c;
  c.source = "command line";
  if (o.primary.empty()) fail("-m/--model is required (or give a CONFIG.yaml)");
  c.backends.push_back(backend_for("primary", o.primary, o, "-m"));
  RouteConfig r;
  r.name = "default";
  r.primary = "primary";
  if (!o.fallback.empty()) {
    c.backends.push_back(backend_for("baseline", o.fallback, o, "--fallback"));
    r.fallback = "baseline";
  }
  if (o.cascade_threshold) {
    if (o.fallback.empty()) fail("--cascade-threshold needs --fallback (the model to escalate to)");
    if (!(*o.cascade_threshold >= 0 && *o.cascade_threshold <= 1)) fail("--cascade-threshold must be in [0, 1]");
    r.cascade = CascadeConfig{parse_confidence(o.confidence, 0.1), *o.cascade_threshold};
  }
  if (o.ab_percent) {
    if (o.fallback.empty()) fail("--ab needs --fallback (the control)");
    if (!(*o.ab_percent >= 0 && *o.ab_percent <= 100)) fail("--ab must be a percentage in [0, 100]");
    r.ab = AbConfig{"primary", "baseline", *o.ab_percent};
  }
  if (o.shadow_sample > 0 && o.fallback.empty()) fail("--shadow-sample needs --fallback (the baseline to compare with)");
  c.monitoring.shadow_sample = o.shadow_sample;
  c.routes.push_back(r);
  validate_serve_config(c);
  return c;
}

void add_key_from_env(ServeConfig& config, const std::string& var, bool admin) {
  const char* v = std::getenv(var.c_str());
  if (v == nullptr) fail("environment variable ", var, " is not set (it should hold the ", admin ? "admin" : "API", " key)");
  if (*v == '\0') fail("environment variable ", var, " is empty");
  if (admin)
    config.auth.admin_key_sha256 = key_hash(v);
  else
    config.auth.api_key_sha256.push_back(key_hash(v));
}

std::map<std::string, std::unique_ptr<Backend>> start_backends(const ServeConfig& config) {
  std::map<std::string, std::unique_ptr<Backend>> out;
  for (const BackendConfig& b : config.backends) {
    if (b.local()) {
      LocalBackendOptions o;
      o.name = b.name;
      o.path = b.model;
      o.n_ctx = b.n_ctx;
      o.max_batch = b.max_batch;
      o.chat_template = b.chat_template;
      o.threads = config.engine_threads;
      out[b.name] = std::make_unique<LocalBackend>(o);
    } else {
      UpstreamOptions o;
      o.name = b.name;
      o.url = b.url;
      o.model = b.upstream_model;
      o.api_key_env = b.api_key_env;
      o.timeout_s = b.timeout_s;
      o.retries = b.retries;
      out[b.name] = std::make_unique<UpstreamBackend>(o);
    }
  }
  return out;
}

}  // namespace bitdial::serve
