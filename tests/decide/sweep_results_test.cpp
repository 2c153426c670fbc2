// The sweep's judgement from cached eval JSON: the decision, metric tables from eval summaries (the
// shapes src/eval/evaluation.cpp writes), cascade examples from example rows, power inputs and
// serve.yaml. Every fixture is a small JSON literal built here.
#include "decide/sweep_results.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "decide/candidate_metrics.h"
#include "eval/statistics.h"

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;

constexpr double kZ95 = 1.959963984540054;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- decide() ----

const std::vector<Floor>& two_floors() {
  static const std::vector<Floor> f = {parse_floor("accuracy_delta >= -0.01", "t"), parse_floor("kld_mean <= 0.05", "t")};
  return f;
}

CandidateVerdict verdict(const std::string& name, double cost, uint64_t bytes, double accuracy_delta, double kld) {
  CandidateVerdict v;
  v.name = name;
  v.metrics = {{"accuracy_delta", Metric{accuracy_delta, {}, {}}}, {"kld_mean", Metric{kld, {}, {}}}};
  v.floors = check_floors(two_floors(), v.metrics, FloorMode::point);
  v.cost_per_month = cost;
  v.file_bytes = bytes;
  return v;
}

TEST(Decide, PicksTheCheapestPassingCandidate) {
  const Decision d = decide({verdict("q8_0", 300, 8000, 0.0, 0.01), verdict("q2_k", 100, 2000, -0.05, 0.2),
                             verdict("q4_k_m", 200, 4000, -0.005, 0.03)});
  EXPECT_EQ(d.status, "chosen");
  EXPECT_EQ(d.chosen, "q4_k_m");
  EXPECT_EQ(d.best_effort, "");
  EXPECT_EQ(d.failed.size(), 2u);  // q2_k's two floors
}

TEST(Decide, CostTieGoesToTheSmallerFile) {
  const Decision d = decide({verdict("big", 200, 5000, 0.0, 0.01), verdict("small", 200, 3000, 0.0, 0.01)});
  EXPECT_EQ(d.chosen, "small");
}

TEST(Decide, NonePassingNamesTheBestEffortAndEveryFailedFloor) {
  // a fails both floors; b fails one by 0.05; c fails one by 0.02 (the smallest shortfall).
  const Decision d = decide({verdict("a", 100, 1000, -0.02, 0.06), verdict("b", 100, 1000, -0.06, 0.01),
                             verdict("c", 300, 3000, -0.03, 0.01)});
  EXPECT_EQ(d.status, "none_passed");
  EXPECT_EQ(d.chosen, "");
  EXPECT_EQ(d.best_effort, "c");
  ASSERT_EQ(d.failed.size(), 4u);
  EXPECT_EQ(d.failed[0]["candidate"], "a");
  EXPECT_EQ(d.failed[0]["floor"], "accuracy_delta >= -0.01");
  EXPECT_NEAR(d.failed[0]["margin"].get<double>(), -0.01, 1e-12);
  EXPECT_EQ(d.failed[1]["floor"], "kld_mean <= 0.05");
  EXPECT_NEAR(d.failed[1]["margin"].get<double>(), -0.01, 1e-12);
  EXPECT_EQ(d.failed[2]["candidate"], "b");
  EXPECT_NEAR(d.failed[2]["margin"].get<double>(), -0.05, 1e-12);
  EXPECT_EQ(d.failed[3]["candidate"], "c");
  EXPECT_NEAR(d.failed[3]["margin"].get<double>(), -0.02, 1e-12);
  const json j = decision_json(d);
  EXPECT_TRUE(j["chosen"].is_null());
  EXPECT_EQ(j["best_effort"], "c");
}

// ---- quality_metrics() ----

json proportion_j(int64_t k, int64_t n) {
  const Proportion p = proportion(k, n);
  return {{"value", p.p}, {"se", p.se}, {"ci95", {p.lo, p.hi}}, {"k", p.k}, {"n", p.n}};
}

json slice_j(const std::string& tag, int64_t correct, int64_t n) {
  return {{"tag", tag}, {"n", n}, {"errors", 0}, {"scored", n}, {"accuracy", proportion_j(correct, n)}};
}

json paired_j(const std::string& tag, int64_t n, double delta, double lo, double hi, int64_t agree, int64_t b, int64_t c) {
  return {{"tag", tag},
          {"n", n},
          {"errors", 0},
          {"agreement", proportion_j(agree, n)},
          {"accuracy_baseline", 0.0},
          {"accuracy_candidate", 0.0},
          {"accuracy_delta", {{"value", delta}, {"ci95", {lo, hi}}, {"resamples", 1000}, {"seed", 0}}},
          {"mcnemar", {{"b_base_right_cand_wrong", b}, {"c_base_wrong_cand_right", c}, {"p_value", 0.5}}},
          {"flipped_to_wrong", json::array()},
          {"flipped_to_right", json::array()}};
}

