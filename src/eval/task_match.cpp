#include "eval/task_match.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

namespace bitdial {
namespace {

// Index of the largest value, the first one on ties (so predictions are reproducible).
int64_t argmax_of(const std::vector<double>& v) {
  int64_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

}  // namespace

bool generation_matches(const TaskExample& ex, const std::string& output) {
  switch (ex.match) {
    case MatchKind::exact: return trim(output) == trim(ex.target);
    case MatchKind::contains: return output.find(ex.target) != std::string::npos;
    case MatchKind::regex: return ex.regex.search(output);
  }
  return false;
}

void decide_classification(ExampleResult& r) {
  const size_t nc = r.choice_logliks.size();
  r.predicted = argmax_of(r.choice_logliks);
  r.predicted_norm = argmax_of(r.choice_logliks_norm);
  r.correct = r.predicted == r.label;
  r.correct_norm = r.predicted_norm == r.label;
  // Shifted by the maximum so exp() cannot overflow whatever the log-likelihoods' scale.
  const double mx = r.choice_logliks[static_cast<size_t>(r.predicted)];
  std::vector<double> p(nc);
  double z = 0;
  for (size_t i = 0; i < nc; ++i) z += p[i] = std::exp(r.choice_logliks[i] - mx);
  double runner_up = 0;
  for (size_t i = 0; i < nc; ++i) {
    p[i] /= z;
    if (static_cast<int64_t>(i) != r.predicted) runner_up = std::max(runner_up, p[i]);
  }
  r.confidence = p[static_cast<size_t>(r.predicted)];
  r.margin = r.confidence - runner_up;
}

ExampleResult error_row(const TaskExample& ex, const std::string& message) {
  ExampleResult r;
  r.line = ex.line;
  r.id = ex.id;
  r.tags = ex.tags;
  r.kind = ex.kind;
  r.label = ex.label;
  r.error = message;
  return r;
}

}  // namespace bitdial
