#include "decide/sweep_results.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "eval/task_file.h"

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;

constexpr double kMiB = 1024.0 * 1024.0;

std::vector<double> samples(const json& stats) {
  std::vector<double> v;
  if (stats.contains("samples"))
    for (const json& s : stats["samples"]) v.push_back(s.get<double>());
  return v;
}

std::string fmt(double v, const char* f = "%.4g") {
  char b[48];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// YAML double-quoted scalar.
std::string yq(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

}  // namespace

MeasuredThroughput measured_from_bench_json(const json& b) {
  MeasuredThroughput m;
  m.pp_tokens_per_s = b["pp"]["tokens_per_s"]["median"].get<double>();
  m.tg_tokens_per_s = b["tg"]["tokens_per_s"]["median"].get<double>();
  m.pp_samples = samples(b["pp"]["tokens_per_s"]);
  m.tg_samples = samples(b["tg"]["tokens_per_s"]);
  m.model_bytes = b["model"]["bytes"].get<uint64_t>();
  m.params = b["model"]["params"].get<uint64_t>();
  m.weight_bytes_per_token = b["weight_bytes_per_token"].get<uint64_t>();
  m.peak_memory_bytes = b["peak_rss_bytes"].get<uint64_t>();
  m.weight_type = b["model"]["type"].get<std::string>();
  return m;
}

void add_speed_metrics(MetricTable& t, const json* bench, uint64_t file_bytes, double bpw) {
  if (bench != nullptr) {
    t["pp_tokens_per_s"] = Metric{(*bench)["pp"]["tokens_per_s"]["median"].get<double>(), {}, {}};
    t["tg_tokens_per_s"] = Metric{(*bench)["tg"]["tokens_per_s"]["median"].get<double>(), {}, {}};
    t["peak_memory_mb"] = Metric{(*bench)["peak_rss_bytes"].get<double>() / kMiB, {}, {}};
  }
  if (file_bytes > 0) {
    t["file_mb"] = Metric{static_cast<double>(file_bytes) / kMiB, {}, {}};
    t["bits_per_weight"] = Metric{bpw, {}, {}};
  }
}

Decision decide(const std::vector<CandidateVerdict>& v) {
  Decision d;
  std::vector<size_t> passing;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].floors.passes()) passing.push_back(i);
    for (const FloorResult& r : v[i].floors.results) {
      if (r.pass) continue;
      json f = {{"candidate", v[i].name}, {"floor", r.floor}};
      f["value"] = r.missing ? json(nullptr) : json(r.value);
      f["bound"] = r.missing ? json(nullptr) : json(r.bound);
      f["margin"] = r.missing ? json(nullptr) : json(r.margin);
      if (!r.note.empty()) f["note"] = r.note;
      d.failed.push_back(f);
    }
  }
  const auto cheaper = [&](size_t a, size_t b) {
    if (v[a].cost_per_month != v[b].cost_per_month) return v[a].cost_per_month < v[b].cost_per_month;
    const uint64_t fa = v[a].file_bytes ? v[a].file_bytes : UINT64_MAX, fb = v[b].file_bytes ? v[b].file_bytes : UINT64_MAX;
    if (fa != fb) return fa < fb;
    return a < b;
  };
  if (!passing.empty()) {
    const size_t best = *std::min_element(passing.begin(), passing.end(), cheaper);
    d.status = "chosen";
    d.chosen = v[best].name;
    d.reason = std::isfinite(v[best].cost_per_month)
                   ? concat("smallest cost_per_month ($", fmt(v[best].cost_per_month, "%.2f"), ") among the ", passing.size(),
                            " of ", v.size(), " candidates that hold every floor")
                   : concat("the only kind of candidate without a known cost holds every floor (", passing.size(), " of ",
                            v.size(), " pass)");
    return d;
  }
  d.status = "none_passed";
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    const FloorsCheck& a = v[i].floors;
    const FloorsCheck& b = v[best].floors;
    // An unmeasured floor has no shortfall to add up, but is not closer to passing than a measured
    // miss: rank by failures, then unmeasured ones, then the measured shortfall.
    const auto missing = [](const FloorsCheck& f) {
      return std::count_if(f.results.begin(), f.results.end(), [](const FloorResult& r) { return r.missing; });
    };
    if (a.failed != b.failed             ? a.failed < b.failed
        : missing(a) != missing(b)       ? missing(a) < missing(b)
        : a.total_shortfall != b.total_shortfall ? a.total_shortfall < b.total_shortfall
                                                 : cheaper(i, best))
      best = i;
  }
  if (!v.empty()) d.best_effort = v[best].name;
  d.reason = v.empty() ? "no candidates"
                       : concat("no candidate holds every floor; ", v[best].name, " fails the fewest (",
                                v[best].floors.failed, ", total shortfall ", fmt(v[best].floors.total_shortfall), ")");
  return d;
}

