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
// ext * f for kSweepSteps values of f from just above 1 (the extreme clipped by up to half a step)
// down to kSweepLow; on N(0, s) blocks with outliers the winners sit in f ~ 0.8-1, and below 0.7 the
// coarser step costs more than the clipping it avoids. Each point is then refitted (kRefits).
constexpr int kSweepSteps = 8;
constexpr float kSweepLow = 0.7f;

// Affine types sweep the scale from slightly finer than range / qmax (extremes clipped by up to
// kAffineClip steps, recovered by the refit moving the offset) to kAffineLow times it.
constexpr int kAffineSteps = 10;
constexpr float kAffineClip = 1.5f;
constexpr float kAffineLow = 0.8f;
constexpr int kPolishRounds = 4;

// Rounds of "codes for this scale -> least-squares scale for these codes" after each sweep point.
constexpr int kRefits = 2;

double sq(double v) { return v * v; }

// Stored scales (or scale/offset pairs) already evaluated for this block: sweep points and refits
// often land on the same fp16 value, and re-evaluating one cannot change the result.
class SeenScales {
 public:
  bool insert(uint32_t key) {
    for (int i = 0; i < count_; ++i) {
      if (keys_[i] == key) return false;
    }
    if (count_ < kCapacity) keys_[count_++] = key;
    return true;
  }

 private:
  static constexpr int kCapacity = 256;
  uint32_t keys_[kCapacity];
  int count_ = 0;
};

// v must already be clamped to the int range. The callers then compare against the neighbour on
// the residual's side, so how exact halves round does not matter (and nearbyint's FP-environment
// handling is a library call in the innermost loop).
int round_half_away(float v) { return static_cast<int>(v + std::copysign(0.5f, v)); }

