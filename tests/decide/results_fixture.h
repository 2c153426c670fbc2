// A realistic results.json (docs/results.md) built in code for the report renderers' tests: a 1.1B model's
// F16 baseline and four quantized candidates on an L4, with task slices, floors, statistical power, a
// cascade and flips. Floors, passes and the decision are computed from the metrics the same way the
// sweep does, so variants only change the rules or remove data. Header-only: each test is its own binary.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace bitdial::test {

using ResultsJson = nlohmann::ordered_json;

struct FixtureModel {
  const char* name;
  const char* type;
  const char* method;
  double bpw, file_mb, acc, dacc, dlo, dhi;
  double short_d, short_lo, short_hi, long_d, long_lo, long_hi, rare_d, rare_lo, rare_hi;
  double agree, agree_lo, agree_hi;
  double kld, ppl, pp, tg, lat, p95, cost;
};

// Baseline first. Deltas are candidate minus baseline; intervals are the 95 % bounds. q2_k is smallest
// but not fastest (its dequantization costs more than the bytes it saves on this target), so the
// latency/size Pareto frontier is {q2_k, q4_k_m-gptq}.
inline const std::vector<FixtureModel>& fixture_models() {
  static const std::vector<FixtureModel> m = {
      {"f16", "F16", "", 16.0, 2098.4, 0.842, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 7.714, 410, 9.8, 1480,
       1560, 1180},
      {"q8_0", "Q8_0", "rtn", 8.50, 1115.2, 0.840, -0.002, -0.010, 0.006, -0.004, -0.019, 0.010, 0.000, -0.012, 0.012,
       0.000, -0.020, 0.017, 0.990, 0.979, 0.995, 0.0011, 7.721, 780, 17.9, 905, 960, 640},
      {"q5_k_m-imatrix", "Q5_K_M", "rtn", 5.69, 747.1, 0.835, -0.007, -0.017, 0.004, -0.012, -0.035, 0.011, -0.004,
       -0.020, 0.012, -0.017, -0.050, 0.017, 0.973, 0.955, 0.984, 0.0062, 7.792, 930, 25.4, 690, 735, 480},
      {"q4_k_m-gptq", "Q4_K_M", "gptq", 4.85, 636.0, 0.829, -0.013, -0.027, 0.000, -0.021, -0.048, 0.004, -0.009,
       -0.031, 0.011, -0.033, -0.083, 0.017, 0.951, 0.928, 0.967, 0.0171, 7.951, 1010, 29.6, 610, 655, 412},
      {"q2_k", "Q2_K", "rtn", 3.16, 413.5, 0.771, -0.071, -0.098, -0.046, -0.115, -0.171, -0.062, -0.052, -0.090,
       -0.016, -0.083, -0.150, -0.033, 0.861, 0.826, 0.890, 0.142, 10.43, 1190, 41.2, 640, 680, 336},
  };
  return m;
}

inline ResultsJson fixture_metric(double v, double lo, double hi) { return {{"value", v}, {"lo", lo}, {"hi", hi}}; }

