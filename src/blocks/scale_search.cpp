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

// Per-value loops run in groups of kLanes with a fixed inner trip count: GCC and Clang vectorise
// those at -O2 (a runtime trip count would need -O3's cost model), and sums kept in kLanes partial
// accumulators have one fixed association order, so every build ranks candidates identically.
constexpr int kLanes = 8;

// How far the sweep moves the block's extreme value inside the code range: the extreme is mapped to
// ext * f for kSweepSteps values of f from just above 1 (the extreme clipped by up to half a step)
// down to kSweepLow; on N(0, s) blocks with outliers the winners sit in f ~ 0.8-1, and below 0.7 the
// coarser step costs more than the clipping it avoids.
constexpr int kSweepSteps = 8;
constexpr float kSweepLow = 0.7f;

// Affine types sweep the scale from slightly finer than range / qmax (extremes clipped by up to
// kAffineClip steps, recovered by the refit moving the offset) to kAffineLow times it.
constexpr int kAffineSteps = 10;
constexpr float kAffineClip = 1.5f;
constexpr float kAffineLow = 0.8f;
constexpr int kPolishRounds = 4;

// Sweep points are ranked by the closed-form error of the least-squares refit of their codes (one
// cheap pass each); only the kTopStarts best are evaluated as stored fp16 scales and refitted
// (kRefits rounds of "codes for this scale -> least-squares scale for these codes"). On N(0, s)
// rows with outliers the final winner comes from the top three in nearly every block, and
// evaluating all sweep points exactly cost ~6x more for < 0.1% lower error.
constexpr int kTopStarts = 3;
constexpr int kRefits = 2;

double sq(double v) { return v * v; }

float lane_sum(const float* v, int n) {
  float acc[kLanes] = {};
  for (int i = 0; i < n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += v[i + k];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// sum w (x - y)^2 from the per-value terms e = w (x - y)^2 already formed in float; when a term
// overflowed (|x| beyond ~1e19, or huge weights) the sum is redone in double from the
// reconstructions y, so finite input never ranks candidates by Inf.
double weighted_error(const float* x, const float* w, const float* y, const float* e, int n) {
  const float fast = lane_sum(e, n);
  if (std::isfinite(fast)) return fast;
  double err = 0;
  for (int i = 0; i < n; ++i) err += w[i] * sq(static_cast<double>(x[i]) - y[i]);
  return err;
}

// Round-to-nearest of v in [-256, 256) (halves up): the truncation of a positive float is its floor.
int round_small(float v) { return static_cast<int>(v + 256.5f) - 256; }

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
  static constexpr int kCapacity = 128;
  uint32_t keys_[kCapacity];
  int count_ = 0;
};

// The kTopStarts sweep points with the lowest predicted error: (a, b) is the refitted scale and
// offset (b unused by the symmetric and grid types).
struct Start {
  double pred;
  float a, b;
};

class TopStarts {
 public:
  void offer(double pred, float a, float b = 0.0f) {
    if (!(pred < HUGE_VAL) || !std::isfinite(a) || !std::isfinite(b)) return;
    for (int i = 0; i < count_; ++i) {
      if (items_[i].a == a && items_[i].b == b) return;  // same codes as an earlier sweep point
    }
    int pos = count_ < kTopStarts ? count_ : kTopStarts;
    while (pos > 0 && pred < items_[pos - 1].pred) --pos;
    if (pos >= kTopStarts) return;
    for (int i = std::min(count_, kTopStarts - 1); i > pos; --i) items_[i] = items_[i - 1];
    items_[pos] = {pred, a, b};
    count_ = std::min(count_ + 1, kTopStarts);
  }
  int size() const { return count_; }
  const Start& operator[](int i) const { return items_[i]; }

 private:
  Start items_[kTopStarts];
  int count_ = 0;
};

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
// forms: the rounded quotient's neighbour on the residual's side is also tried, so a value sitting
// on a rounding boundary gets the code that really reconstructs it best.
double symmetric_codes(const float* x, const float* w, int n, float d, int qmin, int qmax, int* q) {
  float y[kMaxBlock], e[kMaxBlock] = {};  // (zeroed only so GCC sees every read initialised)
  if (d == 0.0f) {
    for (int i = 0; i < n; ++i) q[i] = 0, y[i] = 0.0f, e[i] = w[i] * x[i] * x[i];
    return weighted_error(x, w, y, e, n);
  }
  const float inv = 1.0f / d, lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
  const int toward = d > 0.0f ? 1 : -1;  // code step that raises y
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      float v = x[i] * inv;
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      const int c = round_small(v);
      const float y1 = static_cast<float>(c) * d;
      int c2 = x[i] > y1 ? c + toward : c - toward;
      c2 = c2 < qmin ? qmin : c2;
      c2 = c2 > qmax ? qmax : c2;
      const float y2 = static_cast<float>(c2) * d;
      const float e1 = (x[i] - y1) * (x[i] - y1), e2 = (x[i] - y2) * (x[i] - y2);
      const bool second = e2 < e1;
      q[i] = second ? c2 : c;
      y[i] = second ? y2 : y1;
      e[i] = w[i] * (second ? e2 : e1);
    }
  }
  return weighted_error(x, w, y, e, n);
}

