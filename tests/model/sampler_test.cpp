// Sampler behaviours on small hand-computed distributions.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace bitdial {
namespace {

std::vector<int32_t> ids(const std::vector<Candidate>& c) {
  std::vector<int32_t> out;
  for (const Candidate& x : c) out.push_back(x.id);
  return out;
}

// Logits whose softmax (temperature 1) is exactly probs: log(p).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (const double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(Sampler, GreedyIsArgmax) {
  const std::vector<float> l = {0.1f, 2.5f, -1.0f, 2.4f};
  Sampler s({.temperature = 0.0f});
  EXPECT_EQ(s.sample(l), 1);
  EXPECT_EQ(argmax(std::vector<float>{3.0f, 3.0f}), 0);  // ties: first
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  const std::vector<float> l = {0.1f, 0.2f, 0.3f, 0.25f, -2.0f};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Sampler s({.temperature = 5.0f, .top_k = 1, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    EXPECT_EQ(s.sample(l), 2);
  }
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferent) {
  std::vector<float> l(50);
  for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(i % 7) * 0.1f;
  auto draw = [&](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(l));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, TopKKeepsTheKLargest) {
  std::vector<Candidate> c = sorted_candidates(std::vector<float>{1.0f, 4.0f, 3.0f, 2.0f});
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2, 3, 0}));
  top_k_filter(c, 2);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
}

TEST(Sampler, TopPKeepsShortestPrefixReachingP) {
  // p = 0.5, 0.3, 0.15, 0.05: cumulative 0.5, 0.8, 0.95, 1.0.
  const std::vector<float> l = logits_of({0.15, 0.5, 0.05, 0.3});
  auto filtered = [&](float top_p) {
    std::vector<Candidate> c = sorted_candidates(l);
    softmax_candidates(c, 1.0f);
    top_p_filter(c, top_p);
    return ids(c);
  };
  EXPECT_EQ(filtered(0.4f), (std::vector<int32_t>{1}));
  EXPECT_EQ(filtered(0.75f), (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(filtered(0.9f), (std::vector<int32_t>{1, 3, 0}));
  EXPECT_EQ(filtered(1.0f), (std::vector<int32_t>{1, 3, 0, 2}));
}

TEST(Sampler, MinPDropsTokensBelowFractionOfTop) {
  // p = 0.5, 0.3, 0.15, 0.05; min_p 0.25 cuts at 0.125: keeps 0.5, 0.3, 0.15.
  std::vector<Candidate> c = sorted_candidates(logits_of({0.15, 0.5, 0.05, 0.3}));
  softmax_candidates(c, 1.0f);
  EXPECT_NEAR(c[0].p, 0.5, 1e-6);
  min_p_filter(c, 0.25f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 0}));
  min_p_filter(c, 0.7f);  // cut 0.35
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));
}

TEST(Sampler, TemperatureSharpensSoftmax) {
  std::vector<Candidate> c = sorted_candidates(std::vector<float>{0.0f, std::log(2.0f)});
  softmax_candidates(c, 1.0f);
  EXPECT_NEAR(c[0].p, 2.0 / 3.0, 1e-6);
  softmax_candidates(c, 0.5f);  // p ∝ 2^2 : 1
  EXPECT_NEAR(c[0].p, 0.8, 1e-6);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  std::vector<float> l = {2.0f, -1.0f, 3.0f};
  apply_repetition_penalty(l, std::vector<int32_t>{0, 1, 0}, 2.0f);  // 0 penalised once
  EXPECT_EQ(l, (std::vector<float>{1.0f, -2.0f, 3.0f}));
  // With the penalty, greedy moves away from a recently seen token.
  Sampler s({.temperature = 0.0f, .repeat_penalty = 2.0f});
  s.accept(2);
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, -1.0f, 3.0f}), 0);
}

TEST(Sampler, DrawFrequenciesFollowTheDistribution) {
  const std::vector<float> l = logits_of({0.2, 0.8});
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 9});
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(l) == 1;
  // Binomial sd = sqrt(n * 0.16) ~ 57; 5 sd.
  EXPECT_NEAR(ones, 0.8 * n, 5 * std::sqrt(n * 0.16));
}

}  // namespace
}  // namespace bitdial
