#include "bench/bench.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "bench/bandwidth.h"
#include "bench/compute_peak.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "model/session.h"

namespace bitdial {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint64_t matrix_bytes(const WeightView& w) { return w.row_stride() * static_cast<uint64_t>(w.rows); }

uint64_t peak_rss_bytes() {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

// The type with the most bytes among the matrices.
TensorType main_type(const LlamaModel& m) {
  std::map<TensorType, uint64_t> bytes;
  auto add = [&bytes](const WeightView& w) { bytes[w.type] += matrix_bytes(w); };
  add(m.token_embd());
  add(m.output());
  for (const LlamaLayer& l : m.layers())
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*w);
  const auto it = std::max_element(bytes.begin(), bytes.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return it->first;
}

bool is_float_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

std::vector<int32_t> random_tokens(std::mt19937_64& gen, int64_t n, int64_t n_vocab) {
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& id : t) id = dist(gen);
  return t;
}

// One pp repetition: n_prompt tokens in one batch from an empty cache -> tokens/s.
double time_prompt(Session& s, const std::vector<int32_t>& tokens) {
  s.reset();
  const auto t0 = Clock::now();
  (void)s.eval(tokens, /*all_logits=*/false);
  return static_cast<double>(tokens.size()) / seconds_since(t0);
}

// One tg repetition: one token at a time from an empty cache -> tokens/s.
double time_generate(Session& s, const std::vector<int32_t>& tokens) {
  s.reset();
  const auto t0 = Clock::now();
  for (const int32_t& id : tokens) (void)s.eval(std::span<const int32_t>(&id, 1), /*all_logits=*/false);
  return static_cast<double>(tokens.size()) / seconds_since(t0);
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  return buf;
}

std::string human_params(double p) {
  char buf[32];
  if (p >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", p / 1e9);
  else if (p >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", p / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f K", p / 1e3);
  return buf;
}

nlohmann::ordered_json stats_json(const RateStats& s) {
  return {{"median", s.median}, {"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min}, {"max", s.max}, {"samples", s.samples}};
}

}  // namespace

RateStats rate_stats(std::vector<double> samples) {
  BITDIAL_ASSERT(!samples.empty());
  RateStats r;
  r.samples = samples;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size(), m = n / 2;
  r.median = n % 2 ? samples[m] : 0.5 * (samples[m - 1] + samples[m]);
  r.min = samples.front();
  r.max = samples.back();
  double sum = 0;
  for (double x : samples) sum += x;
  r.mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double x : samples) ss += (x - r.mean) * (x - r.mean);
  r.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  return r;
}

uint64_t weight_bytes_per_token(const LlamaModel& m) {
  uint64_t total = matrix_bytes(m.output()) + m.token_embd().row_stride();
  for (const LlamaLayer& l : m.layers())
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) total += matrix_bytes(*w);
  return total;
}

double prompt_flops_per_token(const LlamaModel& m, int64_t n_prompt) {
  auto macs = [](const WeightView& w) { return static_cast<double>(w.rows) * static_cast<double>(w.cols); };
  double per_token = 0;
  for (const LlamaLayer& l : m.layers())
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) per_token += macs(*w);
  per_token += macs(m.output()) / static_cast<double>(n_prompt);
  const LlamaHparams& h = m.hparams();
  per_token += 2.0 * static_cast<double>(h.n_layer * h.n_head * h.head_dim) * static_cast<double>(n_prompt + 1) / 2.0;
  return 2.0 * per_token;
}

void validate_bench_options(const BenchOptions& opt) {
  if (opt.n_prompt < 1) fail("-p ", opt.n_prompt, ": the prompt test needs at least 1 token");
  if (opt.n_gen < 1) fail("-n ", opt.n_gen, ": the generation test needs at least 1 token");
  if (opt.reps < 1) fail("-r ", opt.reps, ": need at least 1 repetition");
  if (opt.threads < 0) fail("-t ", opt.threads, " is negative");
  constexpr int64_t kMaxTokens = int64_t{1} << 20;
  if (opt.n_prompt > kMaxTokens || opt.n_gen > kMaxTokens) fail("-p/-n: at most ", kMaxTokens, " tokens");
  if (opt.bandwidth_passes < 1) fail("bandwidth probe: ", opt.bandwidth_passes, " passes (need at least 1)");
  if (opt.fma_peak_passes < 1) fail("FMA-peak probe: ", opt.fma_peak_passes, " passes (need at least 1)");
}

