#include "serve/confidence.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace bitdial::serve {
namespace {

constexpr std::array<ConfidenceKind, 6> kAllKinds = {
    ConfidenceKind::mean_token_probability, ConfidenceKind::min_token_probability,
    ConfidenceKind::token_probability_quantile, ConfidenceKind::choice_probability,
    ConfidenceKind::choice_margin, ConfidenceKind::mixed};

double clamp01(double v) { return std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0); }

std::vector<double> token_probabilities(const GenerationResult& r) {
  std::vector<double> p;
  p.reserve(r.tokens.size());
  for (const TokenLogprob& t : r.tokens)
    if (t.logprob) p.push_back(clamp01(std::exp(*t.logprob)));
  return p;
}

double token_confidence(const GenerationResult& r, ConfidenceKind kind, double q) {
  std::vector<double> p = token_probabilities(r);
  if (p.empty()) return 1.0;  // nothing generated, nothing unsure (see the header)
  switch (kind) {
    case ConfidenceKind::min_token_probability:
      return *std::min_element(p.begin(), p.end());
    case ConfidenceKind::token_probability_quantile: {
      std::sort(p.begin(), p.end());
      const double n = static_cast<double>(p.size());
      const auto rank = static_cast<size_t>(std::clamp(std::ceil(q * n), 1.0, n));  // 1-based
      return p[rank - 1];
    }
    default: {
      double sum = 0;
      for (double v : p) sum += v;
      return sum / static_cast<double>(p.size());
    }
  }
}

}  // namespace

std::string confidence_name(ConfidenceKind kind) {
  switch (kind) {
    case ConfidenceKind::mean_token_probability: return "mean_token_probability";
    case ConfidenceKind::min_token_probability: return "min_token_probability";
    case ConfidenceKind::token_probability_quantile: return "token_probability_quantile";
    case ConfidenceKind::choice_probability: return "choice_probability";
    case ConfidenceKind::choice_margin: return "choice_margin";
    case ConfidenceKind::mixed: return "mixed";
  }
  return "?";
}

ConfidenceSpec parse_confidence(const std::string& name, double quantile) {
  for (ConfidenceKind k : kAllKinds) {
    if (confidence_name(k) != name) continue;
    if (k == ConfidenceKind::token_probability_quantile && !(quantile >= 0 && quantile <= 1))
      fail("confidence quantile must be in [0, 1], not ", quantile);
    return ConfidenceSpec{k, quantile};
  }
  std::string valid;
  for (ConfidenceKind k : kAllKinds) valid += (valid.empty() ? "" : ", ") + confidence_name(k);
  fail("unknown confidence measure '", name, "' (valid: ", valid, ")");
}

double confidence_of(const GenerationResult& result, const ConfidenceSpec& spec) {
  const bool classification = result.chosen >= 0;
  switch (spec.kind) {
    case ConfidenceKind::choice_probability:
    case ConfidenceKind::mixed:
      if (classification) return clamp01(result.choice_probability);
      return token_confidence(result, ConfidenceKind::mean_token_probability, spec.quantile);
    case ConfidenceKind::choice_margin:
      if (classification) return clamp01(result.choice_margin);
      return token_confidence(result, ConfidenceKind::mean_token_probability, spec.quantile);
    default:
      return token_confidence(result, spec.kind, spec.quantile);
  }
}

}  // namespace bitdial::serve