json decision_json(const Decision& d) {
  return {{"status", d.status},
          {"chosen", d.chosen.empty() ? json(nullptr) : json(d.chosen)},
          {"best_effort", d.best_effort.empty() ? json(nullptr) : json(d.best_effort)},
          {"reason", d.reason},
          {"failed", d.failed}};
}

std::map<std::string, PowerInput> power_inputs(const std::vector<Floor>& floors, const std::vector<const json*>& evals) {
  std::map<std::string, PowerInput> out;
  for (const Floor& f : floors) {
    if (!floor_has_power(f)) continue;
    PowerInput in;
    bool any = false;
    for (const json* e : evals) {
      if (e == nullptr || !e->contains("tasks") || (*e)["tasks"].empty()) continue;
      const json& task = (*e)["tasks"][0];
      if (!task.contains("paired")) continue;
      const json* ps = &task["paired"]["overall"];
      const json* bs = &task["baseline"]["overall"];
      if (!f.slice.empty()) {
        ps = bs = nullptr;
        for (const json& s : task["paired"]["slices"])
          if (s["tag"] == f.slice) ps = &s;
        for (const json& s : task["baseline"]["slices"])
          if (s["tag"] == f.slice) bs = &s;
        if (ps == nullptr) continue;
      }
      const int64_t n = (*ps)["n"].get<int64_t>();
      if (n <= 0) continue;
      in.n = std::max(in.n, n);  // not the last candidate's: the result must not depend on config order
      const json& mc = (*ps)["mcnemar"];
      const double rate = static_cast<double>(mc["b_base_right_cand_wrong"].get<int64_t>() + mc["c_base_wrong_cand_right"].get<int64_t>()) / n;
      if (f.metric == "agreement") {
        const double a = (*ps)["agreement"]["value"].get<double>();
        in.baseline = 1.0;
        in.observed = in.observed ? std::min(*in.observed, a) : a;
      } else if (f.metric == "accuracy" && bs != nullptr && bs->contains("accuracy")) {
        in.observed = in.baseline = (*bs)["accuracy"]["value"].get<double>();
      }
      // The McNemar counts are of raw-score correctness: an accuracy_norm floor gets n only.
      if (f.delta && f.metric == "accuracy") in.discordant_rate = in.discordant_rate ? std::max(*in.discordant_rate, rate) : rate;
      any = true;
    }
    if (any) out[f.key] = in;
  }
  return out;
}

std::vector<CascadeExample> cascade_examples_from_rows(const json& rows) {
  std::vector<CascadeExample> v;
  for (const json& r : rows) {
    if (!r.contains("baseline")) continue;
    const json& c = r["candidate"];
    const json& b = r["baseline"];
    if (c.contains("error") || b.contains("error")) continue;
    CascadeExample e;
    e.candidate_correct = c["correct"].get<bool>();
    e.baseline_correct = b["correct"].get<bool>();
    if (c.contains("predicted")) {
      e.confidence = c["confidence"].get<double>();
      e.same_prediction = c["predicted"] == b["predicted"];
    } else {
      // Generation: the mean probability of the chosen tokens is the confidence the router can use.
      e.confidence = c.value("mean_token_prob", 0.0);
      e.same_prediction = c["output"] == b["output"];
    }
    e.confidence = std::clamp(e.confidence, 0.0, 1.0);
    for (const json& t : r["tags"]) e.tags.push_back(t.get<std::string>());
    v.push_back(std::move(e));
  }
  return v;
}

std::string cascade_confidence_kind(const json& rows) {
  bool cls = false, gen = false;
  for (const json& r : rows) {
    if (!r.contains("baseline") || r["candidate"].contains("error")) continue;
    (r["candidate"].contains("predicted") ? cls : gen) = true;
  }
  return cls && gen ? "mixed" : gen ? "mean_token_probability" : "choice_probability";
}