inline ResultsJson fixture_candidate(const FixtureModel& f, bool baseline, bool tasks) {
  ResultsJson c;
  c["name"] = f.name;
  c["kind"] = baseline ? "baseline" : "quantize";
  c["type"] = f.type;
  if (!baseline) c["method"] = f.method, c["budget_bpw"] = nullptr;
  std::string key = std::string("5e1f") + std::to_string(static_cast<int>(f.bpw * 1000)) + "c0ffee";
  c["file"] = std::string("out/cache/") + key + "/model.gguf";
  c["key"] = key;
  c["cached"] = !baseline;
  c["file_bytes"] = static_cast<int64_t>(f.file_mb * 1024 * 1024);
  c["bits_per_weight"] = f.bpw;
  ResultsJson m = ResultsJson::object();
  if (tasks) {
    m["accuracy"] = fixture_metric(f.acc, f.acc - 0.034, f.acc + 0.031);
    if (!baseline) {
      m["accuracy_delta"] = fixture_metric(f.dacc, f.dlo, f.dhi);
      m["agreement"] = fixture_metric(f.agree, f.agree_lo, f.agree_hi);
      m["slice[short].accuracy_delta"] = fixture_metric(f.short_d, f.short_lo, f.short_hi);
      m["slice[long].accuracy_delta"] = fixture_metric(f.long_d, f.long_lo, f.long_hi);
      m["slice[rare_intent].accuracy_delta"] = fixture_metric(f.rare_d, f.rare_lo, f.rare_hi);
    }
  }
  if (!baseline) m["kld_mean"] = fixture_metric(f.kld, f.kld * 0.96, f.kld * 1.04);
  m["ppl"] = {{"value", f.ppl}, {"lo", f.ppl * 0.98}, {"hi", f.ppl * 1.02}};
  m["pp_tokens_per_s"] = {{"value", f.pp}};
  m["tg_tokens_per_s"] = {{"value", f.tg}};
  m["latency_ms"] = {{"value", f.lat}};
  m["p95_latency_ms"] = {{"value", f.p95}};
  m["file_mb"] = {{"value", f.file_mb}};
  m["bits_per_weight"] = {{"value", f.bpw}};
  m["cost_per_month"] = {{"value", f.cost}};
  c["metrics"] = m;
  c["floors"] = ResultsJson::array();
  c["passes"] = false;
  ResultsJson text = {{"file", "eval/wiki.txt"}, {"tokens", 24576}, {"ctx", 512}, {"chunks", 48},
                      {"ppl", {{"value", f.ppl}, {"se", f.ppl * 0.01}}}};
  if (!baseline)
    text["kld"] = {{"mean", f.kld},          {"se", f.kld * 0.02},    {"median", f.kld * 0.31},
                   {"p90", f.kld * 2.2},     {"p95", f.kld * 3.4},    {"p99", f.kld * 8.5},
                   {"p99_9", f.kld * 21.0},  {"max", f.kld * 64.0}};
  c["eval"] = {{"model", c["file"]}, {"texts", ResultsJson::array({text})}, {"tasks", ResultsJson::array()}};
  c["bench"] = {{"threads", 16}, {"pp", {{"tokens_per_s", {{"median", f.pp}}}}},
                {"tg", {{"tokens_per_s", {{"median", f.tg}}}}}};
  c["cost"] = {{"hardware", "L4"},         {"fits", true},       {"devices", 1},
               {"pp_tokens_per_s", f.pp * 6}, {"tg_tokens_per_s", f.tg * 5}, {"latency_ms", f.lat},
               {"p95_latency_ms", f.p95},  {"requests_per_s_per_device", 0.49}, {"cost_per_1m_tokens", f.cost / 1100},
               {"cost_per_month", f.cost}};
  c["flips"] = {{"to_wrong", ResultsJson::array()}, {"to_right", ResultsJson::array()}};
  if (tasks && !baseline && f.dacc < 0) {
    c["flips"]["to_wrong"] = {
        {{"id", "t17"}, {"input", "refund??"}, {"label", "refund"}, {"baseline", "refund"}, {"candidate", "billing"},
         {"tags", {"short"}}},
        {{"id", "t203"}, {"input", "order https://shop.example.com/o/991 never came <b>help</b>"}, {"label", "shipping"},
         {"baseline", "shipping"}, {"candidate", "refund"}, {"tags", {"long", "rare_intent"}}},
        {{"id", "t311"}, {"input", "cancel | stop plan"}, {"label", "cancel"}, {"baseline", "cancel"},
         {"candidate", "billing"}, {"tags", {"short"}}}};
    c["flips"]["to_right"] = {{{"id", "t42"}, {"input", "charged twice this month"}, {"label", "billing"},
                               {"baseline", "refund"}, {"candidate", "billing"}, {"tags", ResultsJson::array()}}};
  }
  c["seconds"] = {{"quantize", baseline ? 0.0 : 41.5}, {"eval", 96.0}, {"bench", 12.0}};
  return c;
}

