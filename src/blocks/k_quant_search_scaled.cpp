// Symmetric super-block search (q3_K, q6_K); see k_quant_search.h for the method.
#include "blocks/k_quant_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "blocks/k_quant_search_util.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial::kq {
namespace {

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Symmetric sub-blocks: y = s * q, q in q_min..q_max, s = d * sc in float.

float scaled_error(const float* x, const float* w, int len, int q_min, int q_max, float s, int8_t* q) {
  float e[kMaxSub];
  int c[kMaxSub];
  const float inv = s != 0.0f ? 1.0f / s : 0.0f;
  const float lo = static_cast<float>(q_min), hi = static_cast<float>(q_max);
  for (int i0 = 0; i0 < len; i0 += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const int i = i0 + k;
      float t = x[i] * inv;
      t = t < lo ? lo : t;
      t = t > hi ? hi : t;
      const int qi = static_cast<int>(t + 256.5f) - 256;  // floor(t + 0.5) for t >= -256
      const float diff = x[i] - s * static_cast<float>(qi);
      e[i] = w[i] * diff * diff;
      c[i] = s != 0.0f ? qi : 0;
    }
  }
  if (q) {
    for (int i = 0; i < len; ++i) q[i] = static_cast<int8_t>(c[i]);
  }
  return lane_sum(e, len);
}

// A continuous step for one sub-block: its error, and the curvature sum w q^2 of the error in the
// step with the codes held fixed, so err + curv * (step - s)^2 predicts the error of a nearby step.
struct StepFit {
  float s = 0.0f;
  float err = kInf;
  float curv = 0.0f;
};

// Up to kMaxFits continuous steps per sub-block, local optima that differ in the code given to the
// largest-magnitude value (and so in sign and size of the step): with few codes the error is far
// from quadratic in the step, and a smaller or larger step is often almost as good. Each is the
// least-squares refinement of a step that maps that value to a sweep of code positions.
constexpr int kMaxFits = 6;
constexpr int kMaxCodes = 64;  // q6_K's -32..31

struct SubFits {
  StepFit f[kMaxFits];
  int n = 0;
};

