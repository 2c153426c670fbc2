#include "decide/floors.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"

namespace bitdial {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::string_view kDeltaSuffix = "_delta";
constexpr std::string_view kSlicePrefix = "slice[";

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Levenshtein distance; names are short (< 30 chars), so the O(|a| |b|) table is cheap.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Up to three valid names (with "_delta" forms) near `name`: within an edit distance of a third of
// its length (at least 2), or containing it / contained in it ("latency" -> "latency_ms").
std::string close_names(std::string_view name) {
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  const auto consider = [&](const std::string& candidate) {
    const size_t d = edit_distance(name, candidate);
    const bool contains = name.size() >= 3 && (candidate.find(name) != std::string::npos ||
                                                name.find(candidate) != std::string_view::npos);
    if (d <= limit || contains) scored.emplace_back(d, candidate);
  };
  for (const MetricName& m : kMetricNames) {
    consider(std::string(m.name));
    if (m.has_delta) consider(std::string(m.name) + std::string(kDeltaSuffix));
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (size_t i = 0; i < scored.size() && i < 3; ++i) out += (i ? ", " : "") + scored[i].second;
  if (!out.empty()) return "did you mean " + out + "?";
  out = "known metrics: ";
  for (size_t i = 0; i < std::size(kMetricNames); ++i) out += (i ? ", " : "") + std::string(kMetricNames[i].name);
  return out + " (each with _delta where docs/floors.md says so)";
}

// Parses NUMBER: optional sign, then what std::from_chars accepts for a double; must be finite and
// consume the whole text.
std::optional<double> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string_view body = s;
  bool negative = false;
  if (body.front() == '+' || body.front() == '-') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (body.empty() || body.front() == '+' || body.front() == '-') return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ec != std::errc() || end != body.data() + body.size() || !std::isfinite(v)) return std::nullopt;
  return negative ? -v : v;
}

}  // namespace

std::string_view to_string(FloorOp op) { return op == FloorOp::at_least ? ">=" : "<="; }
std::string_view to_string(FloorMode mode) { return mode == FloorMode::ci ? "ci" : "point"; }

FloorMode parse_floor_mode(std::string_view text, std::string_view where) {
  const std::string_view t = trim(text);
  if (t == "ci") return FloorMode::ci;
  if (t == "point") return FloorMode::point;
  fail(where, ": floor mode \"", text, "\" is not one of: ci, point");
}

const MetricName* find_metric_name(std::string_view name) {
  for (const MetricName& m : kMetricNames)
    if (m.name == name) return &m;
  return nullptr;
}

