#include "decide/sweep_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "eval/base_url.h"
#include "core/yaml_fields.h"
#include "core/sha256.h"
#include "core/atomic_file.h"
#include "quant/recipe.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}


// The entries one item of `candidates:` stands for (a presets x methods item gives several).
void parse_candidate(const YamlFields& c, const YAML::Node& n, std::vector<CandidateSpec>& out) {
  const int line = n.Mark().line + 1;
  if (!n.IsMap()) c.bad(n, "a candidate must be a mapping (preset:, presets:, budget_bpw:, file: or url:)");
  c.keys(n, "a candidate",
         {"name", "preset", "presets", "method", "methods", "budget_bpw", "overrides", "file", "url", "model",
          "api_key_env", "cost_per_month", "latency_ms", "p95_latency_ms"});
  const int kinds = (n["preset"] || n["presets"] || n["budget_bpw"] ? 1 : 0) + (n["file"] ? 1 : 0) + (n["url"] ? 1 : 0);
  if (kinds != 1) c.bad(n, "a candidate needs exactly one of preset/presets/budget_bpw, file, url");
  const std::string name = n["name"] ? lower(c.str(n["name"], "name")) : "";

  if (n["file"] || n["url"]) {
    for (const char* k : {"method", "methods", "overrides"})
      if (n[k]) c.bad(n[k], std::string("'") + k + "' applies to quantize candidates only");
    CandidateSpec s;
    s.line = line;
    if (n["file"]) {
      s.kind = CandidateSpec::Kind::file;
      s.path = c.existing(n["file"], "file");
      s.name = name.empty() ? lower(fs::path(s.path).stem().string()) : name;
      for (const char* k : {"model", "api_key_env", "cost_per_month", "latency_ms", "p95_latency_ms"})
        if (n[k]) c.bad(n[k], std::string("'") + k + "' applies to url candidates only");
    } else {
      s.kind = CandidateSpec::Kind::remote;
      s.path = c.str(n["url"], "url");
      if (!is_http_url(s.path)) c.bad(n["url"], "'url' must start with http:// or https://");
      if (!n["model"]) c.bad(n, "a url candidate needs 'model' (the name the server knows it by)");
      s.model_name = c.str(n["model"], "model");
      if (n["api_key_env"]) s.api_key_env = c.str(n["api_key_env"], "api_key_env");
      if (n["cost_per_month"]) s.cost_per_month = c.num(n["cost_per_month"], "cost_per_month");
      if (n["latency_ms"]) s.latency_ms = c.num(n["latency_ms"], "latency_ms");
      if (n["p95_latency_ms"]) s.p95_latency_ms = c.num(n["p95_latency_ms"], "p95_latency_ms");
      s.name = name.empty() ? lower(s.model_name) : name;
    }
    out.push_back(s);
    return;
  }

  for (const char* k : {"model", "api_key_env", "cost_per_month", "latency_ms", "p95_latency_ms"})
    if (n[k]) c.bad(n[k], std::string("'") + k + "' applies to url candidates only");
  if (n["preset"] && n["presets"]) c.bad(n, "use 'preset' or 'presets', not both");
  if (n["method"] && n["methods"]) c.bad(n, "use 'method' or 'methods', not both");
  std::vector<std::string> presets = n["presets"]  ? c.strings(n["presets"], "presets")
                                     : n["preset"] ? std::vector<std::string>{c.str(n["preset"], "preset")}
                                                   : std::vector<std::string>{"Q4_K_M"};
  std::vector<std::string> methods = n["methods"]  ? c.strings(n["methods"], "methods")
                                     : n["method"] ? std::vector<std::string>{c.str(n["method"], "method")}
                                                   : std::vector<std::string>{"rtn"};
  if (presets.empty()) c.bad(n["presets"], "'presets' is an empty list");
  if (methods.empty()) c.bad(n["methods"], "'methods' is an empty list");
  const YAML::Node pn = n["presets"] ? n["presets"] : n["preset"] ? n["preset"] : n;
  for (std::string& p : presets) {
    try {
      p = find_quant_preset(p).name;
    } catch (const Error& e) {
      c.bad(pn, e.what());
    }
  }
  const YAML::Node mn = n["methods"] ? n["methods"] : n["method"] ? n["method"] : n;
  for (std::string& m : methods) {
    m = lower(m);
    if (m != "rtn" && m != "gptq" && m != "awq") c.bad(mn, "method '" + m + "' is not rtn, gptq or awq");
  }
  std::optional<double> bpw;
  if (n["budget_bpw"]) {
    bpw = c.num(n["budget_bpw"], "budget_bpw");
    if (!(*bpw > 0 && *bpw <= 32)) c.bad(n["budget_bpw"], "'budget_bpw' must be in (0, 32]");
  }
  std::vector<std::string> overrides;
  if (n["overrides"]) overrides = c.strings(n["overrides"], "overrides");
  if (!name.empty() && presets.size() * methods.size() > 1)
    c.bad(n["name"], "'name' names one candidate; this entry makes " + std::to_string(presets.size() * methods.size()));
  for (const std::string& p : presets)
    for (const std::string& m : methods) {
      CandidateSpec s;
      s.line = line;
      s.kind = CandidateSpec::Kind::quantize;
      s.preset = p;
      s.method = m;
      s.budget_bpw = bpw;
      s.overrides = overrides;
      if (!name.empty()) {
        s.name = name;
      } else {
        char b[32] = "";
        if (bpw) std::snprintf(b, sizeof b, "bpw%g-", *bpw);
        s.name = lower(b + p + "-" + m);
      }
      out.push_back(s);
    }
}

}  // namespace

