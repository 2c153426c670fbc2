#include "decide/cascade.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "eval/statistics.h"

namespace bitdial {
namespace {

// Resampled deltas kept in memory at once (points x resamples doubles, 64 MiB). More points than fit
// are done in blocks, each replaying the same resamples from the seed.
constexpr int64_t kMaxBootstrapCells = int64_t{1} << 23;

// The cascade's figures for one scope (all examples or one tag) at every threshold.
struct ScopeFigures {
  std::vector<Proportion> accuracy, agreement;
  std::vector<Metric> delta;
  std::vector<int64_t> escalated;
};

// rows: indices into `ex` in file order. The bootstrap draws positions into `rows` exactly as
// bootstrap_accuracy_delta(base, cascade) would on the scope's file-order arrays, so each point's
// interval equals that function's on the cascade's correctness. Why one pass serves every point:
// at threshold t the cascade differs from the baseline only on examples it keeps (confidence >= t),
// so a resample's summed difference is the suffix sum, in confidence order, of count_i * d_i with
// d = candidate - baseline. One O(n) suffix pass per resample gives every threshold's delta.
ScopeFigures scope_figures(std::span<const CascadeExample> ex, const std::vector<size_t>& rows,
                           std::span<const double> thresholds, const CascadeOptions& opt) {
  const size_t n = rows.size();
  BITDIAL_ASSERT(n > 0 && opt.resamples >= 1);
  std::vector<uint32_t> order(n);  // positions into rows, by ascending confidence
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return ex[rows[a]].confidence < ex[rows[b]].confidence; });

  // Prefix/suffix counts in confidence order: base_before[k] = baseline right among the first k
  // (escalated), cand_from[k] / same_from[k] / d_from[k] over the rest (kept).
  std::vector<double> conf(n);
  std::vector<int> d(n);
  std::vector<int64_t> base_before(n + 1, 0), cand_from(n + 1, 0), same_from(n + 1, 0), d_from(n + 1, 0);
  for (size_t k = 0; k < n; ++k) {
    const CascadeExample& e = ex[rows[order[k]]];
    conf[k] = e.confidence;
    d[k] = int(e.candidate_correct) - int(e.baseline_correct);
    base_before[k + 1] = base_before[k] + e.baseline_correct;
  }
  for (size_t k = n; k-- > 0;) {
    const CascadeExample& e = ex[rows[order[k]]];
    cand_from[k] = cand_from[k + 1] + e.candidate_correct;
    same_from[k] = same_from[k + 1] + e.same_prediction;
    d_from[k] = d_from[k + 1] + d[k];
  }

  const size_t points = thresholds.size();
  ScopeFigures f;
  f.escalated.resize(points);
  for (size_t p = 0; p < points; ++p) {
    const size_t k = static_cast<size_t>(std::lower_bound(conf.begin(), conf.end(), thresholds[p]) - conf.begin());
    f.escalated[p] = static_cast<int64_t>(k);
    const auto nn = static_cast<int64_t>(n);
    f.accuracy.push_back(proportion(base_before[k] + cand_from[k], nn));
    f.agreement.push_back(proportion(static_cast<int64_t>(k) + same_from[k], nn));  // escalated = the baseline's answer
    f.delta.push_back(Metric{static_cast<double>(d_from[k]) / static_cast<double>(n), std::nullopt, std::nullopt});
  }

  const auto resamples = static_cast<size_t>(opt.resamples);
  const size_t block = static_cast<size_t>(std::max<int64_t>(1, kMaxBootstrapCells / opt.resamples));
  std::vector<double> cells;
  std::vector<int64_t> count(n), suffix(n + 1);
  for (size_t p0 = 0; p0 < points; p0 += block) {
    const size_t p1 = std::min(points, p0 + block);
    cells.assign((p1 - p0) * resamples, 0.0);
    std::mt19937_64 rng(opt.seed);
    for (size_t r = 0; r < resamples; ++r) {
      std::fill(count.begin(), count.end(), 0);
      for (size_t j = 0; j < n; ++j) ++count[draw_index(rng, n)];
      suffix[n] = 0;
      for (size_t k = n; k-- > 0;) suffix[k] = suffix[k + 1] + count[order[k]] * d[k];
      for (size_t p = p0; p < p1; ++p)
        cells[(p - p0) * resamples + r] =
            static_cast<double>(suffix[static_cast<size_t>(f.escalated[p])]) / static_cast<double>(n);
    }
    for (size_t p = p0; p < p1; ++p) {
      const auto first = cells.begin() + static_cast<std::ptrdiff_t>((p - p0) * resamples);
      std::vector<double> deltas(first, first + static_cast<std::ptrdiff_t>(resamples));
      f.delta[p].lo = percentile(deltas, 2.5);
      f.delta[p].hi = percentile(std::move(deltas), 97.5);
    }
  }
  return f;
}

// The kMetricNames entry a MetricTable key belongs to ("slice[a].accuracy_delta" -> accuracy).
const MetricName* metric_of_key(std::string_view key) {
  if (key.starts_with("slice[")) {
    const size_t dot = key.find("].");
    if (dot == std::string_view::npos) return nullptr;
    key.remove_prefix(dot + 2);
  }
  if (const MetricName* m = find_metric_name(key)) return m;
  if (key.ends_with("_delta")) return find_metric_name(key.substr(0, key.size() - 6));
  return nullptr;
}

