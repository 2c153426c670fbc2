#include "decide/sweep_stages.h"

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "bench/bench.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "eval/evaluation.h"
#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/imatrix.h"
#include "quant/quantize_job.h"
#include "quant/recipe.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Bumped when a stage's algorithm changes what it produces, so old cache entries stop matching.
constexpr const char* kStageVersion = "bitdial-0.1.0/sweep-1";

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void say(const StageLog& log, const std::string& line) {
  if (log.log != nullptr) std::fprintf(log.log, "%s\n", line.c_str());
}

std::string text_identity(const std::string& path) { return path.empty() ? "" : file_digest(path); }

}  // namespace

SweepCache::SweepCache(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "cache", ec);
  if (ec) fail(dir_, ": cannot create the cache folder: ", ec.message());
  // A killed run (SIGKILL, power loss) cannot delete its temporaries; they are never read (only
  // complete files are renamed into place), so the next run removes them.
  for (const auto& e : fs::recursive_directory_iterator(fs::path(dir_) / "cache", ec)) {
    if (e.is_regular_file() && e.path().filename().string().find(".tmp.") != std::string::npos) {
      std::error_code rm;
      fs::remove(e.path(), rm);
    }
  }
}

std::string SweepCache::path(const std::string& stage, const std::string& key, const std::string& ext) const {
  const fs::path d = fs::path(dir_) / "cache" / stage;
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) fail(d.string(), ": cannot create: ", ec.message());
  return (d / (key + ext)).string();
}

std::optional<json> SweepCache::load_json(const std::string& stage, const std::string& key) const {
  const std::string p = path(stage, key, ".json");
  if (!fs::exists(p)) return std::nullopt;
  try {
    return json::parse(read_file(p));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void SweepCache::save_json(const std::string& stage, const std::string& key, const json& doc) const {
  write_file_atomic(path(stage, key, ".json"), doc.dump(1) + "\n");
}

std::string machine_id() {
  std::string model;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 1);
      break;
    }
  }
  return model + " x" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN));
}

std::string file_digest(const std::string& path) {
  // A sweep asks for the same files many times; hash each once per process (keyed by path, size, mtime).
  static std::mutex mu;
  static std::map<std::string, std::string> memo;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail(path, ": cannot read: ", ec.message());
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  const std::string k = path + "|" + std::to_string(size) + "|" + std::to_string(mtime);
  std::lock_guard<std::mutex> lock(mu);
  auto it = memo.find(k);
  if (it != memo.end()) return it->second;
  return memo[k] = sha256_file_hex(path);
}

std::string model_identity(const CandidateSpec& spec, const std::string& file) {
  if (spec.kind == CandidateSpec::Kind::remote) return "remote:" + spec.model_name + "@" + spec.path;
  return "sha256:" + file_digest(file);
}

