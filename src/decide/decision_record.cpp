// decision.md (see decision_record.h). Sections in the order a reviewer asks: decision and cost, floors,
// evidence, slices, flips, power, cascade, monitoring, rollback, provenance.
#include "decide/decision_record.h"

#include <algorithm>
#include <cmath>

#include "decide/report_fields.h"
#include "decide/svg_chart.h"

namespace bitdial {
namespace {

using namespace report;

// Text for a Markdown table cell or paragraph: no line breaks, pipes escaped, and angle brackets and
// ampersands as entities so a name like "<b>" shows as typed in any renderer.
std::string md(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '|': out += "\\|"; break;
      case '\n': case '\r': out += ' '; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '*': case '\\': out += '\\'; out += c; break;  // emphasis; '_' is inert inside words in GFM
      default: out += c;
    }
  }
  return out;
}

// Inline code: entities do not apply inside backticks, so only pipes (which would split a table row)
// and backticks (which would end the span) are handled.
std::string code(std::string_view s) {
  std::string inner;
  for (char c : s) {
    if (c == '|') inner += "\\|";
    else if (c == '\n' || c == '\r') inner += ' ';
    else inner += c;
  }
  if (inner.find('`') != std::string::npos) return "`` " + inner + " ``";
  return "`" + inner + "`";
}

std::string floor_text_of(const Json& f) { return text(f, "floor", text(f, "text")); }

std::string name_of(const Json& m) { return text(m, "name"); }

std::string ci_points(const Json& m, const std::string& key) {
  std::string s = points(figure(m, key));
  if (auto ci = interval(m, key)) s += " [" + points(ci->first) + ", " + points(ci->second) + "]";
  return s;
}

void floors_held_table(std::string& o, const Json& m) {
  o += "| floor | value | bound tested | margin | result |\n|---|---:|---:|---:|---|\n";
  for (const Json& f : m.value("floors", Json::array())) {
    bool pass = f.value("pass", false);
    o += "| " + code(floor_text_of(f)) + " | " + floor_number(number(f, "value")) + " | " +
         floor_number(number(f, "bound")) + " | " + signed_sig(number(f, "margin"), 2) + " | " +
         (pass ? "holds" : "**fails**") + " |\n";
  }
}

void decision_section(std::string& o, const Json& r) {
  const Json* pick = decided_model(r);
  const Json* base = r.contains("baseline") ? &r["baseline"] : nullptr;
  const Json& d = r.value("decision", Json::object());
  std::string target = r.contains("target") ? text(r["target"], "name") : "";
  std::string on = target.empty() ? "" : " on " + md(target);
  auto base_cost = base ? figure(*base, "cost_per_month") : std::nullopt;
  o += "## Decision\n\n";
  if (chosen(r) && pick) {
    auto cost = figure(*pick, "cost_per_month");
    o += "Serve **" + code(name_of(*pick)) + "** (" + md(recipe(*pick)) + ", " +
         sig_or_na(figure(*pick, "bits_per_weight")) + " bits/weight, " + sig_or_na(figure(*pick, "file_mb")) +
         " MiB) in place of the baseline" + (base ? " " + code(name_of(*base)) : std::string()) + ".\n\n";
    if (!text(d, "reason").empty()) o += "- **Rule applied:** " + md(text(d, "reason")) + ".\n";
    o += "- **Cost:** " + money(cost) + "/month" + on + " at the configured traffic";
    if (cost && base_cost && *base_cost > 0)
      o += ", against " + money(base_cost) + " for the baseline: " + money(*base_cost - *cost) + "/month saved (" +
           svg::fixed(100 * (1 - *cost / *base_cost), 0) + " %)";
    o += ".\n";
    size_t n = pick->value("floors", Json::array()).size();
    o += "- **Floors:** all " + std::to_string(n) + " hold, with these margins:\n\n";
    floors_held_table(o, *pick);
    o += "\n";
    return;
  }
  o += "**None passed.** No candidate held every floor, so the baseline" +
       (base ? " " + code(name_of(*base)) : std::string()) + " stays in service.";
  o += "\n\n";
  if (!text(d, "reason").empty()) o += "- **Rule applied:** " + md(text(d, "reason")) + ".\n\n";
  if (pick) {
    auto failed = failed_floors(*pick);
    o += "Best effort: **" + code(name_of(*pick)) + "** (" + md(recipe(*pick)) + ", " +
         sig_or_na(figure(*pick, "bits_per_weight")) + " bits/weight, " + money(figure(*pick, "cost_per_month")) +
         "/month) fails " + std::to_string(failed.size()) + " of " +
         std::to_string(pick->value("floors", Json::array()).size()) + " floors:\n\n";
    floors_held_table(o, *pick);
    o += "\nServing it anyway means accepting those shortfalls explicitly; otherwise collect more task data "
         "(see statistical power below) or try a less aggressive precision or another method.\n\n";
  }
}

