#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"

namespace bitdial {

std::vector<Candidate> sorted_candidates(std::span<const float> logits) {
  std::vector<Candidate> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
  return c;
}

void top_k_filter(std::vector<Candidate>& c, int32_t k) {
  if (k > 0 && static_cast<size_t>(k) < c.size()) c.resize(static_cast<size_t>(k));
}

void softmax_candidates(std::vector<Candidate>& c, float temperature) {
  BITDIAL_ASSERT(!c.empty() && temperature > 0.0f);
  float mx = c[0].logit;
  for (const Candidate& x : c) mx = std::max(mx, x.logit);
  double sum = 0.0;
  for (Candidate& x : c) {
    x.p = static_cast<float>(std::exp(static_cast<double>(x.logit - mx) / temperature));
    sum += x.p;
  }
  for (Candidate& x : c) x.p = static_cast<float>(x.p / sum);
}

void top_p_filter(std::vector<Candidate>& c, float top_p) {
  if (top_p >= 1.0f) return;
  double cum = 0.0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i].p;
    if (cum >= top_p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(std::max<size_t>(keep, 1));
}

void min_p_filter(std::vector<Candidate>& c, float min_p) {
  if (min_p <= 0.0f || c.empty()) return;
  float p_max = 0.0f;
  for (const Candidate& x : c) p_max = std::max(p_max, x.p);
  const float cut = min_p * p_max;
  std::erase_if(c, [cut](const Candidate& x) { return x.p < cut; });
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent, float penalty) {
  if (penalty == 1.0f) return;
  std::unordered_set<int32_t> seen;
  for (const int32_t id : recent) {
    if (id < 0 || static_cast<size_t>(id) >= logits.size() || !seen.insert(id).second) continue;
    float& l = logits[static_cast<size_t>(id)];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

int32_t argmax(std::span<const float> logits) {
  BITDIAL_ASSERT(!logits.empty());
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) {
  if (!(params_.repeat_penalty > 0.0f)) fail("repeat penalty ", params_.repeat_penalty, " must be > 0");
  if (std::isnan(params_.temperature) || std::isnan(params_.top_p) || std::isnan(params_.min_p))
    fail("sampling parameters must not be NaN");
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::accept(int32_t id) {
  if (params_.repeat_last_n <= 0) return;
  recent_.push_back(id);
  while (recent_.size() > static_cast<size_t>(params_.repeat_last_n)) recent_.pop_front();
}

int32_t Sampler::sample(std::span<const float> logits) {
  BITDIAL_ASSERT(!logits.empty());
  scratch_.assign(logits.begin(), logits.end());
  const std::vector<int32_t> recent(recent_.begin(), recent_.end());
  apply_repetition_penalty(scratch_, recent, params_.repeat_penalty);
  if (params_.temperature <= 0.0f) return argmax(scratch_);

  std::vector<Candidate> c = sorted_candidates(scratch_);
  top_k_filter(c, params_.top_k);
  softmax_candidates(c, params_.temperature);
  top_p_filter(c, params_.top_p);
  min_p_filter(c, params_.min_p);
  double total = 0.0;
  for (const Candidate& x : c) total += x.p;
  // Inverse-CDF draw over the kept candidates (renormalised by `total`).
  const double u = uniform() * total;
  double cum = 0.0;
  for (const Candidate& x : c) {
    cum += x.p;
    if (u < cum) return x.id;
  }
  return c.back().id;
}

}  // namespace bitdial
