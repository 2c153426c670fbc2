// report.html (see report_html.h): header with the decision, floors table, evidence table, statistical
// power, then the six charts from report_charts.cpp.
#include "decide/report_html.h"

#include <algorithm>
#include <cmath>

#include "decide/report_charts.h"
#include "decide/report_fields.h"
#include "decide/svg_chart.h"

namespace bitdial {
namespace {

using report::Json;
using svg::escape;

// System font stacks only: an embedded or linked web font would break "no external reference" or add
// hundreds of KB. tabular-nums keeps digits aligned in every table column.
constexpr const char* kCss = R"css(
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--chosen:#16a34a;--pass:#2563eb;--fail:#f97316;--base:#4b5563}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:32px 40px 48px}
h1{font-size:26px;line-height:1.25;margin:4px 0 12px}
h2{font-size:19px;margin:40px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:0 0 2px}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:var(--muted)}
.verdict{border-left:5px solid var(--chosen);background:#f0fdf4;padding:14px 18px;border-radius:0 6px 6px 0;font-size:16px;max-width:1000px}
.verdict.none{border-color:#dc2626;background:#fef2f2}
.verdict p{margin:0}.verdict .why{margin-top:6px;font-size:13px;color:#374151}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 18px;margin:18px 0 0;font-size:13px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.evidence{font-size:12.5px}table.evidence th,table.evidence td{padding:7px 6px}
table.evidence thead th{white-space:normal;vertical-align:bottom}
td.name{white-space:nowrap;font-weight:600}td.name .sw{margin-right:7px}
thead th{background:#f9fafb;font-weight:600;border-bottom:2px solid #d1d5db;white-space:nowrap}
.num{text-align:right;white-space:nowrap}
td.fail{background:#fef2f2;color:#991b1b}
td.floor .m{font-weight:600}td.floor .d{display:block;font-size:11.5px;color:var(--muted)}
td.fail .d{color:#b45454}
tr.picked td{background:#f0fdf4}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;margin-left:6px;vertical-align:1px}
.badge.chosen{background:#dcfce7;color:#166534}.badge.pass{background:#dbeafe;color:#1e40af}
.badge.fail{background:#ffedd5;color:#9a3412}.badge.baseline{background:#f3f4f6;color:#374151}
.note{color:var(--muted);font-size:12.5px;margin:8px 0 0}
.warn{border-left:4px solid #f59e0b;background:#fffbeb;padding:8px 12px;margin:6px 0;border-radius:0 4px 4px 0}
.ok{border-left:4px solid #a7f3d0;padding:6px 12px;margin:6px 0;color:#374151}
.legend{display:flex;gap:18px;font-size:12.5px;color:#374151;margin:0 0 14px}
.sw{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:6px;vertical-align:-1px}
.sw.baseline{border-radius:1px;background:var(--base)}.sw.chosen{background:var(--chosen);box-shadow:0 0 0 2px #fff,0 0 0 3.5px var(--chosen)}
.sw.pass{background:var(--pass)}.sw.fail{background:var(--fail)}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:28px 32px}
figure{margin:0;break-inside:avoid}figure.wide{grid-column:1/-1}
figcaption p{margin:0 0 8px;color:var(--muted);font-size:12.5px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
figure:not(.wide) svg.chart{max-width:560px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;fill:var(--ink)}
.tick{font-size:11px;fill:#6b7280}.axis-title{font-size:12px;fill:#374151}.label{font-size:11px;fill:#111827}
.note{font-size:11px;fill:#6b7280}.muted{font-size:12px;fill:#6b7280}
.col-head{font-size:12px;font-weight:600}.cell-text{font-size:11.5px}
.grid{stroke:#eef0f3}.axis{stroke:#9ca3af}
.mark{stroke:#fff;stroke-width:1.5}
.mark.baseline{fill:var(--base)}.mark.chosen{fill:var(--chosen)}.mark.pass{fill:var(--pass)}.mark.fail{fill:var(--fail)}
.mark.dominated{fill-opacity:.35;stroke-opacity:1}
.ring{fill:none;stroke:var(--chosen);stroke-width:2}
.ci{stroke-width:2.5;stroke-linecap:round;opacity:.45}
.ci.baseline{stroke:var(--base)}.ci.chosen{stroke:var(--chosen)}.ci.pass{stroke:var(--pass)}.ci.fail{stroke:var(--fail)}
.ref{stroke:#6b7280;stroke-dasharray:4 3}.ref-text{font-size:11px;fill:#6b7280}
.frontier{fill:none;stroke:#16a34a;stroke-width:2;stroke-dasharray:6 4;opacity:.65}
.curve{fill:none;stroke:#94a3b8;stroke-width:1.5}
.bar.baseline{fill:#9ca3af}.bar.chosen{fill:var(--chosen)}.bar.pass{fill:#93c5fd}.bar.fail{fill:#fdba74}
.value{font-size:11.5px;fill:#111827;font-weight:600}
.cell{stroke:#fff}
.qbox{stroke-width:1.2}.qbox.chosen{fill:#bbf7d0;stroke:var(--chosen)}.qbox.pass{fill:#bfdbfe;stroke:var(--pass)}
.qbox.fail{fill:#fed7aa;stroke:var(--fail)}.qbox.baseline{fill:#e5e7eb;stroke:var(--base)}
.whisker{stroke-width:2}.whisker.chosen{stroke:var(--chosen)}.whisker.pass{stroke:var(--pass)}
.whisker.fail{stroke:var(--fail)}.whisker.baseline{stroke:var(--base)}
.q-tick{stroke:#111827;stroke-width:1.5}.mean-mark{fill:#111827}
.box-key{fill:#bfdbfe;stroke:var(--pass)}.whisker-key{stroke:var(--pass);stroke-width:2}
.not-measured{color:var(--muted);font-style:italic;border:1px dashed #d1d5db;padding:12px 14px;border-radius:6px;margin:0}
footer{margin-top:44px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@media (max-width:900px){.charts{grid-template-columns:1fr}main{padding:20px}}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}tr,figure{break-inside:avoid}
.verdict,td.fail,thead th,.badge,.sw{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
)css";

std::string badge(const std::string& cls) {
  const char* label = cls == "chosen" ? "chosen" : cls == "pass" ? "passes" : cls == "fail" ? "fails" : "baseline";
  return "<span class=\"badge " + cls + "\">" + label + "</span>";
}

std::string floor_text_of(const Json& floor) { return report::text(floor, "floor", report::text(floor, "text")); }

// The sentence at the top: what to serve and the figures that justify it.
std::string verdict(const Json& r) {
  using namespace report;
  const Json* base = r.contains("baseline") ? &r["baseline"] : nullptr;
  const Json* pick = decided_model(r);
  const Json& d = r.value("decision", Json::object());
  std::string target = r.contains("target") ? text(r["target"], "name") : "";
  std::string on = target.empty() ? "" : " on " + escape(target);
  std::string out;
  if (chosen(r) && pick) {
    auto floors = pick->value("floors", Json::array());
    const Json* tight = nullptr;
    for (const Json& f : floors)
      if (number(f, "margin") && (!tight || *number(f, "margin") < *number(*tight, "margin"))) tight = &f;
    auto cost = figure(*pick, "cost_per_month");
    auto base_cost = base ? figure(*base, "cost_per_month") : std::nullopt;
    out = "<div class=\"verdict\"><p>Serve <strong>" + escape(text(*pick, "name")) + "</strong> (" +
          escape(recipe(*pick)) + ", " + sig_or_na(figure(*pick, "bits_per_weight")) + " bits/weight, " +
          sig_or_na(figure(*pick, "file_mb")) + " MiB): it holds all " + std::to_string(floors.size()) + " floors";
    if (tight)
      out += " (tightest: <code>" + escape(floor_text_of(*tight)) + "</code> with a margin of " +
             floor_number(number(*tight, "margin")) + ")";
    out += " and costs " + money(cost) + "/month" + on;
    if (cost && base_cost && *base_cost > 0)
      out += ", " + svg::fixed(100 * (1 - *cost / *base_cost), 0) + " % less than the baseline's " + money(base_cost);
    out += ".</p>";
  } else {
    out = "<div class=\"verdict none\"><p><strong>None passed:</strong> no candidate held every floor, so the "
          "baseline stays in service";
    if (pick) {
      auto failed = failed_floors(*pick);
      out += ". Best effort: <strong>" + escape(text(*pick, "name")) + "</strong> (" + escape(recipe(*pick)) + ", " +
             sig_or_na(figure(*pick, "bits_per_weight")) + " bits/weight, " + money(figure(*pick, "cost_per_month")) +
             "/month) fails " + std::to_string(failed.size()) + " of " +
             std::to_string(pick->value("floors", Json::array()).size()) + " floors";
      for (size_t i = 0; i < failed.size(); ++i)
        out += std::string(i ? "; " : ": ") + "<code>" + escape(floor_text_of(*failed[i])) + "</code> short by " +
               floor_number(std::fabs(number(*failed[i], "margin").value_or(NAN)));
    }
    out += ".</p>";
  }
  std::string reason = text(d, "reason");
  if (!reason.empty()) out += "<p class=\"why\">Rule applied: " + escape(reason) + ".</p>";
  return out + "</div>";
}

std::string meta(const Json& r) {
  using namespace report;
  std::string o = "<dl class=\"meta\">";
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) o += "<dt>" + k + "</dt><dd>" + v + "</dd>";
  };
  if (r.contains("config") && r["config"].is_object()) {
    std::string sha = text(r["config"], "sha256");
    row("config", "<code>" + escape(text(r["config"], "path")) + "</code>" +
                      (sha.empty() ? "" : " (sha256 " + escape(sha.substr(0, 12)) + "…)"));
  }
  row("created", escape(text(r, "created_utc")));
  if (r.contains("target") && r["target"].is_object()) {
    const Json& t = r["target"];
    row("target hardware", escape(text(t, "name")) + ", " + sig_or_na(number(t, "memory_gb")) + " GB, " +
                               money(number(t, "dollars_per_hour")) + "/hour");
  }
  if (r.contains("traffic") && r["traffic"].is_object()) {
    const Json& t = r["traffic"];
    row("traffic", sig_or_na(number(t, "requests_per_day"), 6) + " requests/day, " +
                       sig_or_na(number(t, "prompt_tokens"), 6) + " prompt + " +
                       sig_or_na(number(t, "output_tokens"), 6) + " output tokens, utilization " +
                       percent(number(t, "utilization"), 0));
  }
  if (r.contains("floors") && r["floors"].is_object()) {
    std::string mode = text(r["floors"], "mode");
    row("floor mode", mode == "ci"      ? "ci: a floor passes only when its 95 % confidence bound passes"
                      : mode == "point" ? "point: a floor passes when the point estimate passes"
                                        : escape(mode));
  }
  row("serve config", r.contains("serve_config") && r["serve_config"].is_string()
                          ? "<code>" + escape(r["serve_config"].get<std::string>()) + "</code>"
                          : "");
  if (auto s = number(r, "seconds")) row("run time", svg::fixed(*s, 0) + " s");
  return o + "</dl>";
}

// Floor texts in the order written: the rules, then any a candidate reports that the rules lack.
std::vector<std::string> floor_texts(const Json& r) {
  std::vector<std::string> out;
  if (r.contains("floors") && r["floors"].is_object())
    for (const Json& rule : r["floors"].value("rules", Json::array())) out.push_back(report::text(rule, "text"));
  for (const Json* m : report::all_models(r))
    for (const Json& f : m->value("floors", Json::array())) {
      std::string t = floor_text_of(f);
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
  return out;
}

std::string floors_table(const Json& r) {
  using namespace report;
  std::vector<std::string> texts = floor_texts(r);
  if (texts.empty()) return "<p class=\"not-measured\">No floors were written.</p>";
  std::string o = "<table><thead><tr><th>candidate</th>";
  for (const std::string& t : texts) o += "<th class=\"num\"><code>" + escape(t) + "</code></th>";
  o += "</tr></thead><tbody>";
  for (const Json* m : all_models(r)) {
    const Json& fl = m->value("floors", Json::array());
    if (fl.empty()) continue;
    std::string cls = status_class(r, *m);
    o += std::string(cls == "chosen" ? "<tr class=\"picked\">" : "<tr>") + "<td>" + escape(text(*m, "name")) +
         badge(cls) + "</td>";
    for (const std::string& t : texts) {
      auto it = std::find_if(fl.begin(), fl.end(), [&](const Json& f) { return floor_text_of(f) == t; });
      if (it == fl.end()) {
        o += "<td class=\"num\">—</td>";
        continue;
      }
      bool pass = it->value("pass", false);
      o += std::string("<td class=\"num floor ") + (pass ? "pass" : "fail") + "\"><span class=\"m\">" +
           (pass ? "✓ pass " : "✗ fail ") + signed_sig(number(*it, "margin"), 2) + "</span><span class=\"d\">value " +
           floor_number(number(*it, "value")) + " · bound " + floor_number(number(*it, "bound")) + "</span></td>";
    }
    o += "</tr>";
  }
  o += "</tbody></table><p class=\"note\">Each cell: pass or fail, then the margin (above 0: how far inside the "
       "floor; below 0: the shortfall), the point estimate and the bound that was tested (the 95 % bound in ci "
       "mode). Units are those the floor is written in.</p>";
  return o;
}

std::string evidence_table(const Json& r) {
  using namespace report;
  std::string o =
      "<table class=\"evidence\"><thead><tr><th>name</th><th>kind</th><th>type / method</th><th class=\"num\">size MiB</th>"
      "<th class=\"num\">bits/weight</th><th class=\"num\">accuracy</th><th class=\"num\">Δ accuracy, points "
      "[95 %]</th><th class=\"num\">KL mean</th><th class=\"num\">PPL</th><th class=\"num\">pp tok/s</th>"
      "<th class=\"num\">tg tok/s</th><th class=\"num\">latency ms</th><th class=\"num\">cost/month</th></tr>"
      "</thead><tbody>";
  for (const Json* m : all_models(r)) {
    std::string cls = status_class(r, *m);
    auto delta = figure(*m, "accuracy_delta");
    auto ci = interval(*m, "accuracy_delta");
    std::string d = cls == "baseline" ? "—" : points(delta);
    if (ci && cls != "baseline") d += " [" + points(ci->first) + ", " + points(ci->second) + "]";
    auto kl = figure(*m, "kld_mean");
    auto mb = figure(*m, "file_mb");
    o += std::string(cls == "chosen" ? "<tr class=\"picked\">" : "<tr>") + "<td class=\"name\"><span class=\"sw " +
         cls + "\" title=\"" + cls + "\"></span>" + escape(text(*m, "name")) + "</td><td>" + escape(text(*m, "kind")) + "</td><td>" + escape(recipe(*m)) +
         "</td><td class=\"num\">" + (mb ? svg::fixed(*mb, *mb < 10 ? 2 : 1) : "n/a") + "</td><td class=\"num\">" +
         fixed_or_na(figure(*m, "bits_per_weight"), 2) + "</td><td class=\"num\">" +
         percent(figure(*m, "accuracy")) + "</td><td class=\"num\">" + d + "</td><td class=\"num\">" +
         (cls == "baseline" && !kl ? "—" : sig_or_na(kl, 3)) + "</td><td class=\"num\">" +
         fixed_or_na(figure(*m, "ppl"), 3) + "</td><td class=\"num\">" + sig_or_na(figure(*m, "pp_tokens_per_s"), 4) +
         "</td><td class=\"num\">" + sig_or_na(figure(*m, "tg_tokens_per_s"), 3) + "</td><td class=\"num\">" +
         fixed_or_na(figure(*m, "latency_ms"), 0) + "</td><td class=\"num\">" + money(figure(*m, "cost_per_month")) +
         "</td></tr>";
  }
  return o + "</tbody></table><p class=\"note\">Latency and cost are projected to the target hardware at the "
             "configured traffic; pp/tg tokens per second are measured on the sweep machine. n/a: not measured.</p>";
}

std::string power_section(const Json& r) {
  const Json& power = r.value("power", Json::array());
  if (!power.is_array() || power.empty())
    return "<p class=\"ok\">No accuracy-like floor was written, so there is no statistical power to check.</p>";
  std::string o;
  for (const Json& p : power) {
    bool ok = p.value("sufficient", false);
    std::string w = report::text(p, "warning");
    std::string fl = report::text(p, "floor");
    if (w.empty())
      w = std::to_string(p.value("n", 0)) + " examples detect a drop of " +
          svg::fixed(100 * report::number(p, "min_detectable_drop").value_or(NAN), 1) + " points at 80 % power";
    o += std::string(ok ? "<p class=\"ok\">" : "<p class=\"warn\">") + (ok ? "Enough data: " : "<strong>Too few "
         "examples:</strong> ") + "<code>" + escape(fl) + "</code> — " + escape(w) + ".</p>";
  }
  return o;
}

std::string figure_html(const std::string& title, const std::string& how, const std::string& body, bool wide,
                        const std::string& id) {
  return "<figure id=\"" + id + "\"" + (wide ? " class=\"wide\"" : "") + "><figcaption><h3>" + title + "</h3><p>" +
         how + "</p></figcaption>" + body + "</figure>";
}

}  // namespace

std::string render_report_html(const nlohmann::ordered_json& r) {
  using namespace report;
  const Json* pick = decided_model(r);
  std::string title = chosen(r) && pick ? "serve " + text(*pick, "name") : std::string("none passed");
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                  "<title>bitdial sweep: " + escape(title) + "</title><style>" + kCss + "</style></head><body><main>";
  o += "<header><p class=\"kicker\">bitdial sweep report</p><h1>Decision: " + escape(title) + "</h1>" + verdict(r) +
       meta(r) + "</header>";
  o += "<section id=\"floors\"><h2>Floors</h2>" + floors_table(r) + "</section>";
  o += "<section id=\"evidence\"><h2>Evidence</h2>" + evidence_table(r) + "</section>";
  o += "<section id=\"power\"><h2>Statistical power</h2>" + power_section(r) + "</section>";
  o += "<section id=\"charts\"><h2>Charts</h2><div class=\"legend\"><span><span class=\"sw baseline\"></span>"
       "baseline</span><span><span class=\"sw chosen\"></span>chosen</span><span><span class=\"sw pass\"></span>"
       "holds every floor</span><span><span class=\"sw fail\"></span>fails a floor</span></div><div class=\"charts\">";
  o += figure_html("1. Quality vs bits per weight",
                   "Left: mean KL divergence from the baseline (log scale; lower is closer). Right: task accuracy with "
                   "its 95 % interval; the dashed line is the baseline.",
                   chart_quality(r), true, "chart-quality");
  o += figure_html("2. Latency vs size",
                   "Projected latency per request against file size. Points on the dashed line form the Pareto "
                   "frontier: no other model is both smaller and faster. Faded points are dominated.",
                   chart_latency_size(r), false, "chart-pareto");
  o += figure_html("3. Cost per month",
                   "Serving cost at the configured traffic on the target hardware; the chosen candidate is green.",
                   chart_cost(r), false, "chart-cost");
  o += figure_html("4. Accuracy difference per slice",
                   "Candidate minus baseline accuracy in percentage points, overall and per tag of the task data. "
                   "Red is worse, blue better; bold cells have a 95 % interval that excludes zero.",
                   chart_slices(r), report::slice_tags(r).size() > 3, "chart-slices");
  o += figure_html("5. KL divergence distribution",
                   "Per scored text position, log scale: the box spans median to p95, the whisker reaches the "
                   "maximum; long tails mean rare but large disagreements.",
                   chart_kld(r), false, "chart-kld");
  o += figure_html("6. Cascade: accuracy vs cost",
                   "Serve the candidate and escalate to the baseline when its confidence is below the threshold. "
                   "Higher thresholds escalate more: accuracy rises toward the baseline, and so does cost.",
                   chart_cascade(r), false, "chart-cascade");
  o += "</div></section><footer>Rendered by bitdial from results.json (" + escape(text(r, "schema")) + ", created " +
       escape(text(r, "created_utc")) + "). Every figure on this page is in that file.</footer></main></body></html>\n";
  return o;
}

}  // namespace bitdial
