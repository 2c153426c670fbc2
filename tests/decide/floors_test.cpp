// Floors: parsing the grammar of docs/floors.md, the errors a user sees for each kind of mistake,
// point vs ci checking with the sign convention of margin, and the results.json shape.
#include "decide/floors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace bitdial {
namespace {

// The message of the bitdial::Error that parse_floor throws, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_floor(text, "sweep.yaml:12");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParseFloor, PlainMetricAtLeast) {
  const Floor f = parse_floor("accuracy >= 0.89", "x");
  EXPECT_EQ(f.text, "accuracy >= 0.89");
  EXPECT_EQ(f.key, "accuracy");
  EXPECT_EQ(f.metric, "accuracy");
  EXPECT_EQ(f.slice, "");
  EXPECT_FALSE(f.delta);
  EXPECT_EQ(f.op, FloorOp::at_least);
  EXPECT_DOUBLE_EQ(f.threshold, 0.89);
}

TEST(ParseFloor, DeltaSuffixMapsToTheBaseMetric) {
  const Floor f = parse_floor("accuracy_delta >= -0.01", "x");
  EXPECT_EQ(f.key, "accuracy_delta");
  EXPECT_EQ(f.metric, "accuracy");
  EXPECT_TRUE(f.delta);
  EXPECT_DOUBLE_EQ(f.threshold, -0.01);
}

TEST(ParseFloor, SliceDeltaBuildsTheSliceKey) {
  const Floor f = parse_floor("slice[short].accuracy_delta >= -0.02", "x");
  EXPECT_EQ(f.key, "slice[short].accuracy_delta");
  EXPECT_EQ(f.metric, "accuracy");
  EXPECT_EQ(f.slice, "short");
  EXPECT_TRUE(f.delta);
}

TEST(ParseFloor, WhitespaceAroundTokensIsFree) {
  const Floor f = parse_floor("  p95_latency_ms<=120\t", "x");
  EXPECT_EQ(f.text, "p95_latency_ms<=120");
  EXPECT_EQ(f.key, "p95_latency_ms");
  EXPECT_EQ(f.op, FloorOp::at_most);
  EXPECT_DOUBLE_EQ(f.threshold, 120);
  EXPECT_DOUBLE_EQ(parse_floor("cost_per_month   <=   2e3", "x").threshold, 2000);
}

TEST(ParseFloor, ExplicitPlusSignIsAccepted) {
  EXPECT_DOUBLE_EQ(parse_floor("accuracy_delta >= +0.5", "x").threshold, 0.5);
}

TEST(ParseFloor, ErrorNamesTheSourceAndTheFloorText) {
  const std::string e = parse_error("acuracy >= 0.9");
  EXPECT_NE(e.find("sweep.yaml:12"), std::string::npos) << e;
  EXPECT_NE(e.find("acuracy >= 0.9"), std::string::npos) << e;
}

TEST(ParseFloor, UnknownMetricSuggestsCloseNames) {
  const std::string e = parse_error("acuracy_delta >= -0.01");
  EXPECT_NE(e.find("unknown metric"), std::string::npos) << e;
  EXPECT_NE(e.find("accuracy_delta"), std::string::npos) << e;
}

TEST(ParseFloor, UnknownMetricFarFromAllNamesListsTheKnownOnes) {
  const std::string e = parse_error("zzzzzzzzzz >= 1");
  EXPECT_NE(e.find("known metrics"), std::string::npos) << e;
  EXPECT_NE(e.find("kld_mean"), std::string::npos) << e;
}

TEST(ParseFloor, BadNumberIsReported) {
  EXPECT_NE(parse_error("accuracy >= abc").find("bad number \"abc\""), std::string::npos);
  EXPECT_NE(parse_error("accuracy >= 0.9x").find("bad number"), std::string::npos);
  EXPECT_NE(parse_error("accuracy >= inf").find("bad number"), std::string::npos);
  EXPECT_NE(parse_error("accuracy >= --1").find("bad number"), std::string::npos);
}

