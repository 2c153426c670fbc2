// The report's six charts (see report_charts.h). Colours come from CSS classes in report_html.cpp, one
// per decision status, so a candidate looks the same in every chart: baseline grey square, chosen green
// with a ring, passing blue, failing orange.
#include "decide/report_charts.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "decide/svg_chart.h"

namespace bitdial::report {
namespace {

using svg::Frame;
using svg::Point;
using svg::Svg;

constexpr double kWidth = 560, kHeight = 340;

// Plot area inside an svg of width w and height h, leaving room for tick labels and axis titles.
Frame frame_in(double x0, double w, double h) { return Frame{x0 + 64, 16, x0 + w - 18, h - 48, {}, {}}; }

Point model_point(const Json& results, const Json& m, double x, double y) {
  Point p;
  p.x = x;
  p.y = y;
  p.label = text(m, "name");
  p.cls = status_class(results, m);
  p.shape = p.cls == "baseline" ? "square" : "circle";
  p.ring = p.cls == "chosen";
  return p;
}

bool has_tasks(const Json& results) {
  for (const Json* m : all_models(results))
    if (figure(*m, "accuracy")) return true;
  return false;
}

std::string name_of(const Json& m) { return text(m, "name"); }

}  // namespace

std::vector<size_t> pareto_front(const std::vector<std::pair<double, double>>& pts) {
  std::vector<size_t> out;
  auto finite = [](const std::pair<double, double>& p) { return std::isfinite(p.first) && std::isfinite(p.second); };
  for (size_t i = 0; i < pts.size(); ++i) {
    if (!finite(pts[i])) continue;
    bool dominated = false;
    for (size_t j = 0; j < pts.size() && !dominated; ++j) {
      if (j == i || !finite(pts[j])) continue;
      const auto& a = pts[j];
      const auto& b = pts[i];
      dominated = a.first <= b.first && a.second <= b.second && (a.first < b.first || a.second < b.second);
    }
    if (!dominated) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](size_t a, size_t b) {
    if (pts[a].first != pts[b].first) return pts[a].first < pts[b].first;
    if (pts[a].second != pts[b].second) return pts[a].second < pts[b].second;
    return a < b;
  });
  return out;
}

std::string not_measured(std::string_view why) {
  return "<p class=\"not-measured\">Not measured: " + svg::escape(why) + "</p>";
}

std::string status_class(const Json& results, const Json& model) {
  if (text(model, "kind") == "baseline" || (results.contains("baseline") && &model == &results["baseline"]))
    return "baseline";
  const Json& d = results.contains("decision") ? results["decision"] : Json::object();
  if (!text(d, "chosen").empty() && text(d, "chosen") == name_of(model)) return "chosen";
  return model.value("passes", false) ? "pass" : "fail";
}

