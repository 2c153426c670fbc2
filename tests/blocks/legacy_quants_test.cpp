// q4_0, q4_1, q5_0, q5_1, q8_0: random round trips within the round-to-nearest worst case, block sizes.
#include "blocks/legacy_quants.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "codec_checks.h"

namespace bitdial::test {
namespace {

class LegacyQuantsTest : public ::testing::TestWithParam<CodecCase> {};

// Symmetric types (codes qmin..qmax, |qmin| >= qmax): at the max-abs scale d = amax / |qmin| a value
// is at most d/2 from the grid inside the range and (|qmin| - qmax) d beyond its short end; the
// stored fp16 scale moves the extreme by at most amax * 2^-11.
double symmetric_bound(const float* x, int64_t n, int qmin, int qmax) {
  const double amax = absmax(x, n);
  const double d = amax / -qmin * (1 + kFp16RelErr);
  return std::max(0.5, static_cast<double>(-qmin - qmax)) * d + amax * kFp16RelErr;
}

// Affine types: at d = (max - min) / qmax and offset min every value is within d/2 of the grid; the
// fp16 offset and scale add at most |min| 2^-11 and (max - min) 2^-11.
double affine_bound(const float* x, int64_t n, int qmax) {
  const auto [lo, hi] = std::minmax_element(x, x + n);
  const double range = *hi - *lo;
  return 0.5 * range / qmax * (1 + kFp16RelErr) + (std::fabs(*lo) + range) * kFp16RelErr;
}

TEST_P(LegacyQuantsTest, RandomRowsRoundTripWithinRoundToNearestWorstCase) {
  const TensorType t = GetParam().type;
  expect_random_rows_within(t, [t](const float* x, int64_t n) {
    switch (t) {
      case TensorType::Q4_0: return symmetric_bound(x, n, -8, 7);
      case TensorType::Q5_0: return symmetric_bound(x, n, -16, 15);
      case TensorType::Q8_0: return symmetric_bound(x, n, -127, 127);
      case TensorType::Q4_1: return affine_bound(x, n, 15);
      default: return affine_bound(x, n, 31);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Types, LegacyQuantsTest,
                         ::testing::Values(CodecCase{"q4_0", TensorType::Q4_0}, CodecCase{"q4_1", TensorType::Q4_1},
                                           CodecCase{"q5_0", TensorType::Q5_0}, CodecCase{"q5_1", TensorType::Q5_1},
                                           CodecCase{"q8_0", TensorType::Q8_0}),
                         case_name);

TEST(LegacyQuants, TraitsBlockBytesEqualBlockStructSizes) {
  EXPECT_EQ(type_traits(TensorType::Q4_0).info().block_bytes, sizeof(BlockQ4_0));
  EXPECT_EQ(type_traits(TensorType::Q4_1).info().block_bytes, sizeof(BlockQ4_1));
  EXPECT_EQ(type_traits(TensorType::Q5_0).info().block_bytes, sizeof(BlockQ5_0));
  EXPECT_EQ(type_traits(TensorType::Q5_1).info().block_bytes, sizeof(BlockQ5_1));
  EXPECT_EQ(type_traits(TensorType::Q8_0).info().block_bytes, sizeof(BlockQ8_0));
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0}) {
    EXPECT_EQ(type_traits(t).info().block_size, 32) << type_name(t);
  }
}

}  // namespace
}  // namespace bitdial::test
