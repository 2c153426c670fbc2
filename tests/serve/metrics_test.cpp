// Prometheus registry: exact text exposition, label escaping, exact sums under concurrent updates,
// and histogram quantile estimates.
#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace bitdial::serve {
namespace {

TEST(Metrics, RendersCounterAndHistogramExactly) {
  Metrics m;
  m.declare_counter("requests_total", "Requests answered.");
  m.declare_histogram("latency_seconds", "Request latency.", {0.1, 1});
  m.add("requests_total", {{"route", "b"}, {"status", "200"}});
  m.add("requests_total", {{"route", "a"}, {"status", "200"}}, 2);
  m.observe("latency_seconds", {{"route", "a"}}, 0.05);
  m.observe("latency_seconds", {{"route", "a"}}, 0.5);
  m.observe("latency_seconds", {{"route", "a"}}, 3);
  EXPECT_EQ(m.render(),
            "# HELP latency_seconds Request latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"a\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{route=\"a\",le=\"1\"} 2\n"
            "latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 3\n"
            "latency_seconds_sum{route=\"a\"} 3.55\n"
            "latency_seconds_count{route=\"a\"} 3\n"
            "# HELP requests_total Requests answered.\n"
            "# TYPE requests_total counter\n"
            "requests_total{route=\"a\",status=\"200\"} 2\n"
            "requests_total{route=\"b\",status=\"200\"} 1\n");
}

TEST(Metrics, RendersGaugeWithoutLabelsWithoutBraces) {
  Metrics m;
  m.declare_gauge("in_flight", "Requests in flight.");
  m.set("in_flight", {}, 4);
  m.set("in_flight", {}, 3);
  EXPECT_EQ(m.render(), "# HELP in_flight Requests in flight.\n# TYPE in_flight gauge\nin_flight 3\n");
}

TEST(Metrics, ObservationOnABoundCountsInThatBucket) {
  Metrics m;
  m.declare_histogram("h", "x", {1, 2});
  m.observe("h", {}, 1);
  EXPECT_NE(m.render().find("h_bucket{le=\"1\"} 1\n"), std::string::npos);
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Metrics m;
  m.declare_counter("c", "line1\nback\\slash");
  m.add("c", {{"model", "a\\b\"c\nd"}});
  EXPECT_EQ(m.render(), "# HELP c line1\\nback\\\\slash\n# TYPE c counter\nc{model=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Metrics, CounterValueIsZeroForAbsentSeries) {
  Metrics m;
  m.declare_counter("c", "x");
  m.add("c", {{"k", "v"}}, 2.5);
  EXPECT_EQ(m.counter_value("c", {{"k", "v"}}), 2.5);
  EXPECT_EQ(m.counter_value("c", {{"k", "other"}}), 0);
}

TEST(Metrics, ConcurrentAddsFromEightThreadsSumExactly) {
  Metrics m;
  m.declare_counter("tokens_total", "x");
  m.declare_histogram("itl_seconds", "x", latency_buckets_seconds());
  constexpr int kThreads = 8, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.add("tokens_total", {{"route", "r"}});
        m.observe("itl_seconds", {{"route", t % 2 ? "odd" : "even"}}, 0.02);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(m.counter_value("tokens_total", {{"route", "r"}}), kThreads * kPerThread);
  EXPECT_EQ(m.histogram_count("itl_seconds", {{"route", "odd"}}), kThreads / 2 * kPerThread);
  EXPECT_EQ(m.histogram_count("itl_seconds", {{"route", "even"}}), kThreads / 2 * kPerThread);
}

TEST(Metrics, HistogramQuantileInterpolatesInsideTheBucket) {
  Metrics m;
  m.declare_histogram("h", "x", {1, 2, 4});
  // 10 in (0,1], 10 in (1,2], 20 in (2,4]: rank 0.5*40 = 20 is the top of (1,2]; rank 0.75*40 = 30 is
  // half-way through (2,4].
  for (int i = 0; i < 10; ++i) m.observe("h", {}, 0.5);
  for (int i = 0; i < 10; ++i) m.observe("h", {}, 1.5);
  for (int i = 0; i < 20; ++i) m.observe("h", {}, 3);
  EXPECT_DOUBLE_EQ(m.histogram_quantile("h", {}, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(m.histogram_quantile("h", {}, 0.75), 3.0);
  EXPECT_DOUBLE_EQ(m.histogram_quantile("h", {}, 0.125), 0.5);  // first bucket starts at 0
}

TEST(Metrics, HistogramQuantileInInfBucketAnswersTheLargestBound) {
  Metrics m;
  m.declare_histogram("h", "x", {1, 2});
  m.observe("h", {}, 10);
  EXPECT_DOUBLE_EQ(m.histogram_quantile("h", {}, 0.99), 2.0);
}

TEST(Metrics, HistogramQuantileOfEmptySeriesIsNaN) {
  Metrics m;
  m.declare_histogram("h", "x", {1});
  EXPECT_TRUE(std::isnan(m.histogram_quantile("h", {}, 0.5)));
}

TEST(Metrics, LatencyBucketsIncreaseFromFiveMillisecondsToOneMinute) {
  const std::vector<double> b = latency_buckets_seconds();
  ASSERT_GE(b.size(), 8u);
  EXPECT_DOUBLE_EQ(b.front(), 0.005);
  EXPECT_DOUBLE_EQ(b.back(), 60);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_GT(b[i], b[i - 1]);
}

TEST(Metrics, NumbersRenderAsPrometheusExpects) {
  EXPECT_EQ(prometheus_number(3), "3");
  EXPECT_EQ(prometheus_number(0.005), "0.005");
  EXPECT_EQ(prometheus_number(INFINITY), "+Inf");
  EXPECT_EQ(prometheus_number(-INFINITY), "-Inf");
  EXPECT_EQ(prometheus_number(NAN), "NaN");
}

}  // namespace
}  // namespace bitdial::serve