std::string chart_quality(const Json& results) {
  std::vector<Point> kl_pts, acc_pts;
  std::optional<double> base_bpw, base_acc;
  const Json* base = results.contains("baseline") ? &results["baseline"] : nullptr;
  if (base) base_bpw = figure(*base, "bits_per_weight"), base_acc = figure(*base, "accuracy");
  std::vector<double> xs, kls, accs;
  if (base_bpw) xs.push_back(*base_bpw);
  if (base_acc) accs.push_back(*base_acc);
  std::vector<std::pair<double, double>> acc_ci;  // per acc point, in order
  for (const Json* m : all_models(results)) {
    auto bpw = figure(*m, "bits_per_weight");
    if (!bpw) continue;
    bool is_base = m == base;
    auto kl = figure(*m, "kld_mean");
    if (!is_base && kl && *kl > 0) {
      kl_pts.push_back(model_point(results, *m, *bpw, *kl));
      kl_pts.back().tooltip = name_of(*m) + ": " + svg::sig(*bpw) + " bits/weight, mean KL " + svg::sig(*kl) + " nats";
      xs.push_back(*bpw);
      kls.push_back(*kl);
    }
    if (auto acc = figure(*m, "accuracy")) {
      acc_pts.push_back(model_point(results, *m, *bpw, *acc));
      auto ci = interval(*m, "accuracy");
      acc_pts.back().tooltip = name_of(*m) + ": accuracy " + percent(*acc) +
                               (ci ? " [" + percent(ci->first) + ", " + percent(ci->second) + "]" : "");
      acc_ci.push_back(ci.value_or(std::make_pair(*acc, *acc)));
      xs.push_back(*bpw);
      accs.push_back(*acc);
      if (ci) accs.push_back(ci->first), accs.push_back(ci->second);
    }
  }
  if (kl_pts.empty() && acc_pts.empty())
    return not_measured("no candidate has both bits per weight and a KL divergence or accuracy");

  const double panel = kWidth;
  Svg s(2 * panel, kHeight, "Quality vs bits per weight: mean KL divergence (log scale) and task accuracy");
  svg::Scale xs_scale = svg::fit_scale(xs, false, 0, 1);
  // Left panel: KL on a log axis; the baseline's own KL is 0, so it is a vertical line, not a point.
  Frame fl = frame_in(0, panel, kHeight);
  fl.x = xs_scale, fl.x.px_lo = fl.left, fl.x.px_hi = fl.right;
  if (kl_pts.empty()) {
    s.text(panel / 2, kHeight / 2, "KL divergence not measured (no text evaluated)", "middle", "muted");
  } else {
    fl.y = svg::fit_scale(kls, true, fl.bottom, fl.top);
    svg::draw_axes(s, fl, "bits per weight", "mean KL divergence (nats, log)");
    if (base_bpw) {
      s.line(fl.px(*base_bpw), fl.top, fl.px(*base_bpw), fl.bottom, "ref");
      s.text(fl.px(*base_bpw) - 5, fl.top + 12, "baseline (KL 0)", "end", "ref-text");
    }
    svg::draw_scatter(s, fl, kl_pts);
  }
  // Right panel: accuracy with its 95 % interval as a vertical bar; the baseline as a dashed level.
  Frame fr = frame_in(panel, panel, kHeight);
  fr.x = xs_scale, fr.x.px_lo = fr.left, fr.x.px_hi = fr.right;
  if (acc_pts.empty()) {
    s.text(panel * 1.5, kHeight / 2, "Accuracy not measured (no task data)", "middle", "muted");
  } else {
    fr.y = svg::fit_scale(accs, false, fr.bottom, fr.top);
    svg::draw_axes(s, fr, "bits per weight", "task accuracy");
    if (base_acc) {
      s.line(fr.left, fr.py(*base_acc), fr.right, fr.py(*base_acc), "ref");
      // Named in the panel's corner, not beside the line, where candidates' labels compete for room.
      s.line(fr.left + 8, fr.top + 8, fr.left + 30, fr.top + 8, "ref");
      s.text(fr.left + 35, fr.top + 12, "baseline accuracy " + percent(*base_acc), "start", "ref-text");
    }
    for (size_t i = 0; i < acc_pts.size(); ++i) {
      double x = fr.px(acc_pts[i].x);
      s.line(x, fr.py(acc_ci[i].first), x, fr.py(acc_ci[i].second), "ci " + acc_pts[i].cls);
    }
    svg::draw_scatter(s, fr, acc_pts);
  }
  return s.str();
}

