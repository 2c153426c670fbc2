// Next-token sampling: repetition penalty, then greedy (temperature <= 0) or a seeded random draw
// from the distribution left after top-k, temperature, top-p and min-p. The random stream is
// std::mt19937_64 seeded once, turned into uniforms with a portable formula, so a seed gives the same
// tokens on every platform and standard library.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace bitdial {

struct SamplerParams {
  float temperature = 0.8f;     // <= 0: greedy (argmax)
  int32_t top_k = 40;           // keep the k most likely; <= 0: all
  float top_p = 0.95f;          // keep the smallest most-likely set with total probability >= p; >= 1: all
  float min_p = 0.05f;          // keep tokens with p >= min_p * p_max; <= 0: all
  float repeat_penalty = 1.0f;  // > 1 discourages tokens among the last repeat_last_n; 1: off
  int32_t repeat_last_n = 64;
  uint64_t seed = 0;
};

// One candidate token: its logit and, once softmax_candidates() ran, its probability.
struct Candidate {
  int32_t id;
  float logit;
  float p;
};

// The filters, exposed for tests. Each keeps at least one candidate.
// logits (n_vocab) -> candidates sorted by logit, descending (ties: lower id first).
std::vector<Candidate> sorted_candidates(std::span<const float> logits);
// Keeps the first k of sorted candidates (k <= 0 or k >= size: all).
void top_k_filter(std::vector<Candidate>& c, int32_t k);
// p = softmax(logit / temperature) over the current candidates (temperature > 0).
void softmax_candidates(std::vector<Candidate>& c, float temperature);
// On sorted, softmaxed candidates: the shortest prefix whose probabilities sum to >= top_p.
void top_p_filter(std::vector<Candidate>& c, float top_p);
// On sorted, softmaxed candidates: those with p >= min_p * p_max.
void min_p_filter(std::vector<Candidate>& c, float min_p);
// CTRL-style penalty (Keskar et al. 2019): for each distinct token in `recent`, a positive logit is
// divided by `penalty` and a negative one multiplied by it.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent, float penalty);
// Index of the largest logit (the first one on ties).
int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  explicit Sampler(SamplerParams params);

  const SamplerParams& params() const { return params_; }

  // logits (n_vocab) -> the next token id. Does not record it; call accept() for that.
  int32_t sample(std::span<const float> logits);

  // Records a token (prompt or generated) for the repetition penalty window.
  void accept(int32_t id);

 private:
  double uniform();  // in [0, 1), 53 random bits

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<float> scratch_;
};

}  // namespace bitdial
