// Rollback rules: parsing from YAML with located errors, and the sliding-window monitor that decides
// only on full windows, compares below/above, and can be seeded from history.
#include "serve/rollback_rules.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"

namespace bitdial::serve {
namespace {

RollbackRule rule(RollbackMetric m, std::optional<double> below, std::optional<double> above, int64_t window) {
  RollbackRule r;
  r.metric = m;
  r.below = below;
  r.above = above;
  r.window = window;
  return r;
}

std::string parse_error(const std::string& yaml) {
  try {
    parse_rollback_rule(YAML::Load(yaml), "serve.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RollbackRules, ParsesAMapping) {
  const RollbackRule r = parse_rollback_rule(YAML::Load("{metric: p95_latency_ms, above: 800, window: 50}"), "s");
  EXPECT_EQ(r.metric, RollbackMetric::p95_latency_ms);
  EXPECT_FALSE(r.below);
  EXPECT_EQ(r.above, 800);
  EXPECT_EQ(r.window, 50);
}

TEST(RollbackRules, WindowDefaultsTo200) {
  EXPECT_EQ(parse_rollback_rule(YAML::Load("{metric: shadow_agreement, below: 0.95}"), "s").window, 200);
}

TEST(RollbackRules, ParsesAList) {
  const auto rules = parse_rollback_rules(
      YAML::Load("- {metric: error_rate, above: 0.02}\n- {metric: override_rate, above: 0.1}\n"), "s");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[1].metric, RollbackMetric::override_rate);
}

TEST(RollbackRules, UnknownMetricErrorNamesKeySourceAndLine) {
  const std::string msg = parse_error("# comment\nmetric: agreement\nbelow: 0.9\n");
  EXPECT_NE(msg.find("serve.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'metric'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shadow_agreement"), std::string::npos) << msg;  // lists the valid names
}

TEST(RollbackRules, UnknownKeyErrorNamesTheKeyAndLine) {
  const std::string msg = parse_error("metric: error_rate\nabove: 0.1\nwindw: 10\n");
  EXPECT_NE(msg.find("serve.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'windw'"), std::string::npos) << msg;
}

TEST(RollbackRules, BothBelowAndAboveIsAnError) {
  const std::string msg = parse_error("metric: error_rate\nabove: 0.1\nbelow: 0.01\n");
  EXPECT_NE(msg.find("'below' or 'above'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("serve.yaml:1"), std::string::npos) << msg;
}

TEST(RollbackRules, NeitherBelowNorAboveIsAnError) {
  EXPECT_NE(parse_error("metric: error_rate\n").find("'below' or 'above'"), std::string::npos);
}

TEST(RollbackRules, NonNumericThresholdErrorNamesKeyAndLine) {
  const std::string msg = parse_error("metric: error_rate\nabove: lots\n");
  EXPECT_NE(msg.find("serve.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'above'"), std::string::npos) << msg;
}

TEST(RollbackRules, WindowBelowOneIsAnError) {
  const std::string msg = parse_error("metric: error_rate\nabove: 0.1\nwindow: 0\n");
  EXPECT_NE(msg.find("serve.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'window'"), std::string::npos) << msg;
}

TEST(RollbackMonitor, DoesNotTriggerBeforeTheWindowFills) {
  RollbackMonitor m({rule(RollbackMetric::shadow_agreement, 0.95, std::nullopt, 10)});
  for (int i = 0; i < 9; ++i) m.add_shadow(false);
  EXPECT_FALSE(m.check());
  const auto all = m.evaluate_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].second.n, 9);
  EXPECT_FALSE(all[0].second.triggered);
}

TEST(RollbackMonitor, BelowTriggersWhenTheValueDropsUnderTheLimit) {
  RollbackMonitor m({rule(RollbackMetric::shadow_agreement, 0.9, std::nullopt, 10)});
  for (int i = 0; i < 9; ++i) m.add_shadow(true);
  m.add_shadow(false);  // 0.9: not below 0.9
  EXPECT_FALSE(m.check());
  m.add_shadow(false);  // window now 8 agree of 10: 0.8
  const auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_DOUBLE_EQ(hit->second.value, 0.8);
  EXPECT_EQ(hit->second.n, 10);
  EXPECT_EQ(hit->second.describe, "shadow_agreement 0.8 < 0.9 over the last 10 samples");
}

TEST(RollbackMonitor, AboveTriggersWhenTheValueExceedsTheLimit) {
  RollbackMonitor m({rule(RollbackMetric::error_rate, std::nullopt, 0.2, 5)});
  for (int i = 0; i < 4; ++i) m.add_request(10, false, false);
  m.add_request(10, true, false);  // 0.2: not above 0.2
  EXPECT_FALSE(m.check());
  m.add_request(10, true, false);  // 0.4
  const auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_DOUBLE_EQ(hit->second.value, 0.4);
}

TEST(RollbackMonitor, OldSamplesLeaveTheWindow) {
  RollbackMonitor m({rule(RollbackMetric::override_rate, std::nullopt, 0.5, 4)});
  for (int i = 0; i < 4; ++i) m.add_feedback(true);
  EXPECT_TRUE(m.check());
  for (int i = 0; i < 4; ++i) m.add_feedback(false);
  EXPECT_FALSE(m.check());
}

TEST(RollbackMonitor, P95LatencyIsNearestRankOverTheWindow) {
  RollbackMonitor m({rule(RollbackMetric::p95_latency_ms, std::nullopt, 900, 20)});
  // 1..20 x 50 ms: nearest rank ceil(0.95 * 20) = 19 -> 950 ms.
  for (int i = 1; i <= 20; ++i) m.add_request(50.0 * i, false, false);
  const auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_DOUBLE_EQ(hit->second.value, 950);
  EXPECT_EQ(hit->second.describe, "p95_latency_ms 950 > 900 over the last 20 samples");
}

TEST(RollbackMonitor, EscalationRateCountsEscalatedRequests) {
  RollbackMonitor m({rule(RollbackMetric::escalation_rate, std::nullopt, 0.5, 4)});
  m.add_request(1, false, true);
  m.add_request(1, false, true);
  m.add_request(1, false, true);
  m.add_request(1, false, false);
  const auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_DOUBLE_EQ(hit->second.value, 0.75);
}

TEST(RollbackMonitor, SeededHistoryFillsTheWindow) {
  RollbackMonitor m({rule(RollbackMetric::shadow_agreement, 0.95, std::nullopt, 4),
                     rule(RollbackMetric::p95_latency_ms, std::nullopt, 100, 3)});
  m.seed_shadow({true, true, true});
  EXPECT_FALSE(m.check());
  m.add_shadow(false);  // seeded oldest first: the live sample completes the window
  auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->first.metric, RollbackMetric::shadow_agreement);
  m.clear();
  m.seed_latencies({500, 10, 20});
  hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->first.metric, RollbackMetric::p95_latency_ms);
  EXPECT_DOUBLE_EQ(hit->second.value, 500);
}

TEST(RollbackMonitor, CheckReturnsTheFirstFailingRuleInOrder) {
  RollbackMonitor m({rule(RollbackMetric::error_rate, std::nullopt, 0.5, 2),
                     rule(RollbackMetric::escalation_rate, std::nullopt, 0.5, 2)});
  m.add_request(1, true, true);
  m.add_request(1, true, true);
  const auto hit = m.check();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->first.metric, RollbackMetric::error_rate);
  EXPECT_EQ(m.evaluate_all().size(), 2u);
  EXPECT_TRUE(m.evaluate_all()[1].second.triggered);
}