std::string chart_latency_size(const Json& results) {
  std::vector<const Json*> ms;
  std::vector<std::pair<double, double>> xy;
  for (const Json* m : all_models(results)) {
    auto mb = figure(*m, "file_mb"), lat = figure(*m, "latency_ms");
    if (!mb || !lat) continue;
    ms.push_back(m);
    xy.push_back({*mb, *lat});
  }
  if (ms.empty()) return not_measured("no candidate has both a file size and a projected latency");
  std::vector<size_t> front = pareto_front(xy);
  std::vector<double> xs, ys;
  for (auto [x, y] : xy) xs.push_back(x), ys.push_back(y);
  Svg s(kWidth, kHeight, "Latency vs model size, Pareto frontier marked");
  Frame f = frame_in(0, kWidth, kHeight);
  f.x = svg::fit_scale(xs, false, f.left, f.right, true);
  f.y = svg::fit_scale(ys, false, f.bottom, f.top, true);
  svg::draw_axes(s, f, "model file size (MiB)", "latency per request (ms)");
  std::vector<std::pair<double, double>> line;
  for (size_t i : front) line.push_back(xy[i]);
  if (line.size() >= 2) svg::draw_line(s, f, line, "frontier");
  std::vector<Point> pts;
  for (size_t i = 0; i < ms.size(); ++i) {
    Point p = model_point(results, *ms[i], xy[i].first, xy[i].second);
    bool on = std::find(front.begin(), front.end(), i) != front.end();
    if (!on) p.cls += " dominated";
    p.tooltip = p.label + ": " + svg::sig(xy[i].first) + " MiB, " + svg::sig(xy[i].second) + " ms" +
                (on ? " (Pareto frontier)" : " (dominated)");
    pts.push_back(p);
  }
  svg::draw_scatter(s, f, pts);
  s.text(f.right, f.top + 10, "line: Pareto frontier (smaller and faster than nothing else)", "end", "note");
  return s.str();
}

std::string chart_slices(const Json& results) {
  std::vector<std::string> tags = slice_tags(results);
  std::vector<std::string> cols{"overall"}, keys{"accuracy_delta"};
  for (const std::string& t : tags) cols.push_back(t), keys.push_back("slice[" + t + "].accuracy_delta");
  std::vector<std::string> rows;
  std::vector<std::vector<svg::Cell>> cells;
  double span = 1;  // percentage points; at least 1, so noise of 0.1 points stays pale
  for (const Json& c : results.value("candidates", Json::array())) {
    std::vector<svg::Cell> row;
    bool any = false;
    for (size_t j = 0; j < keys.size(); ++j) {
      svg::Cell cell;
      auto v = figure(c, keys[j]);
      if (v) {
        any = true;
        cell.value = 100 * *v;  // colours and legend in percentage points
        span = std::max(span, std::fabs(*cell.value));
        cell.text = points(v);
        auto ci = interval(c, keys[j]);
        cell.emphasis = ci && (ci->first > 0 || ci->second < 0);
        cell.tooltip = name_of(c) + ", " + cols[j] + ": " + points(v) + " points" +
                       (ci ? " [" + points(ci->first) + ", " + points(ci->second) + "]" : "");
      }
      row.push_back(cell);
    }
    if (!any) continue;
    rows.push_back(name_of(c));
    cells.push_back(std::move(row));
  }
  if (rows.empty()) return not_measured("no task data, so no accuracy difference from the baseline per slice");
  double width = std::clamp(200 + 90.0 * static_cast<double>(cols.size()), kWidth, 2 * kWidth);
  // Whole points at the saturated ends, so the legend reads as a round number.
  span = std::ceil(span - 1e-9);
  return svg::heatmap_svg(rows, cols, cells, span, "Accuracy difference from the baseline per slice",
                          "percentage points; bold: the 95 % interval excludes 0", width);
}

