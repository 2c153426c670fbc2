// Confidence measures the cascade router reads: each kind on a handmade result, the classification /
// generation fallbacks, and name parsing.
#include "serve/confidence.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace bitdial::serve {
namespace {

// A generation whose tokens have probabilities 0.9, 0.5, 0.8, 0.2 (and one token with no log-prob).
GenerationResult generation() {
  GenerationResult r;
  for (double p : {0.9, 0.5, 0.8, 0.2}) {
    TokenLogprob t;
    t.logprob = std::log(p);
    r.tokens.push_back(t);
  }
  r.tokens.push_back(TokenLogprob{});  // no log-prob: skipped
  return r;
}

GenerationResult classification() {
  GenerationResult r;
  r.chosen = 1;
  r.choice_logliks = {-3.0, -1.0};
  r.choice_probability = 0.88;
  r.choice_margin = 0.76;
  return r;
}

double conf(const GenerationResult& r, ConfidenceKind k, double q = 0.1) { return confidence_of(r, {k, q}); }

TEST(Confidence, MeanTokenProbabilityAveragesTokenProbabilities) {
  EXPECT_NEAR(conf(generation(), ConfidenceKind::mean_token_probability), 0.6, 1e-12);
}

TEST(Confidence, MinTokenProbabilityIsTheLeastLikelyToken) {
  EXPECT_NEAR(conf(generation(), ConfidenceKind::min_token_probability), 0.2, 1e-12);
}

TEST(Confidence, QuantileIsNearestRankOnSortedProbabilities) {
  // Sorted 0.2 0.5 0.8 0.9: q=0.1 -> rank ceil(0.4)=1; q=0.5 -> rank 2; q=0.51 -> rank 3; q=1 -> rank 4.
  EXPECT_NEAR(conf(generation(), ConfidenceKind::token_probability_quantile, 0.1), 0.2, 1e-12);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::token_probability_quantile, 0.5), 0.5, 1e-12);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::token_probability_quantile, 0.51), 0.8, 1e-12);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::token_probability_quantile, 1.0), 0.9, 1e-12);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::token_probability_quantile, 0.0), 0.2, 1e-12);
}

TEST(Confidence, ChoiceKindsReadTheClassificationFields) {
  EXPECT_DOUBLE_EQ(conf(classification(), ConfidenceKind::choice_probability), 0.88);
  EXPECT_DOUBLE_EQ(conf(classification(), ConfidenceKind::choice_margin), 0.76);
}

TEST(Confidence, ChoiceKindsFallBackToMeanTokenProbabilityForGeneration) {
  EXPECT_NEAR(conf(generation(), ConfidenceKind::choice_probability), 0.6, 1e-12);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::choice_margin), 0.6, 1e-12);
}

TEST(Confidence, MixedIsChoiceProbabilityForClassificationAndMeanTokenForGeneration) {
  EXPECT_DOUBLE_EQ(conf(classification(), ConfidenceKind::mixed), 0.88);
  EXPECT_NEAR(conf(generation(), ConfidenceKind::mixed), 0.6, 1e-12);
}

TEST(Confidence, NoTokenProbabilitiesMeansFullConfidence) {
  GenerationResult empty;
  EXPECT_EQ(conf(empty, ConfidenceKind::mean_token_probability), 1.0);
  EXPECT_EQ(conf(empty, ConfidenceKind::min_token_probability), 1.0);
  EXPECT_EQ(conf(empty, ConfidenceKind::token_probability_quantile), 1.0);
  EXPECT_EQ(conf(empty, ConfidenceKind::mixed), 1.0);
}

TEST(Confidence, ResultIsClampedToTheUnitInterval) {
  GenerationResult r = classification();
  r.choice_probability = 1.0000001;
  EXPECT_EQ(conf(r, ConfidenceKind::choice_probability), 1.0);
  GenerationResult g;
  TokenLogprob t;
  t.logprob = 1e-9;  // rounding above log(1)
  g.tokens.push_back(t);
  EXPECT_EQ(conf(g, ConfidenceKind::mean_token_probability), 1.0);
}

TEST(Confidence, ParsesEveryNameAndRoundTrips) {
  for (ConfidenceKind k :
       {ConfidenceKind::mean_token_probability, ConfidenceKind::min_token_probability,
        ConfidenceKind::token_probability_quantile, ConfidenceKind::choice_probability,
        ConfidenceKind::choice_margin, ConfidenceKind::mixed}) {
    const ConfidenceSpec s = parse_confidence(confidence_name(k), 0.25);
    EXPECT_EQ(s.kind, k);
    EXPECT_EQ(s.quantile, 0.25);
  }
}

TEST(Confidence, UnknownNameErrorListsTheValidNames) {
  try {
    parse_confidence("mean_prob", 0.1);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mean_prob"), std::string::npos);
    EXPECT_NE(msg.find("mean_token_probability"), std::string::npos);
    EXPECT_NE(msg.find("choice_margin"), std::string::npos);
    EXPECT_NE(msg.find("mixed"), std::string::npos);
  }
}

TEST(Confidence, QuantileOutsideUnitIntervalIsRejected) {
  EXPECT_THROW(parse_confidence("token_probability_quantile", 1.5), Error);
  EXPECT_THROW(parse_confidence("token_probability_quantile", -0.1), Error);
}

}  // namespace
}  // namespace bitdial::serve
