// The scalar reference matmul against a double-precision naive product of the decoded weights, on
// random data with odd sizes, for plain and block-quantized types; and thread-count independence.
#include "kernels/matmul.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "blocks/tensor_codec.h"
#include "kernels/scalar/matmul_scalar.h"

namespace bitdial {
namespace {

struct Case {
  TensorType type;
  int64_t rows, cols, n_tokens;
};

void check(const Case& c) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(c.rows * c.cols)), x(static_cast<size_t>(c.n_tokens * c.cols));
  for (float& v : wf) v = nd(rng);
  for (float& v : x) v = nd(rng);
  const std::vector<uint8_t> packed =
      c.type == TensorType::F32 ? std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(wf.data()),
                                                       reinterpret_cast<const uint8_t*>(wf.data() + wf.size()))
                                : quantize_tensor(c.type, wf.data(), c.rows * c.cols, c.cols, nullptr, "w");
  // The oracle uses the decoded weights: matmul's job is the product, not the quantization.
  const std::vector<float> dec = dequantize_tensor(c.type, packed.data(), c.rows * c.cols, c.cols, "w");
  const WeightView w{c.type, packed.data(), c.rows, c.cols};
  std::vector<float> y(static_cast<size_t>(c.n_tokens * c.rows), NAN);
  matmul_scalar(w, x.data(), c.n_tokens, y.data());

  // Float accumulation in 8 lanes: error <= (cols / 8 + 4) * eps * sum |w x| (+ a tiny absolute term).
  const double k = static_cast<double>(c.cols / 8 + 4) * FLT_EPSILON;
  int64_t bad = 0;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double exact = 0, mag = 0;
      for (int64_t i = 0; i < c.cols; ++i) {
        const double p = static_cast<double>(dec[r * c.cols + i]) * x[t * c.cols + i];
        exact += p;
        mag += std::fabs(p);
      }
      const double got = y[t * c.rows + r], tol = k * mag + 1e-30;
      if (!(std::fabs(got - exact) <= tol)) {
        if (++bad <= 10) ADD_FAILURE() << type_name(c.type) << " y[" << t << "][" << r << "] = " << got << ", exact " << exact << ", tol " << tol;
      }
    }
  }
  EXPECT_EQ(bad, 0) << type_name(c.type) << ": " << bad << " of " << c.rows * c.n_tokens << " outside the bound";
}

TEST(MatmulScalar, MatchesDoublePrecisionProductF32OddSizes) { check({TensorType::F32, 37, 173, 5}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductF16OddSizes) { check({TensorType::F16, 29, 172, 3}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductQ8_0) { check({TensorType::Q8_0, 31, 96, 7}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductQ4_0) { check({TensorType::Q4_0, 13, 160, 2}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductQ4_K) { check({TensorType::Q4_K, 11, 512, 3}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductQ6_K) { check({TensorType::Q6_K, 7, 256, 1}); }
TEST(MatmulScalar, MatchesDoublePrecisionProductIQ4_NL) { check({TensorType::IQ4_NL, 9, 64, 4}); }

TEST(Matmul, SameBitsForAnyThreadCountAndBatchSize) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  const int64_t rows = 45, cols = 96, n = 6;
  std::vector<float> wf(rows * cols), x(n * cols);
  for (float& v : wf) v = ud(rng);
  for (float& v : x) v = ud(rng);
  const std::vector<uint8_t> packed = quantize_tensor(TensorType::Q8_0, wf.data(), rows * cols, cols, nullptr, "w");
  const WeightView w{TensorType::Q8_0, packed.data(), rows, cols};
  const int saved = omp_get_max_threads();
  std::vector<float> y1(n * rows), y3(n * rows), y_one(n * rows);
  omp_set_num_threads(1);
  matmul(w, x.data(), n, y1.data());
  omp_set_num_threads(3);
  matmul(w, x.data(), n, y3.data());
  for (int64_t t = 0; t < n; ++t) matmul(w, x.data() + t * cols, 1, y_one.data() + t * rows);
  omp_set_num_threads(saved);
  EXPECT_EQ(y1, y3);
  EXPECT_EQ(y1, y_one);
}

}  // namespace
}  // namespace bitdial
