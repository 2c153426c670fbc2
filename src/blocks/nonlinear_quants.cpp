#include "blocks/nonlinear_quants.h"

#include <algorithm>
#include <cmath>

#include "blocks/scale_search.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {
namespace {

constexpr int kBlock = 32;
constexpr int kSuper = 256;
constexpr int kSubBlocks = kSuper / kBlock;
constexpr GridTable kIq4Table = make_grid_table(kIq4Grid);
constexpr int kScaleBias = 32;  // stored 6-bit sub-block scale ls means multiplier ls - 32

// Super-block scale sweep for iq4_xs: the sub-block with the largest scale is mapped to ext * f for
// ext in {-32, 31} and kSuperSteps values of f in (kSuperLow, ~1]. Points are ranked by the error
// the sub-block fits predict; the kSuperKeep best are evaluated exactly and refitted once.
constexpr int kSuperSteps = 6;
constexpr int kSuperKeep = 4;
constexpr float kSuperLow = 0.7f;

void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
}

// The grid values of both nibbles of every byte, as floats: one 8-byte load decodes a byte's two
// codes. Baseline x86-64 (SSE2) has no byte shuffle to look the grid up in vector registers, and a
// per-nibble lookup costs twice the loads; 2 KiB stays in L1.
struct NibblePairGrid {
  float value[256][2];  // [byte][0]: grid value of the low nibble, [1]: of the high nibble
};

constexpr NibblePairGrid make_nibble_pair_grid() {
  NibblePairGrid t{};
  for (int byte = 0; byte < 256; ++byte) {
    t.value[byte][0] = kIq4Grid[byte & 0x0f];
    t.value[byte][1] = kIq4Grid[byte >> 4];
  }
  return t;
}

constexpr NibblePairGrid kIq4PairGrid = make_nibble_pair_grid();

// x_j = scale * grid[q_j] for the 32 nibbles of qs (layout as q4_0); the same single rounding per
// value as converting the grid value at decode time.
void decode_grid(float scale, const uint8_t* __restrict qs, float* __restrict out) {
  for (int j = 0; j < 16; ++j) {
    out[j] = scale * kIq4PairGrid.value[qs[j]][0];
    out[j + 16] = scale * kIq4PairGrid.value[qs[j]][1];
  }
}

int stored_scale(const BlockIQ4_XS& b, int ib) {
  const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
  const int high = (b.scales_h >> (2 * ib)) & 3;
  return low | (high << 4);
}

// The iq4_xs encoding of one super-block: multipliers l_b in [-32, 31] against the fp16 d, codes.
struct SuperChoice {
  uint16_t d = 0;
  int l[kSubBlocks] = {};
  uint8_t q[kSuper] = {};
  double err = HUGE_VAL;
};

// What the super-scale search knows of each sub-block from its free-float fit: the ideal scale, its
// error, the curvature sum w g^2 of the error in the scale with its codes held fixed (so
// err + curv (s - ideal)^2 predicts the error of a nearby scale s), and the all-zero error.
struct SubFit {
  float ideal = 0.0f;
  float err = 0.0f, curv = 0.0f, zero = 0.0f;
};

// The candidate multipliers for sub-block scale `ideal` against d: the integers either side of
// ideal / d, in range and non-zero (zero is the separate all-zero option). Returns how many.
int multipliers(float ideal, float d, int* out) {
  if (d == 0.0f || ideal == 0.0f) return 0;
  const float target = std::clamp(ideal / d, -40.0f, 40.0f);
  const int below = static_cast<int>(target + 64.0f) - 64;  // floor for target >= -64
  int n = 0;
  for (int l = below; l <= below + 1; ++l) {
    if (l >= -kScaleBias && l <= kScaleBias - 1 && l != 0) out[n++] = l;
  }
  return n;
}

// Predicted error of super-block scale d from the sub-block models (no pass over the data).
double predict_super(const SubFit* fit, float d) {
  double total = 0;
  for (int ib = 0; ib < kSubBlocks; ++ib) {
    const SubFit& f = fit[ib];
    float best = f.zero;
    int ls[2];
    const int n = multipliers(f.ideal, d, ls);
    for (int k = 0; k < n; ++k) {
      const float delta = d * static_cast<float>(ls[k]) - f.ideal;
      best = std::min(best, f.err + f.curv * delta * delta);
    }
    total += best;
  }
  return total;
}