inline ResultsJson fixture_rule(const std::string& metric, bool delta, const std::string& slice, const char* op,
                                double threshold) {
  std::string key = (slice.empty() ? "" : "slice[" + slice + "].") + metric + (delta ? "_delta" : "");
  char num[32];
  std::snprintf(num, sizeof num, "%g", threshold);
  ResultsJson r = {{"text", key + " " + op + " " + num}, {"key", key}, {"metric", metric}, {"delta", delta}};
  if (!slice.empty()) r["slice"] = slice;
  r["op"] = op;
  r["threshold"] = threshold;
  return r;
}

// Evaluates every rule on every candidate (ci mode: the 95 % bound on the failing side must hold), then
// picks the decision: the cheapest candidate holding every floor, else the one with the fewest failures.
inline void fixture_decide(ResultsJson& r) {
  bool ci = r["floors"]["mode"] == "ci";
  ResultsJson failed = ResultsJson::array();
  const ResultsJson* best = nullptr;
  const ResultsJson* effort = nullptr;
  size_t effort_fails = 0;
  double effort_short = 0;
  for (ResultsJson& c : r["candidates"]) {
    c["floors"] = ResultsJson::array();
    size_t fails = 0;
    double shortfall = 0;
    for (const ResultsJson& rule : r["floors"]["rules"]) {
      const ResultsJson& m = c["metrics"][rule["key"].get<std::string>()];
      bool ge = rule["op"] == ">=";
      double v = m["value"], bound = v;
      if (ci && m.contains("lo")) bound = ge ? m["lo"].get<double>() : m["hi"].get<double>();
      double t = rule["threshold"];
      double margin = std::round((ge ? bound - t : t - bound) * 1e6) / 1e6;
      ResultsJson f = {{"floor", rule["text"]}, {"value", v}, {"bound", bound}, {"pass", margin >= 0}, {"margin", margin}};
      c["floors"].push_back(f);
      if (margin < 0) {
        ++fails, shortfall += -margin;
        failed.push_back({{"candidate", c["name"]}, {"floor", rule["text"]}, {"value", v}, {"bound", bound},
                          {"margin", margin}});
      }
    }
    c["passes"] = fails == 0;
    if (fails == 0 && (!best || c["metrics"]["cost_per_month"]["value"] < (*best)["metrics"]["cost_per_month"]["value"]))
      best = &c;
    if (!effort || fails < effort_fails || (fails == effort_fails && shortfall < effort_short))
      effort = &c, effort_fails = fails, effort_short = shortfall;
  }
  size_t n_pass = 0;
  for (const ResultsJson& c : r["candidates"]) n_pass += c["passes"].get<bool>();
  r["decision"] = {{"status", best ? "chosen" : "none_passed"},
                   {"chosen", best ? (*best)["name"] : ResultsJson()},
                   {"best_effort", best ? ResultsJson() : (*effort)["name"]},
                   {"reason", best ? "smallest cost_per_month among the " + std::to_string(n_pass) +
                                         " candidates that hold every floor"
                                   : std::string("no candidate holds every floor")},
                   {"failed", failed}};
}

inline ResultsJson fixture_cascade(const std::string& candidate) {
  ResultsJson points = ResultsJson::array();
  const double t[] = {0, 0.5, 0.6, 0.62, 0.7, 0.8, 0.9};
  const double esc[] = {0, 0.04, 0.08, 0.11, 0.19, 0.33, 0.52};
  const double acc[] = {0.829, 0.834, 0.839, 0.842, 0.843, 0.843, 0.843};
  for (int i = 0; i < 7; ++i) {
    double d = acc[i] - 0.842;
    points.push_back({{"threshold", t[i]},
                      {"escalation_rate", esc[i]},
                      {"accuracy", acc[i]},
                      {"accuracy_delta", {{"value", d}, {"lo", d - 0.012}, {"hi", d + 0.009}}},
                      {"cost_per_month", std::round(412 + esc[i] * 1180 * 0.95)},
                      {"passes", d - 0.012 >= -0.03}});
  }
  return {{"candidate", candidate},
          {"confidence", "probability of the predicted choice (softmax over the choices' log-likelihoods)"},
          {"points", points},
          {"recommended", {{"threshold", 0.62}, {"escalation_rate", 0.11}, {"accuracy", 0.842},
                           {"cost_per_month", std::round(412 + 0.11 * 1180 * 0.95)}}}};
}