BenchResult run_benchmark(const LlamaModel& model, const BenchOptions& opt) {
  validate_bench_options(opt);
  if (opt.threads > 0) omp_set_num_threads(opt.threads);

  BenchResult r;
  r.model_path = model.file().path();
  const GgufValue* name = model.file().find("general.name");
  r.model_name = name != nullptr && name->type() == GgufValueType::STRING ? name->as_string()
                                                                        : std::filesystem::path(r.model_path).filename().string();
  r.arch = model.hparams().arch;
  const TensorType type = main_type(model);
  r.type = type_name(type);
  for (const GgufTensorInfo& t : model.file().tensors()) {
    r.model_bytes += t.nbytes;
    r.params += static_cast<uint64_t>(t.n_elements());
  }
  r.threads = omp_get_max_threads();
  r.isa = isa_name(active_isa());
  r.n_prompt = opt.n_prompt;
  r.n_gen = opt.n_gen;
  r.reps = opt.reps;

  Session session(model, {.kv_type = KvType::f16, .n_ctx = std::max(opt.n_prompt, opt.n_gen)});
  std::mt19937_64 gen(opt.seed);
  const int64_t n_vocab = model.hparams().n_vocab;
  const std::vector<int32_t> prompt = random_tokens(gen, opt.n_prompt, n_vocab);
  const std::vector<int32_t> gen_tokens = random_tokens(gen, opt.n_gen, n_vocab);

  std::vector<double> pp, tg;
  (void)time_prompt(session, prompt);  // warm-up: page in the weights, size the buffers
  const bool fma_bound = is_float_type(type) && active_isa() == Isa::Avx2;
  r.pp_flops_per_token = prompt_flops_per_token(model, opt.n_prompt);
  for (int i = 0; i < opt.reps; ++i) {
    if (fma_bound) r.pp_fma_peak_flops_per_s.push_back(fma_peak_best(r.threads, kFmaPeakSteps, opt.fma_peak_passes));
    pp.push_back(time_prompt(session, prompt));
    if (fma_bound) {
      const double peak = r.pp_fma_peak_flops_per_s.back();
      r.pp_compute_efficiency_samples.push_back(peak > 0 ? r.pp_flops_per_token * pp.back() / peak : 0.0);
    }
  }
  if (!r.pp_compute_efficiency_samples.empty()) r.pp_compute_efficiency = rate_stats(r.pp_compute_efficiency_samples).median;
  (void)time_generate(session, {gen_tokens.front()});
  r.peak_rss_bytes = peak_rss_bytes();  // before the probe's buffer; the timed tg reps allocate nothing new

  ReadBandwidthProbe probe(opt.bandwidth_bytes, r.threads);
  r.weight_bytes_per_token = weight_bytes_per_token(model);
  std::vector<double> passes;
  for (int i = 0; i < opt.reps; ++i) {
    double best = 0;
    for (int p = 0; p < opt.bandwidth_passes; ++p) {
      passes.push_back(probe.pass());
      best = std::max(best, passes.back());
    }
    tg.push_back(time_generate(session, gen_tokens));
    r.tg_bandwidth_bytes_per_s.push_back(best);
    r.decode_efficiency_samples.push_back(best > 0 ? static_cast<double>(r.weight_bytes_per_token) * tg.back() / best : 0.0);
  }
  r.pp = rate_stats(pp);
  r.tg = rate_stats(tg);
  r.decode_efficiency = rate_stats(r.decode_efficiency_samples).median;

  const BandwidthResult bw = summarize_bandwidth(probe.buffer_bytes(), probe.threads(), std::move(passes));
  r.bandwidth_bytes_per_s = bw.best_bytes_per_s;
  r.bandwidth_median_bytes_per_s = bw.median_bytes_per_s;
  r.bandwidth_buffer_bytes = bw.buffer_bytes;
  r.bandwidth_passes = static_cast<int>(bw.pass_bytes_per_s.size());
  return r;
}

nlohmann::ordered_json bench_result_json(const BenchResult& r) {
  nlohmann::ordered_json j;
  j["model"] = {{"path", r.model_path}, {"name", r.model_name}, {"arch", r.arch},   {"type", r.type},
                {"bytes", r.model_bytes}, {"params", r.params}};
  j["threads"] = r.threads;
  j["isa"] = r.isa;
  j["reps"] = r.reps;
  j["pp"] = {{"test", "pp" + std::to_string(r.n_prompt)}, {"n_tokens", r.n_prompt}, {"tokens_per_s", stats_json(r.pp)}};
  j["tg"] = {{"test", "tg" + std::to_string(r.n_gen)}, {"n_tokens", r.n_gen}, {"tokens_per_s", stats_json(r.tg)}};
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["bandwidth"] = {{"bytes_per_s", r.bandwidth_bytes_per_s},
                    {"median_bytes_per_s", r.bandwidth_median_bytes_per_s},
                    {"buffer_bytes", r.bandwidth_buffer_bytes},
                    {"passes", r.bandwidth_passes},
                    {"per_tg_repetition", r.tg_bandwidth_bytes_per_s}};
  j["weight_bytes_per_token"] = r.weight_bytes_per_token;
  j["decode_efficiency"] = r.decode_efficiency;
  j["decode_efficiency_samples"] = r.decode_efficiency_samples;
  j["pp_flops_per_token"] = r.pp_flops_per_token;
  if (r.pp_compute_efficiency_samples.empty()) {
    j["fma_peak_flops_per_s"] = nullptr;
    j["pp_compute_efficiency"] = nullptr;
  } else {
    j["fma_peak_flops_per_s"] = {{"median", rate_stats(r.pp_fma_peak_flops_per_s).median}, {"per_pp_repetition", r.pp_fma_peak_flops_per_s}};
    j["pp_compute_efficiency"] = r.pp_compute_efficiency;
  }
  j["pp_compute_efficiency_samples"] = r.pp_compute_efficiency_samples;
  return j;
}

