#include "serve/serve_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/sha256.h"
#include "core/yaml_fields.h"
#include "eval/base_url.h"
#include "serve/chat_template.h"

namespace bitdial::serve {
namespace {

namespace fs = std::filesystem;

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

BackendConfig parse_backend(const YamlFields& f, const YAML::Node& n) {
  f.keys(n, "a backend", {"name", "model", "url", "upstream_model", "api_key_env", "timeout_s", "retries", "max_batch",
                          "ctx", "chat_template", "aliases"});
  BackendConfig b;
  if (!n["name"]) f.bad(n, "a backend needs a 'name'");
  b.name = f.str(n["name"], "name");
  if (b.name.empty()) f.bad(n["name"], "'name' is empty");
  if ((n["model"] ? 1 : 0) + (n["url"] ? 1 : 0) != 1) f.bad(n, "backend '" + b.name + "' needs exactly one of 'model' (a GGUF file) or 'url'");
  if (n["model"]) b.model = f.existing(n["model"], "model");
  if (n["url"]) {
    b.url = f.str(n["url"], "url");
    if (!is_http_url(b.url))
      f.bad(n["url"], "'url' must start with http:// or https://, e.g. http://10.0.0.5:8000/v1");
  }
  if (n["upstream_model"]) b.upstream_model = f.str(n["upstream_model"], "upstream_model");
  if (n["api_key_env"]) b.api_key_env = f.str(n["api_key_env"], "api_key_env");
  if (n["timeout_s"]) {
    b.timeout_s = f.num(n["timeout_s"], "timeout_s");
    if (!(b.timeout_s > 0)) f.bad(n["timeout_s"], "'timeout_s' must be positive");
  }
  if (n["retries"]) b.retries = static_cast<int>(f.integer(n["retries"], "retries", 0));
  if (n["max_batch"]) b.max_batch = static_cast<int>(f.integer(n["max_batch"], "max_batch", 1));
  if (n["ctx"]) b.n_ctx = f.integer(n["ctx"], "ctx", 0);
  if (n["chat_template"]) b.chat_template = f.str(n["chat_template"], "chat_template");
  if (!b.chat_template.empty() && !parse_chat_template_name(b.chat_template))
    f.bad(n["chat_template"], "unknown chat_template '" + b.chat_template + "'");
  if (n["aliases"]) b.aliases = f.strings(n["aliases"], "aliases");
  return b;
}

RouteConfig parse_route(const YamlFields& f, const YAML::Node& n) {
  f.keys(n, "a route", {"name", "models", "backend", "primary", "fallback", "failover", "cascade", "ab", "high_stakes", "tasks"});
  RouteConfig r;
  if (!n["name"]) f.bad(n, "a route needs a 'name'");
  r.name = f.str(n["name"], "name");
  if (n["models"]) r.models = f.strings(n["models"], "models");
  if (n["backend"] && n["primary"]) f.bad(n["backend"], "'backend' and 'primary' mean the same; give one");
  if (n["backend"]) r.primary = f.str(n["backend"], "backend");
  if (n["primary"]) r.primary = f.str(n["primary"], "primary");
  if (n["fallback"]) r.fallback = f.str(n["fallback"], "fallback");
  if (n["failover"]) r.failover = f.strings(n["failover"], "failover");
  if (n["high_stakes"]) r.high_stakes = f.str(n["high_stakes"], "high_stakes");
  if (const YAML::Node c = n["cascade"]) {
    f.keys(c, "cascade", {"confidence", "threshold", "quantile"});
    CascadeConfig cc;
    const std::string kind = c["confidence"] ? f.str(c["confidence"], "confidence") : "mixed";
    const double q = c["quantile"] ? f.num(c["quantile"], "quantile") : 0.1;
    if (!(q >= 0 && q <= 1)) f.bad(c["quantile"], "'quantile' must be in [0, 1]");
    try {
      cc.confidence = parse_confidence(kind, q);
    } catch (const Error& e) {
      f.bad(c["confidence"], e.what());
    }
    if (!c["threshold"]) f.bad(c, "cascade needs a 'threshold' (escalate when confidence is below it)");
    cc.threshold = f.num(c["threshold"], "threshold");
    if (!(cc.threshold >= 0 && cc.threshold <= 1)) f.bad(c["threshold"], "'threshold' must be in [0, 1]");
    r.cascade = cc;
  }
  if (const YAML::Node a = n["ab"]) {
    f.keys(a, "ab", {"candidate", "control", "percent"});
    AbConfig ab;
    if (!a["candidate"] || !a["control"] || !a["percent"]) f.bad(a, "ab needs 'candidate', 'control' and 'percent'");
    ab.candidate = f.str(a["candidate"], "candidate");
    ab.control = f.str(a["control"], "control");
    ab.percent = f.num(a["percent"], "percent");
    if (!(ab.percent >= 0 && ab.percent <= 100)) f.bad(a["percent"], "'percent' must be in [0, 100]");
    r.ab = ab;
  }
  if (const YAML::Node t = n["tasks"]) {
    if (!t.IsMap()) f.bad(t, "'tasks' must map task names to backends");
    for (const auto& kv : t) r.tasks[f.str(kv.first, "tasks")] = f.str(kv.second, "tasks." + kv.first.as<std::string>());
  }
  if (r.primary.empty() && r.ab) r.primary = r.ab->candidate;
  if (r.primary.empty()) f.bad(n, "route '" + r.name + "' needs a 'primary' (or 'backend') backend");
  return r;
}

}  // namespace

const BackendConfig* ServeConfig::backend(const std::string& name) const {
  for (const BackendConfig& b : backends)
    if (b.name == name) return &b;
  return nullptr;
}

std::string key_hash(const std::string& key) { return sha256_hex(key); }

void validate_serve_config(const ServeConfig& c) {
  const std::string& src = c.source;
  if (c.backends.empty()) fail(src, ": no backends");
  if (c.routes.empty()) fail(src, ": no routes");
  std::set<std::string> names;
  for (const BackendConfig& b : c.backends) {
    if (!names.insert(b.name).second) fail(src, ": backend name '", b.name, "' is used twice");
    for (const std::string& a : b.aliases)
      if (!names.insert(a).second) fail(src, ": alias '", a, "' of backend '", b.name, "' is already a name");
  }
  std::set<std::string> route_names;
  for (const RouteConfig& r : c.routes) {
    if (!route_names.insert(r.name).second) fail(src, ": route name '", r.name, "' is used twice");
    const auto need = [&](const std::string& b, const char* role) {
      if (!b.empty() && c.backend(b) == nullptr) fail(src, ": route '", r.name, "': ", role, " '", b, "' is not a backend");
    };
    need(r.primary, "primary");
    need(r.fallback, "fallback");
    need(r.high_stakes, "high_stakes");
    for (const std::string& b : r.failover) need(b, "failover");
    for (const auto& [task, b] : r.tasks) need(b, ("task '" + task + "'").c_str());
    if (r.ab) {
      need(r.ab->candidate, "ab.candidate");
      need(r.ab->control, "ab.control");
      if (r.ab->candidate == r.ab->control) fail(src, ": route '", r.name, "': ab candidate and control are the same backend");
    }
    if (r.cascade && r.fallback.empty()) fail(src, ": route '", r.name, "': a cascade needs a 'fallback' to escalate to");
    if (r.cascade && r.fallback == r.primary) fail(src, ": route '", r.name, "': the cascade's fallback is the primary itself");
  }
  if (!(c.monitoring.shadow_sample >= 0 && c.monitoring.shadow_sample <= 1)) fail(src, ": shadow_sample must be in [0, 1]");
  if (c.port < 0 || c.port > 65535) fail(src, ": port ", c.port, " is not in 0..65535");
  for (const std::string& h : c.auth.api_key_sha256)
    if (!is_hex64(h)) fail(src, ": auth.api_key_sha256 entries must be 64 hex digits (sha256sum of the key)");
  if (!c.auth.admin_key_sha256.empty() && !is_hex64(c.auth.admin_key_sha256))
    fail(src, ": auth.admin_key_sha256 must be 64 hex digits");
}

ServeConfig parse_serve_config(const std::string& yaml_text, const std::string& source, const std::string& dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  const YamlFields f{source, fs::path(dir)};
  if (!root.IsMap()) fail(source, ": expected a mapping with 'backends' and 'routes'");
  f.keys(root, "the serve config", {"server", "db", "backends", "routes", "monitoring", "rollback", "limits", "auth"});
  ServeConfig c;
  c.source = source;
  if (const YAML::Node s = root["server"]) {
    f.keys(s, "server", {"host", "port", "threads", "engine_threads"});
    if (s["host"]) c.host = f.str(s["host"], "host");
    if (s["port"]) c.port = static_cast<int>(f.integer(s["port"], "port", 0));
    if (s["threads"]) c.threads = static_cast<int>(f.integer(s["threads"], "threads", 0));
    if (s["engine_threads"]) c.engine_threads = static_cast<int>(f.integer(s["engine_threads"], "engine_threads", 0));
  }
  if (root["db"]) {
    fs::path p(f.str(root["db"], "db"));
    c.db = (p.is_relative() ? fs::path(dir) / p : p).lexically_normal().string();
  }
  if (!root["backends"] || !root["backends"].IsSequence()) f.bad(root, "'backends' must be a list");
  for (const YAML::Node& b : root["backends"]) c.backends.push_back(parse_backend(f, b));
  if (!root["routes"] || !root["routes"].IsSequence()) f.bad(root, "'routes' must be a list");
  for (const YAML::Node& r : root["routes"]) c.routes.push_back(parse_route(f, r));
  if (const YAML::Node m = root["monitoring"]) {
    f.keys(m, "monitoring", {"shadow_sample", "shadow_queue"});
    if (m["shadow_sample"]) c.monitoring.shadow_sample = f.num(m["shadow_sample"], "shadow_sample");
    if (!(c.monitoring.shadow_sample >= 0 && c.monitoring.shadow_sample <= 1))
      f.bad(m["shadow_sample"], "'shadow_sample' must be in [0, 1]");
    if (m["shadow_queue"]) c.monitoring.shadow_queue = static_cast<size_t>(f.integer(m["shadow_queue"], "shadow_queue", 1));
  }
  if (const YAML::Node r = root["rollback"]) c.rollback = parse_rollback_rules(r, source);
  if (const YAML::Node l = root["limits"]) {
    f.keys(l, "limits", {"max_body_bytes", "max_tokens", "max_prompt_chars", "max_logprobs", "max_concurrency", "request_timeout_s"});
    if (l["max_body_bytes"]) c.limits.max_body_bytes = static_cast<size_t>(f.integer(l["max_body_bytes"], "max_body_bytes", 1024));
    if (l["max_tokens"]) c.limits.request.max_tokens = f.integer(l["max_tokens"], "max_tokens", 1);
    if (l["max_prompt_chars"]) c.limits.request.max_prompt_chars = f.integer(l["max_prompt_chars"], "max_prompt_chars", 1);
    if (l["max_logprobs"]) c.limits.request.max_logprobs = static_cast<int>(f.integer(l["max_logprobs"], "max_logprobs", 0));
    if (l["max_concurrency"]) c.limits.max_concurrency = static_cast<int>(f.integer(l["max_concurrency"], "max_concurrency", 1));
    if (l["request_timeout_s"]) {
      c.limits.request_timeout_s = f.num(l["request_timeout_s"], "request_timeout_s");
      if (!(c.limits.request_timeout_s > 0)) f.bad(l["request_timeout_s"], "'request_timeout_s' must be positive");
    }
  }
  if (const YAML::Node a = root["auth"]) {
    f.keys(a, "auth", {"api_key_sha256", "admin_key_sha256"});
    if (a["api_key_sha256"]) {
      for (std::string h : f.strings(a["api_key_sha256"], "api_key_sha256")) {
        h = lower(h);
        if (!is_hex64(h)) f.bad(a["api_key_sha256"], "api_key_sha256 entries must be 64 hex digits (`printf %s KEY | sha256sum`); keys themselves never go in the config");
        c.auth.api_key_sha256.push_back(h);
      }
    }
    if (a["admin_key_sha256"]) {
      c.auth.admin_key_sha256 = lower(f.str(a["admin_key_sha256"], "admin_key_sha256"));
      if (!is_hex64(c.auth.admin_key_sha256)) f.bad(a["admin_key_sha256"], "admin_key_sha256 must be 64 hex digits");
    }
  }
  validate_serve_config(c);
  return c;
}

ServeConfig load_serve_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the serve config");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_serve_config(ss.str(), path, fs::path(path).parent_path().string());
}

}  // namespace bitdial::serve