// Nearest code in [0, qmax] for y = q * d + m. The quotient is rounded in float; only a value
// within float rounding of a code boundary can get the other, equally close code, so the
// decoder's products are not re-checked here (that doubled the cost of the hottest loop).
double affine_codes(const float* x, const float* w, int n, float d, float m, int qmax, int* q) {
  float y[kMaxBlock], e[kMaxBlock] = {};  // (zeroed only so GCC sees every read initialised)
  const float inv = d != 0.0f ? 1.0f / d : 0.0f, hi = static_cast<float>(qmax);
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      float v = (x[i] - m) * inv;
      v = v < 0.0f ? 0.0f : v;
      v = v > hi ? hi : v;
      const int c = static_cast<int>(v + 0.5f);  // v >= 0: truncation is floor
      q[i] = c;
      y[i] = affine_value(c, d, m);
      e[i] = w[i] * (x[i] - y[i]) * (x[i] - y[i]);
    }
  }
  return weighted_error(x, w, y, e, n);
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

// sum w x^2 in double: the constant part of every closed-form error below.
double weighted_energy(const float* x, const float* w, int n) {
  double e = 0;
  for (int i = 0; i < n; ++i) e += w[i] * sq(x[i]);
  return e;
}

// Ranks symmetric sweep scale d0: codes rounded to nearest for d0 (float, not yet stored), then
// the least-squares scale for those codes, d = sum w x q / sum w q^2, whose error is
// sum w x^2 - (sum w x q)^2 / sum w q^2.
void rank_symmetric(const float* x, const float* wx, const float* w, int n, double energy, float d0, int qmin,
                    int qmax, TopStarts* top) {
  float xq[kMaxBlock], qq[kMaxBlock];
  const float inv = 1.0f / d0, lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      float v = x[i] * inv;
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      const float c = static_cast<float>(round_small(v));
      xq[i] = wx[i] * c;
      qq[i] = w[i] * c * c;
    }
  }
  const double sxq = lane_sum(xq, n), sqq = lane_sum(qq, n);
  if (sqq > 0) top->offer(energy - sxq * sxq / sqq, static_cast<float>(sxq / sqq));
}

// Ranks affine sweep point (d0, m0) by the least-squares (d, m) of its codes, whose error is
// sum w x^2 - d sum w q x - m sum w x. s1 = sum w, sx = sum w x.
void rank_affine(const float* x, const float* wx, const float* w, int n, double energy, double s1, double sx,
                 float d0, float m0, int qmax, TopStarts* top) {
  float wq[kMaxBlock], qq[kMaxBlock], qx[kMaxBlock];
  const float inv = 1.0f / d0, hi = static_cast<float>(qmax);
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      float v = (x[i] - m0) * inv;
      v = v < 0.0f ? 0.0f : v;
      v = v > hi ? hi : v;
      const float c = static_cast<float>(static_cast<int>(v + 0.5f));
      wq[i] = w[i] * c;
      qq[i] = w[i] * c * c;
      qx[i] = wx[i] * c;
    }
  }
  const double sq1 = lane_sum(wq, n), sqq = lane_sum(qq, n), sqx = lane_sum(qx, n);
  const double det = sqq * s1 - sq1 * sq1;
  if (!(det > 1e-9 * sqq * s1)) return;
  const double d = (s1 * sqx - sq1 * sx) / det, m = (sqq * sx - sq1 * sqx) / det;
  top->offer(energy - d * sqx - m * sx, static_cast<float>(d), static_cast<float>(m));
}

