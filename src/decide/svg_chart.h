// Small SVG plotting helpers for the sweep report: linear and log scales with "nice" ticks, a plot frame
// with axes and grid, scatter points with labels that avoid each other, lines, horizontal bars and a
// diverging heatmap. Output is plain inline SVG text (no scripts, no external references) and is
// deterministic: the same inputs give the same bytes, so reports can be diffed and tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial::svg {

// Escapes text for HTML/XML content and attribute values (& < > " ').
std::string escape(std::string_view text);

// Formats a number with `decimals` digits after the point ("-0" printed as "0"); NaN/inf as "n/a".
std::string fixed(double v, int decimals);

// Formats with about `sig` significant digits, fixed notation, trailing zeros dropped: 0.01234 -> "0.0123",
// 2110.4 -> "2110", 1.5e-7 -> "1.5e-07" (scientific only below 1e-4 or at/above 1e9).
std::string sig(double v, int digits = 3);

// A map from data values to pixels along one axis. Log scales need lo > 0.
struct Scale {
  double lo = 0, hi = 1;          // data domain
  double px_lo = 0, px_hi = 100;  // pixel range (px_hi < px_lo for a y axis growing upwards)
  bool log = false;
  double map(double v) const;
};

// A domain that covers [min, max] with a little padding, widened to round numbers (linear) or whole
// decades (log; non-positive values are ignored, and an empty domain becomes [1e-4, 1]).
Scale fit_scale(const std::vector<double>& values, bool log, double px_lo, double px_hi,
                bool include_zero = false);

// Tick positions: 1/2/5 x 10^k steps aiming at about `target` ticks (linear), or decades (log; with 2 and 5
// between them when the domain spans at most two decades).
std::vector<double> ticks(const Scale& s, int target = 5);

// A tick label short enough for an axis (uses sig() for log scales, common decimals for linear ones).
std::string tick_label(const Scale& s, double v, const std::vector<double>& all);

// One <svg> element being built. `title` becomes the accessible name (role="img", <title>).
class Svg {
 public:
  Svg(double width, double height, std::string_view title);
  void raw(std::string_view element) { body_ += element; }
  void line(double x1, double y1, double x2, double y2, std::string_view cls, std::string_view style = {});
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view cls = {},
            std::string_view tooltip = {});
  void circle(double cx, double cy, double r, std::string_view cls, std::string_view style = {},
              std::string_view tooltip = {});
  // anchor: "start" | "middle" | "end"; text is escaped here.
  void text(double x, double y, std::string_view text, std::string_view anchor = "start",
            std::string_view cls = {}, std::string_view style = {});
  void polyline(const std::vector<std::pair<double, double>>& px, std::string_view cls,
                std::string_view style = {});
  double width() const { return width_; }
  double height() const { return height_; }
  std::string str() const;

 private:
  double width_, height_;
  std::string title_, body_;
};

// The plot area inside an Svg and its two scales (pixel ranges already set to the area).
struct Frame {
  double left, top, right, bottom;  // pixels
  Scale x, y;
  double px(double v) const { return x.map(v); }
  double py(double v) const { return y.map(v); }
};

// Grid lines, ticks, tick labels and axis titles for a frame.
void draw_axes(Svg& svg, const Frame& f, std::string_view x_title, std::string_view y_title);

// A labelled scatter point. `shape`: "circle" | "square" | "diamond"; `cls` picks the CSS colour class.
struct Point {
  double x = 0, y = 0;
  std::string label;
  std::string cls = "pt";
  std::string shape = "circle";
  double r = 5;
  bool ring = false;  // an extra ring around the point (the chosen or recommended one)
  std::string tooltip;
};

// Draws the points, then their labels, each placed beside its point where it overlaps no earlier label.
void draw_scatter(Svg& svg, const Frame& f, const std::vector<Point>& points);

// A polyline through data coordinates.
void draw_line(Svg& svg, const Frame& f, const std::vector<std::pair<double, double>>& data,
               std::string_view cls);

// Horizontal bars, one row per entry, value label at the bar's end; null values print `missing`.
struct Bar {
  std::string label;
  std::optional<double> value;
  std::string cls = "bar";
  std::string value_text;  // printed after the bar (defaults to sig(value))
};
std::string bars_svg(const std::vector<Bar>& bars, std::string_view title, std::string_view axis_title,
                     std::string_view missing = "not measured", double width = 600);

// A heatmap of rows x columns, colours diverging around zero (red below, blue above) and symmetric in
// `span` (the value mapped to full colour); each cell prints `text`. Null cells are grey.
struct Cell {
  std::optional<double> value;
  std::string text;
  bool emphasis = false;  // drawn bold (e.g. its interval excludes zero)
  std::string tooltip;
};
std::string heatmap_svg(const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                        const std::vector<std::vector<Cell>>& cells, double span, std::string_view title,
                        std::string_view legend_unit, double width = 600);

// Fill colour for v on a diverging red-white-blue ramp clamped at +-span.
std::string diverging_fill(double v, double span);

}  // namespace bitdial::svg
