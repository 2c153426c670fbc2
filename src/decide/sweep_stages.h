// The sweep's three kinds of work per candidate (quantize, evaluate, benchmark) and the importance
// matrix they share, each cached in DIR/cache under the SHA-256 of every input that decides its result:
// a finished stage is never recomputed, an interrupted one left nothing (files are renamed into place
// when complete), and a changed input gets a new key instead of a stale result.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "decide/sweep_config.h"

namespace bitdial {

class SweepCache {
 public:
  explicit SweepCache(std::string dir);  // DIR/cache is created when missing
  std::string path(const std::string& stage, const std::string& key, const std::string& ext) const;
  // The cached JSON document, or nothing when absent. A document that does not parse is treated as
  // absent (and recomputed): a cache entry is only ever a complete file, but a user may have edited it.
  std::optional<nlohmann::ordered_json> load_json(const std::string& stage, const std::string& key) const;
  void save_json(const std::string& stage, const std::string& key, const nlohmann::ordered_json& doc) const;

 private:
  std::string dir_;
};

// What identifies this machine in benchmark keys (a benchmark from another CPU is not reused).
std::string machine_id();

struct StageLog {
  std::FILE* log = stderr;                 // nullptr: silent
  std::function<bool()> cancelled;         // polled by long stages
};

// Identity of a model for keys: a file's content digest (memoised per path within the run), or an
// endpoint's URL and model name.
std::string model_identity(const CandidateSpec& spec, const std::string& file);
std::string file_digest(const std::string& path);

// Importance matrix of the baseline on the calibration text (cached). Returns its path and key.
struct ImatrixArtefact {
  std::string path, key;
  bool cached = false;
  double seconds = 0;
};
ImatrixArtefact imatrix_stage(const SweepConfig& cfg, const SweepCache& cache, const StageLog& log);

// Quantized GGUF of a quantize candidate (cached). `imatrix` may be null.
struct QuantizeArtefact {
  std::string path, key;
  bool cached = false;
  nlohmann::ordered_json info;  // file_bytes, bits_per_weight, method_summary, warnings, seconds
};
QuantizeArtefact quantize_stage(const SweepConfig& cfg, const CandidateSpec& spec, const ImatrixArtefact* imatrix,
                                const SweepCache& cache, const StageLog& log);

// `bitdial eval` of a model (a GGUF path or an endpoint) against the baseline (or alone when
// with_baseline is false): {"summary": ..., "examples": [...]} (cached).
struct EvalArtefact {
  std::string key;
  bool cached = false;
  nlohmann::ordered_json doc;
  double seconds = 0;
};
EvalArtefact eval_stage(const SweepConfig& cfg, const CandidateSpec& spec, const std::string& model,
                        const std::string& identity, bool with_baseline, const SweepCache& cache, const StageLog& log);

// `bitdial bench` of a GGUF with the traffic's request shape: prompt_tokens prefill, output_tokens
// decode, bench_reps repetitions (cached per machine).
struct BenchArtefact {
  std::string key;
  bool cached = false;
  nlohmann::ordered_json doc;  // docs/bench.md
  double seconds = 0;
};
BenchArtefact bench_stage(const SweepConfig& cfg, const std::string& model, const std::string& identity,
                          const SweepCache& cache, const StageLog& log);

}  // namespace bitdial
