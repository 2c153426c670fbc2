// report.html from a hand-built results.json: the decision in the header, one chart per section, no
// external reference, escaped user strings, "not measured" lines for absent data, the Pareto frontier,
// failing floor cells, determinism; and the SVG helpers' number formatting and ticks.
#include "decide/report_html.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "decide/report_charts.h"
#include "decide/svg_chart.h"
#include "results_fixture.h"

namespace bitdial {
namespace {

using test::ResultsJson;
using namespace report;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

void rename_candidate(ResultsJson& r, const std::string& from, const std::string& to) {
  for (ResultsJson& c : r["candidates"])
    if (c["name"] == from) c["name"] = to;
  for (ResultsJson& f : r["decision"]["failed"])
    if (f["candidate"] == from) f["candidate"] = to;
}

TEST(ReportHtml, HeaderNamesTheChosenCandidateWithItsFigures) {
  std::string html = render_report_html(test::results_chosen());
  EXPECT_NE(html.find("<h1>Decision: serve q4_k_m-gptq</h1>"), std::string::npos);
  // One sentence with the recipe, size, floors held and cost against the baseline.
  EXPECT_NE(html.find("Serve <strong>q4_k_m-gptq</strong> (Q4_K_M / gptq, 4.85 bits/weight, 636 MiB)"),
            std::string::npos);
  EXPECT_NE(html.find("holds all 4 floors"), std::string::npos);
  EXPECT_NE(html.find("costs $412/month on L4, 65 % less than the baseline's $1,180"), std::string::npos);
}

TEST(ReportHtml, HasOneSvgPerChart) {
  std::string html = render_report_html(test::results_chosen());
  EXPECT_EQ(count(html, "<svg"), 6u);
  EXPECT_EQ(count(html, "</svg>"), 6u);
  EXPECT_EQ(count(html, "<figure"), 6u);
  EXPECT_EQ(count(html, "Not measured"), 0u);
}

TEST(ReportHtml, IsSelfContainedWithoutUrlsOrScripts) {
  ResultsJson r = test::results_chosen();
  // A remote candidate's file is a URL and a path may be one: both are user text and may appear, escaped.
  r["candidates"][0]["kind"] = "remote";
  r["candidates"][0]["file"] = "https://llm.example.com/v1";
  r["config"]["path"] = "http://configs.example.com/sweep.yaml";
  std::string html = render_report_html(r);
  ASSERT_NE(html.find("remote: https://llm.example.com/v1"), std::string::npos);
  // Collect every string the results hold, and strike their escaped forms from the page.
  std::vector<std::string> user;
  std::function<void(const ResultsJson&)> walk = [&](const ResultsJson& j) {
    if (j.is_string()) user.push_back(svg::escape(j.get<std::string>()));
    if (j.is_structured())
      for (const auto& v : j) walk(v);
  };
  walk(r);
  std::string ours = html;
  for (const std::string& u : user) {
    if (u.find("http") == std::string::npos) continue;
    for (size_t p; (p = ours.find(u)) != std::string::npos;) ours.erase(p, u.size());
  }
  EXPECT_EQ(ours.find("http://"), std::string::npos);
  EXPECT_EQ(ours.find("https://"), std::string::npos);
  for (const char* bad : {"<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
}

TEST(ReportHtml, EscapesUserStrings) {
  ResultsJson r = test::results_chosen();
  rename_candidate(r, "q2_k", "<img src=x onerror=alert(1)>&\"q'");
  std::string html = render_report_html(r);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;q&#39;"), std::string::npos);
  // Floor texts are user text too: their operators are escaped in the table headers.
  EXPECT_NE(html.find("<code>p95_latency_ms &lt;= 1000</code>"), std::string::npos);
  EXPECT_EQ(html.find("p95_latency_ms <= 1000"), std::string::npos);
}

TEST(ReportHtml, MissingTasksAndCascadeShowNotMeasuredLines) {
  std::string html = render_report_html(test::results_no_tasks());
  EXPECT_NE(html.find("Not measured: no cascade: it needs task data"), std::string::npos);
  EXPECT_NE(html.find("Not measured: no task data, so no accuracy difference"), std::string::npos);
  // Quality, latency/size, KL and cost charts remain.
  EXPECT_EQ(count(html, "<svg"), 4u);
  EXPECT_NE(html.find("Accuracy not measured (no task data)"), std::string::npos);
  EXPECT_NE(html.find("No accuracy-like floor was written"), std::string::npos);

  ResultsJson r = test::results_chosen();
  r["cascade"] = nullptr;
  html = render_report_html(r);
  EXPECT_NE(html.find("Not measured: no cascade: the sweep had no chosen or best-effort candidate"),
            std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 5u);
}

TEST(ReportHtml, NonePassedNamesBestEffortAndShortfall) {
  std::string html = render_report_html(test::results_none_passed());
  EXPECT_NE(html.find("<h1>Decision: none passed</h1>"), std::string::npos);
  EXPECT_NE(html.find("Best effort: <strong>q8_0</strong>"), std::string::npos);
  EXPECT_NE(html.find("fails 1 of 3 floors: <code>p95_latency_ms &lt;= 600</code> short by 360"),
            std::string::npos);
  EXPECT_NE(html.find("class=\"verdict none\""), std::string::npos);
}

TEST(ReportHtml, MarksEveryFailingFloorCell) {
  for (const ResultsJson& r : {test::results_chosen(), test::results_none_passed()}) {
    size_t failed = 0;
    for (const ResultsJson& c : r["candidates"])
      for (const ResultsJson& f : c["floors"]) failed += !f["pass"].get<bool>();
    ASSERT_GT(failed, 0u);
    std::string html = render_report_html(r);
    EXPECT_EQ(count(html, "floor fail\">"), failed);
  }
}

TEST(ReportHtml, LatencyChartMarksTheParetoFrontier) {
  std::string svg = chart_latency_size(test::results_chosen());
  // q2_k is the smallest, q4_k_m-gptq the fastest; every other model is beaten on both by q4_k_m-gptq.
  EXPECT_NE(svg.find("q2_k: 414 MiB, 640 ms (Pareto frontier)"), std::string::npos);
  EXPECT_NE(svg.find("q4_k_m-gptq: 636 MiB, 610 ms (Pareto frontier)"), std::string::npos);
  EXPECT_NE(svg.find("q5_k_m-imatrix: 747 MiB, 690 ms (dominated)"), std::string::npos);
  EXPECT_NE(svg.find("f16: 2098 MiB, 1480 ms (dominated)"), std::string::npos);
  EXPECT_EQ(count(svg, "dominated\">"), 3u);
  EXPECT_EQ(count(svg, "class=\"frontier\""), 1u);
}

TEST(ParetoFront, KeepsPointsNoOtherBeatsOnBothAxes) {
  std::vector<std::pair<double, double>> pts = {{1, 5}, {2, 3}, {3, 4}, {4, 1}, {2, 3}, {5, 5}, {NAN, 0}, {4, 2}};
  // (3,4) loses to (2,3); (5,5) to everything; (4,2) to (4,1); equal points both stay; NaN never counts.
  EXPECT_EQ(pareto_front(pts), (std::vector<size_t>{0, 1, 4, 3}));
  EXPECT_TRUE(pareto_front({}).empty());
  EXPECT_EQ(pareto_front({{3, 3}}), (std::vector<size_t>{0}));
}

TEST(ReportHtml, NullFiguresPrintNotAvailable) {
  ResultsJson r = test::results_chosen();
  r["candidates"][0]["metrics"]["cost_per_month"]["value"] = nullptr;
  r["candidates"][0]["cost"] = nullptr;
  std::string html = render_report_html(r);
  EXPECT_NE(html.find("<td class=\"num\">n/a</td></tr>"), std::string::npos);
  std::string bars = chart_cost(r);
  EXPECT_NE(bars.find(">not measured</text>"), std::string::npos);
}

TEST(ReportHtml, IsDeterministic) {
  EXPECT_EQ(render_report_html(test::results_chosen()), render_report_html(test::results_chosen()));
}

TEST(ReportHtml, SliceHeatmapPrintsPointsInEachCell) {
  std::string svg = chart_slices(test::results_chosen());
  // q2_k's short slice: -11.5 points, interval excluding 0 (bold).
  EXPECT_NE(svg.find(">-11.5</text>"), std::string::npos);
  EXPECT_NE(svg.find("q2_k, short: -11.5 points [-17.1, -6.2]"), std::string::npos);
  EXPECT_NE(svg.find(">overall</text>"), std::string::npos);
  EXPECT_NE(svg.find(">rare_intent</text>"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"cell\""), 4u * 4u);  // 4 candidates x (overall + 3 slices)
}

TEST(ReportHtml, SparseResultsStillRender) {
  // A results file with almost nothing measured: every chart says why instead of drawing.
  ResultsJson r = {{"schema", "bitdial.sweep.results/1"},
                   {"baseline", {{"name", "base"}, {"kind", "baseline"}}},
                   {"candidates", {{{"name", "c1"}, {"kind", "file"}, {"metrics", {{"kld_mean", {{"value", nullptr}}}}}}}},
                   {"decision", {{"status", "none_passed"}, {"chosen", nullptr}, {"best_effort", nullptr}}},
                   {"cascade", nullptr}};
  std::string html;
  ASSERT_NO_THROW(html = render_report_html(r));
  EXPECT_EQ(count(html, "<svg"), 0u);
  EXPECT_EQ(count(html, "Not measured:"), 6u);
  ASSERT_NO_THROW(render_report_html(ResultsJson::object()));
}

TEST(SvgChart, FormatsNumbers) {
  EXPECT_EQ(svg::sig(0.012345), "0.0123");
  EXPECT_EQ(svg::sig(2110.4), "2110");
  EXPECT_EQ(svg::sig(0.5), "0.5");
  EXPECT_EQ(svg::sig(1.5e-7, 2), "1.5e-07");
  EXPECT_EQ(svg::sig(0), "0");
  EXPECT_EQ(svg::fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(svg::fixed(NAN, 2), "n/a");
  EXPECT_EQ(svg::escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
}

TEST(SvgChart, TicksAreRoundAndLogTicksAreDecades) {
  svg::Scale lin = svg::fit_scale({0.13, 0.87}, false, 0, 100);
  std::vector<double> t = svg::ticks(lin);
  ASSERT_GE(t.size(), 3u);
  for (double v : t) EXPECT_NEAR(v * 10, std::round(v * 10), 1e-9) << v;
  EXPECT_LE(lin.lo, 0.13);
  EXPECT_GE(lin.hi, 0.87);

  svg::Scale lg = svg::fit_scale({0.0011, 0.142, 0}, true, 0, 100);  // 0 is ignored on a log axis
  EXPECT_DOUBLE_EQ(lg.lo, 0.001);
  EXPECT_DOUBLE_EQ(lg.hi, 1.0);
  EXPECT_EQ(svg::ticks(lg), (std::vector<double>{0.001, 0.01, 0.1, 1.0}));
  EXPECT_DOUBLE_EQ(lg.map(0.01), 100.0 / 3);
}

TEST(SvgChart, DivergingFillIsWhiteAtZeroAndSaturatesAtTheSpan) {
  EXPECT_EQ(svg::diverging_fill(0, 0.05), "#f7f7f7");
  EXPECT_EQ(svg::diverging_fill(-0.05, 0.05), "#b2182b");
  EXPECT_EQ(svg::diverging_fill(-1, 0.05), "#b2182b");
  EXPECT_EQ(svg::diverging_fill(0.05, 0.05), "#2166ac");
}

}  // namespace
}  // namespace bitdial
