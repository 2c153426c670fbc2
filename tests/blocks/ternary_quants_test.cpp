// tq1_0 and tq2_0: exact ternary round trips, random rows within a derived bound, block sizes.
#include "blocks/ternary_quants.h"

#include <gtest/gtest.h>

#include <cstring>

#include "codec_checks.h"

namespace bitdial::test {
namespace {

class TernaryQuantsTest : public ::testing::TestWithParam<CodecCase> {};

// At d = amax every value is within amax / 2 of {-d, 0, d}; the fp16 scale adds amax * 2^-11.
TEST_P(TernaryQuantsTest, RandomRowsRoundTripWithinRoundToNearestWorstCase) {
  expect_random_rows_within(GetParam().type, [](const float* x, int64_t n) {
    return 0.5 * absmax(x, n) + absmax(x, n) * kFp16RelErr;
  });
}

// Every trit pattern of a block survives encode -> decode exactly when the values are -1, 0, +1.
TEST_P(TernaryQuantsTest, ExactTernaryValuesRoundTripExactly) {
  std::vector<float> x(256);
  for (int j = 0; j < 256; ++j) x[j] = static_cast<float>((j * 7 + j / 3) % 3 - 1);
  const std::vector<float> y = round_trip(GetParam().type, x.data(), 256, nullptr);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], x[j]) << "value " << j;
}

INSTANTIATE_TEST_SUITE_P(Types, TernaryQuantsTest,
                         ::testing::Values(CodecCase{"tq1_0", TensorType::TQ1_0},
                                           CodecCase{"tq2_0", TensorType::TQ2_0}),
                         case_name);

TEST(TernaryQuants, TraitsBlockBytesEqualBlockStructSizes) {
  EXPECT_EQ(type_traits(TensorType::TQ1_0).info().block_bytes, sizeof(BlockTQ1_0));
  EXPECT_EQ(type_traits(TensorType::TQ1_0).info().block_size, 256);
  EXPECT_EQ(type_traits(TensorType::TQ2_0).info().block_bytes, sizeof(BlockTQ2_0));
  EXPECT_EQ(type_traits(TensorType::TQ2_0).info().block_size, 256);
}

}  // namespace
}  // namespace bitdial::test