void fit_scaled(const float* x, const float* w, int len, int q_min, int q_max, float fit_span, SubFits* out) {
  int imax = 0;
  for (int i = 1; i < len; ++i)
    if (std::fabs(x[i]) > std::fabs(x[imax])) imax = i;
  const float xm = x[imax];
  out->n = 0;
  if (xm == 0.0f) {
    out->f[0] = {0.0f, scaled_error(x, w, len, q_min, q_max, 0.0f, nullptr), 0.0f};
    out->n = 1;
    return;
  }
  // One bucket per code of the largest value, q_min..q_max. The sweep ranks in float (twice the
  // lanes of double); each bucket's winner is refitted in double below, so degenerate sub-blocks
  // (a constant one must reproduce its value exactly) keep exact steps.
  StepFit bucket[kMaxCodes];
  float bucket_start[kMaxCodes];  // the sweep step whose refit won the bucket
  const int n_codes = q_max - q_min + 1;
  BITDIAL_ASSERT(n_codes <= kMaxCodes);
  for (int c = 0; c < n_codes; ++c) bucket[c] = StepFit{};
  double sxx = 0;
  for (int i = 0; i < len; ++i) sxx += static_cast<double>(w[i]) * x[i] * x[i];
  const float lo = static_cast<float>(q_min), hi = static_cast<float>(q_max);
  // First every sweep step's sums (independent vectorised passes), then the bucket updates: kept
  // apart, the divisions and the mispredicted bucket compares no longer stall the passes.
  constexpr int kMaxSteps = 64;
  float steps[kMaxSteps];
  double step_sqq[kMaxSteps], step_sqx[kMaxSteps];
  int n_steps = 0;
  for (int side = 0; side < 2; ++side) {
    const float end = side ? q_min : q_max;
    const float span = std::min(std::fabs(end) - 0.5f, fit_span);  // how far inside the range to go
    for (float in = -0.5f; in <= span && n_steps < kMaxSteps; in += kFitStride) {
      const float target = side ? end + in : end - in;
      const float s = xm / target;  // the step that maps the largest value to `target`
      const float inv = 1.0f / s;
      float qq[kMaxSub], qx[kMaxSub];
      for (int i0 = 0; i0 < len; i0 += kLanes) {
        for (int k = 0; k < kLanes; ++k) {
          const int i = i0 + k;
          float t = x[i] * inv;  // round_to_int(t, q_min, q_max), branch-free
          t = t > lo ? t : lo;
          t = t < hi ? t : hi;
          const float q = static_cast<float>(static_cast<int>(t - lo + 0.5f)) + lo;
          qq[i] = w[i] * q * q;
          qx[i] = w[i] * q * x[i];
        }
      }
      steps[n_steps] = s;
      step_sqq[n_steps] = lane_sum(qq, len);
      step_sqx[n_steps] = lane_sum(qx, len);
      ++n_steps;
    }
  }
  for (int p = 0; p < n_steps; ++p) {
    const double sqq = step_sqq[p], sqx = step_sqx[p];
    if (!(sqq > 0) || !(sqx != 0)) continue;
    // The largest value's code under the refitted step sqx / sqq, branch-free.
    float c = static_cast<float>(xm * (sqq / sqx));
    c = c > lo ? c : lo;
    c = c < hi ? c : hi;
    const int code = static_cast<int>(c - lo + 0.5f);
    // Ranked within the bucket by the closed-form error of the refit with these codes.
    const float pred = static_cast<float>(sxx - sqx * sqx / sqq);
    if (pred < bucket[code].err) {
      bucket[code].err = pred;
      bucket_start[code] = steps[p];
    }
  }
  for (int c = 0; c < n_codes; ++c) {
    if (!(bucket[c].err < kInf)) continue;
    // The winner's refit in double, then its exact error (codes re-picked for the refitted step).
    const float inv = 1.0f / bucket_start[c];
    double qq[kMaxSub], qx[kMaxSub];
    for (int i0 = 0; i0 < len; i0 += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        const int i = i0 + k;
        float t = x[i] * inv;
        t = t > lo ? t : lo;
        t = t < hi ? t : hi;
        const double q = static_cast<int>(t - lo + 0.5f) + q_min;
        qq[i] = w[i] * q * q;
        qx[i] = w[i] * q * x[i];
      }
    }
    const double sqq = lane_sum(qq, len), sqx = lane_sum(qx, len);
    const float s2 = sqq > 0 ? static_cast<float>(sqx / sqq) : bucket_start[c];
    if (!(s2 != 0.0f) || !std::isfinite(s2)) {
      bucket[c].err = kInf;
      continue;
    }
    bucket[c] = {s2, scaled_error(x, w, len, q_min, q_max, s2, nullptr), static_cast<float>(sqq)};
  }
  float best = kInf;
  for (int c = 0; c < n_codes; ++c) best = std::min(best, bucket[c].err);
  // Keep the near-best optima, lowest error first.
  for (int c = 0; c < n_codes; ++c) {
    const StepFit& f = bucket[c];
    if (!(f.err <= kFitKeep * best + 1e-30f)) continue;
    int pos = out->n < kMaxFits ? out->n : kMaxFits;
    while (pos > 0 && f.err < out->f[pos - 1].err) --pos;
    if (pos >= kMaxFits) continue;
    for (int i = std::min(out->n, kMaxFits - 1); i > pos; --i) out->f[i] = out->f[i - 1];
    out->f[pos] = f;
    out->n = std::min(out->n + 1, kMaxFits);
  }
}

struct ScaledState {
  uint16_t d = 0;
  int sc[16] = {};
  double err = std::numeric_limits<double>::infinity();
};

struct ScaledProblem {
  const ScaledSpec& spec;
  const float* x;
  const float* w;
  SubFits fit[16];
  // The fits as columns, padded to kMaxFits with never-chosen entries, for predict_total.
  float fs[kMaxFits][16] = {}, ferr[kMaxFits][16] = {}, fcurv[kMaxFits][16] = {};

  int max_fits = 0;  // the most fits any sub-block kept: columns beyond it are all padding

  void set_columns() {
    for (int j = 0; j < spec.n_sub; ++j) max_fits = std::max(max_fits, fit[j].n);
    for (int k = 0; k < kMaxFits; ++k) {
      for (int j = 0; j < 16; ++j) {  // sub-blocks past n_sub have no fits: all padding
        const bool used = k < fit[j].n;
        fs[k][j] = used ? fit[j].f[k].s : 0.0f;
        ferr[k][j] = used ? fit[j].f[k].err : kInf;
        fcurv[k][j] = used ? fit[j].f[k].curv : 0.0f;
      }
    }
  }