SweepConfig load_sweep_config(const std::string& path) {
  SweepConfig cfg;
  cfg.path = path;
  const std::string bytes = read_file(path);
  cfg.sha256 = sha256_hex(bytes);
  YAML::Node root;
  try {
    root = YAML::Load(bytes);
  } catch (const YAML::Exception& e) {
    fail(path, ":", e.mark.line + 1, ": YAML syntax: ", e.msg);
  }
  YamlFields c{path, fs::path(path).parent_path()};
  if (!root.IsMap()) fail(path, ": the config must be a YAML mapping (baseline:, candidates:, floors: ...)");
  c.keys(root, "the config",
         {"baseline", "candidates", "threads", "calibration", "eval", "bench", "traffic", "hardware", "floors", "mode"});
  if (!root["baseline"]) fail(path, ": missing 'baseline' (the full-precision GGUF every candidate is compared with)");
  cfg.baseline = c.existing(root["baseline"], "baseline");
  if (root["threads"]) cfg.threads = static_cast<int>(c.integer(root["threads"], "threads", 0));

  if (const YAML::Node n = root["calibration"]) {
    c.keys(n, "calibration", {"text", "ctx", "chunks", "imatrix"});
    if (n["text"]) cfg.calib_text = c.existing(n["text"], "text");
    if (n["ctx"]) cfg.calib_ctx = c.integer(n["ctx"], "ctx", 2);
    if (n["chunks"]) cfg.calib_chunks = c.integer(n["chunks"], "chunks", 0);
    if (n["imatrix"]) cfg.imatrix = c.boolean(n["imatrix"], "imatrix");
  }
  if (const YAML::Node n = root["eval"]) {
    c.keys(n, "eval", {"text", "task", "ctx", "resamples", "seed"});
    if (n["text"]) cfg.eval_text = c.existing(n["text"], "text");
    if (n["task"]) {
      if (n["task"].IsSequence())
        c.bad(n["task"], "one task file per sweep: concatenate them (tags make the slices)");
      cfg.eval_task = c.existing(n["task"], "task");
    }
    if (n["ctx"]) cfg.eval_ctx = c.integer(n["ctx"], "ctx", 2);
    if (n["resamples"]) cfg.resamples = static_cast<int>(c.integer(n["resamples"], "resamples", 100));
    if (n["seed"]) cfg.seed = static_cast<uint64_t>(c.integer(n["seed"], "seed", 0));
  }
  if (cfg.eval_text.empty() && cfg.eval_task.empty())
    fail(path, ": 'eval' needs a text (KL divergence, perplexity) or a task file (accuracy), or both");
  if (const YAML::Node n = root["bench"]) {
    if (n.IsScalar()) {
      cfg.bench = c.boolean(n, "bench");
    } else {
      c.keys(n, "bench", {"reps"});
      if (n["reps"]) cfg.bench_reps = static_cast<int>(c.integer(n["reps"], "reps", 1));
    }
  }
  if (const YAML::Node n = root["traffic"]) {
    c.keys(n, "traffic", {"requests_per_day", "prompt_tokens", "output_tokens", "utilization", "batch"});
    if (n["requests_per_day"]) cfg.traffic.requests_per_day = c.num(n["requests_per_day"], "requests_per_day");
    if (cfg.traffic.requests_per_day < 0) c.bad(n["requests_per_day"], "'requests_per_day' must be >= 0");
    if (n["prompt_tokens"]) cfg.traffic.prompt_tokens = c.integer(n["prompt_tokens"], "prompt_tokens", 1);
    if (n["output_tokens"]) cfg.traffic.output_tokens = c.integer(n["output_tokens"], "output_tokens", 1);
    if (n["utilization"]) cfg.traffic.utilization = c.num(n["utilization"], "utilization");
    if (!(cfg.traffic.utilization > 0 && cfg.traffic.utilization <= 1)) c.bad(n["utilization"], "'utilization' must be in (0, 1]");
    if (n["batch"]) cfg.traffic.concurrency = c.integer(n["batch"], "batch", 1);
  }
  if (const YAML::Node n = root["hardware"]) {
    c.keys(n, "hardware", {"target", "catalogue"});
    if (n["target"]) cfg.target = c.str(n["target"], "target");
    if (n["catalogue"]) cfg.catalogue = c.existing(n["catalogue"], "catalogue");
  }
  if (const YAML::Node n = root["floors"]) {
    if (!n.IsSequence()) c.bad(n, "'floors' must be a list such as [\"accuracy_delta >= -0.01\"]");
    for (const auto& f : n) cfg.floors.push_back({c.str(f, "floors"), f.Mark().line + 1});
  }
  if (root["mode"]) {
    cfg.mode = c.str(root["mode"], "mode");
    if (cfg.mode != "ci" && cfg.mode != "point") c.bad(root["mode"], "'mode' must be ci or point");
  }

  const YAML::Node cands = root["candidates"];
  if (!cands || !cands.IsSequence() || cands.size() == 0) fail(path, ": 'candidates' must be a non-empty list");
  for (const auto& n : cands) parse_candidate(c, n, cfg.candidates);
  std::set<std::string> seen;
  for (const CandidateSpec& s : cfg.candidates) {
    if (s.name == "baseline") fail(path, ":", s.line, ": the name 'baseline' is reserved");
    if (!seen.insert(s.name).second)
      fail(path, ":", s.line, ": two candidates are named '", s.name, "' (give one a 'name:')");
    const bool needs_calib = s.kind == CandidateSpec::Kind::quantize && (s.method != "rtn" || s.budget_bpw);
    if (needs_calib && cfg.calib_text.empty())
      fail(path, ":", s.line, ": candidate '", s.name, "' needs calibration text (calibration: text: FILE)");
  }
  return cfg;
}

}  // namespace bitdial
