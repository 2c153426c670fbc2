// Prometheus metrics for `bitdial serve`: counters, gauges and histograms with labels, updated from
// many request threads at once and rendered as text exposition format 0.0.4 for GET /metrics.
// Pure bookkeeping: no HTTP here; the server calls render() and serves the string.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace bitdial::serve {

class Metrics {
 public:
  // Label names and values in the order given; that order is also the order rendered. The same label
  // set given in another order is another series, so each call site keeps one order.
  using Labels = std::vector<std::pair<std::string, std::string>>;

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Declare each family once (at startup) with its HELP text; declaring a name twice, or using an
  // undeclared name or one of another type, is a programmer error (BITDIAL_ASSERT).
  void declare_counter(const std::string& name, const std::string& help);
  void declare_gauge(const std::string& name, const std::string& help);
  // `upper_bounds`: finite, strictly increasing bucket bounds; the +Inf bucket is implicit.
  void declare_histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds);

  // Thread-safe; each family has its own lock, so updates to different families never contend.
  void add(const std::string& counter, const Labels& labels, double v = 1);  // v >= 0
  void set(const std::string& gauge, const Labels& labels, double v);
  void observe(const std::string& histogram, const Labels& labels, double v);

  // Families sorted by name, each with # HELP and # TYPE lines; series sorted by their rendered label
  // string; histograms as cumulative _bucket{...,le="..."} lines ending with le="+Inf", then _sum and
  // _count. Label values escape \\, \" and \n; HELP text escapes \\ and \n.
  std::string render() const;

  // The current value of a counter (or gauge) series; 0 when the series does not exist yet.
  double counter_value(const std::string& name, const Labels& labels) const;
  // Number of observations of a histogram series; 0 when absent.
  double histogram_count(const std::string& name, const Labels& labels) const;
  // Estimate of the q-quantile (0 <= q <= 1) from a histogram series' buckets, as PromQL's
  // histogram_quantile: linear interpolation inside the bucket holding rank q*count (the first bucket
  // starts at 0); a rank in the +Inf bucket answers the largest finite bound. NaN when the series has
  // no observations.
  double histogram_quantile(const std::string& name, const Labels& labels, double q) const;

 private:
  struct Family;
  Family& family(const std::string& name, int type) const;
  void declare(const std::string& name, const std::string& help, int type, std::vector<double> bounds);

  mutable std::shared_mutex families_mutex_;  // guards the map only; each Family locks its own series
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Bucket bounds for latencies in seconds: 5 ms to 60 s in roughly x2 steps (covers inter-token
// latency through whole long generations).
std::vector<double> latency_buckets_seconds();

// A number as Prometheus expects it: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string prometheus_number(double v);

}  // namespace bitdial::serve