void failures_section(std::string& o, const Json& r) {
  // decision.failed lists every failed floor of every candidate; fall back to the candidates' own floors.
  std::vector<Json> rows;
  const Json& d = r.value("decision", Json::object());
  if (d.contains("failed") && d["failed"].is_array() && !d["failed"].empty()) {
    for (const Json& f : d["failed"]) rows.push_back(f);
  } else {
    for (const Json& c : r.value("candidates", Json::array()))
      for (const Json* f : failed_floors(c)) {
        Json row = *f;
        row["candidate"] = name_of(c);
        rows.push_back(row);
      }
  }
  o += chosen(r) ? "## Candidates rejected\n\n" : "## Why nothing passed\n\n";
  if (rows.empty()) {
    o += "Every candidate held every floor.\n\n";
    return;
  }
  o += "| candidate | floor | value | bound tested | shortfall |\n|---|---|---:|---:|---:|\n";
  for (const Json& f : rows)
    o += "| " + code(text(f, "candidate")) + " | " + code(floor_text_of(f)) + " | " + floor_number(number(f, "value")) +
         " | " + floor_number(number(f, "bound")) + " | " + signed_sig(number(f, "margin"), 2) + " |\n";
  o += "\nA shortfall is the negative margin: how far the tested bound lies on the wrong side of the floor.\n\n";
}

void floors_as_written(std::string& o, const Json& r) {
  o += "## Floors as written\n\n```yaml\nfloors:\n";
  std::string mode;
  if (r.contains("floors") && r["floors"].is_object()) {
    for (const Json& rule : r["floors"].value("rules", Json::array())) {
      std::string t = text(rule, "text");
      std::replace(t.begin(), t.end(), '\n', ' ');
      // A fence inside the user's text would close the code block early.
      for (size_t p; (p = t.find("```")) != std::string::npos;) t.replace(p, 3, "'''");
      o += "  - " + t + "\n";
    }
    mode = text(r["floors"], "mode");
  }
  o += "mode: " + (mode.empty() ? std::string("ci") : md(mode)) + "\n```\n\n";
  o += mode == "point" ? "Mode `point`: a floor passes when the point estimate passes.\n\n"
                       : "Mode `ci`: a floor passes only when its 95 % confidence bound passes (the lower bound for "
                         "`>=`, the upper for `<=`), so a noisy measurement cannot pass by luck.\n\n";
}

void evidence(std::string& o, const Json& r) {
  o += "## Evidence\n\n| name | kind | type / method | size MiB | bits/weight | accuracy | Δ accuracy, points "
       "[95 %] | KL mean | PPL | pp tok/s | tg tok/s | latency ms | cost/month | floors |\n"
       "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const Json* m : all_models(r)) {
    bool is_base = text(*m, "kind") == "baseline" || (r.contains("baseline") && m == &r["baseline"]);
    auto mb = figure(*m, "file_mb");
    std::string status = is_base ? "baseline" : m->value("passes", false) ? "all hold" : "fails " +
                         std::to_string(failed_floors(*m).size());
    if (decided_model(r) == m) status += chosen(r) ? ", **chosen**" : ", best effort";
    o += "| " + code(name_of(*m)) + " | " + md(text(*m, "kind")) + " | " + md(recipe(*m)) + " | " +
         (mb ? svg::fixed(*mb, *mb < 10 ? 2 : 1) : "n/a") + " | " + fixed_or_na(figure(*m, "bits_per_weight"), 2) +
         " | " + percent(figure(*m, "accuracy")) + " | " + (is_base ? "—" : ci_points(*m, "accuracy_delta")) + " | " +
         (is_base ? "—" : sig_or_na(figure(*m, "kld_mean"), 3)) + " | " + fixed_or_na(figure(*m, "ppl"), 3) + " | " +
         sig_or_na(figure(*m, "pp_tokens_per_s"), 4) + " | " + sig_or_na(figure(*m, "tg_tokens_per_s"), 3) + " | " +
         fixed_or_na(figure(*m, "latency_ms"), 0) + " | " + money(figure(*m, "cost_per_month")) + " | " + status +
         " |\n";
  }
  o += "\nLatency and cost are projected to the target hardware; tokens per second are measured on the sweep "
       "machine. n/a: not measured.\n\n";
}

