// Statistical power of accuracy-like floors: each number checked against a hand computation
// (kPowerZ = 1.959964 + 0.841621 = 2.8015852), the n-needed round trip, and the verdict rules.
#include "decide/power.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace bitdial {
namespace {

TEST(PowerZ, IsTheSumOfTheTwoNormalQuantiles) {
  EXPECT_NEAR(kPowerZ, 2.8015852181129683, 1e-12);
}

TEST(MinDetectableProportion, MatchesHandValue) {
  // sqrt(0.8 * 0.2 / 400) = 0.02; 2.8015852 * 0.02 = 0.0560317.
  EXPECT_NEAR(min_detectable_proportion(400, 0.8), 0.05603170436, 1e-10);
}

TEST(MinDetectableProportion, AllCorrectStillHasOneExampleOfVariance) {
  // p = 1 is clamped to n/(n+1): v = 100/101^2 = 0.0098030; MDE = 2.8015852 * sqrt(0.0098030/100).
  EXPECT_NEAR(min_detectable_proportion(100, 1.0), kPowerZ * std::sqrt(100.0 / (101.0 * 101.0) / 100), 1e-12);
  EXPECT_GT(min_detectable_proportion(100, 1.0), 0);
}

TEST(MinDetectableProportion, OneExampleIsTreatedAsACoinFlip) {
  // n = 1: p clamped to 1/2, v = 0.25, MDE = 2.8015852 * 0.5.
  EXPECT_NEAR(min_detectable_proportion(1, 0.0), kPowerZ * 0.5, 1e-12);
}

TEST(MinDetectablePaired, MatchesHandValue) {
  // sqrt(0.06 / 240) = 0.0158114; 2.8015852 * 0.0158114 = 0.0442970.
  EXPECT_NEAR(min_detectable_paired(240, 0.06), 0.04429695174, 1e-10);
}

TEST(MinDetectablePaired, ZeroDiscordanceIsFlooredAtOneInN) {
  // rate 0 -> 1/n = 0.01; sqrt(0.01 / 100) = 0.01; MDE = 0.0280159.
  EXPECT_NEAR(min_detectable_paired(100, 0.0), 0.028015852181, 1e-10);
}

TEST(MinDetectable, NoExamplesIsInfinite) {
  EXPECT_TRUE(std::isinf(min_detectable_paired(0, 0.1)));
  EXPECT_TRUE(std::isinf(min_detectable_proportion(0, 0.5)));
}

TEST(ExamplesNeeded, PairedMatchesClosedForm) {
  // 7.8488797 * 0.06 / 0.01^2 = 4709.33 -> 4710.
  EXPECT_EQ(examples_needed_paired(0.06, 0.01), 4710);
}

TEST(ExamplesNeeded, ProportionMatchesClosedForm) {
  // 7.8488797 * 0.16 / 0.05^2 = 502.33 -> 503.
  EXPECT_EQ(examples_needed_proportion(0.8, 0.05), 503);
}

TEST(ExamplesNeeded, RoundTripIsTheSmallestSufficientN) {
  for (double rate : {0.0, 0.001, 0.02, 0.06, 0.3}) {
    for (double drop : {0.005, 0.01, 0.03, 0.1}) {
      const int64_t n = examples_needed_paired(rate, drop);
      EXPECT_LE(min_detectable_paired(n, rate), drop) << rate << " " << drop;
      if (n > 1) {
        EXPECT_GT(min_detectable_paired(n - 1, rate), drop) << rate << " " << drop;
      }
    }
  }
  for (double p : {0.0, 0.5, 0.8, 0.99}) {
    for (double drop : {0.005, 0.01, 0.03, 0.1}) {
      const int64_t n = examples_needed_proportion(p, drop);
      EXPECT_LE(min_detectable_proportion(n, p), drop) << p << " " << drop;
      if (n > 1) {
        EXPECT_GT(min_detectable_proportion(n - 1, p), drop) << p << " " << drop;
      }
    }
  }
}

TEST(ExamplesNeeded, ZeroDiscordanceNeedsAboutZOverDrop) {
  // Only the 1/n floor binds: MDE = z / n <= 0.01 -> n >= 280.16 -> 281.
  EXPECT_EQ(examples_needed_paired(0.0, 0.01), 281);
}

TEST(CheckPower, DeltaFloorTooFewExamplesWarnsWithNeededCount) {
  const PowerCheck c = check_power(parse_floor("accuracy_delta >= -0.01", "x"), PowerInput{240, {}, {}, 0.06});
  EXPECT_TRUE(c.paired);
  EXPECT_NEAR(*c.min_detectable_drop, 0.04429695174, 1e-10);
  EXPECT_DOUBLE_EQ(*c.allowed_drop, 0.01);
  EXPECT_FALSE(*c.sufficient);
  EXPECT_EQ(*c.n_needed, 4710);
  EXPECT_EQ(c.warning,
            "240 examples detect a drop of 4.4 points at 80 % power; the floor allows 1.0 — add examples (about 4710 "
            "needed)");
}

TEST(CheckPower, DeltaFloorWithEnoughExamplesIsSufficientWithoutWarning) {
  // MDE = 2.8016 * sqrt(0.05 / 1000) = 0.0198 <= 0.05.
  const PowerCheck c = check_power(parse_floor("accuracy_delta >= -0.05", "x"), PowerInput{1000, {}, {}, 0.05});
  EXPECT_TRUE(*c.sufficient);
  EXPECT_EQ(c.warning, "");
}

TEST(CheckPower, AbsoluteFloorAllowsTheBaselinesMargin) {
  // baseline 0.92 vs >= 0.89 allows 0.03; MDE = 2.8016 * sqrt(0.92 * 0.08 / 300) = 0.04388;
  // needed: 7.84888 * 0.0736 / 0.0009 = 641.86 -> 642.
  const PowerCheck c = check_power(parse_floor("accuracy >= 0.89", "x"), PowerInput{300, 0.92, 0.92, {}});
  EXPECT_FALSE(c.paired);
  EXPECT_NEAR(*c.allowed_drop, 0.03, 1e-12);
  EXPECT_NEAR(*c.min_detectable_drop, 0.04388156593, 1e-10);
  EXPECT_FALSE(*c.sufficient);
  EXPECT_EQ(*c.n_needed, 642);
}

TEST(CheckPower, AbsoluteFloorWithoutBaselineUsesHalfAndGivesNoVerdict) {
  // p = 0.5: 2.8016 * sqrt(0.25 / 100) = 0.140079.
  const PowerCheck c = check_power(parse_floor("accuracy >= 0.89", "x"), PowerInput{100, {}, {}, {}});
  EXPECT_DOUBLE_EQ(*c.proportion, 0.5);
  EXPECT_NEAR(*c.min_detectable_drop, 0.14007926091, 1e-10);
  EXPECT_FALSE(c.sufficient.has_value());
  EXPECT_FALSE(c.n_needed.has_value());
  EXPECT_NE(c.warning.find("no verdict"), std::string::npos);
}

TEST(CheckPower, BaselineBelowAbsoluteFloorGivesNoVerdict) {
  const PowerCheck c = check_power(parse_floor("accuracy >= 0.89", "x"), PowerInput{300, 0.88, 0.88, {}});
  EXPECT_FALSE(c.allowed_drop.has_value());
  EXPECT_FALSE(c.sufficient.has_value());
  EXPECT_NE(c.warning.find("does not clear the floor"), std::string::npos) << c.warning;
}

TEST(CheckPower, DeltaFloorAllowingNoDropGivesNoVerdict) {
  const PowerCheck c = check_power(parse_floor("accuracy_delta >= 0", "x"), PowerInput{300, {}, {}, 0.05});
  EXPECT_FALSE(c.sufficient.has_value());
  EXPECT_NE(c.warning.find("allows no drop"), std::string::npos);
}

TEST(CheckPower, NoExamplesWarns) {
  const PowerCheck c = check_power(parse_floor("accuracy_delta >= -0.01", "x"), PowerInput{});
  EXPECT_FALSE(c.min_detectable_drop.has_value());
  EXPECT_NE(c.warning.find("no examples"), std::string::npos);
}

TEST(CheckPowerList, SkipsFloorsThatAreNotAccuracyLike) {
  const std::vector<Floor> floors = {parse_floor("kld_mean <= 0.05", "x"), parse_floor("accuracy_delta >= -0.01", "x"),
                                     parse_floor("p95_latency_ms <= 120", "x")};
  const auto checks = check_power(floors, {{"accuracy_delta", PowerInput{240, {}, {}, 0.06}}});
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].floor, "accuracy_delta >= -0.01");
}

TEST(PowerJson, MatchesTheResultsSchema) {
  const auto j = power_json({check_power(parse_floor("accuracy_delta >= -0.05", "x"), PowerInput{1000, {}, {}, 0.05})});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["floor"], "accuracy_delta >= -0.05");
  EXPECT_EQ(j[0]["n"], 1000);
  EXPECT_EQ(j[0]["discordant_rate"], 0.05);
  EXPECT_TRUE(j[0]["proportion"].is_null());
  EXPECT_NEAR(j[0]["min_detectable_drop"].get<double>(), 0.01981, 1e-5);
  EXPECT_EQ(j[0]["sufficient"], true);
  EXPECT_TRUE(j[0]["warning"].is_null());
}

}  // namespace
}  // namespace bitdial
