// The bandwidth probe's read kernel: every path computes the same checksum as a plain sum of words.
#include "kernels/read_bandwidth.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/dispatch.h"

namespace bitdial {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(gen());
  return v;
}

uint64_t word_sum(const std::vector<uint8_t>& v) {
  uint64_t s = 0;
  for (size_t i = 0; i < v.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, v.data() + i, 8);
    s += w;
  }
  return s;
}

TEST(ReadStream, ScalarIsTheSumOfWords) {
  const std::vector<uint8_t> v = random_bytes(kReadStreamBlock * 37, 1);
  EXPECT_EQ(read_stream_scalar(v.data(), v.size()), word_sum(v));
}

TEST(ReadStream, Avx2MatchesScalarAtAnOffsetStart) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  const std::vector<uint8_t> v = random_bytes(kReadStreamBlock * 53 + 8, 2);
  EXPECT_EQ(read_stream_avx2(v.data() + 8, v.size() - 8), read_stream_scalar(v.data() + 8, v.size() - 8));
}

TEST(ReadStream, DispatchedPathMatchesScalar) {
  const std::vector<uint8_t> v = random_bytes(kReadStreamBlock * 5, 3);
  EXPECT_EQ(read_stream(v.data(), v.size()), read_stream_scalar(v.data(), v.size()));
}

TEST(ReadStream, EmptyReadIsZero) {
  EXPECT_EQ(read_stream(nullptr, 0), 0u);
}

}  // namespace
}  // namespace bitdial
