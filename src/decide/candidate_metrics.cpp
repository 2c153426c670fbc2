#include "decide/candidate_metrics.h"

#include <string>

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;

constexpr double kZ95 = 1.959963984540054;

// {"value", "ci95": [lo, hi]} (proportions, bootstrap deltas) -> Metric.
Metric with_ci(const json& j) {
  Metric m{j.at("value").get<double>(), {}, {}};
  if (j.contains("ci95") && j["ci95"].is_array() && j["ci95"].size() == 2) {
    m.lo = j["ci95"][0].get<double>();
    m.hi = j["ci95"][1].get<double>();
  }
  return m;
}

Metric mean_se(double mean, double se) { return Metric{mean, mean - kZ95 * se, mean + kZ95 * se}; }

std::string key(const std::string& tag, const std::string& name) {
  return tag.empty() ? name : "slice[" + tag + "]." + name;
}

void add_slice_stats(MetricTable& t, const json& s) {
  const std::string tag = s.value("tag", "");
  if (s.contains("accuracy")) t[key(tag, "accuracy")] = with_ci(s["accuracy"]);
  if (s.contains("accuracy_norm")) t[key(tag, "accuracy_norm")] = with_ci(s["accuracy_norm"]);
}

void add_paired(MetricTable& t, const json& p) {
  const std::string tag = p.value("tag", "");
  if (p.value("n", 0) == 0) return;  // nothing scored by both models
  t[key(tag, "accuracy_delta")] = with_ci(p["accuracy_delta"]);
  t[key(tag, "agreement")] = with_ci(p["agreement"]);
}

}  // namespace

MetricTable quality_metrics(const json& summary) {
  MetricTable t;
  if (summary.contains("tasks") && !summary["tasks"].empty()) {
    const json& task = summary["tasks"][0];
    const json& cand = task["candidate"];
    add_slice_stats(t, cand["overall"]);
    for (const json& s : cand["slices"]) add_slice_stats(t, s);
    if (task.contains("paired")) {
      add_paired(t, task["paired"]["overall"]);
      for (const json& s : task["paired"]["slices"]) add_paired(t, s);
    }
  }
  if (summary.contains("texts") && !summary["texts"].empty()) {
    const json& text = summary["texts"][0];
    t["ppl"] = mean_se(text["ppl"]["value"].get<double>(), text["ppl"]["se"].get<double>());
    if (text.contains("kld")) {
      const json& k = text["kld"];
      // A remote model's KL is a lower bound: an interval around it would be misleading.
      if (text.value("kld_lower_bound", false)) {
        t["kld_mean"] = Metric{k["mean"].get<double>(), {}, {}};
      } else {
        t["kld_mean"] = mean_se(k["mean"].get<double>(), k["se"].get<double>());
      }
      t["kld_p95"] = Metric{k["p95"].get<double>(), {}, {}};
      t["kld_p99"] = Metric{k["p99"].get<double>(), {}, {}};
    }
    if (text.contains("same_top1")) t["same_top1"] = with_ci(text["same_top1"]);
    if (text.contains("ppl_ratio")) {
      const json& r = text["ppl_ratio"];
      t["ppl_ratio"] = mean_se(r["value"].get<double>(), r["se"].get<double>());
    }
  }
  return t;
}

void add_self_comparison(MetricTable& t) {
  if (t.count("ppl") != 0) {
    for (const char* k : {"kld_mean", "kld_p95", "kld_p99"}) t[k] = Metric{0, {}, {}};
    t["same_top1"] = Metric{1, {}, {}};
    t["ppl_ratio"] = Metric{1, {}, {}};
  }
  std::vector<std::string> scopes;
  for (const auto& [k, v] : t) {
    if (k == "accuracy") scopes.push_back("");
    const size_t dot = k.rfind("].accuracy");
    if (dot != std::string::npos && dot + 10 == k.size()) scopes.push_back(k.substr(0, dot + 2));
  }
  for (const std::string& s : scopes) {
    t[s + "accuracy_delta"] = Metric{0, {}, {}};
    t[s + "agreement"] = Metric{1, {}, {}};
  }
}

void add_baseline_deltas(MetricTable& cand, const MetricTable& base) {
  std::vector<std::pair<std::string, Metric>> add;
  for (const auto& [k, v] : cand) {
    // k is NAME or slice[TAG].NAME
    const size_t dot = k.rfind("].");
    const std::string name = dot == std::string::npos ? k : k.substr(dot + 2);
    bool has_delta = false;
    for (const MetricName& m : kMetricNames)
      if (m.name == name) has_delta = m.has_delta;
    if (!has_delta) continue;
    const std::string dk = k + "_delta";
    if (cand.count(dk) != 0) continue;
    const auto b = base.find(k);
    if (b == base.end()) continue;
    add.emplace_back(dk, Metric{v.value - b->second.value, {}, {}});
  }
  for (auto& [k, m] : add) cand[k] = m;
}

json metric_table_json(const MetricTable& table) {
  json j = json::object();
  for (const auto& [k, m] : table) {
    json e = {{"value", m.value}};
    if (m.lo) e["lo"] = *m.lo;
    if (m.hi) e["hi"] = *m.hi;
    j[k] = e;
  }
  return j;
}

}  // namespace bitdial
