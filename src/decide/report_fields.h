// Reading results.json (docs/results.md) for the two renderers, report.html and decision.md: one place
// that knows where each figure lives (metrics first, then the cost and file fields it is derived from),
// that an unmeasured figure is null or absent, and how each kind of number is printed.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial::report {

using Json = nlohmann::ordered_json;

// A figure of one candidate by metric name (see metric_table.h): metrics[name].value, else the field it
// comes from (file_bytes, bits_per_weight, cost.*, eval.texts[0]). nullopt when null or absent.
std::optional<double> figure(const Json& cand, std::string_view name);
// The 95 % interval of metrics[name], when it has one.
std::optional<std::pair<double, double>> interval(const Json& cand, std::string_view name);

// obj[key] as a number / string, nullopt or `fallback` when missing, null or another type.
std::optional<double> number(const Json& obj, std::string_view key);
std::string text(const Json& obj, std::string_view key, std::string_view fallback = "");

// The baseline followed by the candidates, in config order.
std::vector<const Json*> all_models(const Json& results);
// The candidate with this name among baseline and candidates, or nullptr.
const Json* find_model(const Json& results, std::string_view name);
// The chosen candidate, else the best-effort one, else nullptr.
const Json* decided_model(const Json& results);
bool chosen(const Json& results);

// Slice tags in order of first appearance among the candidates' "slice[TAG].accuracy_delta" metrics.
std::vector<std::string> slice_tags(const Json& results);

// "Q4_K_M / gptq", "file", "remote: https://…" — how the candidate was made.
std::string recipe(const Json& cand);

// Floors of a candidate that failed, in its floors order.
std::vector<const Json*> failed_floors(const Json& cand);

// Printing. All return "n/a" for a missing value.
std::string money(std::optional<double> dollars);            // $1,234 (cents below $100)
std::string percent(std::optional<double> fraction, int decimals = 1);  // 81.0 %
std::string points(std::optional<double> fraction);          // signed percentage points: -0.8
std::string signed_sig(std::optional<double> v, int digits = 2);       // +0.015
std::string sig_or_na(std::optional<double> v, int digits = 3);
std::string fixed_or_na(std::optional<double> v, int decimals);
// A figure in the units its floor is written in, e.g. accuracy 0.812 -> "0.812", latency 2110 -> "2110".
std::string floor_number(std::optional<double> v);

}  // namespace bitdial::report
