// decision.md from a hand-built results.json: the choice with its cost and floor margins, floors as
// written, flips, power warnings, the cascade, monitoring thresholds derived from the evidence, the
// rollback plan, and, when nothing passed, every failing floor with its shortfall.
#include "decide/decision_record.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "results_fixture.h"

namespace bitdial {
namespace {

using test::ResultsJson;

bool has(const std::string& doc, const std::string& needle) { return doc.find(needle) != std::string::npos; }

// The lines of the section under "## title", up to the next "## " heading.
std::string section(const std::string& doc, const std::string& title) {
  size_t p = doc.find("\n## " + title + "\n");
  if (p == std::string::npos) return "";
  size_t q = doc.find("\n## ", p + 4);
  return doc.substr(p, q == std::string::npos ? std::string::npos : q - p);
}

TEST(DecisionRecord, StatesTheChoiceCostAndFloorMargins) {
  std::string md = render_decision_md(test::results_chosen());
  EXPECT_EQ(md.rfind("# Decision record: serve `q4_k_m-gptq`\n", 0), 0u);
  std::string d = section(md, "Decision");
  EXPECT_TRUE(has(d, "Serve **`q4_k_m-gptq`** (Q4_K_M / gptq, 4.85 bits/weight, 636 MiB) in place of the baseline `f16`"));
  EXPECT_TRUE(has(d, "smallest cost_per_month among the 3 candidates that hold every floor"));
  EXPECT_TRUE(has(d, "$412/month on L4 at the configured traffic, against $1,180 for the baseline: $768/month saved (65 %)"));
  EXPECT_TRUE(has(d, "all 4 hold"));
  // Margins: the accuracy floor holds by 0.3 points at its lower bound; latency by 345 ms.
  EXPECT_TRUE(has(d, "| `accuracy_delta >= -0.03` | -0.013 | -0.027 | +0.003 | holds |"));
  EXPECT_TRUE(has(d, "| `p95_latency_ms <= 1000` | 655 | 655 | +345 | holds |"));
}

TEST(DecisionRecord, QuotesFloorsAsWrittenAndTheMode) {
  std::string md = render_decision_md(test::results_chosen());
  EXPECT_TRUE(has(md, "```yaml\nfloors:\n  - accuracy_delta >= -0.03\n  - slice[short].accuracy_delta >= -0.05\n"
                      "  - kld_mean <= 0.05\n  - p95_latency_ms <= 1000\nmode: ci\n```"));
  EXPECT_TRUE(has(md, "Mode `ci`: a floor passes only when its 95 % confidence bound passes"));
}

TEST(DecisionRecord, ListsRejectedCandidatesWithShortfalls) {
  std::string s = section(render_decision_md(test::results_chosen()), "Candidates rejected");
  EXPECT_TRUE(has(s, "| `q2_k` | `kld_mean <= 0.05` | 0.142 | 0.148 | -0.098 |"));
  EXPECT_TRUE(has(s, "| `q2_k` | `slice[short].accuracy_delta >= -0.05` | -0.115 | -0.171 | -0.12 |"));
}

TEST(DecisionRecord, EvidenceAndSliceTables) {
  std::string md = render_decision_md(test::results_chosen());
  std::string e = section(md, "Evidence");
  EXPECT_TRUE(has(e, "| `q4_k_m-gptq` | quantize | Q4_K_M / gptq | 636.0 | 4.85 | 82.9 % | -1.3 [-2.7, 0.0] | 0.0171 |"));
  EXPECT_TRUE(has(e, "$412 | all hold, **chosen** |"));
  EXPECT_TRUE(has(e, "| `f16` | baseline | F16 | 2098.4 | 16.00 | 84.2 % | — | — |"));
  std::string s = section(md, "Accuracy difference per slice");
  EXPECT_TRUE(has(s, "| candidate | overall | short | long | rare_intent |"));
  EXPECT_TRUE(has(s, "| `q2_k` | -7.1 [-9.8, -4.6] | -11.5 [-17.1, -6.2] |"));
}

TEST(DecisionRecord, FlipsAreEscapedSoTablesHold) {
  std::string s = section(render_decision_md(test::results_chosen()), "Flips worth reading");
  EXPECT_TRUE(has(s, "### Baseline right, candidate wrong (3 shown)"));
  EXPECT_TRUE(has(s, "| `t311` | cancel \\| stop plan | cancel | cancel | billing | short |"));
  EXPECT_TRUE(has(s, "never came &lt;b&gt;help&lt;/b&gt; | shipping | shipping | refund | long, rare_intent |"));
  EXPECT_TRUE(has(s, "### Baseline wrong, candidate right (1 shown)"));
  // Every table row has the same number of unescaped cell separators.
  std::istringstream lines(s);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `t", 0) != 0) continue;
    size_t bars = 0;
    for (size_t i = 0; i < line.size(); ++i) bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    EXPECT_EQ(bars, 7u) << line;
  }
}

TEST(DecisionRecord, WarnsAboutUnderpoweredFloors) {
  std::string s = section(render_decision_md(test::results_chosen()), "Statistical power");
  EXPECT_TRUE(has(s, "**Warning:** too few examples for `slice[short].accuracy_delta >= -0.05`: 120 examples detect "
                     "a drop of 7.1 points at 80 % power; the floor allows 5.0"));
  EXPECT_TRUE(has(s, "- Enough data for `accuracy_delta >= -0.03`"));
}

TEST(DecisionRecord, RecommendsTheCascadeAgainstTheCandidateAlone) {
  std::string s = section(render_decision_md(test::results_chosen()), "Cascade recommendation");
  EXPECT_TRUE(has(s, "Serve `q4_k_m-gptq` and escalate to the baseline when its confidence is below **0.62**: 11.0 % "
                     "of requests escalate, accuracy 84.2 %, $535/month, against $412 for the candidate alone (+$123) "
                     "and $1,180 for the baseline alone."));
  EXPECT_TRUE(has(s, "| 0.62 (recommended) | 11.0 % | 84.2 % | 0.0 [-1.2, +0.9] | $535 | hold |"));
}

TEST(DecisionRecord, MonitoringThresholdsComeFromTheEvidence) {
  std::string s = section(render_decision_md(test::results_chosen()), "Monitoring plan");
  // Shadow agreement: the lower bound measured offline (95.1 % [92.8, 96.7]).
  EXPECT_TRUE(has(s, "| 95.1 % [92.8 %, 96.7 %] | below 92.8 % over the last 500 shadowed requests |"));
  // Escalation: 1.5x the recommended rate.
  EXPECT_TRUE(has(s, "| 11.0 % at threshold 0.62 | above 16.5 % for an hour |"));
  // p95 latency: the floor as written wins over 1.5x the projection.
  EXPECT_TRUE(has(s, "| p95 latency | 655 ms (projected) | above 1000 ms for 10 minutes | the floor as written |"));
  // Slices: the slice floor where one exists, else the measured lower bound.
  EXPECT_TRUE(has(s, "slice `short`: Δ accuracy vs baseline on shadowed labelled traffic | -2.1 [-4.8, +0.4] points | "
                     "below -5.0 points | the slice floor as written |"));
  EXPECT_TRUE(has(s, "slice `long`: Δ accuracy vs baseline on shadowed labelled traffic | -0.9 [-3.1, +1.1] points | "
                     "below -3.1 points | the lower 95 % bound measured offline |"));

  ResultsJson r = test::results_chosen();
  r["floors"]["rules"].erase(3);  // no latency floor: 1.5x the projected p95
  std::string s2 = section(render_decision_md(r), "Monitoring plan");
  EXPECT_TRUE(has(s2, "1.5x the projection: no floor was written"));
}

TEST(DecisionRecord, RollbackPlanKeepsTheBaseline) {
  std::string s = section(render_decision_md(test::results_chosen()), "Rollback plan");
  EXPECT_TRUE(has(s, "`out/serve.yaml` keeps the baseline `f16` as the control and the fallback"));
  EXPECT_TRUE(has(s, "`POST /admin/rollback`"));
  EXPECT_TRUE(has(s, "`bitdial serve -m out/cache/5e1f16000c0ffee/model.gguf`"));
  EXPECT_TRUE(has(s, "Keep the baseline file `out/cache/5e1f16000c0ffee/model.gguf`"));
  EXPECT_TRUE(has(s, "Automatic rollback"));
}

TEST(DecisionRecord, NonePassedListsFailingFloorsAndTheBestEffort) {
  std::string md = render_decision_md(test::results_none_passed());
  EXPECT_EQ(md.rfind("# Decision record: none passed\n", 0), 0u);
  std::string d = section(md, "Decision");
  EXPECT_TRUE(has(d, "**None passed.** No candidate held every floor, so the baseline `f16` stays in service."));
  EXPECT_TRUE(has(d, "Best effort: **`q8_0`** (Q8_0 / rtn, 8.5 bits/weight, $640/month) fails 1 of 3 floors"));
  EXPECT_TRUE(has(d, "| `p95_latency_ms <= 600` | 960 | 960 | -360 | **fails** |"));
  std::string w = section(md, "Why nothing passed");
  EXPECT_TRUE(has(w, "| `q8_0` | `p95_latency_ms <= 600` | 960 | 960 | -360 |"));
  EXPECT_TRUE(has(w, "| `q4_k_m-gptq` | `kld_mean <= 0.005` | 0.0171 | 0.0178 | -0.013 |"));
  EXPECT_TRUE(has(w, "| `q2_k` | `accuracy_delta >= -0.01` | -0.071 | -0.098 | -0.088 |"));
  EXPECT_TRUE(has(section(md, "Monitoring plan"), "Nothing ships by default. If `q8_0` is deployed anyway"));
}

TEST(DecisionRecord, WithoutTasksSaysWhatWasNotMeasured) {
  std::string md = render_decision_md(test::results_no_tasks());
  EXPECT_TRUE(has(section(md, "Accuracy difference per slice"), "Not measured: the sweep had no task data"));
  EXPECT_TRUE(has(section(md, "Cascade recommendation"), "Not measured: a cascade needs task data"));
  EXPECT_TRUE(has(section(md, "Statistical power"), "No accuracy-like floor was written"));
  EXPECT_TRUE(has(section(md, "Flips worth reading"), "### Baseline right, candidate wrong (0 shown)\n\nNone."));
  EXPECT_TRUE(has(section(md, "Evidence"), "| n/a | n/a |"));
}

TEST(DecisionRecord, EscapesUserNames) {
  ResultsJson r = test::results_chosen();
  r["candidates"][3]["name"] = "a|b<c>";
  for (ResultsJson& f : r["decision"]["failed"]) f["candidate"] = "a|b<c>";
  std::string md = render_decision_md(r);
  EXPECT_TRUE(has(md, "| `a\\|b<c>` | quantize |"));
  EXPECT_FALSE(has(md, "| a|b"));
}

TEST(DecisionRecord, SparseResultsStillRender) {
  ResultsJson r = {{"baseline", {{"name", "base"}, {"kind", "baseline"}}},
                   {"candidates", {{{"name", "c1"}, {"kind", "file"}}}},
                   {"decision", {{"status", "none_passed"}, {"chosen", nullptr}, {"best_effort", "c1"}}}};
  std::string md;
  ASSERT_NO_THROW(md = render_decision_md(r));
  EXPECT_TRUE(has(md, "Best effort: **`c1`**"));
  ASSERT_NO_THROW(render_decision_md(ResultsJson::object()));
}

TEST(DecisionRecord, IsDeterministic) {
  EXPECT_EQ(render_decision_md(test::results_chosen()), render_decision_md(test::results_chosen()));
}

}  // namespace
}  // namespace bitdial