// Given the stored super-block scale, picks each sub-block's multiplier among the integers either
// side of its ideal scale / d (and 0), with the best codes for each; fills `c` and returns its error.
double choose_sub_scales(const float* x, const float* w, const SubFit* fit, uint16_t h, SuperChoice& c) {
  const float d = fp16_to_f32(h);
  c.d = h;
  c.err = 0;
  uint8_t codes[kBlock];
  for (int ib = 0; ib < kSubBlocks; ++ib) {
    const float* xb = x + ib * kBlock;
    const float* wb = w + ib * kBlock;
    uint8_t* qb = c.q + ib * kBlock;
    double best = fit[ib].zero;
    c.l[ib] = 0;
    std::fill(qb, qb + kBlock, static_cast<uint8_t>(kIq4Table.zero));
    int ls[2];
    const int n = multipliers(fit[ib].ideal, d, ls);
    for (int k = 0; k < n; ++k) {
      const float dl = d * static_cast<float>(ls[k]);
      const double err = grid_codes(xb, wb, kBlock, dl, kIq4Table, codes);
      if (err < best) {
        best = err;
        c.l[ib] = ls[k];
        std::copy(codes, codes + kBlock, qb);
      }
    }
    c.err += best;
  }
  return c.err;
}

// Least-squares super-block scale for fixed multipliers and codes: x_j ~ d * (l_b * grid[q_j]).
float refit_super_scale(const float* x, const float* w, const SuperChoice& c) {
  double sxg = 0, sgg = 0;
  for (int j = 0; j < kSuper; ++j) {
    const double g = static_cast<double>(c.l[j / kBlock]) * kIq4Grid[c.q[j]];
    sxg += w[j] * x[j] * g, sgg += w[j] * g * g;
  }
  return sgg > 0 ? static_cast<float>(sxg / sgg) : 0.0f;
}

void encode_iq4_xs(const float* x, const float* w, BlockIQ4_XS& b) {
  // Free-float fit per sub-block (sub-blocks without weight fall back to plain MSE).
  SubFit fit[kSubBlocks];
  float smax = 0.0f;
  uint8_t codes[kBlock];
  for (int ib = 0; ib < kSubBlocks; ++ib) {
    float wb[kBlock];
    block_weights(w, ib * kBlock, kBlock, wb);
    const float* xb = x + ib * kBlock;
    const GridFit g = fit_grid(xb, wb, kBlock, kIq4Table, false, codes);
    SubFit& f = fit[ib];
    f.ideal = g.scale;
    f.err = static_cast<float>(g.err);
    // The model predicts the error under the super-block's weights w (not wb): recompute there.
    double curv = 0, err = 0, zero = 0;
    for (int j = 0; j < kBlock; ++j) {
      const double gv = kIq4Grid[codes[j]];
      const double diff = static_cast<double>(xb[j]) - g.scale * static_cast<float>(kIq4Grid[codes[j]]);
      const double wj = w[ib * kBlock + j];
      curv += wj * gv * gv, err += wj * diff * diff, zero += wj * xb[j] * xb[j];
    }
    f.curv = static_cast<float>(curv), f.err = static_cast<float>(err), f.zero = static_cast<float>(zero);
    if (std::fabs(f.ideal) > std::fabs(smax)) smax = f.ideal;
  }

  SuperChoice best, trial;
  choose_sub_scales(x, w, fit, 0, best);
  auto consider = [&](uint16_t h) {
    if ((h & 0x7c00u) == 0x7c00u) return;
    choose_sub_scales(x, w, fit, h, trial);
    if (trial.err < best.err) best = trial;
  };
  if (smax != 0.0f) {
    // Sweep points ranked by the sub-block models; the best few are evaluated exactly and refitted.
    uint16_t ranked[kSuperKeep];
    double ranked_err[kSuperKeep];
    int n_ranked = 0;
    for (int ext : {-kScaleBias, kScaleBias - 1}) {
      for (int k = 0; k < kSuperSteps; ++k) {
        const float f = 1.0f + 0.5f / kScaleBias - (1.0f + 0.5f / kScaleBias - kSuperLow) * k / (kSuperSteps - 1);
        const uint16_t h = fp16_saturating(smax / (static_cast<float>(ext) * f));
        if ((h & 0x7c00u) == 0x7c00u) continue;
        const double e = predict_super(fit, fp16_to_f32(h));
        int pos = std::min(n_ranked, kSuperKeep);
        while (pos > 0 && e < ranked_err[pos - 1]) --pos;
        if (pos >= kSuperKeep) continue;
        for (int i = std::min(n_ranked, kSuperKeep - 1); i > pos; --i) ranked[i] = ranked[i - 1], ranked_err[i] = ranked_err[i - 1];
        ranked[pos] = h, ranked_err[pos] = e;
        n_ranked = std::min(n_ranked + 1, kSuperKeep);
      }
    }
    for (int i = 0; i < n_ranked; ++i) {
      consider(ranked[i]);
      consider(fp16_saturating(refit_super_scale(x, w, trial)));
    }
    consider(fp16_saturating(refit_super_scale(x, w, best)));
    const uint16_t centre = best.d;
    for (int delta : {-2, -1, 1, 2}) {
      const int mag = (centre & 0x7fff) + delta;
      if (mag >= 0 && mag <= 0x7bff) consider(static_cast<uint16_t>((centre & 0x8000) | mag));
    }
  }

  b.d = best.d;
  b.scales_h = 0;
  for (int ib = 0; ib < kSubBlocks; ++ib) {
    const int ls = best.l[ib] + kScaleBias;
    if (ib % 2 == 0) b.scales_l[ib / 2] = static_cast<uint8_t>(ls & 0x0f);
    else b.scales_l[ib / 2] |= static_cast<uint8_t>((ls & 0x0f) << 4);
    b.scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * ib));
    pack_nibbles(best.q + ib * kBlock, b.qs + 16 * ib);
  }
}

}  // namespace

