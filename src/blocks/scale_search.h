// Scale searches shared by the 32/256-value block codecs. Every search minimises the weighted squared
// error sum_i w_i (x_i - y_i)^2 of the reconstruction y that the decoder will actually produce: scales
// are evaluated after rounding to the fp16 they are stored as, and codes are re-chosen for that stored
// scale. Candidates come from a sweep of "which code the block's extreme value lands on" plus a
// weighted least-squares refit of the scale for each candidate's codes (Lloyd-style), then the fp16
// neighbours of the winner. Errors are accumulated in double so candidate ranking is not float noise.
#pragma once

#include <cstdint>

namespace bitdial {

// Largest finite fp16 magnitude; stored scales saturate here so finite input never encodes Inf.
inline constexpr float kFp16Max = 65504.0f;

// f32 -> fp16 bits, rounded to nearest but clamped to +-kFp16Max (NaN stays NaN).
uint16_t fp16_saturating(float f);

// Fills w[0..n) with importance[offset..offset+n), or with ones when importance is null or the slice
// has no positive weight (then every reconstruction is equally good; plain MSE is the useful tie-break).
void block_weights(const float* importance, int64_t offset, int n, float* w);

// y_i = q_i * d with integer q_i in [qmin, qmax] (q4_0, q5_0, q8_0).
struct SymmetricFit {
  uint16_t d;  // fp16 bits of the stored scale
  double err;  // weighted squared error of the stored block
};
SymmetricFit fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int* q);

// The cheap fit for wide code ranges (q8_0): the absmax scale (llama.cpp's), then up to `refits`
// weighted least-squares rescalings of the current codes, keeping the best stored scale. Never worse
// than absmax; with 255 levels a wider search gains under 1 % of the error at ~10x the time.
SymmetricFit fit_symmetric_refined(const float* x, const float* w, int n, int qmin, int qmax, int* q, int refits = 2);

// y_i = q_i * d + m with q_i in [0, qmax] (q4_1, q5_1). `m` is the block's offset, not necessarily its min.
struct AffineFit {
  uint16_t d, m;  // fp16 bits
  double err;
};
AffineFit fit_affine(const float* x, const float* w, int n, int qmax, int* q);

// The decoder's exact reconstruction for the affine types (kept in one place so search == decode).
inline float affine_value(int q, float d, float m) { return static_cast<float>(q) * d + m; }

// A non-uniform integer grid (iq4_nl, iq4_xs): y_i = scale * values[q_i], values ascending and
// distinct, with an O(1) nearest-value lookup. Midpoints of integer grid values are multiples of
// 1/2, so on cells [k/2, (k+1)/2) the nearest grid value is constant: one table read per value.
struct GridTable {
  int8_t values[16];
  float fvalues[16];     // values as float (the decoder's operand)
  int size;
  int zero;              // index of the smallest-magnitude value (the code for an all-zero scale)
  uint8_t nearest[512];  // nearest[k]: index of the value nearest to any v in [(k - 256) / 2, (k - 255) / 2)
};

constexpr GridTable make_grid_table(const int8_t (&values)[16]) {
  GridTable t{};
  t.size = 16;
  for (int i = 0; i < 16; ++i) {
    t.values[i] = values[i];
    t.fvalues[i] = static_cast<float>(values[i]);
    const int mag = values[i] < 0 ? -values[i] : values[i];
    const int best = values[t.zero] < 0 ? -values[t.zero] : values[t.zero];
    if (mag < best) t.zero = i;
  }
  for (int k = 0; k < 512; ++k) {
    // Distances to the cell centre (k - 256) / 2 + 1/4, in quarters: never a tie, since every
    // midpoint sits on a cell boundary.
    const int centre4 = 2 * (k - 256) + 1;
    int idx = 0;
    for (int i = 1; i < 16; ++i) {
      const int di = 4 * values[i] - centre4, db = 4 * values[idx] - centre4;
      if ((di < 0 ? -di : di) < (db < 0 ? -db : db)) idx = i;
    }
    t.nearest[k] = static_cast<uint8_t>(idx);
  }
  return t;
}

// Writes the nearest code per value for the given float scale (nearest to x / scale, so a value
// within float rounding of a midpoint may take the other, equally close code) and returns the
// weighted squared error of the decoder's reconstruction scale * values[q].
double grid_codes(const float* x, const float* w, int n, float scale, const GridTable& grid, uint8_t* q);

// Best float scale for a grid block. With store_fp16 the scale is evaluated (and returned) as the
// fp16 value it will be stored as; without it the scale is a free float (iq4_xs sub-blocks, whose
// stored form is decided later against the super-block scale).
struct GridFit {
  float scale;
  double err;
};
GridFit fit_grid(const float* x, const float* w, int n, const GridTable& grid, bool store_fp16, uint8_t* q);

}  // namespace bitdial