bool finite_scale(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

// The fp16 value `delta` steps from h along the ordered line of finite halves (crossing zero as
// needed), or -1 when that leaves the finite range.
int fp16_step(uint16_t h, int delta) {
  const int mag = h & 0x7fff;
  const int pos = ((h & 0x8000) ? -mag : mag) + delta;
  if (pos < -0x7bff || pos > 0x7bff) return -1;
  return pos < 0 ? (0x8000 | -pos) : pos;
}

// The fp16 values one and two steps either side of h (finite only).
int fp16_neighbours(uint16_t h, uint16_t* out) {
  int n = 0;
  for (int delta : {-2, -1, 1, 2}) {
    const int v = fp16_step(h, delta);
    if (v >= 0) out[n++] = static_cast<uint16_t>(v);
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
    int c = round_half_away(v);
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
      c = round_half_away(v);
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

// Sweep point k of kSweepSteps: a factor from `high` down to kSweepLow.
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
  SeenScales seen;
  seen.insert(0);
  // Evaluates a stored scale; false when it was already evaluated (then `codes` is not refreshed).
  auto consider = [&](uint16_t h) {
    if (!finite_scale(h) || !seen.insert(h)) return false;
    const double err = symmetric_codes(x, w, n, fp16_to_f32(h), qmin, qmax, codes);
    if (err < best.err) {
      best = {h, err};
      std::memcpy(q, codes, sizeof(int) * n);
    }
    return true;
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
      if (!consider(fp16_saturating(max / (static_cast<float>(ext) * f)))) continue;
      for (int r = 0; r < kRefits && consider(fp16_saturating(refit())); ++r) {
      }
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
  SeenScales seen;
  float last_d = 0.0f;  // scale of the last evaluated candidate, whose codes `codes` holds
  auto consider = [&](uint16_t hd, uint16_t hm) {
    if (!finite_scale(hd) || !finite_scale(hm) || !seen.insert(static_cast<uint32_t>(hd) << 16 | hm)) return false;
    last_d = fp16_to_f32(hd);
    const double err = affine_codes(x, w, n, fp16_to_f32(hd), fp16_to_f32(hm), qmax, codes);
    if (err < best.err) {
      best = {hd, hm, err};
      std::memcpy(q, codes, sizeof(int) * n);
    }
    return true;
  };
  // Weighted least squares for (d, m) given the codes of the last consider(); when all codes are
  // equal only the offset is determined, so the scale is kept.
  auto refit = [&]() {
    const float d = last_d;
    double s1 = 0, sq1 = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      s1 += w[i], sq1 += w[i] * codes[i], sqq += w[i] * sq(codes[i]);
      sx += w[i] * x[i], sqx += w[i] * codes[i] * x[i];
    }
    const double det = sqq * s1 - sq1 * sq1;
    if (det <= 1e-9 * sqq * s1) {
      return consider(fp16_saturating(d), fp16_saturating(static_cast<float>((sx - d * sq1) / s1)));
    }
    return consider(fp16_saturating(static_cast<float>((s1 * sqx - sq1 * sx) / det)),
                    fp16_saturating(static_cast<float>((sqq * sx - sq1 * sqx) / det)));
  };

  consider(0, fp16_saturating(lo));
  if (hi > lo) {
    const float range = hi - lo;
    const float high = 1.0f + kAffineClip / static_cast<float>(qmax);
    for (int k = -1; k < kAffineSteps; ++k) {
      const float f = k < 0 ? 1.0f : high - (high - kAffineLow) * static_cast<float>(k) / (kAffineSteps - 1);
      const float d = range / (static_cast<float>(qmax) * f);
      // Offset at the block minimum (only the top is clipped or left unused) or centred (both ends).
      for (float m : {lo, lo - 0.5f * (static_cast<float>(qmax) * d - range)}) {
        if (!consider(fp16_saturating(d), fp16_saturating(m))) continue;
        for (int r = 0; r < kRefits && refit(); ++r) {
        }
      }
    }
  }
  // Polish: the error is not separable in (d, m) once codes change, so walk the fp16 lattice around
  // the winner jointly until no neighbour improves it.
  for (int round = 0; round < kPolishRounds; ++round) {
    const AffineFit centre = best;
    for (int dd = -2; dd <= 2; ++dd) {
      for (int dm = -2; dm <= 2; ++dm) {
        const int hd = fp16_step(centre.d, dd), hm = fp16_step(centre.m, dm);
        if ((dd != 0 || dm != 0) && hd >= 0 && hm >= 0) consider(static_cast<uint16_t>(hd), static_cast<uint16_t>(hm));
      }
    }
    if (best.d == centre.d && best.m == centre.m) break;
  }
  return best;
}

double grid_codes(const float* x, const float* w, int n, float scale, const GridTable& grid, uint8_t* q) {
  double err = 0;
  if (scale == 0.0f) {
    for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(grid.zero), err += w[i] * sq(x[i]);
    return err;
  }
  const float inv = 1.0f / scale;
  for (int i = 0; i < n; ++i) {
    // The two grid values bracketing x / scale; the exact float products decide between them.
    // A subnormal free-float scale can make inv infinite, and 0 * inf is NaN: that value is 0.
    const float raw = x[i] * inv;
    const float v = std::isnan(raw) ? 0.0f : std::clamp(raw, -128.0f, 127.0f);
    const int lo = grid.below[static_cast<int>(std::floor(v)) + 128];
    const int hi = std::min(lo + 1, grid.size - 1);
    const double e_lo = sq(static_cast<double>(x[i]) - scale * static_cast<float>(grid.values[lo]));
    const double e_hi = sq(static_cast<double>(x[i]) - scale * static_cast<float>(grid.values[hi]));
    const bool take_lo = e_lo <= e_hi;
    q[i] = static_cast<uint8_t>(take_lo ? lo : hi);
    err += w[i] * (take_lo ? e_lo : e_hi);
  }
  return err;
}

GridFit fit_grid(const float* x, const float* w, int n, const GridTable& grid, bool store_fp16, uint8_t* q) {
  const int8_t* values = grid.values;
  const int size = grid.size;
  BITDIAL_ASSERT(n <= kMaxBlock);
  GridFit best{0.0f, grid_codes(x, w, n, 0.0f, grid, q)};
  const float max = signed_absmax(x, n);
  if (max == 0.0f) return best;

  uint8_t codes[kMaxBlock];
  auto stored = [&](float s) {
    return store_fp16 ? fp16_to_f32(fp16_saturating(s)) : std::clamp(s, -3.0e38f, 3.0e38f);
  };
  SeenScales seen;
  auto consider = [&](float s) {
    if (!seen.insert(f32_bits(s))) return false;
    const double err = grid_codes(x, w, n, s, grid, codes);
    if (err < best.err) {
      best = {s, err};
      std::memcpy(q, codes, n);
    }
    return true;
  };
  auto refit = [&]() {
    double sxg = 0, sgg = 0;
    for (int i = 0; i < n; ++i) {
      const double g = values[codes[i]];
      sxg += w[i] * x[i] * g, sgg += w[i] * g * g;
    }
    return sgg > 0 ? static_cast<float>(sxg / sgg) : 0.0f;
  };

  // Half the grid's outermost spacing, relative to its end value: how far the extreme may be clipped.
  const float clip_low = 1.0f + 0.5f * static_cast<float>(values[1] - values[0]) / std::abs(values[0]);
  const float clip_high = 1.0f + 0.5f * static_cast<float>(values[size - 1] - values[size - 2]) / std::abs(values[size - 1]);
  for (int side = 0; side < 2; ++side) {
    const float end = side == 0 ? values[0] : values[size - 1];
    for (int k = -1; k < kSweepSteps; ++k) {
      const float f = k < 0 ? 1.0f : sweep_factor(k, side == 0 ? clip_low : clip_high);
      if (!consider(stored(max / (end * f)))) continue;
      for (int r = 0; r < kRefits && consider(stored(refit())); ++r) {
      }
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
