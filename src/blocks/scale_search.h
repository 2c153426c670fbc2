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

// y_i = q_i * d + m with q_i in [0, qmax] (q4_1, q5_1). `m` is the block's offset, not necessarily its min.
struct AffineFit {
  uint16_t d, m;  // fp16 bits
  double err;
};
AffineFit fit_affine(const float* x, const float* w, int n, int qmax, int* q);

// The decoder's exact reconstruction for the affine types (kept in one place so search == decode).
inline float affine_value(int q, float d, float m) { return static_cast<float>(q) * d + m; }

// Non-uniform grid: y_i = scale * grid[q_i], grid ascending with `size` entries (iq4_nl, iq4_xs).
// Writes the best code per value for the given float scale and returns the weighted squared error.
double grid_codes(const float* x, const float* w, int n, float scale, const int8_t* grid, int size, uint8_t* q);

// Best float scale for a grid block. With store_fp16 the scale is evaluated (and returned) as the
// fp16 value it will be stored as; without it the scale is a free float (iq4_xs sub-blocks, whose
// stored form is decided later against the super-block scale).
struct GridFit {
  float scale;
  double err;
};
GridFit fit_grid(const float* x, const float* w, int n, const int8_t* grid, int size, bool store_fp16, uint8_t* q);

}  // namespace bitdial