std::string chart_kld(const Json& results) {
  struct Row {
    std::string name, cls;
    double median, p90, p95, p99, p999, max;
    std::optional<double> mean;
  };
  std::vector<Row> rows;
  std::vector<double> all;
  for (const Json& c : results.value("candidates", Json::array())) {
    const Json* texts = c.contains("eval") && c["eval"].is_object() && c["eval"].contains("texts") ? &c["eval"]["texts"]
                                                                                                    : nullptr;
    if (!texts || !texts->is_array() || texts->empty() || !(*texts)[0].contains("kld")) continue;
    const Json& k = (*texts)[0]["kld"];
    auto g = [&](const char* key) { return number(k, key).value_or(std::numeric_limits<double>::quiet_NaN()); };
    Row r{name_of(c), status_class(results, c), g("median"), g("p90"), g("p95"), g("p99"), g("p99_9"), g("max"),
          number(k, "mean")};
    if (!std::isfinite(r.max)) continue;
    for (double v : {r.median, r.p90, r.p95, r.p99, r.p999, r.max}) all.push_back(v);
    rows.push_back(r);
  }
  if (rows.empty()) return not_measured("no text was evaluated, so there is no per-position KL divergence");
  double label_w = 60;
  for (const Row& r : rows) label_w = std::max(label_w, 6.6 * static_cast<double>(r.name.size()) + 14);
  const double row_h = 34, top = 40;
  double height = top + row_h * static_cast<double>(rows.size()) + 50;
  Svg s(kWidth, height, "Distribution of per-position KL divergence per candidate (log scale)");
  Frame f{label_w, top, kWidth - 18, top + row_h * static_cast<double>(rows.size()), {}, {}};
  f.x = svg::fit_scale(all, true, f.left, f.right);
  f.y = svg::Scale{0, 1, f.top, f.bottom, false};
  std::vector<double> xt = svg::ticks(f.x);
  for (double v : xt) {
    s.line(f.px(v), f.top, f.px(v), f.bottom, "grid");
    s.text(f.px(v), f.bottom + 16, svg::tick_label(f.x, v, xt), "middle", "tick");
  }
  s.line(f.left, f.bottom, f.right, f.bottom, "axis");
  s.text((f.left + f.right) / 2, f.bottom + 34, "KL divergence per scored position (nats, log)", "middle",
         "axis-title");
  // Legend: what each mark is.
  double lx = f.left;
  s.rect(lx, 12, 22, 10, "", "box-key");
  s.text(lx + 27, 21, "median to p95", "start", "tick");
  s.line(lx + 122, 17, lx + 140, 17, "whisker-key");
  s.text(lx + 145, 21, "to max", "start", "tick");
  s.line(lx + 198, 11, lx + 198, 23, "q-tick");
  s.text(lx + 203, 21, "p90, p99, p99.9", "start", "tick");
  s.raw("<polygon points=\"" + svg::fixed(lx + 305, 1) + ",11 " + svg::fixed(lx + 311, 1) + ",17 " +
        svg::fixed(lx + 305, 1) + ",23 " + svg::fixed(lx + 299, 1) + ",17\" class=\"mean-mark\"/>");
  s.text(lx + 316, 21, "mean", "start", "tick");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    double cy = top + row_h * (static_cast<double>(i) + 0.5);
    s.text(label_w - 8, cy + 4, r.name, "end", "label");
    std::string tip = r.name + ": median " + svg::sig(r.median) + ", p90 " + svg::sig(r.p90) + ", p95 " +
                      svg::sig(r.p95) + ", p99 " + svg::sig(r.p99) + ", p99.9 " + svg::sig(r.p999) + ", max " +
                      svg::sig(r.max) + " nats";
    s.line(f.px(r.p95), cy, f.px(r.max), cy, "whisker " + r.cls);
    s.rect(f.px(r.median), cy - 8, f.px(r.p95) - f.px(r.median), 16, "", "qbox " + r.cls, tip);
    for (double q : {r.p90, r.p99, r.p999}) s.line(f.px(q), cy - 8, f.px(q), cy + 8, "q-tick");
    s.circle(f.px(r.max), cy, 3, "mark " + r.cls);
    if (r.mean && *r.mean > 0) {
      double x = f.px(*r.mean);
      s.raw("<polygon points=\"" + svg::fixed(x, 1) + "," + svg::fixed(cy - 6, 1) + " " + svg::fixed(x + 6, 1) + "," +
            svg::fixed(cy, 1) + " " + svg::fixed(x, 1) + "," + svg::fixed(cy + 6, 1) + " " + svg::fixed(x - 6, 1) +
            "," + svg::fixed(cy, 1) + "\" class=\"mean-mark\"/>");
    }
  }
  return s.str();
}

