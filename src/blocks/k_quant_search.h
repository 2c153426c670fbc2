// Scale searches shared by the k-quant encoders. They pick, for one 256-value super-block, the
// fp16 super-scale(s), the integer sub-block scales (and mins) and the integer codes that minimise
// sum_i w[i] * (x[i] - y[i])^2, where y[i] is computed with exactly the float operations the
// decoder performs. The caller packs the result into its block layout.
//
// Method (our own; see k_quant_search.cpp for details):
//   1. per sub-block, a continuous fit (scale, offset) by a sweep of candidate grids, each refined
//      by weighted least squares given its codes;
//   2. several candidate super-scales derived from the largest sub-block scale; for each, every
//      sub-block's integer scale (and min) is chosen by a small integer local search that measures
//      the decoder's exact output;
//   3. coordinate descent on the best candidates: refit the super-scale(s) by least squares given
//      the integer scales and codes, round to fp16, try the neighbouring fp16 values, re-pick the
//      integers; keep the best seen.
#pragma once

#include <cstdint>

namespace bitdial::kq {

// Affine sub-blocks (q2_K, q4_K, q5_K): y = (d * sc[s]) * q - (dmin * m[s]),
// q in 0..q_max, sc and m in 0..scale_max, s = i / sub_len.
struct AffineSpec {
  int n_sub;      // sub-blocks per super-block (n_sub * sub_len == 256)
  int sub_len;    // values per sub-block
  int q_max;      // largest code
  int scale_max;  // largest integer sub-scale / sub-min
};

struct AffineChoice {
  uint16_t d = 0;     // fp16
  uint16_t dmin = 0;  // fp16
  uint8_t sc[16] = {};
  uint8_t m[16] = {};
  uint8_t q[256] = {};
};

// x: 256 values; w: 256 non-negative weights (not all zero).
void search_affine(const AffineSpec& spec, const float* x, const float* w, AffineChoice* out);

// Symmetric sub-blocks (q3_K, q6_K): y = (d * sc[s]) * q, q in q_min..q_max,
// sc in scale_min..scale_max, s = i / sub_len.
struct ScaledSpec {
  int n_sub;
  int sub_len;
  int q_min, q_max;
  int scale_min, scale_max;
};

struct ScaledChoice {
  uint16_t d = 0;  // fp16
  int16_t sc[16] = {};
  int8_t q[256] = {};
};

void search_scaled(const ScaledSpec& spec, const float* x, const float* w, ScaledChoice* out);

// Per-super-block weights for an encoder: importance (when given, and not all zero over this
// super-block) or ones. `out` receives 256 values.
void super_block_weights(const float* importance, float* out);

}  // namespace bitdial::kq
