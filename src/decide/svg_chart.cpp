// SVG plotting helpers (see svg_chart.h). Coordinates are printed with one decimal: enough for a crisp
// picture at any zoom and short enough to keep a report with six charts well under 100 KB.
#include "decide/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bitdial::svg {
namespace {

std::string px(double v) { return fixed(v, 1); }

// 1, 2 or 5 times a power of ten, near `raw`.
double nice_step(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double r = raw / mag;
  double n = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
  return n * mag;
}

// Label widths are estimated, not measured (no font metrics without a browser): 11 px sans-serif
// averages about 6.2 px per character, digits and lower case alike.
double text_width(std::string_view s, double per_char = 6.2) { return per_char * static_cast<double>(s.size()); }

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, decimals), v);
  std::string s = buf;
  // "-0.00" reads as a sign error in a table; print it as zero.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string sig(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  if (v == 0) return "0";
  double a = std::fabs(v);
  char buf[64];
  if (a < 1e-4 || a >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.*e", std::max(0, digits - 1), v);
    return buf;
  }
  int decimals = std::max(0, digits - 1 - static_cast<int>(std::floor(std::log10(a))));
  std::string s = fixed(v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

double Scale::map(double v) const {
  double t;
  if (log) {
    double lv = std::log10(std::max(v, lo));
    t = (lv - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  } else {
    t = hi == lo ? 0.5 : (v - lo) / (hi - lo);
  }
  return px_lo + t * (px_hi - px_lo);
}

Scale fit_scale(const std::vector<double>& values, bool log, double px_lo, double px_hi, bool include_zero) {
  Scale s;
  s.px_lo = px_lo;
  s.px_hi = px_hi;
  s.log = log;
  double mn = INFINITY, mx = -INFINITY;
  for (double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  if (log) {
    if (!std::isfinite(mn)) mn = 1e-4, mx = 1;
    s.lo = std::pow(10.0, std::floor(std::log10(mn)));
    s.hi = std::pow(10.0, std::ceil(std::log10(mx)));
    if (s.hi <= s.lo) s.hi = s.lo * 10;
    return s;
  }
  if (!std::isfinite(mn)) mn = 0, mx = 1;
  if (include_zero) mn = std::min(mn, 0.0), mx = std::max(mx, 0.0);
  bool nonneg = mn >= 0;
  if (mx == mn) {
    double pad = mn == 0 ? 1 : std::fabs(mn) * 0.1;
    mn -= pad;
    mx += pad;
  }
  // 6 % padding keeps points and their markers off the axis lines.
  double pad = (mx - mn) * 0.06;
  if (!(include_zero && mn == 0)) mn -= pad;
  mx += pad;
  double step = nice_step((mx - mn) / 5);
  s.lo = std::floor(mn / step) * step;
  s.hi = std::ceil(mx / step) * step;
  if (nonneg && s.lo < 0) s.lo = 0;
  return s;
}

std::vector<double> ticks(const Scale& s, int target) {
  std::vector<double> out;
  if (s.log) {
    int d0 = static_cast<int>(std::lround(std::log10(s.lo)));
    int d1 = static_cast<int>(std::lround(std::log10(s.hi)));
    bool fine = d1 - d0 <= 2;
    for (int d = d0; d <= d1; ++d) {
      double base = std::pow(10.0, d);
      out.push_back(base);
      if (fine && d < d1) {
        out.push_back(2 * base);
        out.push_back(5 * base);
      }
    }
    return out;
  }
  double step = nice_step((s.hi - s.lo) / std::max(1, target));
  for (double v = std::ceil(s.lo / step - 1e-9) * step; v <= s.hi + step * 1e-9; v += step) {
    double r = std::round(v / step) * step;  // no 0.30000000000000004 on an axis
    out.push_back(std::fabs(r) < step * 1e-9 ? 0.0 : r);
  }
  return out;
}

std::string tick_label(const Scale& s, double v, const std::vector<double>& all) {
  if (s.log) return sig(v, 2);
  double step = all.size() >= 2 ? std::fabs(all[1] - all[0]) : 1;
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fixed(v, decimals);
}

Svg::Svg(double width, double height, std::string_view title) : width_(width), height_(height), title_(title) {}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view cls, std::string_view style) {
  body_ += "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" class=\"" +
           std::string(cls) + "\"";
  if (!style.empty()) body_ += " style=\"" + std::string(style) + "\"";
  body_ += "/>";
}

void Svg::rect(double x, double y, double w, double h, std::string_view fill, std::string_view cls,
               std::string_view tooltip) {
  body_ += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(0.0, w)) + "\" height=\"" +
           px(std::max(0.0, h)) + "\"";
  if (!fill.empty()) body_ += " fill=\"" + std::string(fill) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  if (tooltip.empty()) {
    body_ += "/>";
  } else {
    body_ += "><title>" + escape(tooltip) + "</title></rect>";
  }
}

void Svg::circle(double cx, double cy, double r, std::string_view cls, std::string_view style,
                 std::string_view tooltip) {
  body_ += "<circle cx=\"" + px(cx) + "\" cy=\"" + px(cy) + "\" r=\"" + px(r) + "\" class=\"" + std::string(cls) + "\"";
  if (!style.empty()) body_ += " style=\"" + std::string(style) + "\"";
  if (tooltip.empty()) {
    body_ += "/>";
  } else {
    body_ += "><title>" + escape(tooltip) + "</title></circle>";
  }
}

void Svg::text(double x, double y, std::string_view text, std::string_view anchor, std::string_view cls,
               std::string_view style) {
  body_ += "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"";
  if (anchor != "start") body_ += " text-anchor=\"" + std::string(anchor) + "\"";
  if (!cls.empty()) body_ += " class=\"" + std::string(cls) + "\"";
  if (!style.empty()) body_ += " style=\"" + std::string(style) + "\"";
  body_ += '>';
  body_ += escape(text) + "</text>";
}

void Svg::polyline(const std::vector<std::pair<double, double>>& pts, std::string_view cls, std::string_view style) {
  body_ += "<polyline points=\"";
  for (size_t i = 0; i < pts.size(); ++i) {
    if (i) body_ += ' ';
    body_ += px(pts[i].first) + "," + px(pts[i].second);
  }
  body_ += "\" class=\"" + std::string(cls) + "\"";
  if (!style.empty()) body_ += " style=\"" + std::string(style) + "\"";
  body_ += "/>";
}

std::string Svg::str() const {
  // No xmlns: inside an HTML document the parser puts <svg> in the SVG namespace by itself, so the page
  // carries no URL at all (a saved or printed report never reaches for the network).
  // max-width: a chart shrinks with a narrow page but is never blown up beyond its drawn size.
  return "<svg class=\"chart\" viewBox=\"0 0 " + px(width_) + " " + px(height_) + "\" width=\"" + px(width_) +
         "\" height=\"" + px(height_) + "\" style=\"max-width:" + px(width_) + "px\" role=\"img\" aria-label=\"" + escape(title_) + "\"><title>" +
         escape(title_) + "</title>" + body_ + "</svg>";
}

void draw_axes(Svg& svg, const Frame& f, std::string_view x_title, std::string_view y_title) {
  std::vector<double> xt = ticks(f.x), yt = ticks(f.y);
  for (double v : xt) {
    double x = f.px(v);
    if (x < f.left - 0.5 || x > f.right + 0.5) continue;
    svg.line(x, f.top, x, f.bottom, "grid");
    svg.line(x, f.bottom, x, f.bottom + 4, "axis");
    svg.text(x, f.bottom + 16, tick_label(f.x, v, xt), "middle", "tick");
  }
  for (double v : yt) {
    double y = f.py(v);
    if (y < f.top - 0.5 || y > f.bottom + 0.5) continue;
    svg.line(f.left, y, f.right, y, "grid");
    svg.line(f.left - 4, y, f.left, y, "axis");
    svg.text(f.left - 7, y + 3.5, tick_label(f.y, v, yt), "end", "tick");
  }
  svg.line(f.left, f.bottom, f.right, f.bottom, "axis");
  svg.line(f.left, f.top, f.left, f.bottom, "axis");
  svg.text((f.left + f.right) / 2, f.bottom + 34, x_title, "middle", "axis-title");
  double ty = (f.top + f.bottom) / 2, tx = f.left - 46;
  svg.raw("<text transform=\"translate(" + px(tx) + "," + px(ty) + ") rotate(-90)\" text-anchor=\"middle\" " +
          "class=\"axis-title\">" + escape(y_title) + "</text>");
}

void draw_scatter(Svg& svg, const Frame& f, const std::vector<Point>& points) {
  std::vector<Box> taken;
  for (const Point& p : points) {
    double x = f.px(p.x), y = f.py(p.y);
    if (p.ring) svg.circle(x, y, p.r + 4, "ring");
    std::string cls = "mark " + p.cls;
    std::string tip = p.tooltip.empty() ? "" : "<title>" + escape(p.tooltip) + "</title>";
    if (p.shape == "square") {
      svg.raw("<rect x=\"" + px(x - p.r) + "\" y=\"" + px(y - p.r) + "\" width=\"" + px(2 * p.r) + "\" height=\"" +
              px(2 * p.r) + "\" class=\"" + cls + "\">" + tip + "</rect>");
    } else if (p.shape == "diamond") {
      double r = p.r * 1.3;
      svg.raw("<polygon points=\"" + px(x) + "," + px(y - r) + " " + px(x + r) + "," + px(y) + " " + px(x) + "," +
              px(y + r) + " " + px(x - r) + "," + px(y) + "\" class=\"" + cls + "\">" + tip + "</polygon>");
    } else {
      svg.raw("<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"" + px(p.r) + "\" class=\"" + cls + "\">" + tip +
              "</circle>");
    }
    double reach = p.r + (p.ring ? 6 : 1);  // a label must clear the ring too
    taken.push_back({x - reach, y - reach, x + reach, y + reach});
  }
  // Labels after all marks, so a label never hides a point drawn later. Candidate spots around the
  // point are tried in a fixed order; the first that overlaps nothing placed so far wins.
  for (const Point& p : points) {
    if (p.label.empty()) continue;
    double x = f.px(p.x), y = f.py(p.y), w = text_width(p.label), g = p.r + (p.ring ? 8 : 5);
    struct Spot { double x, y; const char* anchor; };
    const Spot spots[] = {{x + g, y + 4, "start"},  {x - g, y + 4, "end"},      {x, y - g - 2, "middle"},
                          {x, y + g + 10, "middle"}, {x + g, y - 9, "start"},    {x + g, y + 17, "start"},
                          {x - g, y - 9, "end"},     {x - g, y + 17, "end"},     {x + g, y - 22, "start"},
                          {x + g, y + 30, "start"}};
    auto box_of = [&](const Spot& s) {
      double x0 = s.anchor[0] == 's' ? s.x : s.anchor[0] == 'e' ? s.x - w : s.x - w / 2;
      return Box{x0, s.y - 10, x0 + w, s.y + 3};
    };
    const Spot* pick = nullptr;
    for (const Spot& s : spots) {
      Box b = box_of(s);
      if (b.x0 < 2 || b.x1 > svg.width() - 2 || b.y0 < 2 || b.y1 > svg.height() - 2) continue;
      bool clash = std::any_of(taken.begin(), taken.end(), [&](const Box& t) {
        // A point's own marker is allowed to touch its label's box edge, not to be covered by it.
        return t.overlaps(b);
      });
      if (!clash) {
        pick = &s;
        break;
      }
    }
    if (!pick) pick = box_of(spots[0]).x1 <= svg.width() - 2 ? &spots[0] : &spots[1];
    taken.push_back(box_of(*pick));
    svg.text(pick->x, pick->y, p.label, pick->anchor, "label");
  }
}

void draw_line(Svg& svg, const Frame& f, const std::vector<std::pair<double, double>>& data, std::string_view cls) {
  std::vector<std::pair<double, double>> pts;
  for (auto [x, y] : data) pts.push_back({f.px(x), f.py(y)});
  svg.polyline(pts, cls);
}

std::string bars_svg(const std::vector<Bar>& bars, std::string_view title, std::string_view axis_title,
                     std::string_view missing, double width) {
  double label_w = 60;
  for (const Bar& b : bars) label_w = std::max(label_w, text_width(b.label, 6.6) + 14);
  label_w = std::min(label_w, width * 0.38);
  const double row = 26, top = 8, value_room = 96;
  double height = top + row * static_cast<double>(bars.size()) + 44;
  std::vector<double> values{0.0};
  for (const Bar& b : bars)
    if (b.value) values.push_back(*b.value);
  Frame f{label_w, top, width - value_room, top + row * static_cast<double>(bars.size()), {}, {}};
  f.x = fit_scale(values, false, f.left, f.right, true);
  f.y = Scale{0, 1, f.top, f.bottom, false};
  Svg svg(width, height, title);
  std::vector<double> xt = ticks(f.x);
  for (double v : xt) {
    double x = f.px(v);
    svg.line(x, f.top, x, f.bottom, "grid");
    svg.text(x, f.bottom + 16, tick_label(f.x, v, xt), "middle", "tick");
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    double y = top + row * static_cast<double>(i);
    svg.text(label_w - 8, y + row / 2 + 4, b.label, "end", "label");
    if (!b.value) {
      svg.text(label_w + 6, y + row / 2 + 4, missing, "start", "muted");
      continue;
    }
    double x0 = f.px(std::max(0.0, f.x.lo)), x1 = f.px(*b.value);
    svg.rect(std::min(x0, x1), y + 5, std::fabs(x1 - x0), row - 10, "", b.cls, b.label + ": " + b.value_text);
    svg.text(std::max(x0, x1) + 6, y + row / 2 + 4, b.value_text.empty() ? sig(*b.value) : b.value_text, "start",
             "value");
  }
  svg.line(f.left, f.top, f.left, f.bottom, "axis");
  svg.line(f.left, f.bottom, f.right, f.bottom, "axis");
  svg.text((f.left + f.right) / 2, f.bottom + 34, axis_title, "middle", "axis-title");
  return svg.str();
}

std::string diverging_fill(double v, double span) {
  // ColorBrewer RdBu end points around a near-white middle: red = worse than the baseline, blue = better.
  const double neg[3] = {178, 24, 43}, mid[3] = {247, 247, 247}, pos[3] = {33, 102, 172};
  double t = span > 0 ? std::clamp(v / span, -1.0, 1.0) : 0;
  const double* end = t < 0 ? neg : pos;
  double a = std::fabs(t);
  char buf[8];
  int c[3];
  for (int i = 0; i < 3; ++i) c[i] = static_cast<int>(std::lround(mid[i] + (end[i] - mid[i]) * a));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

std::string heatmap_svg(const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                        const std::vector<std::vector<Cell>>& cells, double span, std::string_view title,
                        std::string_view legend_unit, double width) {
  double label_w = 60;
  for (const std::string& r : rows) label_w = std::max(label_w, text_width(r, 6.6) + 14);
  label_w = std::min(label_w, width * 0.35);
  const double head = 30, row = 30;
  double cell_w = (width - label_w - 8) / std::max<double>(1, static_cast<double>(cols.size()));
  double grid_bottom = head + row * static_cast<double>(rows.size());
  double height = grid_bottom + 70;
  Svg svg(width, height, title);
  for (size_t j = 0; j < cols.size(); ++j)
    svg.text(label_w + cell_w * (static_cast<double>(j) + 0.5), head - 10, cols[j], "middle", "col-head");
  for (size_t i = 0; i < rows.size(); ++i) {
    double y = head + row * static_cast<double>(i);
    svg.text(label_w - 8, y + row / 2 + 4, rows[i], "end", "label");
    for (size_t j = 0; j < cols.size(); ++j) {
      const Cell& c = cells[i][j];
      double x = label_w + cell_w * static_cast<double>(j);
      std::string fill = c.value ? diverging_fill(*c.value, span) : "#e5e7eb";
      svg.rect(x + 1, y + 1, cell_w - 2, row - 2, fill, "cell", c.tooltip);
      // White text on the saturated ends of the ramp, dark text elsewhere (contrast above 4.5:1 both ways).
      bool dark = c.value && span > 0 && std::fabs(*c.value) / span > 0.55;
      std::string style = std::string(dark ? "fill:#fff" : "fill:#1f2937") + (c.emphasis ? ";font-weight:700" : "");
      svg.text(x + cell_w / 2, y + row / 2 + 4, c.value ? c.text : "n/a", "middle", "cell-text", style);
    }
  }
  // Legend: the colour ramp from -span to +span.
  const int steps = 21;
  double lx = label_w, lw = std::min(260.0, width - label_w - 10), ly = grid_bottom + 16;
  for (int k = 0; k < steps; ++k) {
    double v = -span + 2 * span * k / (steps - 1);
    svg.rect(lx + lw * k / steps, ly, lw / steps + 0.5, 10, diverging_fill(v, span));
  }
  std::string minus = "-", plus = "+";  // appended, not prefixed: GCC 12 -O3 warns (falsely) on "x" + temp
  minus += sig(span, 2);
  plus += sig(span, 2);
  svg.text(lx, ly + 24, minus, "start", "tick");
  svg.text(lx + lw / 2, ly + 24, "0", "middle", "tick");
  svg.text(lx + lw, ly + 24, plus, "end", "tick");
  svg.text(lx, ly + 40, legend_unit, "start", "tick");
  return svg.str();
}

}  // namespace bitdial::svg