// Nearest grid codes for x / scale (q) and their grid values (g); the zero code for scale 0.
void grid_nearest(const float* x, int n, float scale, const GridTable& grid, uint8_t* q, float* g) {
  BITDIAL_ASSERT(n <= kMaxBlock && n % kLanes == 0);
  if (scale == 0.0f) {
    for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(grid.zero), g[i] = grid.fvalues[grid.zero];
    return;
  }
  const float inv = 1.0f / scale;
  int cell[kMaxBlock];
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      // A subnormal free-float scale can make inv infinite, and 0 * inf is NaN: that value is 0.
      // 2 v + 256 >= 0, so truncation is its floor: the half-unit cell of v.
      float v = x[i0 + k] * inv;
      v = v != v ? 0.0f : v;
      v = v < -128.0f ? -128.0f : v;
      v = v > 127.75f ? 127.75f : v;
      cell[i0 + k] = static_cast<int>(2.0f * v + 256.0f);
    }
  }
  for (int i = 0; i < n; ++i) {
    const int c = grid.nearest[cell[i]];
    q[i] = static_cast<uint8_t>(c);
    g[i] = grid.fvalues[c];
  }
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

SymmetricFit fit_symmetric_refined(const float* x, const float* w, int n, int qmin, int qmax, int* q, int refits) {
  BITDIAL_ASSERT(n <= kMaxBlock && n % kLanes == 0);
  const float max = signed_absmax(x, n);
  if (max == 0.0f) return {0, symmetric_codes(x, w, n, 0.0f, qmin, qmax, q)};
  // The extreme maps onto the end of the range on its own side.
  const int ext = max > 0.0f ? qmax : qmin;
  uint16_t h = fp16_saturating(max / static_cast<float>(ext));
  SymmetricFit best{h, symmetric_codes(x, w, n, fp16_to_f32(h), qmin, qmax, q)};
  int codes[kMaxBlock];
  std::memcpy(codes, q, sizeof(int) * n);
  for (int r = 0; r < refits; ++r) {
    double sxq = 0, sqq = 0;
    for (int i = 0; i < n; ++i) sxq += w[i] * x[i] * codes[i], sqq += w[i] * sq(codes[i]);
    if (sqq <= 0) break;
    const uint16_t next = fp16_saturating(static_cast<float>(sxq / sqq));
    if (next == h || !finite_scale(next)) break;
    h = next;
    const double err = symmetric_codes(x, w, n, fp16_to_f32(h), qmin, qmax, codes);
    if (err >= best.err) break;
    best = {h, err};
    std::memcpy(q, codes, sizeof(int) * n);
  }
  return best;
}

SymmetricFit fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int* q) {
  BITDIAL_ASSERT(n <= kMaxBlock && n % kLanes == 0);
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

  float wx[kMaxBlock];
  for (int i = 0; i < n; ++i) wx[i] = w[i] * x[i];
  const double energy = weighted_energy(x, w, n);
  TopStarts top;
  for (int ext : {qmin, qmax}) {
    if (ext == 0) continue;
    // The plain round-to-nearest scale that maps the extreme exactly onto `ext` is always evaluated
    // as stored: the random-row tests bound the error by its worst case.
    consider(fp16_saturating(max / static_cast<float>(ext)));
    for (int k = 0; k < kSweepSteps; ++k) {
      const float d0 = max / (static_cast<float>(ext) * sweep_factor(k, 1.0f + 0.5f / std::abs(ext)));
      if (std::isfinite(d0) && d0 != 0.0f) rank_symmetric(x, wx, w, n, energy, d0, qmin, qmax, &top);
    }
  }
  for (int s = 0; s < top.size(); ++s) {
    if (!consider(fp16_saturating(top[s].a))) continue;
    for (int r = 0; r < kRefits && consider(fp16_saturating(refit())); ++r) {
    }
  }
  uint16_t around[4];
  const int count = fp16_neighbours(best.d, around);
  for (int i = 0; i < count; ++i) consider(around[i]);
  return best;
}

