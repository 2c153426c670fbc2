// Checks shared by the block-codec tests: bit-exact decoding of llama.cpp's reference blocks, our
// encoder's reconstruction error against llama.cpp's on the same source rows, and edge-row safety.
// Header-only because each *_test.cpp is its own executable.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "blocks/traits.h"
#include "core/fp16.h"
#include "core/tensor_type.h"
#include "quant_vectors.h"
#include "test_support.h"

namespace bitdial::test {

struct CodecCase {
  const char* stem;  // file stem under quant-vectors/, also the test-name suffix
  TensorType type;
};

inline void PrintTo(const CodecCase& c, std::ostream* os) { *os << c.stem; }

inline std::string case_name(const ::testing::TestParamInfo<CodecCase>& info) { return info.param.stem; }

inline std::vector<float> decode(TensorType type, const uint8_t* blocks, int64_t n) {
  std::vector<float> out(n);
  type_traits(type).dequantize_row(blocks, out.data(), n);
  return out;
}

inline std::vector<float> round_trip(TensorType type, const float* x, int64_t n, const float* importance) {
  std::vector<uint8_t> blocks(row_bytes(type, n));
  type_traits(type).quantize_row(x, blocks.data(), n, importance);
  return decode(type, blocks.data(), n);
}

// sqrt(sum w (x - y)^2 / sum w), with w = 1 when weights is null.
inline double weighted_rmse(const float* x, const float* y, const float* weights, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights != nullptr ? weights[i] : 1.0;
    num += w * (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    den += w;
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

// Decodes `blocks` row by row and compares float bits with `expected`; every mismatch is reported.
inline void expect_decode_bit_exact(const QuantVectors& v, const std::vector<uint8_t>& blocks,
                                    const std::vector<float>& expected, const char* label) {
  const size_t stride = row_bytes(v.type, v.cols);
  ASSERT_EQ(blocks.size(), stride * v.rows) << label;
  ASSERT_EQ(expected.size(), static_cast<size_t>(v.rows * v.cols)) << label;
  int mismatches = 0;
  for (int64_t r = 0; r < v.rows; ++r) {
    const std::vector<float> got = decode(v.type, blocks.data() + r * stride, v.cols);
    for (int64_t c = 0; c < v.cols; ++c) {
      const float want = expected[r * v.cols + c];
      if (f32_bits(got[c]) != f32_bits(want)) {
        ++mismatches;
        ADD_FAILURE() << label << " row " << r << " col " << c << ": got " << got[c] << " (0x" << std::hex
                      << f32_bits(got[c]) << ") want " << want << " (0x" << f32_bits(want) << std::dec << ")";
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << label;
}

// Float summation noise allowed when comparing two RMSEs of the same data.
inline constexpr double kRmseRelSlack = 1e-6;

// Quantizes every source row (with the importance vector when weighted) and requires our
// (weighted) RMSE to be no worse than llama.cpp's reference reconstruction on every row. Prints the
// per-type summary: mean RMSE over rows for both and the worst ratio ours / reference.
inline void expect_quantize_at_least_as_accurate(const QuantVectors& v, bool weighted) {
  const std::vector<float>& reference = weighted ? v.dequantized_imatrix : v.dequantized;
  const float* w = weighted ? v.importance.data() : nullptr;
  // worst: over all rows; worst_data: over the N(0, 0.02) rows 0-7 (the edge rows 8-11 often tie).
  double sum_ours = 0, sum_ref = 0, worst = 0, worst_data = 0;
  for (int64_t r = 0; r < v.rows; ++r) {
    const float* x = v.source.data() + r * v.cols;
    const std::vector<float> ours = round_trip(v.type, x, v.cols, w);
    const double e_ours = weighted_rmse(x, ours.data(), w, v.cols);
    const double e_ref = weighted_rmse(x, reference.data() + r * v.cols, w, v.cols);
    for (int64_t c = 0; c < v.cols; ++c) ASSERT_TRUE(std::isfinite(ours[c])) << "row " << r << " col " << c;
    EXPECT_LE(e_ours, e_ref * (1 + kRmseRelSlack)) << type_name(v.type) << (weighted ? " weighted" : "") << " row "
                                                   << r;
    sum_ours += e_ours, sum_ref += e_ref;
    if (e_ref > 0) worst = std::max(worst, e_ours / e_ref);
    if (e_ref > 0 && r < 8) worst_data = std::max(worst_data, e_ours / e_ref);
  }
  std::printf("[quality] %-7s %-10s reference mean RMSE %.6e  ours %.6e  worst row ours/ref %.4f (rows 0-7: %.4f)\n",
              type_name(v.type), weighted ? "importance" : "plain", sum_ref / v.rows, sum_ours / v.rows, worst,
              worst_data);
}

// Rows that break naive encoders: zeros, a constant, one huge outlier, noise whose scale underflows
// fp16, values beyond the fp16 range, and alternating signs at fp16's largest finite magnitude.
inline std::vector<std::vector<float>> edge_rows(int64_t n) {
  std::vector<std::vector<float>> rows;
  rows.emplace_back(n, 0.0f);
  rows.emplace_back(n, 0.0123f);
  rows.emplace_back(n, -7.5f);
  std::vector<float> outlier(n, 0.001f);
  outlier[n / 3] = 3.5e4f;
  rows.push_back(outlier);
  std::mt19937 rng(7);
  std::normal_distribution<float> tiny(0.0f, 1e-9f);
  std::vector<float> noise(n);
  for (float& f : noise) f = tiny(rng);
  rows.push_back(noise);
  std::vector<float> huge(n);
  for (int64_t i = 0; i < n; ++i) huge[i] = (i % 2 ? -1.0f : 1.0f) * 3.0e38f;
  rows.push_back(huge);
  std::vector<float> fp16_max(n);
  for (int64_t i = 0; i < n; ++i) fp16_max[i] = (i % 3 ? -65504.0f : 65504.0f);
  rows.push_back(fp16_max);
  return rows;
}

inline void expect_edge_rows_finite(TensorType type) {
  const int64_t n = 2 * 256;
  std::vector<float> importance(n);
  for (int64_t i = 0; i < n; ++i) importance[i] = i % 5 == 0 ? 0.0f : 1.0f + static_cast<float>(i % 7);
  const std::vector<std::vector<float>> rows = edge_rows(n);
  for (size_t r = 0; r < rows.size(); ++r) {
    const float* no_importance = nullptr;
    for (const float* w : {no_importance, static_cast<const float*>(importance.data())}) {
      const std::vector<float> y = round_trip(type, rows[r].data(), n, w);
      int bad = 0;
      for (int64_t c = 0; c < n; ++c) bad += std::isfinite(y[c]) ? 0 : 1;
      EXPECT_EQ(bad, 0) << type_name(type) << " edge row " << r << (w ? " with importance" : "");
      if (r == 0) {
        for (int64_t c = 0; c < n; ++c) ASSERT_EQ(y[c], 0.0f) << type_name(type) << " zero row col " << c;
      }
    }
  }
}

// Random rows of odd statistics (offset, skewed, heavy-tailed) for `blocks` blocks of `block` values.
inline std::vector<float> random_row(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(n);
  const float offset = 0.3f * uniform(rng);
  for (int64_t i = 0; i < n; ++i) {
    const float z = normal(rng);
    x[i] = offset + 0.05f * (i % 3 == 0 ? z * z * z : z);
  }
  return x;
}

}  // namespace bitdial::test

namespace bitdial::test {

// Round-trips random rows of 1, 3 and 7 blocks and requires each block's RMS error to stay within
// bound(block values, block size), the type's derived worst case for round-to-nearest at the
// max-abs scale (a candidate every encoder here evaluates, so the searched result can only be better).
template <class Bound>
void expect_random_rows_within(TensorType type, Bound bound) {
  const int64_t bs = type_info(type).block_size;
  for (int64_t blocks : {1, 3, 7}) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      const std::vector<float> x = random_row(bs * blocks, seed * 100 + static_cast<uint32_t>(blocks));
      const std::vector<float> y = round_trip(type, x.data(), bs * blocks, nullptr);
      for (int64_t b = 0; b < blocks; ++b) {
        const double rms = weighted_rmse(x.data() + b * bs, y.data() + b * bs, nullptr, bs);
        EXPECT_LE(rms, bound(x.data() + b * bs, bs))
            << type_name(type) << " blocks " << blocks << " seed " << seed << " block " << b;
      }
    }
  }
}

inline float absmax(const float* x, int64_t n) {
  float a = 0;
  for (int64_t i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
  return a;
}

// fp16 keeps 11 significant bits: a stored scale or offset is off by at most this relative amount.
inline constexpr double kFp16RelErr = 1.0 / 2048;

}  // namespace bitdial::test