// A summary of `bitdial eval` with a baseline: 100 task examples (80 right for the candidate, 82
// for the baseline; a "short" slice of 40) and one text with KL figures.
json eval_summary(bool kld_lower_bound = false) {
  json task = {{"file", "task.jsonl"}, {"name", "t"}, {"examples", 100}};
  task["candidate"] = {{"overall", slice_j("", 80, 100)}, {"slices", json::array({slice_j("short", 30, 40)})}};
  task["baseline"] = {{"overall", slice_j("", 82, 100)}, {"slices", json::array({slice_j("short", 33, 40)})}};
  task["paired"] = {{"overall", paired_j("", 100, -0.02, -0.05, 0.01, 94, 4, 2)},
                    {"slices", json::array({paired_j("short", 40, -0.075, -0.15, 0.0, 36, 4, 1)})}};
  json text = {{"file", "eval.txt"}, {"tokens", 4096}, {"ctx", 512}, {"chunks", 8}, {"scored_positions", 2048}};
  text["ppl"] = {{"value", 8.4}, {"se", 0.1}, {"mean_nll", std::log(8.4)}};
  text["baseline_ppl"] = {{"value", 8.0}, {"se", 0.1}, {"mean_nll", std::log(8.0)}};
  text["ppl_ratio"] = {{"value", 1.05}, {"se", 0.01}, {"se_from", "chunk means"}};
  text["kld"] = {{"mean", 0.02}, {"se", 0.001}, {"median", 0.01}, {"p90", 0.04},   {"p95", 0.06},
                 {"p99", 0.12},  {"p99_9", 0.3}, {"max", 0.9}};
  text["kld_lower_bound"] = kld_lower_bound;
  text["same_top1"] = proportion_j(1900, 2048);
  return {{"model", "cand.gguf"}, {"baseline", "base.gguf"}, {"texts", json::array({text})}, {"tasks", json::array({task})}};
}

// The baseline evaluated alone: no paired figures, no KL.
json baseline_summary() {
  json task = {{"file", "task.jsonl"}, {"name", "t"}, {"examples", 100}};
  task["candidate"] = {{"overall", slice_j("", 82, 100)}, {"slices", json::array({slice_j("short", 33, 40)})}};
  json text = {{"file", "eval.txt"}, {"tokens", 4096}, {"ctx", 512}, {"chunks", 8}, {"scored_positions", 2048}};
  text["ppl"] = {{"value", 8.0}, {"se", 0.1}, {"mean_nll", std::log(8.0)}};
  return {{"model", "base.gguf"}, {"baseline", nullptr}, {"texts", json::array({text})}, {"tasks", json::array({task})}};
}

TEST(QualityMetrics, AccuracyCarriesTheWilsonInterval) {
  const MetricTable t = quality_metrics(eval_summary());
  const Metric& a = t.at("accuracy");
  EXPECT_DOUBLE_EQ(a.value, 0.8);
  // Wilson 95 % for 80/100, by hand: centre 0.78890, half-width 0.07773.
  EXPECT_NEAR(*a.lo, 0.71117, 1e-4);
  EXPECT_NEAR(*a.hi, 0.86663, 1e-4);
}

TEST(QualityMetrics, AccuracyDeltaComesFromThePairedBootstrap) {
  const MetricTable t = quality_metrics(eval_summary());
  const Metric& d = t.at("accuracy_delta");
  EXPECT_DOUBLE_EQ(d.value, -0.02);
  EXPECT_DOUBLE_EQ(*d.lo, -0.05);
  EXPECT_DOUBLE_EQ(*d.hi, 0.01);
  EXPECT_DOUBLE_EQ(t.at("agreement").value, 0.94);
}

TEST(QualityMetrics, SliceFiguresUseSliceKeys) {
  const MetricTable t = quality_metrics(eval_summary());
  EXPECT_DOUBLE_EQ(t.at("slice[short].accuracy").value, 0.75);
  EXPECT_DOUBLE_EQ(t.at("slice[short].accuracy_delta").value, -0.075);
  EXPECT_DOUBLE_EQ(t.at("slice[short].agreement").value, 0.9);
  EXPECT_EQ(t.count("short.accuracy"), 0u);
}

TEST(QualityMetrics, KldMeanIntervalIsMeanPlusMinus196Se) {
  const MetricTable t = quality_metrics(eval_summary());
  const Metric& k = t.at("kld_mean");
  EXPECT_DOUBLE_EQ(k.value, 0.02);
  EXPECT_NEAR(*k.lo, 0.02 - kZ95 * 0.001, 1e-15);
  EXPECT_NEAR(*k.hi, 0.02 + kZ95 * 0.001, 1e-15);
  EXPECT_DOUBLE_EQ(t.at("kld_p95").value, 0.06);
  EXPECT_NEAR(*t.at("ppl").lo, 8.4 - kZ95 * 0.1, 1e-12);
}