inline ResultsJson fixture_results(std::vector<ResultsJson> rules, bool tasks = true) {
  ResultsJson r;
  r["schema"] = "bitdial.sweep.results/1";
  r["created_utc"] = "2026-11-23T23:40:00Z";
  r["config"] = {{"path", "sweep.yaml"}, {"sha256", "9f2c4e71a0b3d5c6e8f90112233445566778899aabbccddeeff0011223344"}};
  r["seconds"] = 812.4;
  r["traffic"] = {{"requests_per_day", 50000}, {"prompt_tokens", 300}, {"output_tokens", 120}, {"utilization", 0.5}};
  r["target"] = {{"name", "L4"},         {"memory_gb", 24},     {"bandwidth_gb_s", 300},
                 {"tflops_fp16", 121},   {"tops_int8", 242},    {"dollars_per_hour", 0.8}};
  r["floors"] = {{"mode", "ci"}, {"rules", rules}};
  r["power"] = ResultsJson::array();
  if (tasks)
    for (const ResultsJson& rule : rules) {
      if (rule["metric"] != "accuracy") continue;
      bool slice = rule.contains("slice");
      int n = slice ? 120 : 480;
      double mdd = slice ? 0.071 : 0.028, allows = -rule["threshold"].get<double>();
      char w[160];
      std::snprintf(w, sizeof w, "%d examples detect a drop of %.1f points at 80 %% power; the floor allows %.1f", n,
                    100 * mdd, 100 * allows);
      r["power"].push_back({{"floor", rule["text"]}, {"n", n}, {"discordant_rate", slice ? 0.08 : 0.05},
                            {"min_detectable_drop", mdd}, {"sufficient", mdd <= allows}, {"warning", w}});
    }
  const auto& ms = fixture_models();
  r["baseline"] = fixture_candidate(ms[0], true, tasks);
  r["candidates"] = ResultsJson::array();
  for (size_t i = 1; i < ms.size(); ++i) r["candidates"].push_back(fixture_candidate(ms[i], false, tasks));
  fixture_decide(r);
  const ResultsJson& d = r["decision"];
  std::string pick = d["chosen"].is_string() ? d["chosen"].get<std::string>() : d["best_effort"].get<std::string>();
  r["cascade"] = tasks ? fixture_cascade(pick) : ResultsJson();
  r["serve_config"] = "out/serve.yaml";
  return r;
}

// q4_k_m-gptq is chosen; q2_k fails every floor; the short slice's floor is underpowered.
inline ResultsJson results_chosen() {
  return fixture_results({fixture_rule("accuracy", true, "", ">=", -0.03),
                          fixture_rule("accuracy", true, "short", ">=", -0.05),
                          fixture_rule("kld_mean", false, "", "<=", 0.05),
                          fixture_rule("p95_latency_ms", false, "", "<=", 1000)});
}

// Floors no candidate holds: q8_0 is the best effort (only its p95 latency fails, by 360 ms).
inline ResultsJson results_none_passed() {
  return fixture_results({fixture_rule("accuracy", true, "", ">=", -0.01),
                          fixture_rule("kld_mean", false, "", "<=", 0.005),
                          fixture_rule("p95_latency_ms", false, "", "<=", 600)});
}

// Texts only: no task metrics, slices, flips, power or cascade.
inline ResultsJson results_no_tasks() {
  return fixture_results({fixture_rule("kld_mean", false, "", "<=", 0.05),
                          fixture_rule("p95_latency_ms", false, "", "<=", 1000)},
                         false);
}

}  // namespace bitdial::test
