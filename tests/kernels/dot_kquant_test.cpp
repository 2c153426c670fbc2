// Q8_K-family dot kernels (q2_K .. q6_K, iq4_xs, tq1_0, tq2_0): the scalar reference against a
// double-precision dot of the decoded values, AVX2 against the scalar reference on odd tile shapes,
// tile-shape invariance on both paths, the packed q4_K / q6_K tiles against the scalar reference, and
// the Q8_K activation converters (bytes and bsums).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "blocks/k_quants.h"
#include "blocks/traits.h"
#include "core/fp16.h"
#include "kernels/dispatch.h"
#include "kernels/dot_families.h"
#include "kernels/packed_rows.h"
#include "test_support.h"

namespace bitdial {

// Names parameterised cases in gtest's messages ("q4_K" rather than a byte dump).
void PrintTo(TensorType type, std::ostream* os) { *os << type_info(type).name; }

namespace {

constexpr TensorType kTypes[] = {TensorType::Q2_K, TensorType::Q3_K,   TensorType::Q4_K,  TensorType::Q5_K,
                                 TensorType::Q6_K, TensorType::IQ4_XS, TensorType::TQ1_0, TensorType::TQ2_0};

constexpr int64_t kMaxRows = 13;
constexpr int64_t kMaxTokens = 9;

#define REQUIRE_AVX2()                                                                   \
  do {                                                                                   \
    if (detected_isa() != Isa::Avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C; skipping"; \
  } while (0)

// `rows` weight rows and `tokens` activation rows of n values, packed and decoded.
struct Operands {
  TensorType type;
  int64_t n;
  size_t w_stride, a_stride;
  std::vector<uint8_t> w, a;
  std::vector<float> wf;   // decoded weights (blocks' dequantize_row), kMaxRows x n
  std::vector<double> af;  // decoded activations d * qs, kMaxTokens x n
};

Operands make_operands(TensorType type, int64_t n, uint32_t seed, int64_t rows = kMaxRows,
                       int64_t tokens = kMaxTokens) {
  Operands op{type, n, row_bytes(type, n), act_row_bytes(ActFormat::Q8_K, n), {}, {}, {}, {}};
  const TypeTraits& tr = type_traits(type);
  const std::vector<float> wsrc = test::normal_floats(rows * n, 0.02f, seed);
  op.w.resize(op.w_stride * rows);
  op.wf.resize(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    tr.quantize_row(wsrc.data() + r * n, op.w.data() + r * op.w_stride, n, nullptr);
    tr.dequantize_row(op.w.data() + r * op.w_stride, op.wf.data() + r * n, n);
  }
  // Activations with a spread of block magnitudes, as hidden states have.
  std::vector<float> asrc = test::normal_floats(tokens * n, 1.0f, seed + 1);
  for (size_t i = 0; i < asrc.size(); ++i) asrc[i] *= 1.0f + static_cast<float>((i / 256) % 5);
  op.a.resize(op.a_stride * tokens);
  op.af.resize(static_cast<size_t>(tokens * n));
  for (int64_t t = 0; t < tokens; ++t) {
    uint8_t* row = op.a.data() + t * op.a_stride;
    quantize_act_q8k_scalar(asrc.data() + t * n, row, n);
    const auto* blocks = reinterpret_cast<const ActBlockQ8K*>(row);
    for (int64_t j = 0; j < n; ++j)
      op.af[t * n + j] = static_cast<double>(blocks[j / 256].d) * blocks[j / 256].qs[j % 256];
  }
  return op;
}

// Magnitude that float rounding errors of a (r, t) dot scale with: sum_j (|w_j| + max|w|) |a_j|. The
// max|w| term covers the affine types' minimum terms, which are rounded separately from the scaled
// codes and are at most about the row's largest weight.
double magnitude(const Operands& op, int64_t r, int64_t t) {
  const float* w = op.wf.data() + r * op.n;
  const double* a = op.af.data() + t * op.n;
  double wmax = 0, m = 0;
  for (int64_t j = 0; j < op.n; ++j) wmax = std::max(wmax, std::fabs(static_cast<double>(w[j])));
  for (int64_t j = 0; j < op.n; ++j) m += (std::fabs(w[j]) + wmax) * std::fabs(a[j]);
  return m;
}

// Float roundings per (r, t): a few per block plus the final lane sums, each relative to the magnitude.
double tolerance(const Operands& op, int64_t r, int64_t t) {
  return static_cast<double>(op.n / 256 + 8) * FLT_EPSILON * magnitude(op, r, t);
}

std::vector<float> run_tile(DotTileFn tile, const Operands& op, int64_t nr, int64_t nt) {
  std::vector<float> y(static_cast<size_t>(nr * nt), NAN);
  tile(op.n, op.w.data(), op.w_stride, nr, op.a.data(), op.a_stride, nt, y.data(), nr);
  return y;
}

std::string type_name(const ::testing::TestParamInfo<TensorType>& info) { return type_info(info.param).name; }

class KquantDot : public ::testing::TestWithParam<TensorType> {};

TEST_P(KquantDot, BothIsaTablesAnswerWithQ8KActivations) {
  const DotKernel* scalar = scalar_kquant_kernel(GetParam());
  ASSERT_NE(scalar, nullptr);
  EXPECT_EQ(scalar->act, ActFormat::Q8_K);
  EXPECT_NE(scalar->tile, nullptr);
  const DotKernel* avx2 = avx2_kquant_kernel(GetParam());
  ASSERT_NE(avx2, nullptr);
  EXPECT_EQ(avx2->act, ActFormat::Q8_K);
  EXPECT_NE(avx2->tile, nullptr);
}

TEST_P(KquantDot, ScalarMatchesDoubleDotOfDecodedValues) {
  for (int64_t n : {256, 768, 256 * 11}) {
    const Operands op = make_operands(GetParam(), n, 100 + static_cast<uint32_t>(n));
    const std::vector<float> y = run_tile(scalar_kquant_kernel(GetParam())->tile, op, kMaxRows, kMaxTokens);
    int mismatches = 0;
    std::ostringstream report;
    for (int64_t t = 0; t < kMaxTokens; ++t) {
      for (int64_t r = 0; r < kMaxRows; ++r) {
        double ref = 0;
        for (int64_t j = 0; j < n; ++j) ref += static_cast<double>(op.wf[r * n + j]) * op.af[t * n + j];
        const double err = std::fabs(y[t * kMaxRows + r] - ref);
        if (!(err <= tolerance(op, r, t)) && mismatches++ < 10)
          report << "n=" << n << " r=" << r << " t=" << t << ": " << y[t * kMaxRows + r] << " vs " << ref
                 << " (tolerance " << tolerance(op, r, t) << ")\n";
      }
    }
    EXPECT_EQ(mismatches, 0) << report.str();
  }
}

TEST_P(KquantDot, Avx2MatchesScalarOnOddTileShapes) {
  REQUIRE_AVX2();
  const DotTileFn scalar = scalar_kquant_kernel(GetParam())->tile;
  const DotTileFn avx2 = avx2_kquant_kernel(GetParam())->tile;
  for (int64_t n : {256, 768, 256 * 11}) {
    const Operands op = make_operands(GetParam(), n, 200 + static_cast<uint32_t>(n));
    const std::vector<float> ref = run_tile(scalar, op, kMaxRows, kMaxTokens);
    int mismatches = 0;
    std::ostringstream report;
    for (int64_t nr : {1, 3, 5, 7, 13}) {
      for (int64_t nt : {1, 2, 3, 5, 9}) {
        const std::vector<float> y = run_tile(avx2, op, nr, nt);
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t r = 0; r < nr; ++r) {
            const double err = std::fabs(static_cast<double>(y[t * nr + r]) - ref[t * kMaxRows + r]);
            if (!(err <= tolerance(op, r, t)) && mismatches++ < 10)
              report << "n=" << n << " tile " << nr << "x" << nt << " r=" << r << " t=" << t << ": "
                     << y[t * nr + r] << " vs scalar " << ref[t * kMaxRows + r] << "\n";
          }
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << report.str();
  }
}

// The DotTileFn contract: a value does not depend on the tile's shape or its place in it. Compared
// with 1x1 tiles: the whole 13x9 tile (many-token path) and 13x1 column tiles (one-token path).
void expect_tile_invariant(DotTileFn tile, TensorType type) {
  const Operands op = make_operands(type, 768, 300);
  const std::vector<float> big = run_tile(tile, op, kMaxRows, kMaxTokens);
  int mismatches = 0;
  for (int64_t t = 0; t < kMaxTokens; ++t) {
    std::vector<float> column(kMaxRows, NAN);
    tile(op.n, op.w.data(), op.w_stride, kMaxRows, op.a.data() + t * op.a_stride, op.a_stride, 1, column.data(),
         kMaxRows);
    for (int64_t r = 0; r < kMaxRows; ++r) {
      float one = NAN;
      tile(op.n, op.w.data() + r * op.w_stride, op.w_stride, 1, op.a.data() + t * op.a_stride, op.a_stride, 1, &one,
           1);
      const bool same_as_big = std::memcmp(&one, &big[t * kMaxRows + r], sizeof(float)) == 0;
      const bool same_as_column = std::memcmp(&one, &column[r], sizeof(float)) == 0;
      if ((!same_as_big || !same_as_column) && mismatches++ < 10)
        ADD_FAILURE() << "r=" << r << " t=" << t << ": 1x1 tile " << one << ", 13x9 tile " << big[t * kMaxRows + r]
                      << ", 13x1 tile " << column[r];
    }
  }
}

TEST_P(KquantDot, ScalarTileEqualsOneByOneTilesBitExactly) {
  expect_tile_invariant(scalar_kquant_kernel(GetParam())->tile, GetParam());
}

TEST_P(KquantDot, Avx2TileEqualsOneByOneTilesBitExactly) {
  REQUIRE_AVX2();
  expect_tile_invariant(avx2_kquant_kernel(GetParam())->tile, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Types, KquantDot, ::testing::ValuesIn(kTypes), type_name);

// Packed 8 rows at a time (kernels/packed_rows.h): 3 groups of rows, every token count 1..50 (the
// one-token kernel, 4-token register tiles and their 1..3-token edges).
constexpr int64_t kPackedTestRows = 24;
constexpr int64_t kPackedTestTokens = 50;

struct PackedOperands {
  Operands op;
  std::vector<uint8_t> groups;
  size_t group_bytes;
};

PackedOperands make_packed_operands(TensorType type, int64_t n, uint32_t seed) {
  PackedOperands p{make_operands(type, n, seed, kPackedTestRows, kPackedTestTokens), {}, packed_group_bytes(type, n)};
  p.groups.resize(kPackedTestRows / kPackedRows * p.group_bytes);
  pack_rows(type, p.op.w.data(), p.op.w_stride, kPackedTestRows, n, p.groups.data());
  return p;
}

std::vector<float> run_packed_tile(const PackedOperands& p, int64_t nt, const uint8_t* a) {
  std::vector<float> y(static_cast<size_t>(kPackedTestRows * nt), NAN);
  avx2_kquant_kernel(p.op.type)->packed_tile(p.op.n, p.groups.data(), p.group_bytes, kPackedTestRows, a,
                                             p.op.a_stride, nt, y.data(), kPackedTestRows);
  return y;
}

class PackedKquantDot : public ::testing::TestWithParam<TensorType> {};

TEST_P(PackedKquantDot, Avx2PackedTileMatchesScalarForTokenCounts1To50) {
  REQUIRE_AVX2();
  const PackedOperands p = make_packed_operands(GetParam(), 768, 400);
  const Operands& op = p.op;
  std::vector<float> ref(static_cast<size_t>(kPackedTestRows * kPackedTestTokens), NAN);
  scalar_kquant_kernel(GetParam())->tile(op.n, op.w.data(), op.w_stride, kPackedTestRows, op.a.data(), op.a_stride,
                                         kPackedTestTokens, ref.data(), kPackedTestRows);
  int mismatches = 0;
  std::ostringstream report;
  for (int64_t nt = 1; nt <= kPackedTestTokens; ++nt) {
    const std::vector<float> y = run_packed_tile(p, nt, op.a.data());
    for (int64_t t = 0; t < nt; ++t) {
      for (int64_t r = 0; r < kPackedTestRows; ++r) {
        const float got = y[t * kPackedTestRows + r], want = ref[t * kPackedTestRows + r];
        if (!(std::fabs(static_cast<double>(got) - want) <= tolerance(op, r, t)) && mismatches++ < 10)
          report << nt << " tokens, r=" << r << " t=" << t << ": " << got << " vs scalar " << want << "\n";
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << report.str();
}

// The DotTileFn contract for the packed tile: a token's values are those of a one-token call, bit for
// bit, whatever the token count and the token's place in the register tiles.
TEST_P(PackedKquantDot, Avx2PackedTileGivesEachTokenItsOneTokenBits) {
  REQUIRE_AVX2();
  const PackedOperands p = make_packed_operands(GetParam(), 768, 500);
  std::vector<std::vector<float>> one(kPackedTestTokens);
  for (int64_t t = 0; t < kPackedTestTokens; ++t) one[t] = run_packed_tile(p, 1, p.op.a.data() + t * p.op.a_stride);
  int mismatches = 0;
  for (int64_t nt = 2; nt <= kPackedTestTokens; ++nt) {
    const std::vector<float> y = run_packed_tile(p, nt, p.op.a.data());
    for (int64_t t = 0; t < nt; ++t)
      if (std::memcmp(y.data() + t * kPackedTestRows, one[t].data(), kPackedTestRows * sizeof(float)) != 0 &&
          mismatches++ < 10)
        ADD_FAILURE() << nt << " tokens: token " << t << " differs from its one-token tile";
  }
}

INSTANTIATE_TEST_SUITE_P(Types, PackedKquantDot, ::testing::Values(TensorType::Q4_K, TensorType::Q6_K), type_name);

// The packed q6_K kernel's integer sums are exact at the extremes of its int16 steps: codes 63 (all ql
// and qh bits set) or 0, scales -128 or 127, activation codes +-127 all of one sign or alternating per
// 16. On one block the reference is (d d_a) float(isum) and so is the kernel's FMA into zero: equal
// values, not just close.
TEST(PackedQ6K, OneBlockEqualsScalarExactlyAtExtremeCodesScalesAndActivations) {
  REQUIRE_AVX2();
  const int64_t n = 256, rows = 8, tokens = 4;
  std::vector<BlockQ6_K> w(rows);
  for (int64_t r = 0; r < rows; ++r) {
    BlockQ6_K& b = w[static_cast<size_t>(r)];
    std::memset(b.ql, r % 4 == 3 ? 0x00 : 0xff, sizeof(b.ql));
    std::memset(b.qh, r % 4 == 3 ? 0x00 : 0xff, sizeof(b.qh));
    for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>((r + s / (1 + r % 3)) % 2 == 0 ? -128 : 127);
    b.d = f32_to_fp16(r % 2 == 0 ? 1e-3f : -2e-3f);
  }
  std::vector<float> x(tokens * n);
  for (int64_t j = 0; j < n; ++j) {
    x[j] = 1.0f;
    x[n + j] = -1.0f;
    x[2 * n + j] = (j / 16) % 2 == 0 ? 1.0f : -1.0f;
    x[3 * n + j] = j % 2 == 0 ? 3.0f : -3.0f;
  }
  const size_t a_stride = act_row_bytes(ActFormat::Q8_K, n);
  std::vector<uint8_t> a(a_stride * tokens);
  for (int64_t t = 0; t < tokens; ++t) quantize_act_q8k_scalar(x.data() + t * n, a.data() + t * a_stride, n);
  const auto* plain = reinterpret_cast<const uint8_t*>(w.data());
  std::vector<uint8_t> group(packed_group_bytes(TensorType::Q6_K, n));
  pack_rows(TensorType::Q6_K, plain, sizeof(BlockQ6_K), rows, n, group.data());
  std::vector<float> ref(rows * tokens, NAN), got(rows * tokens, NAN);
  scalar_kquant_kernel(TensorType::Q6_K)->tile(n, plain, sizeof(BlockQ6_K), rows, a.data(), a_stride, tokens,
                                               ref.data(), rows);
  avx2_kquant_kernel(TensorType::Q6_K)->packed_tile(n, group.data(), group.size(), rows, a.data(), a_stride, tokens,
                                                    got.data(), rows);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(got[t * rows + r], ref[t * rows + r]) << "r=" << r << " t=" << t;
}

TEST(KquantDotTable, OtherTypesHaveNoKquantKernel) {
  for (TensorType type : {TensorType::F32, TensorType::Q4_0, TensorType::Q8_0, TensorType::IQ4_NL}) {
    EXPECT_EQ(scalar_kquant_kernel(type), nullptr) << type_info(type).name;
    EXPECT_EQ(avx2_kquant_kernel(type), nullptr) << type_info(type).name;
  }
}

// Activation rows that exercise the converter: random blocks of varied scale, an all-zero block, and
// a block of exact halves (amax 127 makes d = 1 and 1 / d = 1, so x * id = x is a tie to round to even).
std::vector<float> converter_input() {
  std::vector<float> x = test::normal_floats(256 * 6, 1.0f, 7);
  for (int j = 0; j < 256; ++j) x[256 + j] *= 1e-3f;
  for (int j = 0; j < 256; ++j) x[512 + j] *= 300.0f;
  for (int j = 0; j < 256; ++j) x[768 + j] = 0.0f;
  for (int j = 0; j < 256; ++j) x[1024 + j] = static_cast<float>(j % 254 - 127) + 0.5f;
  x[1024] = 127.0f;
  for (int j = 0; j < 256; ++j) x[1280 + j] = j < 128 ? 5.0f : -5.0f;  // bsums at +-16 * 127
  return x;
}

TEST(ActQ8K, ScalarRoundsExactHalvesToEven) {
  const std::vector<float> x = converter_input();
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8_K, static_cast<int64_t>(x.size())));
  quantize_act_q8k_scalar(x.data(), out.data(), static_cast<int64_t>(x.size()));
  const ActBlockQ8K& halves = reinterpret_cast<const ActBlockQ8K*>(out.data())[4];
  ASSERT_EQ(halves.d, 1.0f);
  for (int j = 1; j < 256; ++j) EXPECT_EQ(halves.qs[j], std::nearbyint(x[1024 + j])) << "j=" << j;
  EXPECT_EQ(halves.qs[128], 2);  // 1.5 -> 2
  EXPECT_EQ(halves.qs[129], 2);  // 2.5 -> 2
}

TEST(ActQ8K, Avx2ConverterIsByteIdenticalToScalar) {
  REQUIRE_AVX2();
  const std::vector<float> x = converter_input();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> ref(act_row_bytes(ActFormat::Q8_K, n), 0xAA), got(ref.size(), 0x55);
  quantize_act_q8k_scalar(x.data(), ref.data(), n);
  quantize_act_q8k_avx2(x.data(), got.data(), n);
  for (int64_t b = 0; b < n / 256; ++b)
    EXPECT_EQ(std::memcmp(ref.data() + b * sizeof(ActBlockQ8K), got.data() + b * sizeof(ActBlockQ8K),
                          sizeof(ActBlockQ8K)),
              0)
        << "block " << b;
}

void expect_bsums_are_sub_block_sums(QuantizeActFn convert) {
  const std::vector<float> x = converter_input();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> out(act_row_bytes(ActFormat::Q8_K, n));
  convert(x.data(), out.data(), n);
  const auto* blocks = reinterpret_cast<const ActBlockQ8K*>(out.data());
  for (int64_t b = 0; b < n / 256; ++b) {
    for (int i = 0; i < 16; ++i) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += blocks[b].qs[16 * i + j];
      EXPECT_EQ(blocks[b].bsums[i], sum) << "block " << b << " sub-block " << i;
    }
  }
  EXPECT_EQ(blocks[5].bsums[0], 16 * 127);
  EXPECT_EQ(blocks[5].bsums[15], -16 * 127);
}

TEST(ActQ8K, ScalarBsumsAreSubBlockSums) { expect_bsums_are_sub_block_sums(quantize_act_q8k_scalar); }

TEST(ActQ8K, Avx2BsumsAreSubBlockSums) {
  REQUIRE_AVX2();
  expect_bsums_are_sub_block_sums(quantize_act_q8k_avx2);
}

}  // namespace
}  // namespace bitdial
