// Dot kernels of the 32-value block family (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl against Q8
// activations): the scalar reference against a double-precision product, AVX2 tiles against the
// reference, results independent of the tile shape, and the Q8 activation converters.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "core/fp16.h"
#include "kernels/dispatch.h"
#include "kernels/dot_families.h"
#include "test_support.h"

namespace bitdial {
namespace {

constexpr TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                 TensorType::Q5_1, TensorType::Q8_0, TensorType::IQ4_NL};

// A rows x n weight matrix of random normal values in `type`, rows contiguous.
struct Weights {
  TensorType type;
  int64_t rows, n;
  std::vector<uint8_t> packed;
  std::vector<float> values;  // decoded

  size_t stride() const { return row_bytes(type, n); }
  // Per-block magnitude of the offset the kernels fold in through s: 8 d (q4_0), 16 d (q5_0), |m|.
  float offset(int64_t r, int64_t b) const {
    const uint8_t* blk = packed.data() + r * stride() + b * type_info(type).block_bytes;
    uint16_t d, m;
    std::memcpy(&d, blk, 2);
    std::memcpy(&m, blk + 2, 2);
    switch (type) {
      case TensorType::Q4_0: return 8.0f * std::fabs(fp16_to_f32(d));
      case TensorType::Q5_0: return 16.0f * std::fabs(fp16_to_f32(d));
      case TensorType::Q4_1:
      case TensorType::Q5_1: return std::fabs(fp16_to_f32(m));
      default: return 0.0f;
    }
  }
};

Weights random_weights(TensorType type, int64_t rows, int64_t n, uint32_t seed) {
  Weights w{type, rows, n, {}, {}};
  const std::vector<float> x = test::normal_floats(rows * n, 1.0f, seed);
  w.packed = quantize_tensor(type, x.data(), rows * n, n, nullptr, "w");
  w.values = dequantize_tensor(type, w.packed.data(), rows * n, n, "w");
  return w;
}

// nt activation rows of n values in the Q8 format (reference converter), and their decoded values.
struct Acts {
  int64_t nt, n;
  std::vector<uint8_t> packed;
  std::vector<float> values;

