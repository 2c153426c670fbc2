#include "blocks/scale_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

// Largest block any caller searches (iq4_xs sub-blocks and the legacy types are 32 values).
constexpr int kMaxBlock = 32;

// How far the sweep moves the block's extreme value inside the code range: the extreme is mapped to
// ext * f for f from kSweepHigh down to kSweepLow. Above 1 the extreme is clipped (cheap while the clip
// is under half a step); below ~0.6 the step grows so much that no real block prefers it.
constexpr int kSweepSteps = 20;
constexpr float kSweepLow = 0.6f;

// Rounds of "codes for this scale -> least-squares scale for these codes" after each sweep point.
constexpr int kRefits = 2;

double sq(double v) { return v * v; }

bool finite_scale(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

// The fp16 values one and two units in the last place either side of h (same sign, finite only).
int fp16_neighbours(uint16_t h, uint16_t* out) {
  int n = 0;
  const uint16_t mag = h & 0x7fffu;
  const uint16_t sign = h & 0x8000u;
  for (int delta : {-2, -1, 1, 2}) {
    const int m = static_cast<int>(mag) + delta;
    if (m < 0 || m > 0x7bff) continue;
    out[n++] = static_cast<uint16_t>(sign | m);
  }
  return n;
}

// Nearest code in [qmin, qmax] for y = q * d (d != 0), checked against the float product the decoder
// forms, so a value sitting on a rounding boundary gets the code that really reconstructs it best.
double symmetric_codes(const float* x, const float* w, int n, float d, int qmin, int qmax, int* q) {
  double err = 0;
  if (d == 0.0f) {
    for (int i = 0; i < n; ++i) {
      q[i] = 0;
      err += w[i] * sq(x[i]);
    }
    return err;
  }
  const float inv = 1.0f / d;
  for (int i = 0; i < n; ++i) {
    const float v = std::clamp(x[i] * inv, static_cast<float>(qmin), static_cast<float>(qmax));
    int c = static_cast<int>(std::nearbyint(v));
    double e = sq(static_cast<double>(x[i]) - static_cast<float>(c) * d);
    const bool up = (x[i] > static_cast<float>(c) * d) == (d > 0.0f);
    const int c2 = up ? c + 1 : c - 1;
    if (c2 >= qmin && c2 <= qmax) {
      const double e2 = sq(static_cast<double>(x[i]) - static_cast<float>(c2) * d);
      if (e2 < e) c = c2, e = e2;
    }
    q[i] = c;
    err += w[i] * e;
  }
  return err;
}

double affine_codes(const float* x, const float* w, int n, float d, float m, int qmax, int* q) {
  double err = 0;
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) {
    int c = 0;
    double e = sq(static_cast<double>(x[i]) - affine_value(0, d, m));
    if (d != 0.0f) {
      const float v = std::clamp((x[i] - m) * inv, 0.0f, static_cast<float>(qmax));
      c = static_cast<int>(std::nearbyint(v));
      e = sq(static_cast<double>(x[i]) - affine_value(c, d, m));
      const bool up = (x[i] > affine_value(c, d, m)) == (d > 0.0f);
      const int c2 = up ? c + 1 : c - 1;
      if (c2 >= 0 && c2 <= qmax) {
        const double e2 = sq(static_cast<double>(x[i]) - affine_value(c2, d, m));
        if (e2 < e) c = c2, e = e2;
      }
    }
    q[i] = c;
    err += w[i] * e;
  }
  return err;
}

// The block's largest-magnitude value, with its sign (0 for an all-zero block).
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
  }
  return max;
}

// Sweep point k of kSweepSteps: a factor from `high` (slightly above 1: the extreme clipped by up to
// half a step) down to kSweepLow.
float sweep_factor(int k, float high) {
  return high - (high - kSweepLow) * static_cast<float>(k) / static_cast<float>(kSweepSteps - 1);
}

}  // namespace

uint16_t fp16_saturating(float f) {
  if (std::isnan(f)) return f32_to_fp16(f);
  return f32_to_fp16(std::clamp(f, -kFp16Max, kFp16Max));
}