ImatrixArtefact imatrix_stage(const SweepConfig& cfg, const SweepCache& cache, const StageLog& log) {
  ImatrixArtefact a;
  a.key = KeyBuilder()
              .add("stage", "imatrix")
              .add("version", kStageVersion)
              .add("model", file_digest(cfg.baseline))
              .add("calib", file_digest(cfg.calib_text))
              .add("ctx", static_cast<long long>(cfg.calib_ctx))
              .add("chunks", static_cast<long long>(cfg.calib_chunks))
              .hex();
  a.path = cache.path("imatrix", a.key, ".gguf");
  if (fs::exists(a.path)) {
    a.cached = true;
    return a;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const LlamaModel model = LlamaModel::load(cfg.baseline);
  const CalibrationSet calib = load_calibration(model, cfg.calib_text, cfg.calib_ctx, cfg.calib_chunks);
  ImatrixCollector collector(model);
  run_calibration(model, calib, collector, CalibrationRunOptions{.progress = log.log, .label = "imatrix"});
  Imatrix& im = collector.result();
  im.calib_source = cfg.calib_text;
  im.n_ctx = calib.n_ctx;
  im.n_chunks = static_cast<int64_t>(calib.chunks.size());
  for (const std::string& p : imatrix_coverage_problems(im, model, 1)) say(log, "warning: imatrix: " + p);
  im.save(a.path);
  a.seconds = since(t0);
  return a;
}

QuantizeArtefact quantize_stage(const SweepConfig& cfg, const CandidateSpec& spec, const ImatrixArtefact* imatrix,
                                const SweepCache& cache, const StageLog& log) {
  const bool calibrated = spec.method != "rtn" || spec.budget_bpw.has_value();
  KeyBuilder kb;
  kb.add("stage", "quantize").add("version", kStageVersion).add("model", file_digest(cfg.baseline));
  kb.add("preset", spec.preset).add("method", spec.method);
  kb.add("budget_bpw", spec.budget_bpw ? *spec.budget_bpw : -1.0);
  for (const std::string& o : spec.overrides) kb.add("override", o);
  kb.add("imatrix", imatrix ? imatrix->key : "");
  if (calibrated) {
    kb.add("calib", file_digest(cfg.calib_text))
        .add("ctx", static_cast<long long>(cfg.calib_ctx))
        .add("chunks", static_cast<long long>(cfg.calib_chunks));
  }
  QuantizeArtefact a;
  a.key = kb.hex();
  a.path = cache.path("quantize", a.key, ".gguf");
  if (fs::exists(a.path)) {
    if (std::optional<json> info = cache.load_json("quantize", a.key)) {
      a.cached = true;
      a.info = std::move(*info);
      return a;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeJob job;
  job.in = cfg.baseline;
  job.out = a.path;
  job.write.recipe.preset = spec.preset;
  for (const std::string& o : spec.overrides) job.write.recipe.overrides.push_back(parse_type_override(o));
  job.write.threads = cfg.threads;
  job.gptq.n_threads = cfg.threads;
  std::vector<std::string> warnings;
  job.write.warn = [&](const std::string& w) { warnings.push_back(w); };
  job.write.cancelled = log.cancelled;
  job.imatrix_path = imatrix ? imatrix->path : "";
  job.method = parse_quant_method(spec.method);
  if (calibrated) {
    job.calib_path = cfg.calib_text;
    job.calib_ctx = cfg.calib_ctx;
    job.calib_chunks = cfg.calib_chunks;
  }
  job.budget_bpw = spec.budget_bpw;
  job.log = log.log;
  const QuantizeJobResult r = run_quantize_job(job);
  for (const std::string& w : r.warnings) warnings.push_back(w);
  a.info = {{"file_bytes", r.file_bytes},
            {"bits_per_weight", r.plan.bits_per_weight()},
            {"file_type", r.plan.file_type},
            {"method_summary", r.method_summary},
            {"fallbacks", r.plan.fallback_summary()},
            {"warnings", warnings},
            {"seconds", since(t0)}};
  if (r.budget) {
    a.info["budget"] = {{"predicted_kld", r.budget->predicted},
                        {"measured_kld", r.budget->measured ? json(*r.budget->measured) : json(nullptr)}};
  }
  // The info file is written after the model: a model without its info is recomputed.
  cache.save_json("quantize", a.key, a.info);
  return a;
}

EvalArtefact eval_stage(const SweepConfig& cfg, const CandidateSpec& spec, const std::string& model,
                        const std::string& identity, bool with_baseline, const SweepCache& cache, const StageLog& log) {
  EvalArtefact a;
  a.key = KeyBuilder()
              .add("stage", "eval")
              .add("version", kStageVersion)
              .add("model", identity)
              .add("baseline", with_baseline ? file_digest(cfg.baseline) : "")
              .add("text", text_identity(cfg.eval_text))
              .add("task", text_identity(cfg.eval_task))
              .add("ctx", static_cast<long long>(cfg.eval_ctx))
              .add("resamples", static_cast<long long>(cfg.resamples))
              .add("seed", static_cast<long long>(cfg.seed))
              .hex();
  if (std::optional<json> doc = cache.load_json("eval", a.key)) {
    a.cached = true;
    a.doc = std::move(*doc);
    return a;
  }
  const auto t0 = std::chrono::steady_clock::now();
  EvalOptions o;
  o.model = model;
  if (with_baseline) o.baseline = cfg.baseline;
  if (spec.kind == CandidateSpec::Kind::remote) {
    o.model_name = spec.model_name;
    o.api_key_env = spec.api_key_env;
  }
  if (!cfg.eval_text.empty()) o.texts.push_back(cfg.eval_text);
  if (!cfg.eval_task.empty()) o.tasks.push_back(cfg.eval_task);
  o.n_ctx = cfg.eval_ctx;
  o.resamples = cfg.resamples;
  o.seed = cfg.seed;
  o.progress = log.log;
  EvalOutput out = run_evaluation(o);
  a.doc = {{"summary", std::move(out.summary)}, {"examples", out.examples.empty() ? json::array() : json(out.examples[0])}};
  a.seconds = since(t0);
  a.doc["seconds"] = a.seconds;
  cache.save_json("eval", a.key, a.doc);
  return a;
}

BenchArtefact bench_stage(const SweepConfig& cfg, const std::string& model, const std::string& identity,
                          const SweepCache& cache, const StageLog& log) {
  BenchArtefact a;
  a.key = KeyBuilder()
              .add("stage", "bench")
              .add("version", kStageVersion)
              .add("model", identity)
              .add("machine", machine_id())
              .add("threads", static_cast<long long>(cfg.threads))
              .add("prompt", static_cast<long long>(cfg.traffic.prompt_tokens))
              .add("output", static_cast<long long>(cfg.traffic.output_tokens))
              .add("reps", static_cast<long long>(cfg.bench_reps))
              .hex();
  if (std::optional<json> doc = cache.load_json("bench", a.key)) {
    a.cached = true;
    a.doc = std::move(*doc);
    return a;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const LlamaModel m = LlamaModel::load(model);
  if (cfg.traffic.prompt_tokens + cfg.traffic.output_tokens > m.hparams().n_ctx_train)
    fail(cfg.path, ": traffic prompt_tokens + output_tokens = ", cfg.traffic.prompt_tokens + cfg.traffic.output_tokens,
         " do not fit the model's context of ", m.hparams().n_ctx_train, " tokens (", model, ")");
  BenchOptions o;
  o.n_prompt = cfg.traffic.prompt_tokens;
  o.n_gen = cfg.traffic.output_tokens;
  o.threads = cfg.threads;
  o.reps = cfg.bench_reps;
  // The bandwidth probe only feeds decode efficiency; a smaller buffer and fewer passes keep it short.
  o.bandwidth_bytes = uint64_t{256} << 20;
  o.bandwidth_passes = 1;  // per tg repetition
  o.fma_peak_passes = 1;   // per pp repetition (float weights)
  if (log.log != nullptr) std::fprintf(log.log, "bench %s: pp%lld tg%lld x %d\n", model.c_str(),
                                       static_cast<long long>(o.n_prompt), static_cast<long long>(o.n_gen), o.reps);
  const BenchResult r = run_benchmark(m, o);
  a.doc = bench_result_json(r);
  a.seconds = since(t0);
  cache.save_json("bench", a.key, a.doc);
  return a;
}

}  // namespace bitdial
