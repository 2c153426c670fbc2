// Half and bfloat16 conversions: exact decode of every half, round-to-nearest-even encode.
#include "core/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace bitdial {
namespace {

// Reference half decode in double arithmetic from the IEEE 754 definition.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 31;
  const int mant = h & 1023;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(Fp16, DecodesEveryHalfExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value(static_cast<uint16_t>(h));
    const float got = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << h;
    }
  }
}

TEST(Fp16, EncodeDecodeIsIdentityOnEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_fp16(f), h) << h;
  }
}

// Encoding must pick the nearest half, ties to the even mantissa, for values between halves.
TEST(Fp16, EncodeRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double lo = half_value(static_cast<uint16_t>(h)), hi = half_value(static_cast<uint16_t>(h + 1));
    const double mid = (lo + hi) / 2;
    const auto even = static_cast<uint16_t>((h & 1) ? h + 1 : h);
    ASSERT_EQ(f32_to_fp16(static_cast<float>(mid)), even) << h;
    ASSERT_EQ(f32_to_fp16(static_cast<float>(lo + (hi - lo) * 0.25)), h) << h;
    ASSERT_EQ(f32_to_fp16(static_cast<float>(lo + (hi - lo) * 0.75)), h + 1) << h;
  }
}

TEST(Fp16, EncodeOverflowAndUnderflow) {
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_fp16(1e-9f), 0x0000);
  EXPECT_EQ(f32_to_fp16(-1e-9f), 0x8000);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // exactly half the smallest subnormal: tie to even 0
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Bf16, RoundsToNearestEvenAndKeepsNan) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808001u)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(0x7f800001u)))));
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
}

}  // namespace
}  // namespace bitdial
