// iq4_nl and iq4_xs: random round trips within a derived bound, block sizes.
#include "blocks/nonlinear_quants.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "codec_checks.h"

namespace bitdial::test {
namespace {

class NonlinearQuantsTest : public ::testing::TestWithParam<CodecCase> {};

// With one scale s = amax / 127 mapping the block extreme onto the grid end -127, a value is at most
// half the widest grid gap from the grid inside [-127 s, 113 s], and (127 - 113) s beyond the short
// end. For iq4_xs the same single scale is reachable with every sub-block multiplier at -32 (up to
// the fp16 rounding of d), so the bound holds per 256-value super-block.
double grid_bound(const float* x, int64_t n) {
  int widest = 0;
  for (int i = 1; i < 16; ++i) widest = std::max(widest, kIq4Grid[i] - kIq4Grid[i - 1]);
  const double reach = std::max(0.5 * widest, static_cast<double>(std::abs(kIq4Grid[0]) - kIq4Grid[15]));
  const double amax = absmax(x, n);
  return reach * amax / 127 * (1 + kFp16RelErr) + amax * kFp16RelErr;
}

TEST_P(NonlinearQuantsTest, RandomRowsRoundTripWithinRoundToNearestWorstCase) {
  expect_random_rows_within(GetParam().type, grid_bound);
}

INSTANTIATE_TEST_SUITE_P(Types, NonlinearQuantsTest,
                         ::testing::Values(CodecCase{"iq4_nl", TensorType::IQ4_NL},
                                           CodecCase{"iq4_xs", TensorType::IQ4_XS}),
                         case_name);

TEST(NonlinearQuants, TraitsBlockBytesEqualBlockStructSizes) {
  EXPECT_EQ(type_traits(TensorType::IQ4_NL).info().block_bytes, sizeof(BlockIQ4_NL));
  EXPECT_EQ(type_traits(TensorType::IQ4_NL).info().block_size, 32);
  EXPECT_EQ(type_traits(TensorType::IQ4_XS).info().block_bytes, sizeof(BlockIQ4_XS));
  EXPECT_EQ(type_traits(TensorType::IQ4_XS).info().block_size, 256);
}

}  // namespace
}  // namespace bitdial::test