void block_weights(const float* importance, int64_t offset, int n, float* w) {
  bool any = false;
  if (importance != nullptr) {
    for (int i = 0; i < n; ++i) {
      const float v = importance[offset + i];
      w[i] = std::isfinite(v) && v > 0.0f ? v : 0.0f;
      any = any || w[i] > 0.0f;
    }
  }
  if (!any) std::fill(w, w + n, 1.0f);
}

SymmetricFit fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int* q) {
  BITDIAL_ASSERT(n <= kMaxBlock);
  SymmetricFit best{0, symmetric_codes(x, w, n, 0.0f, qmin, qmax, q)};
  const float max = signed_absmax(x, n);
  if (max == 0.0f) return best;

  int codes[kMaxBlock];
  auto consider = [&](uint16_t h) {
    if (!finite_scale(h)) return;
    const double err = symmetric_codes(x, w, n, fp16_to_f32(h), qmin, qmax, codes);
    if (err < best.err) {
      best = {h, err};
      std::memcpy(q, codes, sizeof(int) * n);
    }
  };
  // Least-squares scale for the codes of the last consider(): d = sum w x q / sum w q^2.
  auto refit = [&]() {
    double sxq = 0, sqq = 0;
    for (int i = 0; i < n; ++i) sxq += w[i] * x[i] * codes[i], sqq += w[i] * sq(codes[i]);
    return sqq > 0 ? static_cast<float>(sxq / sqq) : 0.0f;
  };

  for (int ext : {qmin, qmax}) {
    if (ext == 0) continue;
    for (int k = -1; k < kSweepSteps; ++k) {
      // k = -1 is the plain round-to-nearest scale that maps the extreme exactly onto `ext`.
      const float f = k < 0 ? 1.0f : sweep_factor(k, 1.0f + 0.5f / std::abs(ext));
      consider(fp16_saturating(max / (static_cast<float>(ext) * f)));
      for (int r = 0; r < kRefits; ++r) consider(fp16_saturating(refit()));
    }
  }
  uint16_t around[4];
  const int count = fp16_neighbours(best.d, around);
  for (int i = 0; i < count; ++i) consider(around[i]);
  return best;
}

AffineFit fit_affine(const float* x, const float* w, int n, int qmax, int* q) {
  BITDIAL_ASSERT(n <= kMaxBlock);
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);

  int codes[kMaxBlock];
  AffineFit best{0, 0, HUGE_VAL};
  auto consider = [&](uint16_t hd, uint16_t hm) {
    if (!finite_scale(hd) || !finite_scale(hm)) return;
    const double err = affine_codes(x, w, n, fp16_to_f32(hd), fp16_to_f32(hm), qmax, codes);
    if (err < best.err) {
      best = {hd, hm, err};
      std::memcpy(q, codes, sizeof(int) * n);
    }
  };
  // Weighted least squares for (d, m) given the codes of the last consider(); when all codes are
  // equal only the offset is determined, so the scale is kept.
  auto refit = [&](float d) {
    double s1 = 0, sq1 = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      s1 += w[i], sq1 += w[i] * codes[i], sqq += w[i] * sq(codes[i]);
      sx += w[i] * x[i], sqx += w[i] * codes[i] * x[i];
    }
    const double det = sqq * s1 - sq1 * sq1;
    if (det <= 1e-9 * sqq * s1) {
      consider(fp16_saturating(d), fp16_saturating(static_cast<float>((sx - d * sq1) / s1)));
      return;
    }
    consider(fp16_saturating(static_cast<float>((s1 * sqx - sq1 * sx) / det)),
             fp16_saturating(static_cast<float>((sqq * sx - sq1 * sqx) / det)));
  };

  consider(0, fp16_saturating(lo));
  if (hi > lo) {
    const float range = hi - lo;
    for (int k = -1; k < kSweepSteps; ++k) {
      const float f = k < 0 ? 1.0f : sweep_factor(k, 1.0f + 0.5f / qmax);
      const uint16_t hd = fp16_saturating(range / (static_cast<float>(qmax) * f));
      consider(hd, fp16_saturating(lo));
      for (int r = 0; r < kRefits; ++r) refit(fp16_to_f32(best.d));
    }
  }
  const AffineFit centre = best;
  uint16_t dn[4], mn[4];
  const int nd = fp16_neighbours(centre.d, dn);
  const int nm = fp16_neighbours(centre.m, mn);
  for (int i = 0; i < nd; ++i) consider(dn[i], centre.m);
  for (int j = 0; j < nm; ++j) consider(centre.d, mn[j]);
  return best;
}