std::vector<double> cascade_thresholds(std::span<const CascadeExample> ex) {
  std::vector<double> conf;
  conf.reserve(ex.size());
  for (const CascadeExample& e : ex) conf.push_back(e.confidence);
  std::sort(conf.begin(), conf.end());
  conf.erase(std::unique(conf.begin(), conf.end()), conf.end());
  // The smallest confidence as a threshold escalates nothing, like 0: skip it.
  std::vector<double> t = {0.0};
  t.insert(t.end(), conf.begin() + 1, conf.end());
  t.push_back(conf.back() < 1.0 ? 1.0 : std::nextafter(1.0, 2.0));
  return t;
}

void put(MetricTable& t, const std::string& key, const Proportion& p) { t[key] = Metric{p.p, p.lo, p.hi}; }

}  // namespace

CascadeResult simulate_cascade(std::span<const CascadeExample> examples, const CascadeCosts& costs,
                               const std::vector<Floor>& floors, FloorMode mode, const MetricTable& fixed,
                               const CascadeOptions& options) {
  if (examples.empty()) fail("cascade: no task examples scored by both models");
  if (options.resamples < 1) fail("cascade: resamples must be >= 1, got ", options.resamples);
  if (!(costs.candidate_cost_per_month >= 0) || !(costs.baseline_cost_per_month >= 0))
    fail("cascade: costs must be finite and >= 0 (candidate ", costs.candidate_cost_per_month, ", baseline ",
         costs.baseline_cost_per_month, ")");
  for (size_t i = 0; i < examples.size(); ++i) {
    const double c = examples[i].confidence;
    if (!(c >= 0 && c <= 1)) fail("cascade: example ", i, " has confidence ", c, " (want a probability in [0, 1])");
  }

  const std::vector<double> thresholds = cascade_thresholds(examples);
  std::map<std::string, std::vector<size_t>> scopes;  // "" = all; tags in sorted order
  for (size_t i = 0; i < examples.size(); ++i) {
    scopes[""].push_back(i);
    for (const std::string& tag : examples[i].tags) {
      std::vector<size_t>& rows = scopes[tag];
      if (rows.empty() || rows.back() != i) rows.push_back(i);  // a tag listed twice counts once
    }
  }

  MetricTable base_table;
  for (const auto& [key, metric] : fixed) {
    const MetricName* m = metric_of_key(key);
    if (!(m && m->accuracy_like) && key != "cost_per_month" && key != "cost_per_month_delta") base_table[key] = metric;
  }

  CascadeResult r;
  r.resamples = options.resamples;
  r.seed = options.seed;
  r.points.resize(thresholds.size());
  for (size_t p = 0; p < thresholds.size(); ++p) {
    r.points[p].threshold = thresholds[p];
    r.points[p].metrics = base_table;
  }
  for (const auto& [tag, rows] : scopes) {
    const ScopeFigures f = scope_figures(examples, rows, thresholds, options);
    const std::string prefix = tag.empty() ? "" : "slice[" + tag + "].";
    for (size_t p = 0; p < thresholds.size(); ++p) {
      CascadePoint& pt = r.points[p];
      put(pt.metrics, prefix + "accuracy", f.accuracy[p]);
      put(pt.metrics, prefix + "agreement", f.agreement[p]);
      pt.metrics[prefix + "accuracy_delta"] = f.delta[p];
      if (tag.empty()) {
        pt.escalated = f.escalated[p];
        pt.escalation_rate = static_cast<double>(f.escalated[p]) / static_cast<double>(rows.size());
        pt.accuracy = f.accuracy[p].p;
        pt.accuracy_delta = f.delta[p];
      }
    }
  }

  for (CascadePoint& pt : r.points) {
    pt.cost_per_month = costs.candidate_cost_per_month + pt.escalation_rate * costs.baseline_cost_per_month;
    pt.metrics["cost_per_month"] = Metric{pt.cost_per_month, std::nullopt, std::nullopt};
    pt.metrics["cost_per_month_delta"] =
        Metric{pt.cost_per_month - costs.baseline_cost_per_month, std::nullopt, std::nullopt};
    FloorsCheck check = check_floors(floors, pt.metrics, mode);
    pt.passes = check.passes();
    pt.floors = std::move(check.results);
  }
  for (size_t p = 0; p < r.points.size(); ++p) {
    // Strictly cheaper only: on a tie the earlier (lower) threshold stays.
    if (r.points[p].passes && (!r.recommended || r.points[p].cost_per_month < r.points[*r.recommended].cost_per_month))
      r.recommended = p;
  }
  return r;
}

nlohmann::ordered_json cascade_json(const CascadeResult& result, const std::string& candidate) {
  using json = nlohmann::ordered_json;
  const auto interval = [](const Metric& m) {
    return json{{"value", m.value}, {"lo", m.lo ? json(*m.lo) : json(nullptr)}, {"hi", m.hi ? json(*m.hi) : json(nullptr)}};
  };
  json points = json::array();
  for (const CascadePoint& p : result.points) {
    points.push_back({{"threshold", p.threshold},
                      {"escalation_rate", p.escalation_rate},
                      {"accuracy", p.accuracy},
                      {"accuracy_delta", interval(p.accuracy_delta)},
                      {"cost_per_month", p.cost_per_month},
                      {"passes", p.passes}});
  }
  json recommended = nullptr;
  if (result.recommended) {
    const CascadePoint& p = result.points[*result.recommended];
    recommended = {{"threshold", p.threshold},
                   {"escalation_rate", p.escalation_rate},
                   {"accuracy", p.accuracy},
                   {"cost_per_month", p.cost_per_month}};
  }
  return {{"candidate", candidate},
          {"confidence", "probability of the predicted choice (softmax over the choices' log-likelihoods)"},
          {"resamples", result.resamples},
          {"seed", result.seed},
          {"points", std::move(points)},
          {"recommended", std::move(recommended)}};
}

}  // namespace bitdial