TEST(QualityMetrics, KldLowerBoundHasNoInterval) {
  const MetricTable t = quality_metrics(eval_summary(/*kld_lower_bound=*/true));
  EXPECT_DOUBLE_EQ(t.at("kld_mean").value, 0.02);
  EXPECT_FALSE(t.at("kld_mean").has_interval());
}

// ---- add_self_comparison() / add_baseline_deltas() ----

TEST(AddSelfComparison, BaselineMatchesItselfOverallAndPerSlice) {
  MetricTable t = quality_metrics(baseline_summary());
  add_self_comparison(t);
  EXPECT_EQ(t.at("kld_mean").value, 0);
  EXPECT_EQ(t.at("same_top1").value, 1);
  EXPECT_EQ(t.at("accuracy_delta").value, 0);
  EXPECT_EQ(t.at("agreement").value, 1);
  EXPECT_EQ(t.at("slice[short].accuracy_delta").value, 0);
  EXPECT_EQ(t.at("slice[short].agreement").value, 1);
}

TEST(AddBaselineDeltas, AddsCandidateMinusBaseline) {
  MetricTable base = quality_metrics(baseline_summary());
  add_self_comparison(base);
  MetricTable cand = quality_metrics(eval_summary());
  add_baseline_deltas(cand, base);
  EXPECT_NEAR(cand.at("ppl_delta").value, 0.4, 1e-12);  // 8.4 - 8.0
}

TEST(AddBaselineDeltas, KeepsThePairedAccuracyDelta) {
  MetricTable base = quality_metrics(baseline_summary());
  add_self_comparison(base);
  MetricTable cand = quality_metrics(eval_summary());
  add_baseline_deltas(cand, base);
  EXPECT_DOUBLE_EQ(cand.at("accuracy_delta").value, -0.02);
  EXPECT_TRUE(cand.at("accuracy_delta").has_interval());
  EXPECT_DOUBLE_EQ(cand.at("slice[short].accuracy_delta").value, -0.075);
}

// ---- power_inputs() ----

TEST(PowerInputs, UseThePairedSlicesOfEveryCandidate) {
  const json a = eval_summary();
  json b = eval_summary();
  b["tasks"][0]["paired"]["overall"]["mcnemar"]["b_base_right_cand_wrong"] = 9;  // (9 + 2) / 100
  const std::vector<Floor> floors = {parse_floor("accuracy_delta >= -0.01", "t"), parse_floor("accuracy >= 0.75", "t"),
                                     parse_floor("slice[short].accuracy_delta >= -0.05", "t")};
  const auto in = power_inputs(floors, {&a, &b});
  EXPECT_EQ(in.at("accuracy_delta").n, 100);
  EXPECT_DOUBLE_EQ(*in.at("accuracy_delta").discordant_rate, 0.11);
  EXPECT_DOUBLE_EQ(*in.at("accuracy").baseline, 0.82);
  EXPECT_EQ(in.at("slice[short].accuracy_delta").n, 40);
  EXPECT_DOUBLE_EQ(*in.at("slice[short].accuracy_delta").discordant_rate, 0.125);  // (4 + 1) / 40
}

TEST(PowerInputs, NIsTheLargestWhateverTheCandidateOrder) {
  const json full = eval_summary();
  json partial = eval_summary();  // a remote candidate that lost 40 examples to errors
  partial["tasks"][0]["paired"]["overall"]["n"] = 60;
  const std::vector<Floor> floors = {parse_floor("accuracy_delta >= -0.01", "t")};
  EXPECT_EQ(power_inputs(floors, {&full, &partial}).at("accuracy_delta").n, 100);
  EXPECT_EQ(power_inputs(floors, {&partial, &full}).at("accuracy_delta").n, 100);
}

TEST(PowerInputs, AccuracyNormFloorGetsNoDiscordantRate) {
  const json a = eval_summary();
  const auto in = power_inputs({parse_floor("accuracy_norm_delta >= -0.01", "t")}, {&a});
  EXPECT_EQ(in.at("accuracy_norm_delta").n, 100);
  EXPECT_FALSE(in.at("accuracy_norm_delta").discordant_rate.has_value());
}

// ---- cascade_examples_from_rows() ----