TEST(ParseFloor, MissingOperatorIsReported) {
  EXPECT_NE(parse_error("accuracy 0.9").find("missing operator"), std::string::npos);
}

TEST(ParseFloor, EqualityAndStrictOperatorsAreRejected) {
  EXPECT_NE(parse_error("accuracy == 0.9").find("use <= or >="), std::string::npos);
  EXPECT_NE(parse_error("accuracy > 0.9").find("not allowed"), std::string::npos);
  EXPECT_NE(parse_error("accuracy < 0.9").find("not allowed"), std::string::npos);
}

TEST(ParseFloor, MissingNameOrNumberIsReported) {
  EXPECT_NE(parse_error(">= 0.9").find("no metric name"), std::string::npos);
  EXPECT_NE(parse_error("accuracy >=").find("no number"), std::string::npos);
  EXPECT_NE(parse_error("").find("empty floor"), std::string::npos);
}

TEST(ParseFloor, DeltaOnlyWhereTheMetricHasOne) {
  EXPECT_NE(parse_error("kld_mean_delta <= 0.1").find("no _delta form"), std::string::npos);
  EXPECT_TRUE(parse_floor("cost_per_month_delta <= 0", "x").delta);
}

TEST(ParseFloor, SliceOnlyForPerSliceMetrics) {
  EXPECT_NE(parse_error("slice[short].kld_mean <= 0.1").find("not reported per slice"), std::string::npos);
}

TEST(ParseFloor, SliceTagMustBeNonEmptyAndClosed) {
  EXPECT_NE(parse_error("slice[].accuracy >= 0.5").find("empty slice tag"), std::string::npos);
  EXPECT_NE(parse_error("slice[short.accuracy >= 0.5").find("no closing"), std::string::npos);
  EXPECT_NE(parse_error("slice[short]accuracy >= 0.5").find("'.' after ']'"), std::string::npos);
}

TEST(ParseFloor, EveryMetricNameAndItsDeltaParse) {
  for (const MetricName& m : kMetricNames) {
    EXPECT_EQ(parse_floor(std::string(m.name) + " >= 0", "x").key, m.name);
    if (m.has_delta) {
      EXPECT_TRUE(parse_floor(std::string(m.name) + "_delta >= 0", "x").delta) << m.name;
    }
  }
}

TEST(ParseFloorMode, AcceptsPointAndCiOnly) {
  EXPECT_EQ(parse_floor_mode("ci", "x"), FloorMode::ci);
  EXPECT_EQ(parse_floor_mode("point", "x"), FloorMode::point);
  EXPECT_THROW(parse_floor_mode("strict", "sweep.yaml:3"), Error);
}

MetricTable table_with_interval() {
  MetricTable t;
  t["accuracy_delta"] = Metric{-0.008, -0.025, 0.008};
  t["kld_mean"] = Metric{0.012, 0.011, 0.013};
  t["cost_per_month"] = Metric{412.0, std::nullopt, std::nullopt};
  return t;
}

TEST(CheckFloor, PointModeUsesTheValueAndMarginIsRoomLeft) {
  const FloorResult r = check_floor(parse_floor("accuracy_delta >= -0.01", "x"), table_with_interval(), FloorMode::point);
  EXPECT_TRUE(r.pass);
  EXPECT_DOUBLE_EQ(r.bound, -0.008);
  EXPECT_NEAR(r.margin, 0.002, 1e-15);  // -0.008 - (-0.01)
}

TEST(CheckFloor, CiModeAtLeastUsesTheLowerEnd) {
  const FloorResult r = check_floor(parse_floor("accuracy_delta >= -0.01", "x"), table_with_interval(), FloorMode::ci);
  EXPECT_FALSE(r.pass);
  EXPECT_DOUBLE_EQ(r.value, -0.008);
  EXPECT_DOUBLE_EQ(r.bound, -0.025);
  EXPECT_NEAR(r.margin, -0.015, 1e-15);  // shortfall
  EXPECT_TRUE(r.has_interval);
}