std::string bench_result_table(const BenchResult& r) {
  const std::string model = r.arch + " " + human_params(static_cast<double>(r.params));
  const std::string size = human_bytes(static_cast<double>(r.model_bytes));
  const std::string params = human_params(static_cast<double>(r.params));
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "| %-24s | %12s | %10s | %-6s | %7s | %8s | %20s |\n", "model", "size", "params", "type", "threads",
                "test", "t/s");
  out += line;
  out += "| ------------------------ | -----------: | ---------: | ------ | ------: | -------: | -------------------: |\n";
  for (const auto& [test, s] : {std::pair{"pp" + std::to_string(r.n_prompt), &r.pp}, std::pair{"tg" + std::to_string(r.n_gen), &r.tg}}) {
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.2f ± %.2f", s->median, s->stddev);
    std::snprintf(line, sizeof line, "| %-24s | %12s | %10s | %-6s | %7d | %8s | %21s |\n", model.c_str(), size.c_str(), params.c_str(),
                  r.type.c_str(), r.threads, test.c_str(), rate);
    out += line;
  }
  std::snprintf(line, sizeof line, "t/s: median ± sample stddev over %d repetitions (min %.2f / %.2f, max %.2f / %.2f for pp / tg); kernels: %s\n",
                r.reps, r.pp.min, r.tg.min, r.pp.max, r.tg.max, r.isa.c_str());
  out += line;
  std::snprintf(line, sizeof line, "peak RSS: %s\n", human_bytes(static_cast<double>(r.peak_rss_bytes)).c_str());
  out += line;
  std::snprintf(line, sizeof line, "memory read bandwidth: %.2f GB/s (best of %d passes over %s, probed before each tg repetition; median %.2f GB/s; %d threads)\n",
                r.bandwidth_bytes_per_s / 1e9, r.bandwidth_passes, human_bytes(static_cast<double>(r.bandwidth_buffer_bytes)).c_str(),
                r.bandwidth_median_bytes_per_s / 1e9, r.threads);
  out += line;
  const RateStats eff = rate_stats(r.decode_efficiency_samples);
  std::snprintf(line, sizeof line,
                "decode efficiency: %.1f%% (median over the tg repetitions of %s of weights per token x t/s / the bandwidth probed just before; "
                "%.1f-%.1f%%; %.2f GB/s at the median t/s)\n",
                100.0 * r.decode_efficiency, human_bytes(static_cast<double>(r.weight_bytes_per_token)).c_str(), 100.0 * eff.min,
                100.0 * eff.max, static_cast<double>(r.weight_bytes_per_token) * r.tg.median / 1e9);
  out += line;
  if (r.pp_compute_efficiency_samples.empty()) {
    std::snprintf(line, sizeof line, "prompt compute: %.1f GFLOP/s at the median t/s (%.3f GFLOP per token); efficiency against the FP32 FMA peak: only for f32/f16/bf16 weights on the avx2 path\n",
                  r.pp_flops_per_token * r.pp.median / 1e9, r.pp_flops_per_token / 1e9);
  } else {
    const RateStats ce = rate_stats(r.pp_compute_efficiency_samples);
    const RateStats peak = rate_stats(r.pp_fma_peak_flops_per_s);
    std::snprintf(line, sizeof line,
                  "prompt compute efficiency: %.1f%% (median over the pp repetitions of %.3f GFLOP per token x t/s / the FP32 FMA peak probed just before, "
                  "median %.1f GFLOP/s on %d threads; %.1f-%.1f%%; %.1f GFLOP/s at the median t/s)\n",
                  100.0 * r.pp_compute_efficiency, r.pp_flops_per_token / 1e9, peak.median / 1e9, r.threads, 100.0 * ce.min, 100.0 * ce.max,
                  r.pp_flops_per_token * r.pp.median / 1e9);
  }
  out += line;
  return out;
}

}  // namespace bitdial