json rows_fixture() {
  return json::parse(R"([
    {"task": "t", "id": "a", "line": 1, "tags": ["short"], "kind": "classification",
     "candidate": {"predicted": 1, "correct": false, "confidence": 0.55},
     "baseline": {"predicted": 0, "correct": true, "confidence": 0.9}},
    {"task": "t", "id": "b", "line": 2, "tags": [], "kind": "classification",
     "candidate": {"error": "timeout"},
     "baseline": {"predicted": 0, "correct": true, "confidence": 0.8}},
    {"task": "t", "id": "c", "line": 3, "tags": [], "kind": "classification",
     "candidate": {"predicted": 0, "correct": true, "confidence": 0.7},
     "baseline": {"error": "bad request"}},
    {"task": "t", "id": "d", "line": 4, "tags": ["gen"], "kind": "generation",
     "candidate": {"output": "Paris", "correct": true, "tokens": 2, "first_token_prob": 0.7, "mean_token_prob": 0.64},
     "baseline": {"output": "Paris", "correct": true, "tokens": 2, "first_token_prob": 0.9, "mean_token_prob": 0.95}}
  ])");
}

TEST(CascadeExamplesFromRows, SkipsRowsWithAnErrorOnEitherSide) {
  const auto ex = cascade_examples_from_rows(rows_fixture());
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_DOUBLE_EQ(ex[0].confidence, 0.55);  // the candidate's
  EXPECT_FALSE(ex[0].candidate_correct);
  EXPECT_TRUE(ex[0].baseline_correct);
  EXPECT_FALSE(ex[0].same_prediction);
  EXPECT_EQ(ex[0].tags, std::vector<std::string>{"short"});
}

TEST(CascadeExamplesFromRows, GenerationConfidenceIsTheMeanTokenProbability) {
  const auto ex = cascade_examples_from_rows(rows_fixture());
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_DOUBLE_EQ(ex[1].confidence, 0.64);
  EXPECT_TRUE(ex[1].same_prediction);
  EXPECT_EQ(ex[1].tags, std::vector<std::string>{"gen"});
}

// ---- serve_yaml() ----

json results_fixture(bool with_cascade) {
  json r = json::parse(R"({
    "config": {"path": "/work/sweep.yaml"},
    "baseline": {"name": "baseline", "kind": "baseline", "file": "/m/base.gguf"},
    "candidates": [
      {"name": "q8_0-rtn", "kind": "quantize", "file": "/m/q8.gguf", "metrics": {}},
      {"name": "q4_k_m-rtn", "kind": "quantize", "file": "/m/q4.gguf",
       "metrics": {"agreement": {"value": 0.95, "lo": 0.93, "hi": 0.97}}}
    ],
    "decision": {"status": "chosen", "chosen": "q4_k_m-rtn", "best_effort": null,
                 "reason": "smallest cost_per_month", "failed": []},
    "cascade": null
  })");
  if (with_cascade)
    r["cascade"] = {{"candidate", "q4_k_m-rtn"},
                    {"recommended", {{"threshold", 0.42}, {"escalation_rate", 0.125}, {"cost_per_month", 250}}}};
  return r;
}

TEST(ServeYaml, NamesTheChosenModelAndTheBaseline) {
  const std::string y = serve_yaml(results_fixture(false));
  EXPECT_TRUE(contains(y, "model: \"/m/q4.gguf\"")) << y;
  EXPECT_TRUE(contains(y, "model: \"/m/base.gguf\"")) << y;
  EXPECT_TRUE(contains(y, "primary: \"q4_k_m-rtn\"")) << y;
  EXPECT_TRUE(contains(y, "fallback: baseline")) << y;
  EXPECT_FALSE(contains(y, "/m/q8.gguf")) << y;
}

TEST(ServeYaml, CascadeThresholdOnlyWhenRecommended) {
  const std::string without = serve_yaml(results_fixture(false));
  EXPECT_FALSE(contains(without, "cascade:")) << without;
  EXPECT_FALSE(contains(without, "threshold")) << without;
  json r = results_fixture(true);
  const std::string with = serve_yaml(r);
  EXPECT_TRUE(contains(with, "threshold: 0.42")) << with;
  r["cascade"]["recommended"] = nullptr;
  EXPECT_FALSE(contains(serve_yaml(r), "threshold")) << serve_yaml(r);
}

TEST(ServeYaml, NonePassedServesTheBaselineAlone) {
  json r = results_fixture(true);
  r["decision"] = {{"status", "none_passed"}, {"chosen", nullptr}, {"best_effort", "q4_k_m-rtn"},
                   {"reason", "no candidate holds every floor"}, {"failed", json::array()}};
  const std::string y = serve_yaml(r);
  EXPECT_TRUE(contains(y, "model: \"/m/base.gguf\"")) << y;
  EXPECT_TRUE(contains(y, "backend: baseline")) << y;
  EXPECT_FALSE(contains(y, "q4")) << y;
  EXPECT_FALSE(contains(y, "threshold")) << y;
  EXPECT_FALSE(contains(y, "primary")) << y;
}

}  // namespace
}  // namespace bitdial
