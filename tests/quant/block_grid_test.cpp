// BlockGrid against the codecs: every code of every position decodes (dequantize_row) to code_value,
// round() returns exactly what the decoder then produces and is the nearest representable value, and
// for the legacy types it reproduces the type's own round-to-nearest given the same scale.
#include "quant/block_grid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "blocks/traits.h"
#include "test_support.h"

namespace bitdial {
namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,
                             TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS,
                             TensorType::TQ2_0};

bool is_legacy(TensorType t) {
  return t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q5_0 || t == TensorType::Q5_1 ||
         t == TensorType::Q8_0;
}

// Importance in (0.1, 2.1): varied so the scale searches are really weighted.
std::vector<float> importance_for(int64_t n, uint32_t seed) {
  std::vector<float> w = test::normal_floats(n, 1.0f, seed);
  for (float& v : w) v = 0.1f + std::min(2.0f, std::fabs(v));
  return w;
}

class BlockGridTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(BlockGridTest, RoundedBlockDecodesToTheReturnedValuesAndEachIsNearest) {
  const TensorType type = GetParam();
  const BlockGrid grid = BlockGrid::for_type(type);
  const int bs = grid.block_size();
  const int n_blocks = 4;
  const std::vector<float> x = test::normal_floats(bs * n_blocks, 0.02f, 7);
  const std::vector<float> imp = importance_for(bs * n_blocks, 8);
  std::vector<uint8_t> bytes(grid.block_bytes() * n_blocks);
  std::vector<float> returned(x.size()), decoded(x.size());
  for (int k = 0; k < n_blocks; ++k) {
    uint8_t* b = bytes.data() + k * grid.block_bytes();
    grid.choose_scales(x.data() + k * bs, imp.data() + k * bs, b);
    for (int i = 0; i < bs; ++i) returned[k * bs + i] = grid.round(b, i, x[k * bs + i]);
  }
  type_traits(type).dequantize_row(bytes.data(), decoded.data(), static_cast<int64_t>(x.size()));
  int mismatches = 0, not_nearest = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::memcmp(&decoded[i], &returned[i], sizeof(float)) != 0) ++mismatches;
    const uint8_t* b = bytes.data() + (i / bs) * grid.block_bytes();
    for (int c = 0; c < grid.n_codes(); ++c)
      if (std::fabs(x[i] - grid.code_value(b, static_cast<int>(i % bs), c)) < std::fabs(x[i] - returned[i])) {
        ++not_nearest;
        break;
      }
  }
  EXPECT_EQ(mismatches, 0) << type_name(type) << ": decoded != returned";
  EXPECT_EQ(not_nearest, 0) << type_name(type) << ": a closer code exists";
}

// Every code of every position: round() of its own value lands on it, the decoder agrees, and no
// other position of the block changes (the accessors address the right bits).
TEST_P(BlockGridTest, EveryCodeOfEveryPositionRoundTripsThroughTheDecoder) {
  const TensorType type = GetParam();
  const BlockGrid grid = BlockGrid::for_type(type);
  const int bs = grid.block_size();
  const std::vector<float> x = test::normal_floats(bs, 1.0f, 11);
  std::vector<uint8_t> block(grid.block_bytes());
  grid.choose_scales(x.data(), nullptr, block.data());
  std::vector<float> before(bs), after(bs);
  int bad_value = 0, bad_other = 0;
  const int step = bs == 256 ? 3 : 1;  // a third of the 256-value positions keeps the test fast
  for (int i = 0; i < bs; i += step) {
    for (int c = 0; c < grid.n_codes(); ++c) {
      type_traits(type).dequantize_row(block.data(), before.data(), bs);
      const float y = grid.code_value(block.data(), i, c);
      const float r = grid.round(block.data(), i, y);
      type_traits(type).dequantize_row(block.data(), after.data(), bs);
      if (r != y || after[i] != y || grid.value(block.data(), i) != y) ++bad_value;
      for (int j = 0; j < bs; ++j)
        if (j != i && std::memcmp(&after[j], &before[j], sizeof(float)) != 0) ++bad_other;
    }
  }
  EXPECT_EQ(bad_value, 0) << type_name(type);
  EXPECT_EQ(bad_other, 0) << type_name(type);
}

// With the scales the type's quantizer chose, rounding each original value reproduces its codes:
// exactly for the legacy round-to-nearest types (up to float ties of x / d), never worse for the others.
TEST_P(BlockGridTest, MatchesTheTypesOwnQuantizerGivenTheSameScales) {
  const TensorType type = GetParam();
  const BlockGrid grid = BlockGrid::for_type(type);
  const int bs = grid.block_size();
  const int64_t n = bs * 8;
  const std::vector<float> x = test::normal_floats(n, 0.05f, 21);
  const std::vector<float> imp = importance_for(n, 22);
  std::vector<uint8_t> ref(row_bytes(type, n)), ours(row_bytes(type, n));
  type_traits(type).quantize_row(x.data(), ref.data(), n, imp.data());
  std::vector<float> y_ref(n), y_ours(n);
  type_traits(type).dequantize_row(ref.data(), y_ref.data(), n);
  for (int64_t k = 0; k < n / bs; ++k) {
    uint8_t* b = ours.data() + k * grid.block_bytes();
    grid.choose_scales(x.data() + k * bs, imp.data() + k * bs, b);
    for (int i = 0; i < bs; ++i) grid.round(b, i, x[k * bs + i]);
  }
  type_traits(type).dequantize_row(ours.data(), y_ours.data(), n);
  int differ = 0, worse = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e_ours = std::fabs(x[i] - y_ours[i]), e_ref = std::fabs(x[i] - y_ref[i]);
    if (y_ours[i] != y_ref[i]) ++differ;
    if (e_ours > e_ref) ++worse;
  }
  EXPECT_EQ(worse, 0) << type_name(type);
  if (is_legacy(type)) {
    EXPECT_EQ(differ, 0) << type_name(type);
    EXPECT_EQ(ours, ref) << type_name(type) << ": same scales and codes expected";
  }
}

INSTANTIATE_TEST_SUITE_P(AllGridTypes, BlockGridTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST(BlockGrid, RefusesTypesWithoutAGrid) {
  EXPECT_FALSE(BlockGrid::supports(TensorType::F16));
  EXPECT_FALSE(BlockGrid::supports(TensorType::IQ2_XXS));
  const std::string msg = test::error_of([] { BlockGrid::for_type(TensorType::TQ1_0); });
  EXPECT_NE(msg.find("tq1_0"), std::string::npos) << msg;
}

// A block whose quantizer picked a zero scale (all-zero input) still rounds: every code decodes to the
// same value, and round() returns it.
TEST(BlockGrid, ZeroScaleBlockRoundsToItsOnlyValue) {
  for (TensorType type : kTypes) {
    const BlockGrid grid = BlockGrid::for_type(type);
    std::vector<float> zeros(grid.block_size(), 0.0f), out(grid.block_size());
    std::vector<uint8_t> block(grid.block_bytes());
    grid.choose_scales(zeros.data(), nullptr, block.data());
    const float r = grid.round(block.data(), 5, 0.3f);
    type_traits(type).dequantize_row(block.data(), out.data(), grid.block_size());
    EXPECT_EQ(r, out[5]) << type_name(type);
    EXPECT_TRUE(std::isfinite(r)) << type_name(type);
  }
}

}  // namespace
}  // namespace bitdial