  // predict()'s total without the choices (the super-scale scan calls it hundreds of times per
  // super-block). Fit-major with one flat loop over the sub-blocks: GCC vectorises this shape, not a
  // lane-blocked one whose running minimum is carried across the fits.
  float predict_total(float d) const {
    const float inv_d = 1.0f / d;
    const float lo = static_cast<float>(spec.scale_min), hi = static_cast<float>(spec.scale_max);
    float best[16];
    for (int j = 0; j < 16; ++j) best[j] = kInf;
    for (int k = 0; k < max_fits; ++k) {
      for (int j = 0; j < 16; ++j) {  // a fixed trip count; columns past n_sub are not summed
        // round_to_int(fs * inv_d, lo, hi), branch-free (NaN gives lo there too).
        float t = fs[k][j] * inv_d;
        t = t > lo ? t : lo;
        t = t < hi ? t : hi;
        const float c = static_cast<float>(static_cast<int>(t - lo + 0.5f)) + lo;
        const float delta = d * c - fs[k][j];
        const float e = ferr[k][j] + fcurv[k][j] * delta * delta;
        best[j] = e < best[j] ? e : best[j];
      }
    }
    return lane_sum(best, spec.n_sub);
  }

  float sub_error(int j, float d, int sc, int8_t* q = nullptr) const {
    const int len = spec.sub_len;
    return scaled_error(x + j * len, w + j * len, len, spec.q_min, spec.q_max, d * static_cast<float>(sc), q);
  }

  // Predicted error of super-scale d (from the quadratic models of the fits), and the integer
  // scales that prediction picks (written to sc when non-null).
  float predict(float d, int* sc) const {
    float total = 0.0f;
    const float inv_d = 1.0f / d;
    for (int j = 0; j < spec.n_sub; ++j) {
      float best = kInf;
      int best_sc = 0;
      for (int k = 0; k < fit[j].n; ++k) {
        const StepFit& f = fit[j].f[k];
        const int c = round_to_int(f.s * inv_d, spec.scale_min, spec.scale_max);
        const float delta = d * static_cast<float>(c) - f.s;
        const float e = f.err + f.curv * delta * delta;
        if (e < best) {
          best = e;
          best_sc = c;
        }
      }
      total += best;
      if (sc) sc[j] = best_sc;
    }
    return total;
  }

  // Best integer scale near sc0: the window sc0-2..sc0+2, then onwards while it keeps improving.
  float descend(int j, float d, int sc0, int window, int* sc_out) const {
    if (d == 0.0f) {
      *sc_out = 0;
      return sub_error(j, d, 0);
    }
    const int lo = spec.scale_min, hi = spec.scale_max;
    sc0 = std::clamp(sc0, lo, hi);
    int best = sc0;
    float best_err = sub_error(j, d, sc0);
    for (int dir = -1; dir <= 1; dir += 2) {
      float prev = best_err;
      for (int k = 1; sc0 + dir * k >= lo && sc0 + dir * k <= hi; ++k) {
        const float e = sub_error(j, d, sc0 + dir * k);
        if (e < best_err) {
          best_err = e;
          best = sc0 + dir * k;
        }
        if (k >= window && e >= prev) break;  // past the window and no longer improving
        prev = e;
      }
    }
    *sc_out = best;
    return best_err;
  }

  // Chooses every sub-block's integer scale for fp16 super-scale hd, searching around `start`
  // (or around the prediction's choice when start is null).
  ScaledState assign(uint16_t hd, const int* start, int window = 2) const {
    ScaledState s;
    s.d = hd;
    const float d = fp16_to_f32(hd);
    int guess[16] = {};
    if (!start && d != 0.0f) {
      predict(d, guess);
      start = guess;
    }
    double total = 0;
    for (int j = 0; j < spec.n_sub; ++j) total += descend(j, d, start ? start[j] : 0, window, &s.sc[j]);
    s.err = total;
    return s;
  }

