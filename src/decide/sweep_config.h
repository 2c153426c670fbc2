// The sweep's YAML configuration: the baseline, the candidates (presets x methods, budget points,
// existing files, remote endpoints), the data, the benchmark shape, traffic, target hardware and the
// floors. Parsing checks every key and value and names the file and line of anything wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "decide/cost_model.h"

namespace bitdial {

struct CandidateSpec {
  enum class Kind { quantize, file, remote };
  Kind kind = Kind::quantize;
  std::string name;  // unique within the sweep; lower case, derived when the config gives none
  int line = 0;      // where the config declared it
  // quantize
  std::string preset;  // canonical preset name ("Q4_K_M")
  std::string method = "rtn";
  std::optional<double> budget_bpw;
  std::vector<std::string> overrides;  // "REGEX=TYPE"
  // file: a GGUF path; remote: the endpoint's base URL
  std::string path;
  std::string model_name, api_key_env;  // remote
  // remote: what the user knows about serving it (no benchmark runs against an endpoint)
  std::optional<double> cost_per_month, latency_ms, p95_latency_ms;
};

struct SweepFloorText {
  std::string text;
  int line = 0;
};

struct SweepConfig {
  std::string path;     // the config file
  std::string sha256;   // of its bytes
  std::string baseline;  // GGUF path (relative paths in the config are relative to its folder)
  std::vector<CandidateSpec> candidates;
  int threads = 0;  // 0: all cores

  // calibration (GPTQ, AWQ, budgets, importance matrix)
  std::string calib_text;
  int64_t calib_ctx = 512;
  int64_t calib_chunks = 0;
  bool imatrix = true;  // collect an importance matrix from calib_text once and use it for every quantize candidate

  // evaluation
  std::string eval_text;  // "" : none
  std::string eval_task;  // "" : none
  int64_t eval_ctx = 512;
  int resamples = 10000;
  uint64_t seed = 0;

  // benchmark: one request of the traffic's shape (prompt_tokens prefill, output_tokens decode)
  bool bench = true;
  int bench_reps = 3;

  // traffic (config key `batch` is Traffic::concurrency)
  Traffic traffic{.requests_per_day = 10000, .prompt_tokens = 256, .output_tokens = 64, .utilization = 0.5, .concurrency = 1};

  // hardware
  std::string target = "cpu-here";
  std::string catalogue;  // "" : the built-in one only

  std::vector<SweepFloorText> floors;
  std::string mode = "ci";  // "ci" | "point"
};

// Throws bitdial::Error "FILE:LINE: ..." for unknown keys, wrong types, missing files, duplicate
// candidate names, unknown presets or methods.
SweepConfig load_sweep_config(const std::string& path);

}  // namespace bitdial
