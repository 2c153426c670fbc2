// The type table: ids as GGUF numbers them, geometry, names and derived figures.
#include "core/tensor_type.h"

#include <gtest/gtest.h>

namespace bitdial {
namespace {

TEST(TensorType, IdsMatchGgufNumbering) {
  EXPECT_EQ(find_type_info(2)->type, TensorType::Q4_0);
  EXPECT_EQ(find_type_info(12)->type, TensorType::Q4_K);
  EXPECT_EQ(find_type_info(23)->type, TensorType::IQ4_XS);
  EXPECT_EQ(find_type_info(30)->type, TensorType::BF16);
  EXPECT_EQ(find_type_info(35)->type, TensorType::TQ2_0);
  EXPECT_EQ(find_type_info(4), nullptr);
  EXPECT_EQ(find_type_info(5), nullptr);
  EXPECT_EQ(find_type_info(1000), nullptr);
}

TEST(TensorType, BitsPerWeightOfCommonTypes) {
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::Q4_0), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::Q8_0), 8.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::Q4_K), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::Q6_K), 6.5625);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::Q2_K), 2.625);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::IQ4_XS), 4.25);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::TQ1_0), 1.6875);
  EXPECT_DOUBLE_EQ(bits_per_weight(TensorType::F16), 16.0);
}

TEST(TensorType, NamesLookUpCaseInsensitively) {
  EXPECT_EQ(type_from_name("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(type_from_name("q4_k"), TensorType::Q4_K);
  EXPECT_EQ(type_from_name("BF16"), TensorType::BF16);
  EXPECT_FALSE(type_from_name("q4_2").has_value());
  for (const TypeInfo& t : all_type_infos()) EXPECT_EQ(type_from_name(t.name), t.type) << t.name;
}

TEST(TensorType, RowBytes) {
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 64), 36u);
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 512), 420u);
  EXPECT_EQ(row_bytes(TensorType::F32, 172), 688u);
}

}  // namespace
}  // namespace bitdial