json flips_json(const json& eval_doc, const std::string& task_path, size_t limit) {
  json out = {{"to_wrong", json::array()}, {"to_right", json::array()}};
  const json& s = eval_doc["summary"];
  if (task_path.empty() || !s.contains("tasks") || s["tasks"].empty() || !s["tasks"][0].contains("paired")) return out;
  const TaskFile tf = read_task_file(task_path);
  std::map<std::string, const TaskExample*> by_id;
  for (const TaskExample& e : tf.examples) by_id[e.id] = &e;
  std::map<std::string, const json*> rows;
  for (const json& r : eval_doc["examples"]) rows[r["id"].get<std::string>()] = &r;
  const auto answer = [](const TaskExample& ex, const json& side) -> std::string {
    if (side.contains("predicted")) {
      const int64_t p = side["predicted"].get<int64_t>();
      return p >= 0 && p < static_cast<int64_t>(ex.choices.size()) ? ex.choices[p] : "?";
    }
    return side.value("output", "");
  };
  const json& paired = s["tasks"][0]["paired"]["overall"];
  for (const char* dir : {"to_wrong", "to_right"}) {
    const json& ids = paired[std::string("flipped_") + dir];
    for (const json& id : ids) {
      if (out[dir].size() >= limit) break;
      const auto ex = by_id.find(id.get<std::string>());
      const auto row = rows.find(id.get<std::string>());
      if (ex == by_id.end() || row == rows.end()) continue;
      const TaskExample& e = *ex->second;
      out[dir].push_back({{"id", e.id},
                          {"input", e.input},
                          {"label", e.kind == TaskKind::classification ? e.choices[e.label] : e.target},
                          {"baseline", answer(e, (*row->second)["baseline"])},
                          {"candidate", answer(e, (*row->second)["candidate"])},
                          {"tags", e.tags}});
    }
  }
  return out;
}

std::string serve_yaml(const json& r) {
  const json& d = r["decision"];
  const std::string chosen = d["chosen"].is_string() ? d["chosen"].get<std::string>() : "";
  std::string out = "# bitdial serve configuration written by `bitdial sweep` (" + r["config"]["path"].get<std::string>() + ")\n";
  const json* cand = nullptr;
  for (const json& c : r["candidates"])
    if (c["name"] == chosen) cand = &c;
  const std::string base_file = r["baseline"]["file"].get<std::string>();
  if (cand == nullptr) {
    out += "# No candidate held every floor: serve the baseline alone until one does.\n";
    out += "backends:\n  - name: baseline\n    model: " + yq(base_file) + "\nroutes:\n  - name: default\n    backend: baseline\n";
    return out;
  }
  out += "# Chosen: " + chosen + " (" + d["reason"].get<std::string>() + ")\n";
  out += "backends:\n";
  const std::string kind = (*cand)["kind"].get<std::string>();
  out += "  - name: " + yq(chosen) + "\n";
  if (kind == "remote") {
    out += "    url: " + yq((*cand)["file"].get<std::string>()) + "\n";
  } else {
    out += "    model: " + yq((*cand)["file"].get<std::string>()) + "\n";
  }
  out += "  - name: baseline\n    model: " + yq(base_file) + "\n";
  out += "routes:\n  - name: default\n    primary: " + yq(chosen) + "\n    fallback: baseline\n";
  const json& cas = r["cascade"];
  if (cas.is_object() && cas["recommended"].is_object()) {
    const json& rec = cas["recommended"];
    const std::string conf = cas.value("confidence_kind", std::string("choice_probability"));
    out += "    cascade:\n      confidence: " + conf + "\n      threshold: " + fmt(rec["threshold"].get<double>(), "%.6g") +
           "   # escalates " + fmt(100 * rec["escalation_rate"].get<double>(), "%.1f") + " % of the task data\n";
  }
  out += "    ab:\n      candidate: " + yq(chosen) + "\n      control: baseline\n      percent: 10   # start small; promote when the monitors hold\n";
  out += "monitoring:\n  shadow_sample: 0.05   # share of primary answers replayed to the baseline\n";
  out += "rollback:\n";
  const json& m = (*cand)["metrics"];
  if (m.contains("agreement")) {
    const json& a = m["agreement"];
    const double lo = a.contains("lo") ? a["lo"].get<double>() : a["value"].get<double>();
    out += "  - metric: shadow_agreement\n    below: " + fmt(std::max(0.0, lo - 0.02), "%.3f") +
           "   # measured " + fmt(a["value"].get<double>(), "%.3f") + " (95 % low " + fmt(lo, "%.3f") + ") minus 2 points\n    window: 200\n";
  }
  out += "  - metric: override_rate\n    above: 0.12\n    window: 200\n";
  if (m.contains("p95_latency_ms")) {
    out += "  - metric: p95_latency_ms\n    above: " + fmt(1.5 * m["p95_latency_ms"]["value"].get<double>(), "%.0f") +
           "   # 1.5x the measured p95\n    window: 200\n";
  }
  return out;
}

}  // namespace bitdial
