// matmul on each path against a double-precision naive product of the decoded weights and of the
// activations as the kernel sees them (8-bit blocks for quantized weights), on random data with odd
// sizes; float weights give the same bits on both paths; thread-count and batch-size independence.
#include "kernels/matmul.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "kernels/dispatch.h"
#include "kernels/dot_kernel.h"
#include "kernels/packed_rows.h"

namespace bitdial {
namespace {

struct Case {
  TensorType type;
  int64_t rows, cols, n_tokens;
};

// x as the kernel for `type` multiplies it: unchanged for float weights, else quantized and decoded.
std::vector<float> activations_as_seen(TensorType type, const std::vector<float>& x, int64_t cols) {
  const ActFormat fmt = scalar_dot_kernel(type).act;
  if (fmt == ActFormat::F32) return x;
  std::vector<float> out(x.size());
  std::vector<uint8_t> buf(act_row_bytes(fmt, cols));
  for (size_t t = 0; t < x.size() / static_cast<size_t>(cols); ++t) {
    scalar_quantize_act(fmt)(x.data() + t * cols, buf.data(), cols);
    float* o = out.data() + t * cols;
    if (fmt == ActFormat::Q8) {
      const auto* b = reinterpret_cast<const ActBlockQ8*>(buf.data());
      for (int64_t i = 0; i < cols; ++i) o[i] = b[i / 32].d * b[i / 32].qs[i % 32];
    } else {
      const auto* b = reinterpret_cast<const ActBlockQ8K*>(buf.data());
      for (int64_t i = 0; i < cols; ++i) o[i] = b[i / 256].d * b[i / 256].qs[i % 256];
    }
  }
  return out;
}

// With `pack`, the weights also get their packed copy (kernels/packed_rows.h) for the path's packed
// kernel: the first rows / 8 * 8 rows go through it, the rest through the plain kernel.
void check(Isa isa, const Case& c, bool pack = false) {
  if (isa == Isa::Avx2 && detected_isa() != Isa::Avx2) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
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
  const std::vector<float> xs = activations_as_seen(c.type, x, c.cols);
  WeightView w{c.type, packed.data(), c.rows, c.cols};
  std::vector<uint8_t> groups;
  if (pack) {
    ASSERT_NE(avx2_dot_kernel(c.type).packed_tile, nullptr) << type_name(c.type);
    groups.resize(static_cast<size_t>(c.rows / kPackedRows) * packed_group_bytes(c.type, c.cols));
    pack_rows(c.type, packed.data(), w.row_stride(), c.rows, c.cols, groups.data());
    w.packed = groups.data();
  }
  std::vector<float> y(static_cast<size_t>(c.n_tokens * c.rows), NAN);
  matmul_isa(isa, w, x.data(), c.n_tokens, y.data());

  // Float accumulation in 8 lanes (or per block): error <= (cols / 8 + 4) * eps * sum |w x| (+ a
  // tiny absolute term); the factor 2 covers the per-block scale products of quantized kernels.
  const double k = 2.0 * static_cast<double>(c.cols / 8 + 4) * FLT_EPSILON;
  int64_t bad = 0;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double exact = 0, mag = 0;
      for (int64_t i = 0; i < c.cols; ++i) {
        const double p = static_cast<double>(dec[r * c.cols + i]) * xs[t * c.cols + i];
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

const Case kCases[] = {
    {TensorType::F32, 37, 173, 5},  {TensorType::F32, 37, 176, 5},  {TensorType::F16, 29, 172, 3},
    {TensorType::F16, 29, 256, 7},  {TensorType::BF16, 9, 64, 4},   {TensorType::Q8_0, 31, 96, 7},
    {TensorType::Q4_0, 13, 160, 2}, {TensorType::Q4_1, 5, 64, 3},   {TensorType::Q5_0, 6, 96, 3},
    {TensorType::Q5_1, 7, 32, 5},   {TensorType::Q2_K, 5, 256, 2},  {TensorType::Q3_K, 5, 256, 2},
    {TensorType::Q4_K, 11, 512, 3}, {TensorType::Q5_K, 3, 256, 4},  {TensorType::Q6_K, 7, 256, 1},
    {TensorType::IQ4_NL, 9, 64, 4}, {TensorType::IQ4_XS, 4, 256, 2}, {TensorType::TQ1_0, 3, 256, 2},
    {TensorType::TQ2_0, 3, 256, 2},
};

class MatmulEveryType : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulEveryType, ScalarPathMatchesDoublePrecisionProduct) { check(Isa::Scalar, GetParam()); }
TEST_P(MatmulEveryType, Avx2PathMatchesDoublePrecisionProduct) { check(Isa::Avx2, GetParam()); }

INSTANTIATE_TEST_SUITE_P(Types, MatmulEveryType, ::testing::ValuesIn(kCases), [](const auto& info) {
  return std::string(type_name(info.param.type)) + "_" + std::to_string(info.param.cols);
});

// Rows 8k + tail, row lengths of 1..65 blocks, token counts across the 4-token register tile and
// the 48-token work unit.
const Case kPackedCases[] = {
    {TensorType::Q4_0, 8, 32, 1},   {TensorType::Q4_0, 45, 96, 7},  {TensorType::Q4_0, 19, 224, 50},
    {TensorType::Q4_0, 67, 2080, 3}, {TensorType::Q8_0, 8, 32, 1},  {TensorType::Q8_0, 45, 96, 7},
    {TensorType::Q8_0, 19, 224, 50}, {TensorType::Q8_0, 67, 2080, 3},  {TensorType::Q4_K, 8, 256, 1},
    {TensorType::Q4_K, 45, 768, 7},  {TensorType::Q4_K, 19, 256, 50},  {TensorType::Q4_K, 35, 2304, 3},
    {TensorType::Q6_K, 8, 256, 1},   {TensorType::Q6_K, 45, 768, 7},   {TensorType::Q6_K, 19, 256, 50},
    {TensorType::Q6_K, 35, 2304, 3}, {TensorType::Q6_K, 27, 512, 13},
};

class PackedMatmul : public ::testing::TestWithParam<Case> {};

TEST_P(PackedMatmul, Avx2PackedPathMatchesDoublePrecisionProduct) { check(Isa::Avx2, GetParam(), true); }

INSTANTIATE_TEST_SUITE_P(Types, PackedMatmul, ::testing::ValuesIn(kPackedCases), [](const auto& info) {
  return std::string(type_name(info.param.type)) + "_" + std::to_string(info.param.rows) + "x" +
         std::to_string(info.param.cols) + "_t" + std::to_string(info.param.n_tokens);
});

TEST(PackedRows, UnpackGivesBackThePlainRows) {
  std::mt19937 rng(11);
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
    const int64_t rows = 16, cols = 512;
    std::vector<uint8_t> plain(static_cast<size_t>(rows) * row_bytes(type, cols));
    for (uint8_t& b : plain) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> groups(2 * packed_group_bytes(type, cols));
    pack_rows(type, plain.data(), row_bytes(type, cols), rows, cols, groups.data());
    std::vector<uint8_t> back(plain.size());
    for (int64_t g = 0; g < 2; ++g)
      unpack_group(type, groups.data() + g * packed_group_bytes(type, cols), cols,
                   back.data() + g * 8 * row_bytes(type, cols), row_bytes(type, cols));
    EXPECT_EQ(back, plain) << type_name(type);
  }
}

TEST(PackedRows, PackForMatmulSkipsTypesWithoutALayoutAndShortMatrices) {
  std::vector<uint8_t> bytes(64 * row_bytes(TensorType::Q5_K, 256));
  EXPECT_TRUE(pack_for_matmul(WeightView{TensorType::Q5_K, bytes.data(), 64, 256}).empty());
  EXPECT_TRUE(pack_for_matmul(WeightView{TensorType::Q4_0, bytes.data(), 7, 256}).empty());
  const std::vector<uint8_t> packed = pack_for_matmul(WeightView{TensorType::Q4_0, bytes.data(), 9, 256});
  EXPECT_EQ(packed.size(), active_isa() == Isa::Avx2 ? packed_group_bytes(TensorType::Q4_0, 256) : 0u);
}

// q6_K matrices get their packed copy on the AVX2 path, and BITDIAL_REPACK=0 still turns packing off.
TEST(PackedRows, PackForMatmulPacksQ6_KUnlessRepackIsZero) {
  std::vector<uint8_t> bytes(16 * row_bytes(TensorType::Q6_K, 512));
  const WeightView w{TensorType::Q6_K, bytes.data(), 16, 512};
  EXPECT_EQ(pack_for_matmul(w).size(), active_isa() == Isa::Avx2 ? 2 * packed_group_bytes(TensorType::Q6_K, 512) : 0u);
  const char* saved = std::getenv("BITDIAL_REPACK");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("BITDIAL_REPACK", "0", 1);
  EXPECT_TRUE(pack_for_matmul(w).empty());
  if (saved != nullptr) setenv("BITDIAL_REPACK", saved_value.c_str(), 1);
  else unsetenv("BITDIAL_REPACK");
}

// The packed kernels keep the contract: a row's value does not depend on the batch or threads.
TEST(PackedMatmul, SameBitsForAnyThreadCountAndBatchSize) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  for (const TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
    const int64_t rows = 45, cols = 256, n = 11;
    std::vector<float> wf(rows * cols), x(n * cols);
    for (float& v : wf) v = ud(rng);
    for (float& v : x) v = ud(rng);
    const std::vector<uint8_t> plain = quantize_tensor(type, wf.data(), rows * cols, cols, nullptr, "w");
    std::vector<uint8_t> groups(static_cast<size_t>(rows / 8) * packed_group_bytes(type, cols));
    pack_rows(type, plain.data(), row_bytes(type, cols), rows, cols, groups.data());
    WeightView w{type, plain.data(), rows, cols};
    w.packed = groups.data();
    const int saved = omp_get_max_threads();
    std::vector<float> y1(n * rows), y3(n * rows), y_one(n * rows);
    omp_set_num_threads(1);
    matmul_isa(Isa::Avx2, w, x.data(), n, y1.data());
    omp_set_num_threads(3);
    matmul_isa(Isa::Avx2, w, x.data(), n, y3.data());
    for (int64_t t = 0; t < n; ++t) matmul_isa(Isa::Avx2, w, x.data() + t * cols, 1, y_one.data() + t * rows);
    omp_set_num_threads(saved);
    EXPECT_EQ(y1, y3) << type_name(type);
    EXPECT_EQ(y1, y_one) << type_name(type);
  }
}

// Weights of different types and row counts sharing one input: every output equals its own matmul,
// bit for bit, for 1, 2 and 3 threads (the threads split the row blocks by bytes, not by count).
TEST(Matmul, SharedInputGivesEachWeightsOwnProductForAnyThreadCount) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  const int64_t cols = 256, n = 12;  // 157 rows x 256 x 12: above matmul's parallel threshold
  const TensorType types[] = {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::F16};
  const int64_t rows[] = {67, 40, 33, 17};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<WeightView> ws;
  for (int i = 0; i < 4; ++i) {
    std::vector<float> wf(static_cast<size_t>(rows[i] * cols));
    for (float& v : wf) v = ud(rng);
    bytes.push_back(quantize_tensor(types[i], wf.data(), rows[i] * cols, cols, nullptr, "w"));
  }
  for (int i = 0; i < 4; ++i) ws.push_back(WeightView{types[i], bytes[static_cast<size_t>(i)].data(), rows[i], cols});
  std::vector<float> x(n * cols);
  for (float& v : x) v = ud(rng);
  const int saved = omp_get_max_threads();
  for (const int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    std::vector<std::vector<float>> shared(4), alone(4);
    std::vector<MatmulOut> outs;
    for (int i = 0; i < 4; ++i) {
      shared[static_cast<size_t>(i)].assign(static_cast<size_t>(n * rows[i]), NAN);
      alone[static_cast<size_t>(i)].assign(static_cast<size_t>(n * rows[i]), NAN);
      outs.push_back({&ws[static_cast<size_t>(i)], shared[static_cast<size_t>(i)].data()});
      matmul(ws[static_cast<size_t>(i)], x.data(), n, alone[static_cast<size_t>(i)].data());
    }
    matmul_shared_input(outs, x.data(), n);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(shared[static_cast<size_t>(i)], alone[static_cast<size_t>(i)]) << type_name(types[i]) << ", " << threads << " threads";
  }
  omp_set_num_threads(saved);
}

// Float weights: the AVX2 kernels follow the reference summation order lane for lane.
TEST(Matmul, FloatWeightsGiveSameBitsOnBothPaths) {
  if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    for (const int64_t cols : {8, 64, 172, 1000}) {
      const int64_t rows = 11, n = 7;
      std::vector<float> wf(rows * cols), x(n * cols);
      for (float& v : wf) v = nd(rng);
      for (float& v : x) v = nd(rng);
      const std::vector<uint8_t> packed = type == TensorType::F32
          ? std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(wf.data()), reinterpret_cast<const uint8_t*>(wf.data() + wf.size()))
          : quantize_tensor(type, wf.data(), rows * cols, cols, nullptr, "w");
      const WeightView w{type, packed.data(), rows, cols};
      std::vector<float> ys(n * rows), ya(n * rows);
      matmul_isa(Isa::Scalar, w, x.data(), n, ys.data());
      matmul_isa(Isa::Avx2, w, x.data(), n, ya.data());
      EXPECT_EQ(ys, ya) << type_name(type) << " cols " << cols;
    }
  }
}

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