void slices(std::string& o, const Json& r) {
  std::vector<std::string> tags = slice_tags(r);
  o += "## Accuracy difference per slice\n\n";
  if (tags.empty()) {
    o += "Not measured: the sweep had no task data with tags.\n\n";
    return;
  }
  o += "Candidate minus baseline, in percentage points [95 % interval].\n\n| candidate | overall |";
  for (const std::string& t : tags) o += " " + md(t) + " |";
  o += "\n|---|---:|";
  for (size_t i = 0; i < tags.size(); ++i) o += "---:|";
  o += "\n";
  for (const Json& c : r.value("candidates", Json::array())) {
    o += "| " + code(name_of(c)) + " | " + ci_points(c, "accuracy_delta") + " |";
    for (const std::string& t : tags) {
      o += ' ';
      o += ci_points(c, "slice[" + t + "].accuracy_delta");
      o += " |";
    }
    o += "\n";
  }
  o += "\n";
}

void flips(std::string& o, const Json& r) {
  const Json* pick = decided_model(r);
  o += "## Flips worth reading\n\n";
  if (!pick || !pick->contains("flips") || !(*pick)["flips"].is_object()) {
    o += "Not measured: no paired task examples for the " + std::string(chosen(r) ? "chosen" : "best-effort") +
         " candidate.\n\n";
    return;
  }
  o += "Task examples where " + code(name_of(*pick)) + " and the baseline disagree on correctness (first 10 each "
       "way, file order). Read the first table before shipping: these are the answers that get worse.\n\n";
  auto table = [&](const char* key, const char* title) {
    const Json& rows = (*pick)["flips"].value(key, Json::array());
    o += std::string("### ") + title + " (" + std::to_string(rows.size()) + " shown)\n\n";
    if (rows.empty()) {
      o += "None.\n\n";
      return;
    }
    o += "| id | input | label | baseline | candidate | tags |\n|---|---|---|---|---|---|\n";
    for (const Json& f : rows) {
      std::string tags;
      for (const Json& t : f.value("tags", Json::array()))
        if (t.is_string()) tags += (tags.empty() ? "" : ", ") + md(t.get<std::string>());
      std::string input = text(f, "input");
      if (input.size() > 160) input = input.substr(0, 157) + "...";
      o += "| " + code(text(f, "id")) + " | " + md(input) + " | " + md(text(f, "label")) + " | " +
           md(text(f, "baseline")) + " | " + md(text(f, "candidate")) + " | " + tags + " |\n";
    }
    o += "\n";
  };
  table("to_wrong", "Baseline right, candidate wrong");
  table("to_right", "Baseline wrong, candidate right");
}

void power(std::string& o, const Json& r) {
  o += "## Statistical power\n\n";
  const Json& p = r.value("power", Json::array());
  if (!p.is_array() || p.empty()) {
    o += "No accuracy-like floor was written, so there is no power to check.\n\n";
    return;
  }
  for (const Json& e : p) {
    bool ok = e.value("sufficient", false);
    o += std::string("- ") + (ok ? "Enough data for " : "**Warning:** too few examples for ") +
         code(text(e, "floor")) + ": " + md(text(e, "warning")) + " (n = " + std::to_string(e.value("n", 0)) +
         ", discordant pairs " + percent(number(e, "discordant_rate")) + ").\n";
  }
  o += "\nA floor without enough data can pass while the real drop is larger than it allows; treat it as "
       "unverified until more task examples are added.\n\n";
}