std::string chart_cascade(const Json& results) {
  const Json* c = results.contains("cascade") ? &results["cascade"] : nullptr;
  if (!c || !c->is_object()) {
    if (!has_tasks(results)) return not_measured("no cascade: it needs task data to measure confidence and accuracy");
    return not_measured("no cascade: the sweep had no chosen or best-effort candidate to put in front of the baseline");
  }
  const Json& pts_json = c->value("points", Json::array());
  std::vector<Point> pts;
  std::vector<std::pair<double, double>> line;
  std::vector<double> xs, ys;
  const Json& rec = c->contains("recommended") ? (*c)["recommended"] : Json();
  auto rec_t = rec.is_object() ? number(rec, "threshold") : std::nullopt;
  size_t every = std::max<size_t>(1, (pts_json.size() + 7) / 8);  // at most ~8 threshold labels
  for (size_t i = 0; i < pts_json.size(); ++i) {
    const Json& p = pts_json[i];
    auto x = number(p, "cost_per_month"), y = number(p, "accuracy"), t = number(p, "threshold");
    if (!x || !y || !t) continue;
    Point pt;
    pt.x = *x;
    pt.y = *y;
    bool is_rec = rec_t && *rec_t == *t;
    pt.cls = p.value("passes", false) ? "pass" : "fail";
    if (is_rec) pt.cls = "chosen", pt.ring = true;
    pt.r = 4.5;
    if (is_rec || i % every == 0 || i + 1 == pts_json.size())
      pt.label = (is_rec ? "recommended t=" : "t=") + svg::sig(*t, 2) + (*t == 0 ? " (never escalate)" : "");
    pt.tooltip = "threshold " + svg::sig(*t, 3) + ": escalates " + percent(number(p, "escalation_rate")) +
                 ", accuracy " + percent(*y) + ", " + money(*x) + "/month";
    pts.push_back(pt);
    line.push_back({*x, *y});
    xs.push_back(*x);
    ys.push_back(*y);
  }
  if (pts.empty()) return not_measured("the cascade simulation produced no thresholds");
  const Json* base = results.contains("baseline") ? &results["baseline"] : nullptr;
  std::optional<double> bx = base ? figure(*base, "cost_per_month") : std::nullopt;
  std::optional<double> by = base ? figure(*base, "accuracy") : std::nullopt;
  if (bx && by) xs.push_back(*bx), ys.push_back(*by);
  Svg s(kWidth, kHeight, "Cascade: accuracy vs cost per month by confidence threshold");
  Frame f = frame_in(0, kWidth, kHeight);
  f.x = svg::fit_scale(xs, false, f.left, f.right);
  f.y = svg::fit_scale(ys, false, f.bottom, f.top);
  svg::draw_axes(s, f, "cost per month ($)", "task accuracy");
  svg::draw_line(s, f, line, "curve");
  if (bx && by) {
    Point b;
    b.x = *bx, b.y = *by, b.cls = "baseline", b.shape = "square", b.label = "baseline alone";
    pts.push_back(b);
  }
  svg::draw_scatter(s, f, pts);
  s.text(f.right, f.top + 10, "serving " + text(*c, "candidate") + ", escalating below the threshold", "end", "note");
  return s.str();
}

std::string chart_cost(const Json& results) {
  std::vector<svg::Bar> bars;
  bool any = false;
  for (const Json* m : all_models(results)) {
    svg::Bar b;
    b.label = name_of(*m);
    b.value = figure(*m, "cost_per_month");
    std::string cls = status_class(results, *m);
    b.cls = "bar " + cls;
    if (b.value) {
      any = true;
      b.value_text = money(b.value) + (cls == "chosen" ? "  chosen" : "");
    }
    bars.push_back(b);
  }
  if (!any) return not_measured("no candidate could be priced on the target hardware");
  std::string target = results.contains("target") ? text(results["target"], "name") : "";
  return svg::bars_svg(bars, "Serving cost per month per candidate",
                       "dollars per month" + (target.empty() ? std::string() : " on " + target),
                       "not measured", kWidth);
}

}  // namespace bitdial::report
