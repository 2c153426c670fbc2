// Cascade simulation on a hand-made 10-example set whose escalation, accuracy and cost at every
// threshold are worked out below; the interval of each point is checked against the existing paired
// bootstrap run directly on the cascade's correctness.
#include "decide/cascade.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "eval/statistics.h"

namespace bitdial {
namespace {

//  i  conf  cand base same tags
//  0  0.30   0    1    0   short
//  1  0.40   0    0    1   short
//  2  0.50   1    1    1
//  3  0.50   0    1    0   short
//  4  0.60   1    0    0
//  5  0.70   1    1    1   long
//  6  0.80   1    1    1   long
//  7  0.90   1    1    1
//  8  0.95   0    0    1   long
//  9  0.99   1    1    1
// Candidate alone 6/10, baseline 7/10. Thresholds 0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1
// escalate 0, 1, 2, 4, 5, ..., 10 examples; cascade right = baseline right among the escalated +
// candidate right among the rest: 6, 7, 7, 8, 7, 7, 7, 7, 7, 7.
std::vector<CascadeExample> ten_examples() {
  const double conf[] = {0.30, 0.40, 0.50, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 0.99};
  const bool cand[] = {0, 0, 1, 0, 1, 1, 1, 1, 0, 1};
  const bool base[] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1};
  const bool same[] = {0, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  const char* tag[] = {"short", "short", "", "short", "", "long", "long", "", "long", ""};
  std::vector<CascadeExample> ex(10);
  for (size_t i = 0; i < 10; ++i) {
    ex[i] = CascadeExample{conf[i], cand[i], base[i], same[i], {}};
    if (*tag[i]) ex[i].tags.push_back(tag[i]);
  }
  return ex;
}

const CascadeCosts kCosts{100, 1000};  // cost = 100 + escalation_rate * 1000

CascadeResult simulate(const std::vector<std::string>& floor_texts, FloorMode mode = FloorMode::point,
                       const CascadeCosts& costs = kCosts, const MetricTable& fixed = {}, int resamples = 500) {
  std::vector<Floor> floors;
  for (const std::string& t : floor_texts) floors.push_back(parse_floor(t, "test"));
  const auto ex = ten_examples();
  return simulate_cascade(ex, costs, floors, mode, fixed, CascadeOptions{resamples, 7});
}

std::vector<uint8_t> column(bool CascadeExample::*field) {
  std::vector<uint8_t> out;
  for (const CascadeExample& e : ten_examples()) out.push_back(e.*field);
  return out;
}

TEST(SimulateCascade, ThresholdsAreZeroEachDistinctConfidenceAboveTheSmallestAndOne) {
  const CascadeResult r = simulate({});
  std::vector<double> t;
  for (const CascadePoint& p : r.points) t.push_back(p.threshold);
  EXPECT_EQ(t, (std::vector<double>{0, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 0.99, 1.0}));
}

TEST(SimulateCascade, EscalationAccuracyAndCostAtEveryThreshold) {
  const CascadeResult r = simulate({});
  const int64_t escalated[] = {0, 1, 2, 4, 5, 6, 7, 8, 9, 10};
  const int right[] = {6, 7, 7, 8, 7, 7, 7, 7, 7, 7};
  ASSERT_EQ(r.points.size(), 10u);
  for (size_t p = 0; p < 10; ++p) {
    EXPECT_EQ(r.points[p].escalated, escalated[p]) << p;
    EXPECT_DOUBLE_EQ(r.points[p].escalation_rate, escalated[p] / 10.0) << p;
    EXPECT_DOUBLE_EQ(r.points[p].accuracy, right[p] / 10.0) << p;
    EXPECT_NEAR(r.points[p].accuracy_delta.value, (right[p] - 7) / 10.0, 1e-15) << p;
    EXPECT_DOUBLE_EQ(r.points[p].cost_per_month, 100 + escalated[p] * 100.0) << p;
  }
}

TEST(SimulateCascade, ThresholdZeroEqualsTheCandidateAlone) {
  const CascadeResult r = simulate({});
  const BootstrapDelta alone = bootstrap_accuracy_delta(column(&CascadeExample::baseline_correct),
                                                        column(&CascadeExample::candidate_correct), 500, 7);
  const CascadePoint& p = r.points.front();
  EXPECT_EQ(p.escalated, 0);
  EXPECT_DOUBLE_EQ(p.accuracy, 0.6);
  EXPECT_DOUBLE_EQ(p.accuracy_delta.value, alone.delta);
  EXPECT_DOUBLE_EQ(*p.accuracy_delta.lo, alone.lo);
  EXPECT_DOUBLE_EQ(*p.accuracy_delta.hi, alone.hi);
  EXPECT_DOUBLE_EQ(p.metrics.at("agreement").value, 0.7);
  EXPECT_DOUBLE_EQ(p.cost_per_month, 100);
}

TEST(SimulateCascade, MaxThresholdEqualsTheBaselineAlone) {
  const CascadePoint p = simulate({}).points.back();
  EXPECT_DOUBLE_EQ(p.escalation_rate, 1);
  EXPECT_DOUBLE_EQ(p.accuracy, 0.7);
  EXPECT_EQ(p.accuracy_delta.value, 0);
  EXPECT_EQ(*p.accuracy_delta.lo, 0);
  EXPECT_EQ(*p.accuracy_delta.hi, 0);
  EXPECT_DOUBLE_EQ(p.metrics.at("agreement").value, 1);
  EXPECT_DOUBLE_EQ(p.cost_per_month, 1100);
}

TEST(SimulateCascade, IntervalAtEachPointEqualsThePairedBootstrapOfTheCascade) {
  const CascadeResult r = simulate({});
  const auto ex = ten_examples();
  for (const CascadePoint& p : r.points) {
    std::vector<uint8_t> base, cascade;
    for (const CascadeExample& e : ex) {
      base.push_back(e.baseline_correct);
      cascade.push_back(e.confidence < p.threshold ? e.baseline_correct : e.candidate_correct);
    }
    const BootstrapDelta want = bootstrap_accuracy_delta(base, cascade, 500, 7);
    EXPECT_DOUBLE_EQ(*p.accuracy_delta.lo, want.lo) << p.threshold;
    EXPECT_DOUBLE_EQ(*p.accuracy_delta.hi, want.hi) << p.threshold;
  }
}

TEST(SimulateCascade, IntervalsMatchThePairedBootstrapOnARandomSet) {
  // 300 examples from a seeded generator, with ties in confidence and two overlapping tags: the
  // one-pass bootstrap must reproduce bootstrap_accuracy_delta point by point and slice by slice.
  std::mt19937_64 rng(42);
  std::vector<CascadeExample> ex(300);
  for (CascadeExample& e : ex) {
    e.confidence = static_cast<double>(rng() % 50) / 50;
    e.baseline_correct = rng() % 10 < 8;
    e.candidate_correct = e.confidence > 0.3 ? e.baseline_correct : rng() % 2;
    e.same_prediction = e.candidate_correct == e.baseline_correct;
    if (rng() % 3 == 0) e.tags.push_back("a");
    if (rng() % 4 == 0) e.tags.push_back("b");
  }
  const CascadeResult r = simulate_cascade(ex, kCosts, {}, FloorMode::point, {}, CascadeOptions{300, 11});
  ASSERT_GT(r.points.size(), 40u);
  for (const CascadePoint& p : r.points) {
    for (const std::string tag : {"", "a", "b"}) {
      std::vector<uint8_t> base, cascade;
      for (const CascadeExample& e : ex) {
        if (!tag.empty() && (e.tags.empty() || (e.tags[0] != tag && e.tags.back() != tag))) continue;
        base.push_back(e.baseline_correct);
        cascade.push_back(e.confidence < p.threshold ? e.baseline_correct : e.candidate_correct);
      }
      const BootstrapDelta want = bootstrap_accuracy_delta(base, cascade, 300, 11);
      const Metric& got = p.metrics.at(tag.empty() ? "accuracy_delta" : "slice[" + tag + "].accuracy_delta");
      ASSERT_DOUBLE_EQ(got.value, want.delta) << tag << " " << p.threshold;
      ASSERT_DOUBLE_EQ(*got.lo, want.lo) << tag << " " << p.threshold;
      ASSERT_DOUBLE_EQ(*got.hi, want.hi) << tag << " " << p.threshold;
    }
  }
}

TEST(SimulateCascade, BlocksOfPointsGiveTheSameIntervalsAsOnePass) {
  // 1e6 resamples exceed the 2^23-cell budget for 10 points: two blocks replay the same draws.
  const CascadeResult r = simulate({}, FloorMode::point, kCosts, {}, 1'000'000);
  const CascadePoint& p = r.points[9 - 1];  // threshold 0.99, in the second block
  std::vector<uint8_t> base = column(&CascadeExample::baseline_correct), cascade = base;
  cascade[9] = 1;  // only example 9 is kept, and the candidate has it right too
  const BootstrapDelta want = bootstrap_accuracy_delta(base, cascade, 1'000'000, 7);
  EXPECT_DOUBLE_EQ(*p.accuracy_delta.lo, want.lo);
  EXPECT_DOUBLE_EQ(*p.accuracy_delta.hi, want.hi);
}

TEST(SimulateCascade, SliceFiguresUseTheSlicesExamples) {
  // short = examples 0, 1, 3: candidate 0/3, baseline 2/3; all escalated from threshold 0.6 on.
  const CascadeResult r = simulate({});
  EXPECT_NEAR(r.points[0].metrics.at("slice[short].accuracy_delta").value, -2.0 / 3, 1e-15);
  EXPECT_DOUBLE_EQ(r.points[0].metrics.at("slice[short].accuracy").value, 0.0);
  EXPECT_DOUBLE_EQ(r.points[3].metrics.at("slice[short].accuracy").value, 2.0 / 3);
  EXPECT_EQ(r.points[3].metrics.at("slice[short].accuracy_delta").value, 0);
  // long = 5, 6, 8: the candidate matches the baseline everywhere.
  EXPECT_EQ(r.points[0].metrics.at("slice[long].accuracy_delta").value, 0);
}

TEST(SimulateCascade, RecommendedIsTheCheapestPassingPoint) {
  // accuracy_delta >= 0 holds from threshold 0.4 on (point mode); the cheapest of those is 0.4.
  const CascadeResult r = simulate({"accuracy_delta >= 0"});
  EXPECT_FALSE(r.points[0].passes);
  ASSERT_TRUE(r.recommended);
  EXPECT_DOUBLE_EQ(r.points[*r.recommended].threshold, 0.4);
  EXPECT_DOUBLE_EQ(r.points[*r.recommended].cost_per_month, 200);
}

TEST(SimulateCascade, OnlyPointHoldingEveryFloorIsRecommended) {
  const CascadeResult r = simulate({"accuracy >= 0.75"});  // only threshold 0.6 reaches 8/10
  ASSERT_TRUE(r.recommended);
  EXPECT_DOUBLE_EQ(r.points[*r.recommended].threshold, 0.6);
}

TEST(SimulateCascade, EqualCostTiesGoToTheLowerThreshold) {
  const CascadeResult r = simulate({"slice[short].accuracy_delta >= 0"}, FloorMode::point, CascadeCosts{100, 0});
  ASSERT_TRUE(r.recommended);
  EXPECT_DOUBLE_EQ(r.points[*r.recommended].threshold, 0.6);  // first point with every short example escalated
}

TEST(SimulateCascade, CostFloorUsesTheCascadesCost) {
  // accuracy_delta >= 0 from 0.4; cost <= 150 only at threshold 0: nothing holds both.
  EXPECT_FALSE(simulate({"accuracy_delta >= 0", "cost_per_month <= 150"}).recommended);
  EXPECT_DOUBLE_EQ(simulate({}).points[1].metrics.at("cost_per_month_delta").value, 200.0 - 1000.0);
}

TEST(SimulateCascade, NonePassingGivesNoRecommendation) {
  const CascadeResult r = simulate({"accuracy >= 0.9"});
  EXPECT_FALSE(r.recommended);
  EXPECT_TRUE(cascade_json(r, "q4").at("recommended").is_null());
}

TEST(SimulateCascade, FixedFiguresAreKeptAndAccuracyLikeOnesReplaced) {
  MetricTable fixed;
  fixed["kld_mean"] = Metric{0.01, 0.009, 0.011};
  fixed["accuracy"] = Metric{0.6, 0.3, 0.85};
  fixed["accuracy_norm"] = Metric{0.5, 0.2, 0.8};
  fixed["slice[short].accuracy_norm_delta"] = Metric{0.1, std::nullopt, std::nullopt};
  fixed["cost_per_month"] = Metric{100, std::nullopt, std::nullopt};
  const CascadePoint p = simulate({}, FloorMode::point, kCosts, fixed).points.back();
  EXPECT_DOUBLE_EQ(p.metrics.at("kld_mean").value, 0.01);
  EXPECT_DOUBLE_EQ(p.metrics.at("accuracy").value, 0.7);
  EXPECT_EQ(p.metrics.count("accuracy_norm"), 0u);
  EXPECT_EQ(p.metrics.count("slice[short].accuracy_norm_delta"), 0u);
  EXPECT_DOUBLE_EQ(p.metrics.at("cost_per_month").value, 1100);
}

TEST(SimulateCascade, FloorOnAFixedFigureAppliesToEveryPoint) {
  MetricTable fixed;
  fixed["kld_mean"] = Metric{0.01, 0.009, 0.011};
  EXPECT_FALSE(simulate({"kld_mean <= 0.0105"}, FloorMode::ci, kCosts, fixed).recommended);  // hi 0.011 fails
  EXPECT_EQ(*simulate({"kld_mean <= 0.0105"}, FloorMode::point, kCosts, fixed).recommended, 0u);
}

TEST(SimulateCascade, ConfidenceOfOneGetsAThresholdAboveOne) {
  std::vector<CascadeExample> ex = ten_examples();
  ex[9].confidence = 1.0;
  const CascadeResult r = simulate_cascade(ex, kCosts, {}, FloorMode::point, {});
  EXPECT_GT(r.points.back().threshold, 1.0);
  EXPECT_EQ(r.points.back().escalated, 10);
  EXPECT_EQ(r.points[r.points.size() - 2].threshold, 1.0);
  EXPECT_EQ(r.points[r.points.size() - 2].escalated, 9);
}

TEST(SimulateCascade, RejectsBadInput) {
  std::vector<CascadeExample> ex = ten_examples();
  EXPECT_THROW(simulate_cascade({}, kCosts, {}, FloorMode::point, {}), Error);
  ex[3].confidence = 1.5;
  EXPECT_THROW(simulate_cascade(ex, kCosts, {}, FloorMode::point, {}), Error);
  ex[3].confidence = std::nan("");
  EXPECT_THROW(simulate_cascade(ex, kCosts, {}, FloorMode::point, {}), Error);
  ex[3].confidence = 0.5;
  EXPECT_THROW(simulate_cascade(ex, CascadeCosts{-1, 10}, {}, FloorMode::point, {}), Error);
}

TEST(CascadeJson, MatchesTheResultsSchema) {
  const auto j = cascade_json(simulate({"accuracy_delta >= 0"}), "q4_k_m");
  EXPECT_EQ(j.at("candidate"), "q4_k_m");
  ASSERT_EQ(j.at("points").size(), 10u);
  const auto& p = j.at("points")[1];
  EXPECT_EQ(p.at("threshold"), 0.4);
  EXPECT_EQ(p.at("escalation_rate"), 0.1);
  EXPECT_EQ(p.at("accuracy"), 0.7);
  EXPECT_TRUE(p.at("accuracy_delta").contains("lo"));
  EXPECT_EQ(p.at("cost_per_month"), 200);
  EXPECT_EQ(p.at("passes"), true);
  EXPECT_EQ(j.at("recommended").at("threshold"), 0.4);
  EXPECT_EQ(j.at("recommended").at("cost_per_month"), 200);
}

}  // namespace
}  // namespace bitdial
