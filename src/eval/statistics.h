// The statistics `bitdial eval` reports: means with standard errors, percentiles of per-token KL
// divergence, proportions with Wilson intervals, paired bootstrap CIs and McNemar's exact test for
// accuracy deltas, and the PPL ratio with a delta-method error. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"

namespace bitdial {

// se = sample stddev (n-1 denominator) / sqrt(n); 0 when n < 2. mean is NaN when n == 0.
struct MeanStats {
  double mean = 0;
  double se = 0;
  int64_t n = 0;
};
MeanStats mean_stats(std::span<const double> x);

// The p-th percentile (p in [0, 100]) by linear interpolation between order statistics, numpy's
// default method ("linear", Hyndman & Fan type 7): with x sorted ascending, rank = p/100 * (n-1),
// result = x[floor(rank)] + frac(rank) * (x[floor(rank)+1] - x[floor(rank)]). x must be non-empty
// and NaN-free; it is taken by value because it gets reordered.
double percentile(std::vector<double> x, double p);

// Summary of a per-token distribution (e.g. KL divergence); percentiles as in percentile().
struct Distribution {
  double mean = 0, se = 0;
  double median = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
  int64_t n = 0;
};
Distribution summarize(std::span<const double> x);  // x non-empty

// k successes out of n > 0 trials. se = sqrt(p(1-p)/n) (the Wald standard error). [lo, hi] is the
// Wilson score 95% interval (Wilson 1927; Brown, Cai & DasGupta 2001), which unlike Wald stays
// inside [0, 1] and does not collapse to a point at p = 0 or 1; with z = 1.959963984540054:
//   center = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
struct Proportion {
  double p = 0, se = 0, lo = 0, hi = 0;
  int64_t k = 0, n = 0;
};
Proportion proportion(int64_t k, int64_t n);

// Fraction of positions where a[i] == b[i] (e.g. same top-1 token, same answer), as a Proportion.
template <class T>
Proportion agreement_rate(std::span<const T> a, std::span<const T> b) {
  BITDIAL_ASSERT(a.size() == b.size());
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return proportion(same, static_cast<int64_t>(a.size()));
}

// Uniform index in [0, n) from a 64-bit generator, specified exactly so bootstrap results are the
// same on every platform (std::uniform_int_distribution's algorithm is implementation-defined):
// reject draws r < 2^64 mod n (the short, biased head), then return r % n.
template <class Rng>
uint64_t draw_index(Rng& rng, uint64_t n) {
  BITDIAL_ASSERT(n > 0);
  const uint64_t threshold = (0 - n) % n;  // (2^64 - n) mod n == 2^64 mod n
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

// With B = 10000 the Monte Carlo sd of a 2.5% endpoint is sqrt(.025 * .975 / B) / phi(1.96) ~ 0.027
// sd(delta), about 1.4% of the CI half-width when the resampled deltas are near-normal.
constexpr int kBootstrapResamples = 10000;

// Paired percentile bootstrap of mean(cand) - mean(base) over examples. Each of B resamples draws n
// indices with replacement (std::mt19937_64(seed), draw_index) and takes the mean of
// d[i] = cand[i] - base[i] over them; lo/hi are percentile() of the B resampled deltas at 2.5 and
// 97.5. Pairing (one index for both models) removes the between-example variance both share.
struct BootstrapDelta {
  double delta = 0, lo = 0, hi = 0;
  int resamples = 0;
  uint64_t seed = 0;
};
BootstrapDelta bootstrap_mean_delta(std::span<const double> base, std::span<const double> cand,
                                    int resamples = kBootstrapResamples, uint64_t seed = 0);
// Accuracy delta from per-example correctness (0 = wrong, nonzero = right).
BootstrapDelta bootstrap_accuracy_delta(std::span<const uint8_t> base, std::span<const uint8_t> cand,
                                        int resamples = kBootstrapResamples, uint64_t seed = 0);

// McNemar's exact test on discordant pairs: b = #(base right, cand wrong), c = #(base wrong, cand
// right). Under H0 each discordant pair goes either way with probability 1/2, so the two-sided
// p-value is min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c == 0.
double mcnemar_exact_p(int64_t b, int64_t c);

// PPL(cand) / PPL(base) = exp(mean(nll_c) - mean(nll_b)), with se by the delta method on the paired
// differences d_i = nll_c[i] - nll_b[i]: d(exp(m))/dm = exp(m), so se_ratio = ratio * se(mean(d)).
// The se assumes independent d_i: per-token NLLs within one document are correlated and give an
// optimistic se, so pass per-chunk mean NLLs when the error bar matters.
struct PairedRatio {
  double ratio = 0, se = 0;
  int64_t n = 0;
};
PairedRatio ppl_ratio(std::span<const double> nll_base, std::span<const double> nll_cand);

}  // namespace bitdial
