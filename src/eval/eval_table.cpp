// The terminal form of an evaluation summary (the JSON document run_evaluation builds).
#include <algorithm>
#include <cstdio>
#include <string>

#include "eval/evaluation.h"

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct(const json& p) {  // "84.0 % [79.1, 88.0]"; "n/a" when absent (nothing scored)
  if (p.is_null()) return "n/a";
  return fmt("%.1f %%", 100 * p["value"].get<double>()) + " [" + fmt("%.1f", 100 * p["ci95"][0].get<double>()) + ", " +
         fmt("%.1f", 100 * p["ci95"][1].get<double>()) + "]";
}

void text_section(std::string& o, const json& t, bool has_base) {
  o += "text " + t["file"].get<std::string>() + ": " + std::to_string(t["tokens"].get<int64_t>()) + " tokens, " +
       std::to_string(t["chunks"].get<int64_t>()) + " chunks of " + std::to_string(t["ctx"].get<int64_t>()) + ", " +
       std::to_string(t["scored_positions"].get<int64_t>()) + " positions scored\n";
  o += "  PPL candidate         " + fmt("%.4f", t["ppl"]["value"].get<double>()) + " ± " + fmt("%.4f", t["ppl"]["se"].get<double>()) + "\n";
  if (!has_base) return;
  const json& k = t["kld"];
  o += "  PPL baseline          " + fmt("%.4f", t["baseline_ppl"]["value"].get<double>()) + " ± " +
       fmt("%.4f", t["baseline_ppl"]["se"].get<double>()) + "\n";
  o += "  PPL ratio             " + fmt("%.4f", t["ppl_ratio"]["value"].get<double>()) + " ± " +
       fmt("%.4f", t["ppl_ratio"]["se"].get<double>()) + "\n";
  // An endpoint's top-K log-probs only bound the KL from below (docs/eval.md); the label says so.
  const bool bound = t.value("kld_lower_bound", false);
  const std::string kl = bound ? "KL (top-" + std::to_string(t["kld_top_k"].get<int>()) + " bound)" : "KL";
  auto label = [&](const std::string& what) {  // padded to the other rows' 24 columns
    std::string l = "  " + kl + " " + what;
    l.resize(std::max<size_t>(l.size() + 1, 24), ' ');
    return l;
  };
  o += label(bound ? "mean" : "divergence mean") + fmt("%.6f", k["mean"].get<double>()) + " ± " + fmt("%.6f", k["se"].get<double>()) + "\n";
  o += label("median/p90/p95") + fmt("%.6f", k["median"].get<double>()) + " / " + fmt("%.6f", k["p90"].get<double>()) + " / " +
       fmt("%.6f", k["p95"].get<double>()) + "\n";
  o += label("p99/p99.9/max") + fmt("%.6f", k["p99"].get<double>()) + " / " + fmt("%.6f", k["p99_9"].get<double>()) + " / " +
       fmt("%.6f", k["max"].get<double>()) + "\n";
  if (t.value("kld_lower_bound", false))
    o += "  baseline mass in top-K " + fmt("%.4f", t["kld_known_mass"].get<double>()) + " (mean; the bound sees only this)\n";
  o += "  same top-1            " + pct(t["same_top1"]) + "\n";
  o += "  RMS Δp(correct)       " + fmt("%.4f", t["rms_dp"].get<double>()) + "\n";
}

void slice_row(std::string& o, const std::string& name, const json& c, const json* b, const json* p) {
  char line[512];
  std::snprintf(line, sizeof line, "  %-16s %5lld %4lld  %-22s", name.c_str(), static_cast<long long>(c["n"].get<int64_t>()),
                static_cast<long long>(c["errors"].get<int64_t>()), pct(c.value("accuracy", json())).c_str());
  o += line;
  if (b != nullptr && p != nullptr) {
    const json& d = (*p)["accuracy_delta"];
    std::snprintf(line, sizeof line, " %-22s %+6.1f [%+.1f, %+.1f]  %6.1f %%  %4zu/%-4zu %.3g", pct(b->value("accuracy", json())).c_str(),
                  100 * d["value"].get<double>(), 100 * d["ci95"][0].get<double>(), 100 * d["ci95"][1].get<double>(),
                  100 * (*p)["agreement"]["value"].get<double>(), (*p)["flipped_to_wrong"].size(), (*p)["flipped_to_right"].size(),
                  (*p)["mcnemar"]["p_value"].get<double>());
    o += line;
  }
  o += "\n";
}

void task_section(std::string& o, const json& t) {
  const bool has_base = t.contains("baseline");
  o += "task " + t["name"].get<std::string>() + " (" + t["file"].get<std::string>() + "): " +
       std::to_string(t["examples"].get<int64_t>()) + " examples\n";
  o += "  slice                n  err  candidate acc [95 %]  ";
  if (has_base) o += " baseline acc [95 %]     Δacc pts [95 %]     agree   flips   McNemar p";
  o += "\n";
  const json& cs = t["candidate"]["slices"];
  slice_row(o, "(all)", t["candidate"]["overall"], has_base ? &t["baseline"]["overall"] : nullptr,
            has_base ? &t["paired"]["overall"] : nullptr);
  for (size_t i = 0; i < cs.size(); ++i)
    slice_row(o, cs[i]["tag"].get<std::string>(), cs[i], has_base ? &t["baseline"]["slices"][i] : nullptr,
              has_base ? &t["paired"]["slices"][i] : nullptr);
  if (has_base) o += "  flips: right→wrong / wrong→right (ids in --json and -o DIR)\n";
}

}  // namespace

std::string render_eval_table(const json& s) {
  std::string o = "model " + s["model"].get<std::string>();
  const bool has_base = !s["baseline"].is_null();
  if (has_base) o += " vs baseline " + s["baseline"].get<std::string>();
  o += "\n";
  for (const json& t : s["texts"]) text_section(o, t, has_base);
  for (const json& t : s["tasks"]) task_section(o, t);
  return o;
}

}  // namespace bitdial