void cascade(std::string& o, const Json& r) {
  o += "## Cascade recommendation\n\n";
  const Json* c = r.contains("cascade") && r["cascade"].is_object() ? &r["cascade"] : nullptr;
  if (!c) {
    o += "Not measured: a cascade needs task data and a chosen or best-effort candidate.\n\n";
    return;
  }
  const Json* cand = find_model(r, text(*c, "candidate"));
  auto alone = cand ? figure(*cand, "cost_per_month") : std::nullopt;
  auto base_cost = r.contains("baseline") ? figure(r["baseline"], "cost_per_month") : std::nullopt;
  const Json& rec = c->value("recommended", Json());
  if (rec.is_object()) {
    auto cost = number(rec, "cost_per_month");
    o += "Serve " + code(text(*c, "candidate")) + " and escalate to the baseline when its confidence is below **" +
         sig_or_na(number(rec, "threshold"), 3) + "**: " + percent(number(rec, "escalation_rate")) +
         " of requests escalate, accuracy " + percent(number(rec, "accuracy")) + ", " + money(cost) +
         "/month, against " + money(alone) + " for the candidate alone";
    if (cost && alone) o += " (" + std::string(*cost >= *alone ? "+" : "-") + money(std::fabs(*cost - *alone)) + ")";
    o += " and " + money(base_cost) + " for the baseline alone.\n\n";
  } else {
    o += "No threshold holds every floor: no cascade is recommended.\n\n";
  }
  o += "Confidence: " + md(text(*c, "confidence", "probability of the predicted choice")) + ".\n\n";
  o += "| threshold | escalation | accuracy | Δ accuracy, points [95 %] | cost/month | floors |\n"
       "|---:|---:|---:|---:|---:|---|\n";
  for (const Json& p : c->value("points", Json::array())) {
    std::string delta = "n/a";
    if (p.contains("accuracy_delta") && p["accuracy_delta"].is_object()) {
      const Json& d = p["accuracy_delta"];
      delta = points(number(d, "value"));
      if (number(d, "lo") && number(d, "hi")) delta += " [" + points(number(d, "lo")) + ", " + points(number(d, "hi")) + "]";
    }
    bool is_rec = rec.is_object() && number(rec, "threshold") == number(p, "threshold");
    o += "| " + sig_or_na(number(p, "threshold"), 3) + (is_rec ? " (recommended)" : "") + " | " +
         percent(number(p, "escalation_rate")) + " | " + percent(number(p, "accuracy")) + " | " + delta + " | " +
         money(number(p, "cost_per_month")) + " | " + (p.value("passes", false) ? "hold" : "fail") + " |\n";
  }
  o += "\n";
}

// The threshold of the floor on `metric` (optionally in a slice), when the user wrote one.
std::optional<double> floor_threshold(const Json& r, std::string_view metric, bool delta, std::string_view slice) {
  if (!r.contains("floors") || !r["floors"].is_object() || !r["floors"].contains("rules")) return std::nullopt;
  for (const Json& rule : r["floors"]["rules"])
    if (text(rule, "metric") == metric && rule.value("delta", false) == delta && text(rule, "slice") == slice)
      return number(rule, "threshold");
  return std::nullopt;
}

void monitoring(std::string& o, const Json& r, const Json* pick) {
  o += "## Monitoring plan\n\n";
  if (!pick) {
    o += "Nothing to monitor: the baseline keeps serving.\n\n";
    return;
  }
  if (!chosen(r))
    o += "Nothing ships by default. If " + code(name_of(*pick)) + " is deployed anyway, watch these, derived from "
         "its measurements:\n\n";
  else
    o += "Thresholds derived from what the sweep measured for " + code(name_of(*pick)) + ":\n\n";
  o += "| signal | measured | alert when | why |\n|---|---|---|---|\n";
  auto agree = figure(*pick, "agreement");
  auto agree_ci = interval(*pick, "agreement");
  if (agree) {
    double alert = agree_ci ? agree_ci->first : *agree - 0.02;
    o += "| shadow agreement with the baseline (sample of traffic sent to both) | " + percent(agree) +
         (agree_ci ? " [" + percent(agree_ci->first) + ", " + percent(agree_ci->second) + "]" : "") +
         " | below " + percent(alert) + " over the last 500 shadowed requests | below the " +
         (agree_ci ? "95 % lower bound measured offline" : "measurement minus 2 points") +
         ": production inputs differ from the task data |\n";
  }
  const Json* c = r.contains("cascade") && r["cascade"].is_object() ? &r["cascade"] : nullptr;
  const Json& rec = c ? c->value("recommended", Json()) : Json();
  if (rec.is_object() && number(rec, "escalation_rate")) {
    double e = *number(rec, "escalation_rate");
    o += "| override (escalation) rate: requests the baseline answers | " + percent(e) + " at threshold " +
         sig_or_na(number(rec, "threshold"), 3) + " | above " + percent(std::min(1.0, 1.5 * e)) +
         " for an hour | the candidate is unsure more often than measured; cost drifts toward the baseline's |\n";
  } else if (agree) {
    double expect = 1 - (agree_ci ? agree_ci->first : *agree);
    o += "| override rate: answers corrected by people or the fallback | up to " + percent(expect) +
         " expected to differ | above " + percent(std::min(1.0, 1.5 * expect)) + " for a day | more disagreement "
         "than the baseline comparison allows |\n";
  }
  auto p95 = figure(*pick, "p95_latency_ms");
  auto lat_floor = floor_threshold(r, "p95_latency_ms", false, "");
  if (p95 || lat_floor) {
    double alert = lat_floor ? *lat_floor : 1.5 * *p95;
    o += "| p95 latency | " + fixed_or_na(p95, 0) + " ms (projected) | above " + svg::fixed(alert, 0) +
         " ms for 10 minutes | " + (lat_floor ? "the floor as written" : "1.5x the projection: no floor was written") +
         " |\n";
  }
  if (auto cost = figure(*pick, "cost_per_month"))
    o += "| monthly spend | " + money(cost) + " (projected) | above " + money(1.2 * *cost) +
         " | traffic or utilization differs from the configured projection |\n";
  std::vector<std::string> tags = slice_tags(r);
  for (const std::string& t : tags) {
    std::string key = "slice[" + t + "].accuracy_delta";
    if (!figure(*pick, key)) continue;
    auto rule = floor_threshold(r, "accuracy", true, t);
    auto ci = interval(*pick, key);
    std::optional<double> alert = rule ? rule : ci ? std::optional<double>(ci->first) : std::nullopt;
    o += "| slice " + code(t) + ": Δ accuracy vs baseline on shadowed labelled traffic | " + ci_points(*pick, key) +
         " points | below " + points(alert) + " points | " +
         (rule ? "the slice floor as written" : "the lower 95 % bound measured offline") + " |\n";
  }
  o += "\nRecompute the thresholds when the task data or the traffic figures change; a re-run of the sweep writes "
       "a new record.\n\n";
}

