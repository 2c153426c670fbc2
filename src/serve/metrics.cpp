#include "serve/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <mutex>

#include "core/error.h"

namespace bitdial::serve {
namespace {

enum Type { counter = 0, gauge = 1, histogram = 2 };

const char* type_name(int t) { return t == counter ? "counter" : t == gauge ? "gauge" : "histogram"; }

std::string escape_label_value(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// `a="x",b="y"`: the series key (and its rendering without braces).
std::string label_key(const Metrics::Labels& labels) {
  std::string k;
  for (const auto& [name, value] : labels) {
    BITDIAL_ASSERT(!name.empty());
    if (!k.empty()) k += ',';
    k += name;
    k += "=\"";
    k += escape_label_value(value);
    k += '"';
  }
  return k;
}

std::string braces(const std::string& key) { return key.empty() ? "" : "{" + key + "}"; }

}  // namespace

struct Metrics::Family {
  struct Series {
    double value = 0;              // counter / gauge
    std::vector<uint64_t> counts;  // histogram: per bucket, not cumulative; last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  int type = counter;
  std::string help;
  std::vector<double> bounds;  // histogram upper bounds, finite and increasing
  mutable std::mutex mutex;    // guards `series`
  std::map<std::string, Series> series;  // by label_key()

  Series& at(const std::string& key) {
    auto it = series.find(key);
    if (it == series.end()) {
      it = series.emplace(key, Series{}).first;
      if (type == histogram) it->second.counts.assign(bounds.size() + 1, 0);
    }
    return it->second;
  }
  const Series* find(const std::string& key) const {
    auto it = series.find(key);
    return it == series.end() ? nullptr : &it->second;
  }
};

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

void Metrics::declare(const std::string& name, const std::string& help, int type, std::vector<double> bounds) {
  BITDIAL_ASSERT(!name.empty());
  auto f = std::make_unique<Family>();
  f->type = type;
  f->help = help;
  f->bounds = std::move(bounds);
  std::unique_lock lock(families_mutex_);
  const bool inserted = families_.emplace(name, std::move(f)).second;
  BITDIAL_ASSERT(inserted);
}

void Metrics::declare_counter(const std::string& name, const std::string& help) { declare(name, help, counter, {}); }
void Metrics::declare_gauge(const std::string& name, const std::string& help) { declare(name, help, gauge, {}); }
void Metrics::declare_histogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds) {
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    BITDIAL_ASSERT(std::isfinite(upper_bounds[i]));
    BITDIAL_ASSERT(i == 0 || upper_bounds[i] > upper_bounds[i - 1]);
  }
  declare(name, help, histogram, std::move(upper_bounds));
}

// Families are never removed, so the reference outlives the shared lock.
Metrics::Family& Metrics::family(const std::string& name, int type) const {
  std::shared_lock lock(families_mutex_);
  auto it = families_.find(name);
  BITDIAL_ASSERT(it != families_.end());
  BITDIAL_ASSERT(it->second->type == type || (type == counter && it->second->type == gauge));
  return *it->second;
}

void Metrics::add(const std::string& name, const Labels& labels, double v) {
  BITDIAL_ASSERT(v >= 0);  // counters only go up
  const std::string key = label_key(labels);
  Family& f = family(name, counter);
  BITDIAL_ASSERT(f.type == counter);
  std::lock_guard lock(f.mutex);
  f.at(key).value += v;
}

void Metrics::set(const std::string& name, const Labels& labels, double v) {
  const std::string key = label_key(labels);
  Family& f = family(name, gauge);
  std::lock_guard lock(f.mutex);
  f.at(key).value = v;
}

void Metrics::observe(const std::string& name, const Labels& labels, double v) {
  const std::string key = label_key(labels);
  Family& f = family(name, histogram);
  // The first bucket whose upper bound holds v (le: v <= bound); past the last: +Inf.
  const size_t b = static_cast<size_t>(std::lower_bound(f.bounds.begin(), f.bounds.end(), v) - f.bounds.begin());
  std::lock_guard lock(f.mutex);
  Family::Series& s = f.at(key);
  ++s.counts[b];
  s.sum += v;
  ++s.count;
}

std::string Metrics::render() const {
  std::string out;
  std::shared_lock lock(families_mutex_);
  for (const auto& [name, fp] : families_) {
    const Family& f = *fp;
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + type_name(f.type) + "\n";
    std::lock_guard series_lock(f.mutex);
    for (const auto& [key, s] : f.series) {
      if (f.type != histogram) {
        out += name + braces(key) + " " + prometheus_number(s.value) + "\n";
        continue;
      }
      const std::string prefix = key.empty() ? "" : key + ",";
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= f.bounds.size(); ++i) {
        cumulative += s.counts[i];
        const std::string le = i < f.bounds.size() ? prometheus_number(f.bounds[i]) : "+Inf";
        out += name + "_bucket{" + prefix + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
      }
      out += name + "_sum" + braces(key) + " " + prometheus_number(s.sum) + "\n";
      out += name + "_count" + braces(key) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

double Metrics::counter_value(const std::string& name, const Labels& labels) const {
  const std::string key = label_key(labels);
  const Family& f = family(name, counter);
  std::lock_guard lock(f.mutex);
  const Family::Series* s = f.find(key);
  return s ? s->value : 0;
}

double Metrics::histogram_count(const std::string& name, const Labels& labels) const {
  const std::string key = label_key(labels);
  const Family& f = family(name, histogram);
  std::lock_guard lock(f.mutex);
  const Family::Series* s = f.find(key);
  return s ? static_cast<double>(s->count) : 0;
}

double Metrics::histogram_quantile(const std::string& name, const Labels& labels, double q) const {
  const std::string key = label_key(labels);
  const Family& f = family(name, histogram);
  std::vector<uint64_t> counts;
  uint64_t total = 0;
  {
    std::lock_guard lock(f.mutex);
    const Family::Series* s = f.find(key);
    if (!s || s->count == 0) return std::numeric_limits<double>::quiet_NaN();
    counts = s->counts;
    total = s->count;
  }
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;  // observations in the buckets before bucket i
  for (size_t i = 0; i < counts.size(); ++i) {
    if (static_cast<double>(below + counts[i]) >= rank && counts[i] > 0) {
      if (i == f.bounds.size()) return f.bounds.empty() ? std::numeric_limits<double>::quiet_NaN() : f.bounds.back();
      const double upper = f.bounds[i];
      const double lower = i == 0 ? std::min(0.0, upper) : f.bounds[i - 1];
      if (i == 0 && upper <= 0) return upper;
      return lower + (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
    }
    below += counts[i];
  }
  return f.bounds.empty() ? std::numeric_limits<double>::quiet_NaN() : f.bounds.back();
}

std::vector<double> latency_buckets_seconds() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
}

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace bitdial::serve