  ScaledState refine(const ScaledState& cur) const {
    const float d = fp16_to_f32(cur.d);
    double aa = 0, ax = 0;  // normal equation of y = d * A, A = sc * q
    for (int j = 0; j < spec.n_sub; ++j) {
      const int len = spec.sub_len;
      int8_t q[kMaxSub];
      sub_error(j, d, cur.sc[j], q);
      double sq, sqq, sqx;
      code_sums(x + j * len, w + j * len, q, len, &sq, &sqq, &sqx);
      const double sc = cur.sc[j];
      aa += sc * sc * sqq;
      ax += sc * sqx;
    }
    if (!(aa > 0)) return cur;
    // The least-squares d and its fp16 neighbours are ranked by the error with cur's integers and
    // codes kept, aa d^2 - 2 ax d + const: closed form, and an upper bound on the error once the
    // codes are re-rounded. Only the best is worth the integer re-pick.
    const uint16_t hd = to_half(static_cast<float>(ax / aa));
    uint16_t pick = cur.d;
    double pick_err = HUGE_VAL;
    for (int i = -1; i <= 1; ++i) {
      const uint16_t cd = i ? half_step(hd, i) : hd;
      if (cd == cur.d) continue;
      const double dc = fp16_to_f32(cd);
      const double e = (aa * dc - 2 * ax) * dc;
      if (e < pick_err) pick_err = e, pick = cd;
    }
    if (pick == cur.d) return cur;
    const ScaledState s = assign(pick, cur.sc, 1);
    return s.err < cur.err ? s : cur;
  }
};

}  // namespace

void search_scaled(const ScaledSpec& spec, const float* x, const float* w, ScaledChoice* out) {
  ScaledProblem p{spec, x, w, {}};
  float s_big = 0;
  for (int j = 0; j < spec.n_sub; ++j) {
    fit_scaled(x + j * spec.sub_len, w + j * spec.sub_len, spec.sub_len, spec.q_min, spec.q_max, spec.fit_span, &p.fit[j]);
    s_big = std::max(s_big, std::fabs(p.fit[j].f[0].s));
  }
  p.set_columns();
  // Scan super-scales d = +-s_big / r on a geometric grid of r around the largest integer scale,
  // ranking them by the predicted error; the best few are assigned exactly, then refined. The
  // winner often leaves the largest sub-block off the extreme scale: a d that lets many sub-block
  // steps land near integer multiples beats one tuned to the largest alone.
  // Scanned super-scales carry no integers yet: light entries, not full states to zero and copy.
  struct ScanPoint {
    uint16_t d = 0;
    float err = kInf;
  };
  BestList<ScanPoint, kRefineKeep> ranked;
  if (s_big > 0.0f) {
    const float r_end = static_cast<float>(-spec.scale_min);
    for (int sign = 0; sign < 2; ++sign) {
      scan_coarse_to_fine(spec.scan_low * r_end, spec.scan_high * r_end, kScanStep, [&](float r) {
        ScanPoint s{to_half(sign ? -s_big / r : s_big / r)};
        if ((s.d & 0x7fffu) == 0) return kInf;
        for (int i = 0; i < ranked.count; ++i) {
          if (ranked.items[i].d == s.d) return ranked.items[i].err;
        }
        s.err = p.predict_total(fp16_to_f32(s.d));
        ranked.offer(s);
        return s.err;
      });
    }
  }
  ScaledState best = p.assign(0, nullptr);  // all zero: the fallback for underflowing scales
  // Max-abs start: each sub-block's largest value on code q_min, integer scales rounded to nearest;
  // the start whose error the tests bound (k_quants_test.cpp).
  {
    float s_max[16], big = 0.0f;
    for (int j = 0; j < spec.n_sub; ++j) {
      const float* xs = x + j * spec.sub_len;
      float xm = 0.0f;
      for (int i = 0; i < spec.sub_len; ++i)
        if (std::fabs(xs[i]) > std::fabs(xm)) xm = xs[i];
      s_max[j] = xm / spec.q_min;
      big = std::max(big, std::fabs(s_max[j]));
    }
    const uint16_t hd = to_half(big / -spec.scale_min);
    const float d = fp16_to_f32(hd);
    int start[16] = {};
    for (int j = 0; j < spec.n_sub && d != 0.0f; ++j) start[j] = round_to_int(s_max[j] / d, spec.scale_min, spec.scale_max);
    const ScaledState s = p.assign(hd, start);
    if (s.err < best.err) best = s;
  }
  for (int k = 0; k < ranked.count; ++k) {
    ScaledState cur = p.assign(ranked.items[k].d, nullptr);
    for (int r = 0; r < kRefineRounds; ++r) {
      const ScaledState next = p.refine(cur);
      if (!(next.err < cur.err)) break;
      cur = next;
    }
    if (cur.err < best.err) best = cur;
  }
  out->d = best.d;
  const float d = fp16_to_f32(best.d);
  for (int j = 0; j < spec.n_sub; ++j) {
    out->sc[j] = static_cast<int16_t>(best.sc[j]);
    p.sub_error(j, d, best.sc[j], out->q + j * spec.sub_len);
  }
}

}  // namespace bitdial::kq
