#include "decide/sweep.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "decide/candidate_metrics.h"
#include "decide/decision_record.h"
#include "decide/hardware_catalog.h"
#include "decide/memory_plan.h"
#include "decide/report_html.h"
#include "decide/sweep_config.h"
#include "decide/sweep_results.h"
#include "decide/sweep_stages.h"
#include "formats/gguf.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string default_out_dir(const std::string& config) {
  const fs::path p(config);
  return (p.parent_path() / (p.stem().string() + ".sweep")).string();
}

// An output folder belongs to one config: refuse to replace another config's decision unless asked.
void claim_out_dir(const std::string& dir, const SweepConfig& cfg, bool resume) {
  const fs::path stamp = fs::path(dir) / "sweep.json";
  if (fs::exists(stamp) && !resume) {
    json j;
    try {
      j = json::parse(read_file(stamp.string()));
    } catch (const std::exception&) {
    }
    if (j.value("config_sha256", "") != cfg.sha256)
      fail(dir, ": holds a sweep of another config (", j.value("config", std::string("?")),
           "); pass --resume to reuse its cache and replace its outputs, or choose another -o");
  } else if (!fs::exists(stamp) && fs::exists(dir) && !fs::is_empty(dir) && !resume) {
    fail(dir, ": exists and is not a sweep folder; choose another -o (or --resume to use it anyway)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, ": cannot create: ", ec.message());
  write_file_atomic(stamp.string(), json({{"config", cfg.path}, {"config_sha256", cfg.sha256}}).dump(1) + "\n");
}

// Overall progress: one line per stage with the share done and an ETA from the stages computed so far.
class StageProgress {
 public:
  StageProgress(std::FILE* out, int total) : out_(out), total_(total), t0_(Clock::now()) {}
  void begin(const std::string& what) {
    what_ = what;
    start_ = Clock::now();
  }
  void end(bool cached, int& computed, int& cached_count) {
    ++done_;
    if (cached) {
      ++cached_count;
    } else {
      ++computed;
      compute_seconds_ += since(start_);
      ++computed_here_;
    }
    if (out_ == nullptr) return;
    std::string eta = "";
    if (computed_here_ > 0 && done_ < total_) {
      const double per = compute_seconds_ / computed_here_;
      char b[64];
      std::snprintf(b, sizeof b, ", ETA %.0f s (at most)", per * (total_ - done_));
      eta = b;
    }
    std::fprintf(out_, "sweep [%d/%d] %s: %s (%.1f s elapsed%s)\n", done_, total_, what_.c_str(),
                 cached ? "cached" : "done", since(t0_), eta.c_str());
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  int total_, done_ = 0, computed_here_ = 0;
  double compute_seconds_ = 0;
  Clock::time_point t0_, start_;
  std::string what_;
};

const char* kind_name(CandidateSpec::Kind k) {
  switch (k) {
    case CandidateSpec::Kind::quantize: return "quantize";
    case CandidateSpec::Kind::file: return "file";
    case CandidateSpec::Kind::remote: return "remote";
  }
  return "?";
}

// Tensor bytes and bits per weight of a GGUF file.
std::pair<uint64_t, double> file_size_and_bpw(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  double bits = 0, weights = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    bits += 8.0 * static_cast<double>(t.nbytes);
    weights += static_cast<double>(t.n_elements());
  }
  return {static_cast<uint64_t>(fs::file_size(path)), weights > 0 ? bits / weights : 0};
}

}  // namespace

SweepOutcome run_sweep(const SweepOptions& o) {
  const auto t0 = Clock::now();
  SweepConfig cfg = load_sweep_config(o.config_path);
  if (o.threads >= 0) cfg.threads = o.threads;
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);

  // Everything that can be wrong with the config fails here, before any long work.
  std::vector<Floor> floors;
  for (const SweepFloorText& f : cfg.floors) floors.push_back(parse_floor(f.text, concat(cfg.path, ":", f.line)));
  const FloorMode mode = parse_floor_mode(cfg.mode, cfg.path);
  const HardwareCatalog catalog = load_hardware_catalog(cfg.catalogue);
  const HardwareSpec& target = catalog.get(cfg.target);
  const Traffic& traffic = cfg.traffic;
  validate_traffic(traffic);
  const ModelShape shape = shape_from_gguf(GgufFile::open(cfg.baseline));

  SweepOutcome out;
  out.dir = o.out_dir.empty() ? default_out_dir(cfg.path) : o.out_dir;
  claim_out_dir(out.dir, cfg, o.resume);
  const SweepCache cache(out.dir);
  const StageLog log{o.log, o.cancelled};
  const auto check_cancel = [&] {
    if (o.cancelled && o.cancelled()) fail("sweep interrupted; finished stages are cached in ", out.dir, "/cache");
  };

  bool any_quantize = false, any_calibrated = false;
  int total = 1 + (cfg.bench ? 1 : 0);  // baseline eval (+ bench)
  for (const CandidateSpec& s : cfg.candidates) {
    const bool local = s.kind != CandidateSpec::Kind::remote;
    total += 1 + (local && cfg.bench ? 1 : 0) + (s.kind == CandidateSpec::Kind::quantize ? 1 : 0);
    any_quantize |= s.kind == CandidateSpec::Kind::quantize;
    any_calibrated |= s.kind == CandidateSpec::Kind::quantize && (s.method != "rtn" || s.budget_bpw);
  }
  const bool use_imatrix = any_quantize && cfg.imatrix && !cfg.calib_text.empty();
  total += use_imatrix ? 1 : 0;
  (void)any_calibrated;
  StageProgress progress(o.log, total);

  // The baseline: evaluated alone (its own accuracy and perplexity) and benchmarked.
  CandidateSpec base_spec;
  base_spec.kind = CandidateSpec::Kind::file;
  base_spec.name = "baseline";
  base_spec.path = cfg.baseline;
  const std::string base_id = model_identity(base_spec, cfg.baseline);
  progress.begin("eval baseline");
  const EvalArtefact base_eval = eval_stage(cfg, base_spec, cfg.baseline, base_id, false, cache, log);
  progress.end(base_eval.cached, out.stages_computed, out.stages_cached);
  check_cancel();
  std::optional<BenchArtefact> base_bench;
  if (cfg.bench) {
    progress.begin("bench baseline");
    base_bench = bench_stage(cfg, cfg.baseline, base_id, cache, log);
    progress.end(base_bench->cached, out.stages_computed, out.stages_cached);
    check_cancel();
  }

  std::optional<ImatrixArtefact> imatrix;
  if (use_imatrix) {
    progress.begin("imatrix");
    imatrix = imatrix_stage(cfg, cache, log);
    progress.end(imatrix->cached, out.stages_computed, out.stages_cached);
    check_cancel();
  }

  // Measure every candidate.
  struct Measured {
    const CandidateSpec* spec = nullptr;
    std::string file;
    bool cached = true;
    json quantize_info;
    EvalArtefact eval;
    std::optional<BenchArtefact> bench;
    double quantize_seconds = 0;
  };
  std::vector<Measured> measured;
  for (const CandidateSpec& s : cfg.candidates) {
    Measured m;
    m.spec = &s;
    m.file = s.path;
    if (s.kind == CandidateSpec::Kind::quantize) {
      progress.begin("quantize " + s.name);
      const QuantizeArtefact q = quantize_stage(cfg, s, imatrix ? &*imatrix : nullptr, cache, log);
      progress.end(q.cached, out.stages_computed, out.stages_cached);
      check_cancel();
      m.file = q.path;
      m.cached &= q.cached;
      m.quantize_info = q.info;
      m.quantize_seconds = q.cached ? 0 : q.info.value("seconds", 0.0);
    }
    const std::string id = model_identity(s, m.file);
    progress.begin("eval " + s.name);
    m.eval = eval_stage(cfg, s, m.file, id, true, cache, log);
    progress.end(m.eval.cached, out.stages_computed, out.stages_cached);
    m.cached &= m.eval.cached;
    check_cancel();
    if (s.kind != CandidateSpec::Kind::remote && cfg.bench) {
      progress.begin("bench " + s.name);
      m.bench = bench_stage(cfg, m.file, id, cache, log);
      progress.end(m.bench->cached, out.stages_computed, out.stages_cached);
      m.cached &= m.bench->cached;
      check_cancel();
    }
    measured.push_back(std::move(m));
  }

  // Judge: metrics, cost, floors.
  const auto cost_of = [&](const json* bench) -> std::optional<CostEstimate> {
    if (bench == nullptr) return std::nullopt;
    return estimate_cost(measured_from_bench_json(*bench), shape, traffic, target);
  };
  MetricTable base_metrics = quality_metrics(base_eval.doc["summary"]);
  add_self_comparison(base_metrics);
  const auto [base_bytes, base_bpw] = file_size_and_bpw(cfg.baseline);
  add_speed_metrics(base_metrics, base_bench ? &base_bench->doc : nullptr, base_bytes, base_bpw);
  const std::optional<CostEstimate> base_cost = cost_of(base_bench ? &base_bench->doc : nullptr);
  if (base_cost) add_cost_metrics(base_metrics, *base_cost);

  json results;
  results["schema"] = "bitdial.sweep.results/1";
  results["created_utc"] = utc_now();
  results["config"] = {{"path", cfg.path}, {"sha256", cfg.sha256}};
  results["seconds"] = nullptr;
  results["traffic"] = traffic_json(traffic);
  results["target"] = hardware_json(target);
  results["floors"] = floors_json(floors, mode);

  const FloorsCheck base_floors = check_floors(floors, base_metrics, mode);
  results["baseline"] = {{"name", "baseline"},
                         {"kind", "baseline"},
                         {"file", cfg.baseline},
                         {"key", base_eval.key},
                         {"cached", base_eval.cached && (!base_bench || base_bench->cached)},
                         {"file_bytes", base_bytes},
                         {"bits_per_weight", base_bpw},
                         {"metrics", metric_table_json(base_metrics)},
                         {"floors", floor_results_json(base_floors.results)},
                         {"passes", base_floors.passes()},
                         {"eval", base_eval.doc["summary"]},
                         {"bench", base_bench ? base_bench->doc : json(nullptr)},
                         {"cost", base_cost ? cost_json(*base_cost) : json(nullptr)},
                         {"flips", {{"to_wrong", json::array()}, {"to_right", json::array()}}},
                         {"seconds", {{"eval", base_eval.cached ? 0.0 : base_eval.seconds},
                                      {"bench", base_bench && !base_bench->cached ? base_bench->seconds : 0.0}}}};

  std::vector<CandidateVerdict> verdicts;
  std::vector<const json*> eval_summaries;
  results["candidates"] = json::array();
  for (const Measured& m : measured) {
    const CandidateSpec& s = *m.spec;
    CandidateVerdict v;
    v.name = s.name;
    v.metrics = quality_metrics(m.eval.doc["summary"]);
    uint64_t bytes = 0;
    double bpw = 0;
    if (s.kind != CandidateSpec::Kind::remote) std::tie(bytes, bpw) = file_size_and_bpw(m.file);
    add_speed_metrics(v.metrics, m.bench ? &m.bench->doc : nullptr, bytes, bpw);
    const std::optional<CostEstimate> cost = cost_of(m.bench ? &m.bench->doc : nullptr);
    if (cost) add_cost_metrics(v.metrics, *cost);
    // A remote candidate's serving figures are what the user states about it.
    if (s.cost_per_month) v.metrics["cost_per_month"] = Metric{*s.cost_per_month, {}, {}};
    if (s.latency_ms) v.metrics["latency_ms"] = Metric{*s.latency_ms, {}, {}};
    if (s.p95_latency_ms) v.metrics["p95_latency_ms"] = Metric{*s.p95_latency_ms, {}, {}};
    add_baseline_deltas(v.metrics, base_metrics);
    v.floors = check_floors(floors, v.metrics, mode);
    v.cost_per_month = v.metrics.count("cost_per_month") ? v.metrics["cost_per_month"].value
                                                         : std::numeric_limits<double>::infinity();
    v.file_bytes = bytes;

    json c = {{"name", s.name}, {"kind", kind_name(s.kind)}};
    if (s.kind == CandidateSpec::Kind::quantize) {
      c["type"] = s.preset;
      c["method"] = s.method;
      c["budget_bpw"] = s.budget_bpw ? json(*s.budget_bpw) : json(nullptr);
    }
    c["file"] = m.file;
    c["key"] = s.kind == CandidateSpec::Kind::quantize ? json(fs::path(m.file).stem().string()) : json(m.eval.key);
    c["cached"] = m.cached;
    c["file_bytes"] = bytes ? json(bytes) : json(nullptr);
    c["bits_per_weight"] = bytes ? json(bpw) : json(nullptr);
    c["metrics"] = metric_table_json(v.metrics);
    c["floors"] = floor_results_json(v.floors.results);
    c["passes"] = v.floors.passes();
    c["eval"] = m.eval.doc["summary"];
    c["bench"] = m.bench ? m.bench->doc : json(nullptr);
    c["cost"] = cost ? cost_json(*cost) : json(nullptr);
    c["flips"] = flips_json(m.eval.doc, cfg.eval_task);
    if (!m.quantize_info.is_null()) c["quantize"] = m.quantize_info;
    c["seconds"] = {{"quantize", m.quantize_seconds},
                    {"eval", m.eval.cached ? 0.0 : m.eval.seconds},
                    {"bench", m.bench && !m.bench->cached ? m.bench->seconds : 0.0}};
    results["candidates"].push_back(std::move(c));
    verdicts.push_back(std::move(v));
  }
  for (const Measured& m : measured) eval_summaries.push_back(&m.eval.doc["summary"]);

  const Decision d = decide(verdicts);
  results["decision"] = decision_json(d);
  out.chosen = d.chosen;
  out.best_effort = d.best_effort;
  results["power"] = power_json(check_power(floors, power_inputs(floors, eval_summaries)));

  // Cascade for the chosen (or best-effort) candidate, from its task examples.
  results["cascade"] = nullptr;
  const std::string pick = !d.chosen.empty() ? d.chosen : d.best_effort;
  for (size_t i = 0; i < measured.size(); ++i) {
    if (measured[i].spec->name != pick) continue;
    const std::vector<CascadeExample> ex = cascade_examples_from_rows(measured[i].eval.doc["examples"]);
    const bool costs_known = std::isfinite(verdicts[i].cost_per_month) && base_metrics.count("cost_per_month");
    if (ex.empty() || !costs_known) break;
    const CascadeCosts costs{verdicts[i].cost_per_month, base_metrics["cost_per_month"].value};
    const CascadeResult cr =
        simulate_cascade(ex, costs, floors, mode, verdicts[i].metrics, CascadeOptions{.resamples = 2000, .seed = cfg.seed});
    results["cascade"] = cascade_json(cr, pick);
    const std::string kind = cascade_confidence_kind(measured[i].eval.doc["examples"]);
    results["cascade"]["confidence_kind"] = kind;
    if (kind != "choice_probability")
      results["cascade"]["confidence"] = kind == "mixed"
          ? "classification: probability of the predicted choice; generation: mean probability of the generated tokens"
          : "mean probability of the generated tokens";
  }
  results["serve_config"] = "serve.yaml";
  out.seconds = since(t0);
  results["seconds"] = out.seconds;

  // Outputs, each renamed into place when complete.
  write_file_atomic((fs::path(out.dir) / "results.json").string(), results.dump(1) + "\n");
  write_file_atomic((fs::path(out.dir) / "decision.md").string(), render_decision_md(results));
  write_file_atomic((fs::path(out.dir) / "report.html").string(), render_report_html(results));
  write_file_atomic((fs::path(out.dir) / "serve.yaml").string(), serve_yaml(results));
  return out;
}

}  // namespace bitdial