TEST(CheckFloor, CiModeAtMostUsesTheUpperEnd) {
  const FloorResult r = check_floor(parse_floor("kld_mean <= 0.0125", "x"), table_with_interval(), FloorMode::ci);
  EXPECT_FALSE(r.pass);
  EXPECT_DOUBLE_EQ(r.bound, 0.013);
  EXPECT_NEAR(r.margin, -0.0005, 1e-15);  // 0.0125 - 0.013
}

TEST(CheckFloor, CiModeWithoutIntervalFallsBackToTheValueAndSaysSo) {
  const FloorResult r = check_floor(parse_floor("cost_per_month <= 500", "x"), table_with_interval(), FloorMode::ci);
  EXPECT_TRUE(r.pass);
  EXPECT_FALSE(r.has_interval);
  EXPECT_DOUBLE_EQ(r.bound, 412);
  EXPECT_DOUBLE_EQ(r.margin, 88);
  EXPECT_NE(r.note.find("no interval"), std::string::npos);
}

TEST(CheckFloor, ThresholdEqualToTheBoundPasses) {
  const FloorResult r = check_floor(parse_floor("cost_per_month <= 412", "x"), table_with_interval(), FloorMode::point);
  EXPECT_TRUE(r.pass);
  EXPECT_EQ(r.margin, 0);
}

TEST(CheckFloor, MissingKeyFailsAsNotMeasured) {
  const FloorResult r = check_floor(parse_floor("slice[long].accuracy >= 0.5", "x"), table_with_interval(), FloorMode::ci);
  EXPECT_TRUE(r.missing);
  EXPECT_FALSE(r.pass);
  EXPECT_TRUE(std::isnan(r.value));
  EXPECT_EQ(r.note, "not measured");
}

TEST(CheckFloor, NanValueFails) {
  MetricTable t;
  t["ppl"] = Metric{std::nan(""), std::nullopt, std::nullopt};
  EXPECT_FALSE(check_floor(parse_floor("ppl <= 100", "x"), t, FloorMode::point).pass);
}

TEST(CheckFloors, CountsFailuresAndSumsFiniteShortfalls) {
  const std::vector<Floor> floors = {parse_floor("accuracy_delta >= -0.01", "x"),  // ci: margin -0.015
                                     parse_floor("kld_mean <= 0.0125", "x"),        // ci: margin -0.0005
                                     parse_floor("cost_per_month <= 500", "x"),     // passes
                                     parse_floor("accuracy >= 0.5", "x")};          // missing
  const FloorsCheck c = check_floors(floors, table_with_interval(), FloorMode::ci);
  ASSERT_EQ(c.results.size(), 4u);
  EXPECT_EQ(c.failed, 3);
  EXPECT_FALSE(c.passes());
  EXPECT_NEAR(c.total_shortfall, 0.0155, 1e-15);
}

TEST(FloorsJson, RulesMatchTheResultsSchema) {
  const auto j = floors_json({parse_floor("slice[short].accuracy_delta >= -0.02", "x"), parse_floor("kld_mean <= 0.05", "x")},
                             FloorMode::ci);
  EXPECT_EQ(j.dump(),
            R"({"mode":"ci","rules":[{"text":"slice[short].accuracy_delta >= -0.02","key":"slice[short].accuracy_delta",)"
            R"("metric":"accuracy","delta":true,"slice":"short","op":">=","threshold":-0.02},)"
            R"({"text":"kld_mean <= 0.05","key":"kld_mean","metric":"kld_mean","delta":false,"slice":null,"op":"<=","threshold":0.05}]})");
}

TEST(FloorResultsJson, MissingFiguresAreNullNeverZero) {
  const FloorResult r = check_floor(parse_floor("accuracy >= 0.5", "x"), {}, FloorMode::ci);
  EXPECT_EQ(floor_results_json({r}).dump(),
            R"([{"floor":"accuracy >= 0.5","value":null,"bound":null,"pass":false,"margin":null,"note":"not measured"}])");
}

}  // namespace
}  // namespace bitdial