void rollback(std::string& o, const Json& r, const Json* pick) {
  o += "## Rollback plan\n\n";
  const Json* base = r.contains("baseline") ? &r["baseline"] : nullptr;
  std::string base_name = base ? name_of(*base) : "baseline";
  std::string base_file = base ? text(*base, "file") : "";
  std::string serve = text(r, "serve_config", "serve.yaml");
  o += "- " + code(serve) + " keeps the baseline " + code(base_name) +
       " as the control and the fallback: every escalation and every rollback lands on it.\n";
  o += "- Roll back by hand: `POST /admin/rollback` on the running `bitdial serve` sends all traffic to the "
       "baseline at once; or restart with `bitdial serve -m " + (base_file.empty() ? "BASELINE" : base_file) +
       "`.\n";
  if (!base_file.empty())
    o += "- Keep the baseline file " + code(base_file) + ": it is the rollback target; do not delete or replace it "
         "while the candidate serves.\n";
  if (pick) {
    o += "- Automatic rollback: configure " + code(serve) + " to switch to the baseline when any alert of the "
         "monitoring plan above holds for its stated window (agreement below its bound, p95 latency above its limit, "
         "a slice below its floor). Check that the rules in " + code(serve) + " match those thresholds before "
         "shipping.\n";
  }
  o += "\n";
}

void provenance(std::string& o, const Json& r) {
  o += "## Provenance\n\n";
  if (r.contains("config") && r["config"].is_object())
    o += "- Config: " + code(text(r["config"], "path")) + ", sha256 " + code(text(r["config"], "sha256")) + "\n";
  o += "- Results: " + code(text(r, "schema")) + ", created " + md(text(r, "created_utc")) + "\n";
  for (const Json* m : all_models(r)) {
    std::string key = text(*m, "key");
    if (!key.empty())
      o += "- " + code(name_of(*m)) + ": cache key " + code(key.substr(0, 16)) +
           (m->value("cached", false) ? " (reused from cache)" : "") + "\n";
  }
  o += "\n";
}

}  // namespace

std::string render_decision_md(const nlohmann::ordered_json& r) {
  const Json* pick = decided_model(r);
  std::string o = "# Decision record: ";
  o += chosen(r) && pick ? "serve " + code(name_of(*pick)) : std::string("none passed");
  o += "\n\n";
  std::string target = r.contains("target") ? text(r["target"], "name") : "";
  o += "Sweep of " + code(r.contains("config") ? text(r["config"], "path") : "") + ", results created " +
       md(text(r, "created_utc")) + (target.empty() ? "" : ", costs projected to " + md(target)) + ".\n\n";
  decision_section(o, r);
  failures_section(o, r);
  floors_as_written(o, r);
  evidence(o, r);
  slices(o, r);
  flips(o, r);
  power(o, r);
  cascade(o, r);
  monitoring(o, r, pick);
  rollback(o, r, pick);
  provenance(o, r);
  return o;
}

}  // namespace bitdial