AffineFit fit_affine(const float* x, const float* w, int n, int qmax, int* q) {
  BITDIAL_ASSERT(n <= kMaxBlock && n % kLanes == 0);
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
    // The plain min/max grid is always evaluated as stored: the random-row tests bound its error.
    if (consider(fp16_saturating(range / static_cast<float>(qmax)), fp16_saturating(lo))) refit();
    float wx[kMaxBlock];
    for (int i = 0; i < n; ++i) wx[i] = w[i] * x[i];
    double s1 = 0, sx = 0;
    for (int i = 0; i < n; ++i) s1 += w[i], sx += wx[i];
    const double energy = weighted_energy(x, w, n);
    TopStarts top;
    const float high = 1.0f + kAffineClip / static_cast<float>(qmax);
    for (int k = 0; k < kAffineSteps; ++k) {
      const float f = high - (high - kAffineLow) * static_cast<float>(k) / (kAffineSteps - 1);
      const float d = range / (static_cast<float>(qmax) * f);
      if (!std::isfinite(d) || d == 0.0f) continue;
      // Offset at the block minimum (only the top is clipped or left unused) or centred (both ends).
      for (float m : {lo, lo - 0.5f * (static_cast<float>(qmax) * d - range)}) {
        rank_affine(x, wx, w, n, energy, s1, sx, d, m, qmax, &top);
      }
    }
    for (int s = 0; s < top.size(); ++s) {
      if (!consider(fp16_saturating(top[s].a), fp16_saturating(top[s].b))) continue;
      for (int r = 0; r < kRefits && refit(); ++r) {
      }
    }
  }
  // Polish: the error is not separable in (d, m) once codes change, so walk the fp16 lattice around
  // the winner jointly until no neighbour improves it: the 8 nearest first (cheap, and where the
  // improvements almost always are), then the ring two steps out once those are exhausted.
  for (int round = 0, reach = 1; round < kPolishRounds;) {
    const AffineFit centre = best;
    for (int dd = -reach; dd <= reach; ++dd) {
      for (int dm = -reach; dm <= reach; ++dm) {
        if (std::max(std::abs(dd), std::abs(dm)) != reach) continue;
        const int hd = fp16_step(centre.d, dd), hm = fp16_step(centre.m, dm);
        if (hd >= 0 && hm >= 0) consider(static_cast<uint16_t>(hd), static_cast<uint16_t>(hm));
      }
    }
    if (best.d != centre.d || best.m != centre.m) {
      ++round, reach = 1;
    } else if (reach == 1) {
      reach = 2;
    } else {
      break;
    }
  }
  return best;
}

double grid_codes(const float* x, const float* w, int n, float scale, const GridTable& grid, uint8_t* q) {
  float g[kMaxBlock], y[kMaxBlock], e[kMaxBlock] = {};  // (zeroed only so GCC sees every read initialised)
  grid_nearest(x, n, scale, grid, q, g);
  for (int i0 = 0; i0 < n; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      y[i] = scale * g[i];
      e[i] = w[i] * (x[i] - y[i]) * (x[i] - y[i]);
    }
  }
  return weighted_error(x, w, y, e, n);
}

GridFit fit_grid(const float* x, const float* w, int n, const GridTable& grid, bool store_fp16, uint8_t* q) {
  const int8_t* values = grid.values;
  const int size = grid.size;
  BITDIAL_ASSERT(n <= kMaxBlock && n % kLanes == 0);
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
  // Least-squares scale for the codes of the last consider(): sum w x g / sum w g^2.
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
  const double energy = weighted_energy(x, w, n);
  float wx[kMaxBlock];
  for (int i = 0; i < n; ++i) wx[i] = w[i] * x[i];
  TopStarts top;
  for (int side = 0; side < 2; ++side) {
    const float end = side == 0 ? values[0] : values[size - 1];
    // The scale that puts the extreme exactly on the grid end is always evaluated (test bound).
    consider(stored(max / end));
    for (int k = 0; k < kSweepSteps; ++k) {
      const float s0 = max / (end * sweep_factor(k, side == 0 ? clip_low : clip_high));
      if (!std::isfinite(s0) || s0 == 0.0f) continue;
      uint8_t c[kMaxBlock];
      float g[kMaxBlock], xg[kMaxBlock], gg[kMaxBlock];
      grid_nearest(x, n, s0, grid, c, g);
      for (int i0 = 0; i0 < n; i0 += kLanes) {
        for (int k = 0; k < kLanes; ++k) xg[i0 + k] = wx[i0 + k] * g[i0 + k], gg[i0 + k] = w[i0 + k] * g[i0 + k] * g[i0 + k];
      }
      const double sxg = lane_sum(xg, n), sgg = lane_sum(gg, n);
      if (sgg > 0) top.offer(energy - sxg * sxg / sgg, static_cast<float>(sxg / sgg));
    }
  }
  for (int s = 0; s < top.size(); ++s) {
    if (!consider(stored(top[s].a))) continue;
    for (int r = 0; r < kRefits && consider(stored(refit())); ++r) {
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
