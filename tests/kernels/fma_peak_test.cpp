// The compute-peak probe's FMA chains: every path returns the same bits (the multiplier is a power of
// two, so fused and separate multiply-add round alike), from the documented starting values.
#include "kernels/fma_peak.h"

#include <gtest/gtest.h>

#include <random>

namespace bitdial {
namespace {

TEST(FmaChains, ZeroStepsSumTheStartingValues) {
  // values i / 8 for i < 80: (79 * 80 / 2) / 8
  EXPECT_EQ(fma_chains_scalar(0, 0.5f, 1.0f), 395.0f);
}

TEST(FmaChains, ScalarReachesTheFixedPointOfHalveAndAddOne) {
  // v -> v / 2 + 1 converges to 2 for every start; 80 values of 2.
  EXPECT_EQ(fma_chains_scalar(200, 0.5f, 1.0f), 160.0f);
}

TEST(FmaChains, Avx2MatchesScalarBitForBitOnRandomAddendsAndOddStepCounts) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> addend(-3.0f, 3.0f);
  for (const float m : {0.5f, 0.25f, 0.125f})
    for (const int64_t steps : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{17}, int64_t{101}}) {
      const float c = addend(gen);
      EXPECT_EQ(fma_chains_avx2(steps, m, c), fma_chains_scalar(steps, m, c)) << "m " << m << " c " << c << " steps " << steps;
    }
}

}  // namespace
}  // namespace bitdial