double grid_codes(const float* x, const float* w, int n, float scale, const int8_t* grid, int size, uint8_t* q) {
  double err = 0;
  if (scale == 0.0f) {
    int zero = 0;
    for (int c = 1; c < size; ++c) {
      if (std::abs(grid[c]) < std::abs(grid[zero])) zero = c;
    }
    for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(zero), err += w[i] * sq(x[i]);
    return err;
  }
  const float inv = 1.0f / scale;
  for (int i = 0; i < n; ++i) {
    // The two grid values bracketing x / scale; the exact float products decide between them.
    const float v = x[i] * inv;
    int hi = 0;
    while (hi < size - 1 && static_cast<float>(grid[hi]) < v) ++hi;
    const int lo = hi > 0 ? hi - 1 : 0;
    const double e_lo = sq(static_cast<double>(x[i]) - scale * static_cast<float>(grid[lo]));
    const double e_hi = sq(static_cast<double>(x[i]) - scale * static_cast<float>(grid[hi]));
    const bool take_lo = e_lo <= e_hi;
    q[i] = static_cast<uint8_t>(take_lo ? lo : hi);
    err += w[i] * (take_lo ? e_lo : e_hi);
  }
  return err;
}

GridFit fit_grid(const float* x, const float* w, int n, const int8_t* grid, int size, bool store_fp16, uint8_t* q) {
  BITDIAL_ASSERT(n <= kMaxBlock);
  GridFit best{0.0f, grid_codes(x, w, n, 0.0f, grid, size, q)};
  const float max = signed_absmax(x, n);
  if (max == 0.0f) return best;

  uint8_t codes[kMaxBlock];
  auto stored = [&](float s) {
    return store_fp16 ? fp16_to_f32(fp16_saturating(s)) : std::clamp(s, -3.0e38f, 3.0e38f);
  };
  auto consider = [&](float s) {
    const double err = grid_codes(x, w, n, s, grid, size, codes);
    if (err < best.err) {
      best = {s, err};
      std::memcpy(q, codes, n);
    }
  };
  auto refit = [&]() {
    double sxg = 0, sgg = 0;
    for (int i = 0; i < n; ++i) {
      const double g = grid[codes[i]];
      sxg += w[i] * x[i] * g, sgg += w[i] * g * g;
    }
    return sgg > 0 ? static_cast<float>(sxg / sgg) : 0.0f;
  };

  // Half the grid's outermost spacing, relative to its end value: how far the extreme may be clipped.
  const float clip_low = 1.0f + 0.5f * static_cast<float>(grid[1] - grid[0]) / std::abs(grid[0]);
  const float clip_high = 1.0f + 0.5f * static_cast<float>(grid[size - 1] - grid[size - 2]) / std::abs(grid[size - 1]);
  for (int side = 0; side < 2; ++side) {
    const float end = side == 0 ? grid[0] : grid[size - 1];
    for (int k = -1; k < kSweepSteps; ++k) {
      const float f = k < 0 ? 1.0f : sweep_factor(k, side == 0 ? clip_low : clip_high);
      consider(stored(max / (end * f)));
      for (int r = 0; r < kRefits; ++r) consider(stored(refit()));
    }
  }
  if (store_fp16) {
    uint16_t around[4];
    const int count = fp16_neighbours(fp16_saturating(best.scale), around);
    for (int i = 0; i < count; ++i) consider(fp16_to_f32(around[i]));
  }
  return best;
}

}  // namespace bitdial
