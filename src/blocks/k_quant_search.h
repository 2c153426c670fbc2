// Scale searches shared by the k-quant encoders. They pick, for one 256-value super-block, the
// fp16 super-scale(s), the integer sub-block scales (and mins) and the integer codes that minimise
// sum_i w[i] * (x[i] - y[i])^2, where y[i] is computed with exactly the float operations the
// decoder performs. The caller packs the result into its block layout.
//
// Method (our own; details beside the code in k_quant_search.cpp and k_quant_search_scaled.cpp):
//   1. per sub-block, continuous fits of (step, offset) from a sweep of code grids, each refined by
//      weighted least squares given its codes; each fit also records the curvature of its error,
//      so the error of a nearby quantized step is predicted without touching the data;
//   2. a scan of candidate fp16 super-scales (a range of ratios to the largest sub-block step),
//      ranked by the predicted error of the integer sub-scales each implies;
//   3. the best few, and one simple start whose error the tests bound, are measured exactly; for
//      the best two (every start, for the symmetric types) the integer sub-scales (and mins) are
//      chosen by a local search that measures the decoder's exact output;
//   4. coordinate descent: least-squares super-scale(s) given the integers and codes, the
//      neighbouring fp16 value ranked by the closed-form error with the codes kept, integers
//      re-picked; the best state seen is kept.
// Cost is O(candidates x 256) per super-block: no exhaustive combinatorics.
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
  // Search breadth: d is scanned over a_max / (r * scale_max) for r in scan_low..scan_high,
  // a_max the largest sub-block step (dmin likewise over the offsets).
  float scan_low, scan_high;
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
  // Search breadth. fit_span: how many code positions inside each end of the code range the
  // largest value of a sub-block may be mapped to when fitting its step. scan_low..scan_high:
  // range of s_big / (d * |scale_min|) scanned for the super-scale d, s_big the largest
  // sub-block step. Few codes (q3_K) need wide ranges; q6_K's fine scales need little.
  float fit_span;
  float scan_low, scan_high;
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
