// q2_K, q3_K, q4_K, q5_K, q6_K: random round trips within a derived bound, row-length checks, and the
// traits table's block sizes (the llama.cpp reference vectors are in reference_vectors_test.cpp).
#include "blocks/k_quants.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "codec_checks.h"
#include "core/error.h"

namespace bitdial::test {
namespace {

class KQuantsTest : public ::testing::TestWithParam<CodecCase> {};

// Each encoder evaluates one start whose error is easy to bound, and the search only lowers the
// error from there; so every 256-value super-block's RMS error is within that start's worst case.
//
// Affine types (codes 0..qmax, integer scales/mins 0..top): the zero-anchored start gives
// sub-block j the step a_j = (max(hi,0) - min(lo,0)) / qmax and offset b_j = -min(lo,0), with
// super-scales D = max a_j / top and Dm = max b_j / top and integers rounded to nearest. Then the
// realised step is within D/2 of a_j and the offset within Dm/2 of b_j, so every value is within
// a_j/2 + qmax D/2 + Dm/2 of the grid. fp16 rounding of D and Dm adds a relative 2^-11 each.
double affine_bound(const float* x, int sub_len, int qmax, int top) {
  double a_max = 0, b_max = 0;
  for (int j = 0; j < 256 / sub_len; ++j) {
    const auto [lo, hi] = std::minmax_element(x + j * sub_len, x + (j + 1) * sub_len);
    a_max = std::max(a_max, (std::max(*hi, 0.0f) - std::min(*lo, 0.0f)) / static_cast<double>(qmax));
    b_max = std::max(b_max, -static_cast<double>(std::min(*lo, 0.0f)));
  }
  const double bound = a_max / 2 + qmax * a_max / (2.0 * top) + b_max / (2.0 * top);
  return bound * (1 + 4 * kFp16RelErr) + (a_max * qmax + b_max) * 2 * kFp16RelErr;
}

// Symmetric types (codes qmin..qmax with |qmin| = qmax + 1, integer scales scale_min..):
// the max-abs start maps each sub-block's largest value to qmin, step s_j = amax_j / |qmin|, with
// D = max s_j / |scale_min| and scales rounded to nearest. A value is then within s_j/2 of the grid
// or at most s_j beyond the short end, and the rounded scale moves a code-|qmin| value by up to
// |qmin| D / 2.
double symmetric_bound(const float* x, int qmin, int scale_min) {
  const double s = absmax(x, 256) / -qmin;
  const double bound = s + -qmin * (s / -scale_min) / 2;
  return bound * (1 + 4 * kFp16RelErr);
}

double kquant_bound(TensorType t, const float* x) {
  switch (t) {
    case TensorType::Q2_K: return affine_bound(x, 16, 3, 15);
    case TensorType::Q4_K: return affine_bound(x, 32, 15, 63);
    case TensorType::Q5_K: return affine_bound(x, 32, 31, 63);
    case TensorType::Q3_K: return symmetric_bound(x, -4, -32);
    default: return symmetric_bound(x, -32, -128);
  }
}

TEST_P(KQuantsTest, RandomRowsRoundTripWithinDerivedBound) {
  const TensorType t = GetParam().type;
  expect_random_rows_within(t, [t](const float* x, int64_t n) { return kquant_bound(t, x); });
}

// With importance, a column of weight zero may decode to anything finite, but a heavily weighted
// column should be reproduced at least as well as without importance.
TEST_P(KQuantsTest, ImportanceLowersTheWeightedError) {
  const TensorType t = GetParam().type;
  const int64_t n = 3 * 256;
  const std::vector<float> x = random_row(n, 11);
  std::vector<float> w(n);
  for (int64_t i = 0; i < n; ++i) w[i] = i % 8 == 0 ? 50.0f : 0.5f;
  const std::vector<float> plain = round_trip(t, x.data(), n, nullptr);
  const std::vector<float> weighted = round_trip(t, x.data(), n, w.data());
  EXPECT_LE(weighted_rmse(x.data(), weighted.data(), w.data(), n),
            weighted_rmse(x.data(), plain.data(), w.data(), n) * (1 + kRmseRelSlack))
      << type_name(t);
}

INSTANTIATE_TEST_SUITE_P(Types, KQuantsTest,
                         ::testing::Values(CodecCase{"q2_K", TensorType::Q2_K}, CodecCase{"q3_K", TensorType::Q3_K},
                                           CodecCase{"q4_K", TensorType::Q4_K}, CodecCase{"q5_K", TensorType::Q5_K},
                                           CodecCase{"q6_K", TensorType::Q6_K}),
                         case_name);

TEST(KQuants, TraitsBlockBytesEqualBlockStructSizes) {
  EXPECT_EQ(type_traits(TensorType::Q2_K).info().block_bytes, sizeof(BlockQ2_K));
  EXPECT_EQ(type_traits(TensorType::Q3_K).info().block_bytes, sizeof(BlockQ3_K));
  EXPECT_EQ(type_traits(TensorType::Q4_K).info().block_bytes, sizeof(BlockQ4_K));
  EXPECT_EQ(type_traits(TensorType::Q5_K).info().block_bytes, sizeof(BlockQ5_K));
  EXPECT_EQ(type_traits(TensorType::Q6_K).info().block_bytes, sizeof(BlockQ6_K));
  for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    EXPECT_EQ(type_traits(t).info().block_size, kQK_K) << type_name(t);
  }
}

TEST(KQuants, RowLengthNotAMultipleOf256IsRejected) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> blocks(2 * sizeof(BlockQ4_K));
  EXPECT_THROW(quantize_row_q4_k(x.data(), blocks.data(), 300, nullptr), ::bitdial::Error);
  EXPECT_THROW(dequantize_row_q4_k(blocks.data(), x.data(), 300), ::bitdial::Error);
}

}  // namespace
}  // namespace bitdial::test