TEST(RollbackMonitor, ClearRestartsTheWindows) {
  RollbackMonitor m({rule(RollbackMetric::override_rate, std::nullopt, 0.1, 2)});
  m.add_feedback(true);
  m.add_feedback(true);
  EXPECT_TRUE(m.check());
  m.clear();
  EXPECT_FALSE(m.check());
  EXPECT_EQ(m.evaluate_all()[0].second.n, 0);
}

TEST(RollbackMonitor, RulesOnOneStreamWithDifferentWindowsEachUseTheirOwn) {
  RollbackMonitor m({rule(RollbackMetric::shadow_agreement, 0.5, std::nullopt, 2),
                     rule(RollbackMetric::shadow_agreement, 0.9, std::nullopt, 6)});
  for (int i = 0; i < 4; ++i) m.add_shadow(true);
  m.add_shadow(false);
  m.add_shadow(false);
  const auto all = m.evaluate_all();
  EXPECT_EQ(all[0].second.n, 2);
  EXPECT_DOUBLE_EQ(all[0].second.value, 0.0);
  EXPECT_EQ(all[1].second.n, 6);
  EXPECT_NEAR(all[1].second.value, 4.0 / 6, 1e-12);
}

TEST(RollbackRules, MetricNamesRoundTripThroughTheParser) {
  for (RollbackMetric k : {RollbackMetric::shadow_agreement, RollbackMetric::override_rate,
                           RollbackMetric::p95_latency_ms, RollbackMetric::error_rate,
                           RollbackMetric::escalation_rate}) {
    const auto r = parse_rollback_rule(YAML::Load("{metric: " + rollback_metric_name(k) + ", below: 1}"), "s");
    EXPECT_EQ(r.metric, k);
  }
}

}  // namespace
}  // namespace bitdial::serve