  size_t stride() const { return act_row_bytes(ActFormat::Q8, n); }
};

Acts random_acts(int64_t nt, int64_t n, uint32_t seed) {
  Acts a{nt, n, std::vector<uint8_t>(act_row_bytes(ActFormat::Q8, n) * nt), {}};
  a.values = test::normal_floats(nt * n, 1.0f, seed);
  for (int64_t t = 0; t < nt; ++t) {
    quantize_act_q8_scalar(a.values.data() + t * n, a.packed.data() + t * a.stride(), n);
    const auto* blocks = reinterpret_cast<const ActBlockQ8*>(a.packed.data() + t * a.stride());
    for (int64_t i = 0; i < n; ++i) a.values[t * n + i] = blocks[i / 32].d * blocks[i / 32].qs[i % 32];
  }
  return a;
}

// y[t][r] for the first nr rows and nt tokens, computed as one tile.
std::vector<float> run_tile(const DotKernel& k, const Weights& w, int64_t nr, const Acts& a, int64_t nt) {
  std::vector<float> y(static_cast<size_t>(nr * nt), NAN);
  k.tile(w.n, w.packed.data(), w.stride(), nr, a.packed.data(), a.stride(), nt, y.data(), nr);
  return y;
}

// The same values computed as 1 x 1 tiles.
std::vector<float> run_elementwise(const DotKernel& k, const Weights& w, int64_t nr, const Acts& a, int64_t nt) {
  std::vector<float> y(static_cast<size_t>(nr * nt), NAN);
  for (int64_t t = 0; t < nt; ++t)
    for (int64_t r = 0; r < nr; ++r)
      k.tile(w.n, w.packed.data() + r * w.stride(), w.stride(), 1, a.packed.data() + t * a.stride(), a.stride(), 1,
             &y[t * nr + r], 1);
  return y;
}

// Exact dot of the decoded operands, and the magnitude sum_j (|w_j| + offset_b) |x_j| that bounds
// every intermediate term the kernels round (codes times scale include the folded offset).
struct Exact {
  double value, magnitude;
};

Exact exact_dot(const Weights& w, int64_t r, const Acts& a, int64_t t) {
  Exact e{0.0, 0.0};
  for (int64_t i = 0; i < w.n; ++i) {
    const double wi = w.values[r * w.n + i], xi = a.values[t * a.n + i];
    e.value += wi * xi;
    e.magnitude += (std::fabs(wi) + w.offset(r, i / 32)) * std::fabs(xi);
  }
  return e;
}

bool avx2_missing() { return detected_isa() != Isa::Avx2; }

class LegacyDotTest : public ::testing::TestWithParam<TensorType> {};

INSTANTIATE_TEST_SUITE_P(Types, LegacyDotTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST_P(LegacyDotTest, ScalarReferenceMatchesDoublePrecisionProduct) {
  const DotKernel* k = scalar_legacy_kernel(GetParam());
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->act, ActFormat::Q8);
  for (const int64_t n : {32, 96, 32 * 37}) {
    const Weights w = random_weights(GetParam(), 7, n, 11);
    const Acts a = random_acts(5, n, 12);
    const std::vector<float> y = run_tile(*k, w, 7, a, 5);
    // Per block: at most 4 roundings of terms bounded by the magnitude; then nb - 1 float additions.
    const double k_tol = static_cast<double>(n / 32 + 4) * FLT_EPSILON;
    for (int64_t t = 0; t < 5; ++t) {
      for (int64_t r = 0; r < 7; ++r) {
        const Exact e = exact_dot(w, r, a, t);
        EXPECT_NEAR(y[t * 7 + r], e.value, k_tol * e.magnitude) << "n " << n << " r " << r << " t " << t;
      }
    }
  }
}

TEST_P(LegacyDotTest, Avx2TilesMatchScalarReferenceOnOddSizes) {
  if (avx2_missing()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  const DotKernel* ref = scalar_legacy_kernel(GetParam());
  const DotKernel* fast = avx2_legacy_kernel(GetParam());
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->act, ActFormat::Q8);
  int64_t bad = 0;
  for (const int64_t n : {32, 96, 32 * 37}) {
    const Weights w = random_weights(GetParam(), 13, n, 21);
    const Acts a = random_acts(9, n, 22);
    // Both sum the same rounded terms in different orders: each is within (nb + 8) eps magnitude of
    // the exact product (8 lanes, a 3-level reduction, the offset dot), so they differ by twice that.
    const double k_tol = 2.0 * static_cast<double>(n / 32 + 8) * FLT_EPSILON;
    for (const int64_t nr : {1, 3, 5, 7, 13}) {
      for (const int64_t nt : {1, 2, 3, 5, 9}) {
        const std::vector<float> want = run_tile(*ref, w, nr, a, nt);
        const std::vector<float> got = run_tile(*fast, w, nr, a, nt);
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t r = 0; r < nr; ++r) {
            const double tol = k_tol * exact_dot(w, r, a, t).magnitude;
            const float g = got[t * nr + r], e = want[t * nr + r];
            if (!(std::fabs(g - e) <= tol) && ++bad <= 10)
              ADD_FAILURE() << "n " << n << " tile " << nr << "x" << nt << " y[" << t << "][" << r << "] = " << g
                            << ", scalar " << e << ", tol " << tol;
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// Tile shapes, edge tiles and token chunks must not change a single bit of any result.
void expect_tile_invariant(const DotKernel& k, TensorType type, int64_t n, int64_t nr, int64_t nt) {
  const Weights w = random_weights(type, nr, n, 31);
  const Acts a = random_acts(nt, n, 32);
  const std::vector<float> tile = run_tile(k, w, nr, a, nt);
  const std::vector<float> single = run_elementwise(k, w, nr, a, nt);
  int64_t bad = 0;
  for (size_t i = 0; i < tile.size(); ++i) {
    if (f32_bits(tile[i]) != f32_bits(single[i]) && ++bad <= 10)
      ADD_FAILURE() << "n " << n << " tile " << nr << "x" << nt << " y[" << i / nr << "][" << i % nr
                    << "]: " << tile[i] << " as a tile, " << single[i] << " alone";
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(LegacyDotTest, ScalarTileEqualsOneByOneTilesBitExactly) {
  expect_tile_invariant(*scalar_legacy_kernel(GetParam()), GetParam(), 32 * 37, 13, 9);
}

TEST_P(LegacyDotTest, Avx2TileEqualsOneByOneTilesBitExactly) {
  if (avx2_missing()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  expect_tile_invariant(*avx2_legacy_kernel(GetParam()), GetParam(), 32 * 37, 13, 9);
}

// 200 blocks of 40 bytes per token: more tokens than one activation chunk holds.
TEST_P(LegacyDotTest, Avx2ManyTokensEqualOneByOneTilesBitExactly) {
  if (avx2_missing()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  expect_tile_invariant(*avx2_legacy_kernel(GetParam()), GetParam(), 32 * 200, 6, 31);
}

TEST_P(LegacyDotTest, Avx2TileWritesWithOutputStride) {
  if (avx2_missing()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  const Weights w = random_weights(GetParam(), 5, 96, 41);
  const Acts a = random_acts(4, 96, 42);
  const DotKernel& k = *avx2_legacy_kernel(GetParam());
  const std::vector<float> dense = run_tile(k, w, 5, a, 4);
  constexpr int64_t kLdy = 8;
  std::vector<float> y(4 * kLdy, -1.0f);
  k.tile(96, w.packed.data(), w.stride(), 5, a.packed.data(), a.stride(), 4, y.data(), kLdy);
  for (int64_t t = 0; t < 4; ++t) {
    for (int64_t r = 0; r < kLdy; ++r) {
      if (r < 5) EXPECT_EQ(f32_bits(y[t * kLdy + r]), f32_bits(dense[t * 5 + r])) << t << "," << r;
      else EXPECT_EQ(y[t * kLdy + r], -1.0f) << "wrote outside the tile at " << t << "," << r;
    }
  }
}

TEST(LegacyDotKernels, AnswerOnlyTheirSixTypes) {
  for (const TensorType t : {TensorType::F32, TensorType::F16, TensorType::Q8_1, TensorType::Q4_K, TensorType::IQ4_XS}) {
    EXPECT_EQ(scalar_legacy_kernel(t), nullptr) << type_name(t);
    EXPECT_EQ(avx2_legacy_kernel(t), nullptr) << type_name(t);
  }
}

// ---- Q8 activation converters.

// Random blocks at several scales, an all-zero block, and blocks where x / d lands exactly on .5.
std::vector<float> converter_input(int64_t n_blocks) {
  std::vector<float> x = test::normal_floats(n_blocks * 32, 1.0f, 51);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int j = 0; j < 32; ++j) x[b * 32 + j] *= std::ldexp(1.0f, static_cast<int>(b % 7) * 3 - 9);
  if (n_blocks >= 3) {
    std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
    // amax 127 gives d = 1 and 1/d = 1, so these are ties: round half to even.
    float* tie = x.data() + 64;
    for (int j = 0; j < 32; ++j) tie[j] = static_cast<float>(j - 16) + 0.5f;
    tie[0] = 127.0f;
  }
  return x;
}

TEST(QuantizeActQ8, Avx2BytesEqualScalarBytes) {
  if (avx2_missing()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
  for (const int64_t n_blocks : {1, 3, 5, 37}) {
    const std::vector<float> x = converter_input(n_blocks);
    const size_t bytes = act_row_bytes(ActFormat::Q8, n_blocks * 32);
    std::vector<uint8_t> want(bytes, 0xAA), got(bytes, 0x55);
    quantize_act_q8_scalar(x.data(), want.data(), n_blocks * 32);
    quantize_act_q8_avx2(x.data(), got.data(), n_blocks * 32);
    for (size_t i = 0; i < bytes; ++i)
      ASSERT_EQ(got[i], want[i]) << n_blocks << " blocks: byte " << i << " (block " << i / 40 << ")";
  }
}

TEST(QuantizeActQ8, RowEndsWithItsScalesSumsAndCodeSumsZeroPadded) {
  for (const int64_t n_blocks : {1, 8, 37}) {
    const std::vector<float> x = converter_input(n_blocks);
    std::vector<uint8_t> row(act_row_bytes(ActFormat::Q8, n_blocks * 32), 0x55);
    quantize_act_q8_scalar(x.data(), row.data(), n_blocks * 32);
    const auto* blocks = reinterpret_cast<const ActBlockQ8*>(row.data());
    const float* d = act_q8_scales(row.data(), n_blocks);
    const float* s = act_q8_sums(row.data(), n_blocks);
    const int32_t* q = act_q8_code_sums(row.data(), n_blocks);
    ASSERT_EQ(reinterpret_cast<const uint8_t*>(q + act_q8_padded(n_blocks)), row.data() + row.size());
    for (int64_t b = 0; b < act_q8_padded(n_blocks); ++b) {
      int32_t code_sum = 0;
      if (b < n_blocks)
        for (int8_t c : blocks[b].qs) code_sum += c;
      EXPECT_EQ(d[b], b < n_blocks ? blocks[b].d : 0.0f) << n_blocks << " blocks, block " << b;
      EXPECT_EQ(s[b], b < n_blocks ? blocks[b].s : 0.0f) << n_blocks << " blocks, block " << b;
      EXPECT_EQ(q[b], code_sum) << n_blocks << " blocks, block " << b;
    }
  }
}

TEST(QuantizeActQ8, ScalarRoundsTiesToEven) {
  const std::vector<float> x = converter_input(3);
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8, 96));
  quantize_act_q8_scalar(x.data(), out.data(), 96);
  const ActBlockQ8& tie = reinterpret_cast<const ActBlockQ8*>(out.data())[2];
  EXPECT_EQ(tie.d, 1.0f);
  for (int j = 1; j < 32; ++j) {
    const float v = static_cast<float>(j - 16) + 0.5f;
    const int lo = static_cast<int>(std::floor(v));
    const int want = lo % 2 == 0 ? lo : lo + 1;
    EXPECT_EQ(tie.qs[j], want) << "x = " << v;
  }
}

TEST(QuantizeActQ8, ScalarValuesWithinHalfStepAndSumMatches) {
  const std::vector<float> x = converter_input(37);
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8, 37 * 32));
  quantize_act_q8_scalar(x.data(), out.data(), 37 * 32);
  const auto* blocks = reinterpret_cast<const ActBlockQ8*>(out.data());
  for (int64_t b = 0; b < 37; ++b) {
    const ActBlockQ8& blk = blocks[b];
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      sum += blk.qs[j];
      // q = round(x * (1/d)): the rounded reciprocal and product add a few eps of 127 steps.
      const double err = std::fabs(static_cast<double>(x[b * 32 + j]) - static_cast<double>(blk.d) * blk.qs[j]);
      EXPECT_LE(err, blk.d * (0.5 + 256.0 * FLT_EPSILON)) << "block " << b << " value " << j;
    }
    EXPECT_EQ(blk.s, blk.d * static_cast<float>(sum)) << "block " << b;
  }
  EXPECT_EQ(blocks[1].d, 0.0f);
  EXPECT_EQ(blocks[1].s, 0.0f);
}

}  // namespace
}  // namespace bitdial
