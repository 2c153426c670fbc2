// The six charts of report.html, each drawn from results.json alone: quality vs bits per weight, latency
// vs size with its Pareto frontier, per-slice accuracy deltas, the KL-divergence distribution, the cascade
// cost/accuracy curve and the monthly cost. Each returns one inline <svg>, or a one-line
// "not measured: why" paragraph when its data is absent.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "decide/report_fields.h"

namespace bitdial::report {

// Indices of the points not dominated when both coordinates are better smaller: no other point is <= on
// both and < on one. Non-finite points are never on the front. Sorted by x, then y, then index.
std::vector<size_t> pareto_front(const std::vector<std::pair<double, double>>& points);

// The paragraph shown in place of a chart without data.
std::string not_measured(std::string_view why);

std::string chart_quality(const Json& results);        // (1) KL and accuracy vs bits per weight
std::string chart_latency_size(const Json& results);   // (2) latency vs file size, Pareto frontier
std::string chart_slices(const Json& results);         // (3) per-slice accuracy delta heatmap
std::string chart_kld(const Json& results);            // (4) KL quantiles per candidate
std::string chart_cascade(const Json& results);        // (5) cascade accuracy vs cost
std::string chart_cost(const Json& results);           // (6) cost per month

// CSS class of a model's marks: "baseline", "chosen", "pass" or "fail".
std::string status_class(const Json& results, const Json& model);

}  // namespace bitdial::report
