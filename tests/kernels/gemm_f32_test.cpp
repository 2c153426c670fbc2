// C -= A B (GPTQ's lazy batch update): the scalar reference and the AVX2 path both match a double
// reference within a bound derived from the sum of |terms|, on random data, odd sizes and leading
// dimensions wider than the rows, and neither writes outside C's (m, n) window.
#include "kernels/gemm_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace bitdial {
namespace {

constexpr float kPad = -7.5f;  // fills the leading-dimension padding of C: must survive

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = n01(rng);
  return v;
}

void check(Isa isa, int64_t m, int64_t n, int64_t k, uint32_t seed) {
  const int64_t lda = k + 3, ldb = n + 5, ldc = n + 2;
  const std::vector<float> a = random_floats(static_cast<size_t>(m * lda), seed);
  const std::vector<float> b = random_floats(static_cast<size_t>(k * ldb), seed + 1);
  std::vector<float> c = random_floats(static_cast<size_t>(m * ldc), seed + 2);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = n; j < ldc; ++j) c[r * ldc + j] = kPad;
  const std::vector<float> c0 = c;
  gemm_sub_f32_isa(isa, m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  const double eps = std::numeric_limits<float>::epsilon();
  int64_t bad = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = c0[r * ldc + j], mag = std::abs(ref);
      for (int64_t kk = 0; kk < k; ++kk) {
        const double p = static_cast<double>(a[r * lda + kk]) * b[kk * ldb + j];
        ref -= p;
        mag += std::abs(p);
      }
      const double tol = 2.0 * static_cast<double>(k + 1) * eps * mag;
      if (std::abs(c[r * ldc + j] - ref) > tol && ++bad <= 20)
        ADD_FAILURE() << isa_name(isa) << " m " << m << " n " << n << " k " << k << ": (" << r << "," << j << ") got "
                      << c[r * ldc + j] << " want " << ref << " tol " << tol;
    }
    for (int64_t j = n; j < ldc; ++j)
      if (c[r * ldc + j] != kPad && ++bad <= 20) ADD_FAILURE() << isa_name(isa) << ": padding (" << r << "," << j << ") written";
  }
  EXPECT_EQ(bad, 0) << isa_name(isa) << " m " << m << " n " << n << " k " << k;
}

TEST(GemmSubF32, ScalarMatchesDoubleReferenceOnOddSizes) {
  uint32_t seed = 1;
  for (int64_t m : {1, 5, 16})
    for (int64_t n : {1, 17, 100})
      for (int64_t k : {1, 3, 128}) check(Isa::Scalar, m, n, k, seed += 3);
}

TEST(GemmSubF32, Avx2MatchesDoubleReferenceOnOddSizes) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  // m crosses the 6-row micro-tile (1..5 row remainders), n the 16-column strip and its scalar tail.
  uint32_t seed = 100;
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 13, 16})
    for (int64_t n : {1, 15, 16, 17, 100})
      for (int64_t k : {1, 3, 128}) check(Isa::Avx2, m, n, k, seed += 3);
}

TEST(GemmSubF32, DispatchedPathWithZeroDepthLeavesCUnchanged) {
  std::vector<float> c = random_floats(12, 5);
  const std::vector<float> c0 = c;
  gemm_sub_f32(3, 4, 0, nullptr, 1, nullptr, 4, c.data(), 4);
  EXPECT_EQ(c, c0);
}

}  // namespace
}  // namespace bitdial