Floor parse_floor(std::string_view text, std::string_view where) {
  const std::string_view t = trim(text);
  const auto bad = [&](auto&&... what) {
    return Error(concat(where, ": floor \"", t, "\": ", std::forward<decltype(what)>(what)...));
  };
  if (t.empty()) throw bad("empty floor (want e.g. \"accuracy_delta >= -0.01\")");

  Floor f;
  f.text = std::string(t);

  // The operator: the first '<' or '>' splits the text; only "<=" and ">=" are allowed.
  const size_t at = t.find_first_of("<>");
  if (at == std::string_view::npos) {
    if (t.find('=') != std::string_view::npos) throw bad("\"=\" / \"==\" is not a floor operator; use <= or >=");
    throw bad("missing operator (<= or >=) between the metric and the number");
  }
  if (at + 1 >= t.size() || t[at + 1] != '=')
    throw bad("operator \"", t[at], "\" is not allowed; use ", t[at], "= (floors are inclusive)");
  f.op = t[at] == '>' ? FloorOp::at_least : FloorOp::at_most;
  std::string_view lhs = trim(t.substr(0, at));
  const std::string_view rhs = trim(t.substr(at + 2));
  if (lhs.empty()) throw bad("no metric name before ", to_string(f.op));
  if (rhs.empty()) throw bad("no number after ", to_string(f.op));
  if (rhs.find_first_of("<>=") != std::string_view::npos) throw bad("more than one operator");

  // slice[TAG].
  if (lhs.starts_with(kSlicePrefix)) {
    const size_t close = lhs.find(']');
    if (close == std::string_view::npos) throw bad("\"slice[\" has no closing \"]\"");
    f.slice = std::string(lhs.substr(kSlicePrefix.size(), close - kSlicePrefix.size()));
    if (f.slice.empty()) throw bad("empty slice tag in \"slice[]\"");
    if (close + 1 >= lhs.size() || lhs[close + 1] != '.') throw bad("want \"slice[TAG].NAME\" (a '.' after ']')");
    lhs = lhs.substr(close + 2);
    if (lhs.empty()) throw bad("no metric name after \"slice[", f.slice, "].\"");
  }

  // NAME or NAME_delta.
  const MetricName* m = find_metric_name(lhs);
  if (!m && lhs.ends_with(kDeltaSuffix)) {
    const std::string_view base = lhs.substr(0, lhs.size() - kDeltaSuffix.size());
    m = find_metric_name(base);
    if (m && !m->has_delta) throw bad(base, " has no _delta form (no candidate-minus-baseline figure is reported)");
    f.delta = m != nullptr;
  }
  if (!m) throw bad("unknown metric \"", lhs, "\"; ", close_names(lhs));
  f.metric = std::string(m->name);
  if (!f.slice.empty() && !m->per_slice) throw bad(f.metric, " is not reported per slice; drop \"slice[", f.slice, "].\"");

  const std::optional<double> v = parse_number(rhs);
  if (!v) throw bad("bad number \"", rhs, "\" (want a finite decimal such as 0.89 or -0.01)");
  f.threshold = *v;

  f.key = f.metric + (f.delta ? std::string(kDeltaSuffix) : "");
  if (!f.slice.empty()) f.key = std::string(kSlicePrefix) + f.slice + "]." + f.key;
  return f;
}

FloorResult check_floor(const Floor& floor, const MetricTable& table, FloorMode mode) {
  FloorResult r;
  r.floor = floor.text;
  r.key = floor.key;
  const auto it = table.find(floor.key);
  if (it == table.end()) {
    r.missing = true;
    r.value = r.bound = r.margin = kNaN;
    r.note = "not measured";
    return r;
  }
  const Metric& m = it->second;
  const bool at_least = floor.op == FloorOp::at_least;
  r.value = m.value;
  r.has_interval = m.has_interval();
  r.bound = m.value;
  if (mode == FloorMode::ci) {
    if (r.has_interval) r.bound = at_least ? *m.lo : *m.hi;
    else r.note = "no interval: point estimate used";
  }
  r.margin = at_least ? r.bound - floor.threshold : floor.threshold - r.bound;
  // A NaN bound compares false, so an unmeasurable figure fails rather than passes.
  r.pass = at_least ? r.bound >= floor.threshold : r.bound <= floor.threshold;
  return r;
}

FloorsCheck check_floors(const std::vector<Floor>& floors, const MetricTable& table, FloorMode mode) {
  FloorsCheck c;
  for (const Floor& f : floors) {
    FloorResult r = check_floor(f, table, mode);
    if (!r.pass) {
      ++c.failed;
      if (std::isfinite(r.margin)) c.total_shortfall += -r.margin;
    }
    c.results.push_back(std::move(r));
  }
  return c;
}

namespace {
nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json floors_json(const std::vector<Floor>& floors, FloorMode mode) {
  nlohmann::ordered_json rules = nlohmann::ordered_json::array();
  for (const Floor& f : floors) {
    rules.push_back({{"text", f.text},
                     {"key", f.key},
                     {"metric", f.metric},
                     {"delta", f.delta},
                     {"slice", f.slice.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(f.slice)},
                     {"op", std::string(to_string(f.op))},
                     {"threshold", f.threshold}});
  }
  return {{"mode", std::string(to_string(mode))}, {"rules", std::move(rules)}};
}

nlohmann::ordered_json floor_results_json(const std::vector<FloorResult>& results) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const FloorResult& r : results) {
    nlohmann::ordered_json j = {{"floor", r.floor},
                                {"value", number_or_null(r.value)},
                                {"bound", number_or_null(r.bound)},
                                {"pass", r.pass},
                                {"margin", number_or_null(r.margin)}};
    if (!r.note.empty()) j["note"] = r.note;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace bitdial
