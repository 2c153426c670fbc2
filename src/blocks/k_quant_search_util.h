// Internal helpers of the k-quant searches (k_quant_search.cpp, k_quant_search_scaled.cpp): fp16
// stepping, rounding, a small best-k list, and the search-breadth constants. Not part of the API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/fp16.h"

namespace bitdial::kq::detail {

inline constexpr float kHalfMax = 65504.0f;  // largest finite fp16
inline constexpr float kInf = std::numeric_limits<float>::infinity();

// Coordinate-descent rounds after each starting point (each round: least-squares super-scales,
// their fp16 neighbours, integer re-picks).
inline constexpr int kRefineRounds = 4;
// Step fits of the symmetric types: code positions kFitStride apart; optima within kFitKeep times
// the best error are kept.
inline constexpr float kFitStride = 0.25f, kFitKeep = 2.0f;
// Super-scale scans: candidates kScanStep apart (relative).
inline constexpr float kScanStep = 0.006f;
// The affine scans are two-dimensional (d, then dmin for each of the kScanKeep best d; the
// kScanKeep best pairs become starting points), so they step coarser. Scanning dmin for only two
// d cost q2_K's hardest test row 4% of its error.
inline constexpr float kAffineScanStep = 0.012f;
inline constexpr int kScanKeep = 3;
// Of the starting points, the kRefineKeep best are refined (the symmetric scan keeps only these): a
// third start rarely won, and cost a third of the refinement.
inline constexpr int kRefineKeep = 2;
// Scans run coarse to fine: first every kScanCoarsen-th grid point, then the full grid between the
// kCoarseKeep best coarse points and their coarse neighbours. The predicted error is smooth enough
// at that scale that this finds the fine grid's top picks at a third of the predictions.
inline constexpr int kScanCoarsen = 4;
inline constexpr int kCoarseKeep = 4;

// Coarse-to-fine scan of r over [lo, hi] on the geometric grid r_k = lo (1 + step)^k. eval(r)
// predicts (and records) the candidate at r and returns its predicted error.
template <class Eval>
void scan_coarse_to_fine(float lo, float hi, float step, Eval eval) {
  struct Point {
    float r;
    float err;
  };
  struct {
    Point items[kCoarseKeep];
    int count = 0;
    void offer(const Point& s) {
      int pos = count < kCoarseKeep ? count : kCoarseKeep;
      while (pos > 0 && s.err < items[pos - 1].err) --pos;
      if (pos >= kCoarseKeep) return;
      for (int i = std::min(count, kCoarseKeep - 1); i > pos; --i) items[i] = items[i - 1];
      items[pos] = s;
      count = std::min(count + 1, kCoarseKeep);
    }
  } coarse;
  const float fine = 1.0f + step;
  float coarse_step = 1.0f;
  for (int k = 0; k < kScanCoarsen; ++k) coarse_step *= fine;
  for (float r = lo; r <= hi; r *= coarse_step) coarse.offer({r, eval(r)});
  for (int i = 0; i < coarse.count; ++i) {
    float up = coarse.items[i].r, down = coarse.items[i].r;
    for (int k = 1; k < kScanCoarsen; ++k) {
      up *= fine, down /= fine;
      if (up <= hi) eval(up);
      if (down >= lo) eval(down);
    }
  }
}
// Code grids per unit of code range in the affine fits (2 * kFitGrids + 1 grids).
inline constexpr int kFitGrids = 10;

// fp16 code of v, saturated to the finite range so a scale never decodes to Inf.
inline uint16_t to_half(float v) {
  if (!std::isfinite(v)) return 0;
  return f32_to_fp16(std::clamp(v, -kHalfMax, kHalfMax));
}

// The fp16 code `dir` representable values above (dir > 0) or below the value of h, staying finite.
inline uint16_t half_step(uint16_t h, int dir) {
  int key = (h & 0x8000u) ? -static_cast<int>(h & 0x7fffu) : static_cast<int>(h);
  key = std::clamp(key + dir, -0x7bff, 0x7bff);
  return key < 0 ? static_cast<uint16_t>(0x8000 | -key) : static_cast<uint16_t>(key);
}

// Nearest integer to v (halves up), clamped to lo..hi; NaN gives lo. Avoids std::floor, a library
// call on baseline x86-64.
inline int round_to_int(float v, int lo, int hi) {
  if (!(v > lo)) return lo;
  if (v >= hi) return hi;
  return lo + static_cast<int>(v - static_cast<float>(lo) + 0.5f);  // argument >= 0.5: truncation is floor
}


// Per-value loops run in groups of kLanes with a fixed inner trip count, which GCC and Clang
// vectorise at -O2; sums kept in kLanes partial accumulators have one fixed association order, so
// every build ranks candidates identically. Sub-blocks are 16 or 32 values.
inline constexpr int kLanes = 8;
inline constexpr int kMaxSub = 32;

// sum of v[0..n), n % kLanes == 0.
inline float lane_sum(const float* v, int n) {
  float acc[kLanes] = {};
  for (int i = 0; i < n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += v[i + k];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// The same in double, for least-squares sums whose ratio must be exact to the last bit on
// degenerate blocks (a constant sub-block's refitted step must reproduce it exactly).
inline double lane_sum(const double* v, int n) {
  double acc[kLanes] = {};
  for (int i = 0; i < n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += v[i + k];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Weighted sums of one sub-block's codes for the least-squares super-scales: sum w q, sum w q^2,
// sum w q x, in double lanes (vectorised; the super-scale ratio of a degenerate block stays exact).
template <class Code>
void code_sums(const float* x, const float* w, const Code* q, int len, double* sq, double* sqq, double* sqx) {
  double wq[kMaxSub], qq[kMaxSub], qx[kMaxSub];
  for (int i0 = 0; i0 < len; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      const double c = static_cast<double>(q[i]);
      wq[i] = w[i] * c;
      qq[i] = w[i] * c * c;
      qx[i] = w[i] * c * x[i];
    }
  }
  *sq = lane_sum(wq, len);
  *sqq = lane_sum(qq, len);
  *sqx = lane_sum(qx, len);
}

// Keeps the `kKeep` lowest-error states seen, best first.
template <class State, int kKeep>
struct BestList {
  State items[kKeep];
  int count = 0;
  void offer(const State& s) {
    int pos = count < kKeep ? count : kKeep;
    while (pos > 0 && s.err < items[pos - 1].err) --pos;
    if (pos >= kKeep) return;
    for (int i = std::min(count, kKeep - 1); i > pos; --i) items[i] = items[i - 1];
    items[pos] = s;
    count = std::min(count + 1, kKeep);
  }
};



}  // namespace bitdial::kq::detail
