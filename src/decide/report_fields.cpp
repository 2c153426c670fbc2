// Field access and number printing shared by report.html and decision.md (see report_fields.h).
#include "decide/report_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "decide/svg_chart.h"

namespace bitdial::report {
namespace {

// A JSON value that is a number, or an object whose "value" is one (eval's {value, se, …} shape).
std::optional<double> as_number(const Json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_object() && v.contains("value") && v["value"].is_number()) return v["value"].get<double>();
  return std::nullopt;
}

const Json* member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

std::string with_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

}  // namespace

std::optional<double> number(const Json& obj, std::string_view key) {
  const Json* v = member(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::string text(const Json& obj, std::string_view key, std::string_view fallback) {
  const Json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string(fallback);
}

std::optional<double> figure(const Json& cand, std::string_view name) {
  if (const Json* metrics = member(cand, "metrics"))
    if (const Json* m = member(*metrics, name))
      if (auto v = as_number(*m)) return v;
  // Fall back to the fields the sweep derives these metrics from, so a results file with a sparse
  // metric table (a remote candidate, an older writer) still fills the report.
  if (name == "file_mb") {
    if (auto b = number(cand, "file_bytes")) return *b / (1024.0 * 1024.0);
    return std::nullopt;
  }
  if (name == "bits_per_weight") return number(cand, "bits_per_weight");
  if (const Json* cost = member(cand, "cost"))
    if (auto v = number(*cost, name)) return v;
  if (name == "ppl" || name == "kld_mean" || name == "same_top1") {
    const Json* eval = member(cand, "eval");
    const Json* texts = eval ? member(*eval, "texts") : nullptr;
    if (!texts || !texts->is_array() || texts->empty()) return std::nullopt;
    const Json& t = (*texts)[0];
    if (name == "kld_mean") {
      const Json* k = member(t, "kld");
      return k ? number(*k, "mean") : std::nullopt;
    }
    const Json* v = member(t, name);
    return v ? as_number(*v) : std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::pair<double, double>> interval(const Json& cand, std::string_view name) {
  const Json* metrics = member(cand, "metrics");
  const Json* m = metrics ? member(*metrics, name) : nullptr;
  if (!m) return std::nullopt;
  auto lo = number(*m, "lo"), hi = number(*m, "hi");
  if (!lo || !hi) return std::nullopt;
  return std::make_pair(*lo, *hi);
}

std::vector<const Json*> all_models(const Json& results) {
  std::vector<const Json*> out;
  if (const Json* b = member(results, "baseline"); b && b->is_object()) out.push_back(b);
  if (const Json* cs = member(results, "candidates"); cs && cs->is_array())
    for (const Json& c : *cs) out.push_back(&c);
  return out;
}

const Json* find_model(const Json& results, std::string_view name) {
  for (const Json* m : all_models(results))
    if (text(*m, "name") == name) return m;
  return nullptr;
}

bool chosen(const Json& results) {
  const Json* d = member(results, "decision");
  return d && text(*d, "status") == "chosen" && !text(*d, "chosen").empty();
}

const Json* decided_model(const Json& results) {
  const Json* d = member(results, "decision");
  if (!d) return nullptr;
  std::string name = text(*d, "chosen");
  if (name.empty()) name = text(*d, "best_effort");
  return name.empty() ? nullptr : find_model(results, name);
}

std::vector<std::string> slice_tags(const Json& results) {
  std::vector<std::string> tags;
  const std::string prefix = "slice[", suffix = "].accuracy_delta";
  for (const Json* m : all_models(results)) {
    const Json* metrics = member(*m, "metrics");
    if (!metrics || !metrics->is_object()) continue;
    for (auto it = metrics->begin(); it != metrics->end(); ++it) {
      const std::string& k = it.key();
      if (k.size() <= prefix.size() + suffix.size() || k.rfind(prefix, 0) != 0 ||
          k.compare(k.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      std::string tag = k.substr(prefix.size(), k.size() - prefix.size() - suffix.size());
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
  }
  return tags;
}

std::string recipe(const Json& cand) {
  std::string kind = text(cand, "kind");
  if (kind == "quantize") {
    std::string r = text(cand, "type", "?");
    std::string method = text(cand, "method");
    if (!method.empty()) r += " / " + method;
    if (auto b = number(cand, "budget_bpw")) r += " @ " + svg::sig(*b, 3) + " bpw";
    return r;
  }
  if (kind == "remote") return "remote: " + text(cand, "file");
  if (kind == "baseline") return text(cand, "type", "full precision");
  return "file";
}

std::vector<const Json*> failed_floors(const Json& cand) {
  std::vector<const Json*> out;
  if (const Json* fl = member(cand, "floors"); fl && fl->is_array())
    for (const Json& f : *fl)
      if (f.contains("pass") && f["pass"].is_boolean() && !f["pass"].get<bool>()) out.push_back(&f);
  return out;
}

std::string money(std::optional<double> d) {
  if (!d || !std::isfinite(*d)) return "n/a";
  std::string s = "$";
  // Cents only where they matter: $0.43 per million tokens, not $1,180.00 per month.
  s += std::fabs(*d) < 100 ? svg::fixed(*d, 2) : with_thousands(std::llround(*d));
  return s;
}

std::string percent(std::optional<double> f, int decimals) {
  if (!f || !std::isfinite(*f)) return "n/a";
  return svg::fixed(100 * *f, decimals) + " %";
}

std::string points(std::optional<double> f) {
  if (!f || !std::isfinite(*f)) return "n/a";
  std::string s = svg::fixed(100 * *f, 1);
  return (s[0] != '-' && s != "0.0" ? "+" : "") + s;
}

std::string signed_sig(std::optional<double> v, int digits) {
  if (!v || !std::isfinite(*v)) return "n/a";
  std::string s = svg::sig(*v, digits);
  return (*v > 0 ? "+" : "") + s;
}

std::string sig_or_na(std::optional<double> v, int digits) { return v ? svg::sig(*v, digits) : "n/a"; }

std::string fixed_or_na(std::optional<double> v, int decimals) { return v ? svg::fixed(*v, decimals) : "n/a"; }

std::string floor_number(std::optional<double> v) {
  if (!v) return "n/a";
  // Fractions (accuracies, deltas, KL) keep three significant digits, so 0.0171 is not cut to 0.017;
  // larger figures (milliseconds, dollars) four, which is whole units up to 9999.
  return svg::sig(*v, std::fabs(*v) < 1 ? 3 : 4);
}

}  // namespace bitdial::report
