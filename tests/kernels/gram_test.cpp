// The Gram kernel: the scalar reference matches a double-precision X^T X, the AVX2 path matches the
// reference on random data and odd sizes (tolerance from the sum of |products|), and neither touches
// the upper triangle.
#include "kernels/gram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace bitdial {
namespace {

constexpr float kSentinel = 0.25f;  // initial value of h: the kernel adds to what is there

std::vector<float> random_x(int64_t n_tokens, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * cols));
  for (float& v : x) v = n01(rng);
  return x;
}

// Checks h against sum_t x_ti x_tj in double for j <= i, with tolerance k * n_tokens * eps * sum_t |x_ti x_tj|
// (+ the sentinel's rounding), and the sentinel above the diagonal. Reports every mismatch.
void expect_gram(const std::vector<float>& h, const std::vector<float>& x, int64_t n_tokens, int64_t cols,
                 const char* what) {
  const double eps = std::numeric_limits<float>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const double got = h[i * cols + j];
      if (j > i) {
        if (got != kSentinel) ++bad, ADD_FAILURE() << what << ": upper (" << i << "," << j << ") written: " << got;
        continue;
      }
      double ref = kSentinel, mag = kSentinel;
      for (int64_t t = 0; t < n_tokens; ++t) {
        const double p = static_cast<double>(x[t * cols + i]) * x[t * cols + j];
        ref += p;
        mag += std::abs(p);
      }
      const double tol = 2.0 * static_cast<double>(n_tokens + 1) * eps * mag + 1e-30;
      if (std::abs(got - ref) > tol && ++bad <= 20)
        ADD_FAILURE() << what << ": (" << i << "," << j << ") got " << got << " want " << ref << " tol " << tol;
    }
  EXPECT_EQ(bad, 0) << what << " n_tokens " << n_tokens << " cols " << cols;
}

std::vector<float> run(Isa isa, const std::vector<float>& x, int64_t n_tokens, int64_t cols) {
  std::vector<float> h(static_cast<size_t>(cols * cols), kSentinel);
  gram_accumulate_isa(isa, x.data(), n_tokens, cols, h.data());
  return h;
}

TEST(Gram, ScalarMatchesDoubleReferenceOnOddSizes) {
  for (int64_t cols : {1, 7, 33, 100})
    for (int64_t n : {1, 5, 300}) {
      const std::vector<float> x = random_x(n, cols, static_cast<uint32_t>(cols * 1000 + n));
      expect_gram(run(Isa::Scalar, x, n, cols), x, n, cols, "scalar");
    }
}

TEST(Gram, Avx2MatchesScalarOnOddSizes) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  // 300 tokens cross the AVX2 path's 256-token block; 100 and 257 columns cross the 6/16 tile edges.
  for (int64_t cols : {1, 7, 33, 100, 257})
    for (int64_t n : {1, 5, 300}) {
      const std::vector<float> x = random_x(n, cols, static_cast<uint32_t>(cols * 1000 + n + 7));
      const std::vector<float> hs = run(Isa::Scalar, x, n, cols), hv = run(Isa::Avx2, x, n, cols);
      expect_gram(hs, x, n, cols, "scalar");
      expect_gram(hv, x, n, cols, "avx2");  // both within the bound of the exact sum: they agree within twice it
    }
}

TEST(Gram, DispatchedPathAccumulatesAcrossCalls) {
  const int64_t cols = 40, n = 70;
  const std::vector<float> x = random_x(n, cols, 99);
  std::vector<float> h(static_cast<size_t>(cols * cols), kSentinel);
  gram_accumulate(x.data(), 30, cols, h.data());
  gram_accumulate(x.data() + 30 * cols, n - 30, cols, h.data());
  expect_gram(h, x, n, cols, "two calls");
}

TEST(Gram, NoTokensLeavesHUnchanged) {
  std::vector<float> h(9, kSentinel);
  gram_accumulate(nullptr, 0, 3, h.data());
  for (float v : h) EXPECT_EQ(v, kSentinel);
}

}  // namespace
}  // namespace bitdial