void dequantize_row_iq4_nl(const void* blocks, float* out, int64_t n) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  const auto* b = static_cast<const BlockIQ4_NL*>(blocks);
  for (int64_t i = 0; i < n / kBlock; ++i) {
    decode_grid(fp16_to_f32(b[i].d), b[i].qs, out + i * kBlock);
  }
}

void quantize_row_iq4_nl(const float* in, void* blocks, int64_t n, const float* importance) {
  BITDIAL_ASSERT(n >= 0 && n % kBlock == 0);
  auto* b = static_cast<BlockIQ4_NL*>(blocks);
  float w[kBlock];
  uint8_t q[kBlock];
  for (int64_t i = 0; i < n / kBlock; ++i) {
    block_weights(importance, i * kBlock, kBlock, w);
    const GridFit fit = fit_grid(in + i * kBlock, w, kBlock, kIq4Table, true, q);
    b[i].d = f32_to_fp16(fit.scale);  // already an fp16 value: exact
    pack_nibbles(q, b[i].qs);
  }
}

void dequantize_row_iq4_xs(const void* blocks, float* out, int64_t n) {
  BITDIAL_ASSERT(n >= 0 && n % kSuper == 0);
  const auto* b = static_cast<const BlockIQ4_XS*>(blocks);
  for (int64_t i = 0; i < n / kSuper; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int ib = 0; ib < kSubBlocks; ++ib) {
      const float dl = d * static_cast<float>(stored_scale(b[i], ib) - kScaleBias);
      decode_grid(dl, b[i].qs + 16 * ib, out + i * kSuper + ib * kBlock);
    }
  }
}

void quantize_row_iq4_xs(const float* in, void* blocks, int64_t n, const float* importance) {
  BITDIAL_ASSERT(n >= 0 && n % kSuper == 0);
  auto* b = static_cast<BlockIQ4_XS*>(blocks);
  float w[kSuper];
  for (int64_t i = 0; i < n / kSuper; ++i) {
    block_weights(importance, i * kSuper, kSuper, w);
    encode_iq4_xs(in + i * kSuper, w, b[i]);
  }
}

}  // namespace bitdial
