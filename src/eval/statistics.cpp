#include "eval/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace bitdial {
namespace {

// Two-sided 95% normal quantile, Phi^-1(0.975).
constexpr double kZ95 = 1.959963984540054;

// percentile() on an already ascending-sorted, non-empty x.
double percentile_sorted(std::span<const double> x, double p) {
  BITDIAL_ASSERT(!x.empty() && p >= 0 && p <= 100);
  const double rank = p / 100 * static_cast<double>(x.size() - 1);
  const size_t lo = static_cast<size_t>(rank);  // floor: rank >= 0
  if (lo + 1 >= x.size()) return x.back();
  const double frac = rank - static_cast<double>(lo);
  return x[lo] + frac * (x[lo + 1] - x[lo]);
}

}  // namespace

MeanStats mean_stats(std::span<const double> x) {
  MeanStats s;
  s.n = static_cast<int64_t>(x.size());
  if (x.empty()) {
    s.mean = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  double sum = 0;
  for (double v : x) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  // Two passes: sum of squared deviations from the mean, not E[x²] - mean², which cancels badly
  // when the mean is large against the spread (NLLs around 2-3 nats differing in the 3rd digit).
  double ss = 0;
  for (double v : x) ss += (v - s.mean) * (v - s.mean);
  const double var = ss / static_cast<double>(s.n - 1);
  s.se = std::sqrt(var / static_cast<double>(s.n));
  return s;
}

double percentile(std::vector<double> x, double p) {
  BITDIAL_ASSERT(!x.empty() && p >= 0 && p <= 100);
  const double rank = p / 100 * static_cast<double>(x.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  // Only the order statistics lo and lo+1 are needed: partition instead of a full sort.
  std::nth_element(x.begin(), x.begin() + lo, x.end());
  if (lo + 1 >= x.size()) return x[lo];
  const double a = x[lo];
  const double b = *std::min_element(x.begin() + lo + 1, x.end());
  return a + (rank - static_cast<double>(lo)) * (b - a);
}

Distribution summarize(std::span<const double> x) {
  BITDIAL_ASSERT(!x.empty());
  const MeanStats m = mean_stats(x);
  std::vector<double> sorted(x.begin(), x.end());
  std::sort(sorted.begin(), sorted.end());
  Distribution d;
  d.mean = m.mean;
  d.se = m.se;
  d.median = percentile_sorted(sorted, 50);
  d.p90 = percentile_sorted(sorted, 90);
  d.p95 = percentile_sorted(sorted, 95);
  d.p99 = percentile_sorted(sorted, 99);
  d.p999 = percentile_sorted(sorted, 99.9);
  d.max = sorted.back();
  d.n = m.n;
  return d;
}

Proportion proportion(int64_t k, int64_t n) {
  BITDIAL_ASSERT(n > 0 && k >= 0 && k <= n);
  Proportion r;
  r.k = k;
  r.n = n;
  const double nd = static_cast<double>(n);
  r.p = static_cast<double>(k) / nd;
  const double pq_n = r.p * (1 - r.p) / nd;
  r.se = std::sqrt(pq_n);
  const double z2 = kZ95 * kZ95;
  const double denom = 1 + z2 / nd;
  const double center = (r.p + z2 / (2 * nd)) / denom;
  const double half = kZ95 / denom * std::sqrt(pq_n + z2 / (4 * nd * nd));
  r.lo = std::max(0.0, center - half);  // clamps only rounding: Wilson lies in [0, 1]
  r.hi = std::min(1.0, center + half);
  return r;
}

BootstrapDelta bootstrap_mean_delta(std::span<const double> base, std::span<const double> cand,
                                    int resamples, uint64_t seed) {
  BITDIAL_ASSERT(base.size() == cand.size() && !base.empty() && resamples >= 1);
  const size_t n = base.size();
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = cand[i] - base[i];

  BootstrapDelta r;
  r.delta = mean_stats(d).mean;
  r.resamples = resamples;
  r.seed = seed;

  // mt19937_64's output sequence for a given seed is fixed by the C++ standard, and draw_index is
  // fully specified, so the resampled indices (and thus lo/hi) match on every platform.
  std::mt19937_64 rng(seed);
  std::vector<double> deltas(static_cast<size_t>(resamples));
  for (double& out : deltas) {
    double sum = 0;
    for (size_t j = 0; j < n; ++j) sum += d[draw_index(rng, n)];
    out = sum / static_cast<double>(n);
  }
  std::sort(deltas.begin(), deltas.end());
  r.lo = percentile_sorted(deltas, 2.5);
  r.hi = percentile_sorted(deltas, 97.5);
  return r;
}

BootstrapDelta bootstrap_accuracy_delta(std::span<const uint8_t> base, std::span<const uint8_t> cand,
                                        int resamples, uint64_t seed) {
  BITDIAL_ASSERT(base.size() == cand.size());
  std::vector<double> b(base.size()), c(cand.size());
  for (size_t i = 0; i < base.size(); ++i) {
    b[i] = base[i] ? 1.0 : 0.0;
    c[i] = cand[i] ? 1.0 : 0.0;
  }
  return bootstrap_mean_delta(b, c, resamples, seed);
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  BITDIAL_ASSERT(b >= 0 && c >= 0);
  const int64_t n = b + c;
  const int64_t k = std::min(b, c);
  if (n == 0 || 2 * k >= n) return 1.0;  // k >= n/2 puts P(X <= k) >= 1/2: the cap applies
  // P(X <= k) = (C(n,k) + C(n,k-1) + ... + C(n,0)) / 2^n, summed downward with
  // C(n,i-1) = C(n,i) * i / (n-i+1): the ratio is < 1 for i <= n/2, so terms fall geometrically
  // and the loop stops long before i = 0 for large n.
  // Starting term: for n <= 1000, C(n,k) itself (< 2^1000 fits a double; exact, as are all the
  // terms, while below 2^53, so small hand-checkable cases come out exact), scaled by 2^-n at the
  // end. Beyond that, pmf(k) = exp(lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1) - n log 2), whose
  // rounding error ~eps * lgamma(n+1) (~3e-9 at n = 1e6) is the p-value's relative error.
  const double nd = static_cast<double>(n), kd = static_cast<double>(k);
  double top = 1;
  int scale_exp = 0;
  if (n <= 1000) {
    for (int64_t i = 1; i <= k; ++i) {
      top = top * static_cast<double>(n - k + i) / static_cast<double>(i);  // C(n-k+i, i)
    }
    scale_exp = static_cast<int>(-n);
  } else {
    top = std::exp(std::lgamma(nd + 1) - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1) -
                   nd * std::log(2.0));
  }
  double term = top, sum = top;
  for (int64_t i = k; i > 0; --i) {
    term = term * static_cast<double>(i) / static_cast<double>(n - i + 1);
    sum += term;
    if (term < sum * 1e-17) break;  // below double resolution of the sum
  }
  return std::min(1.0, 2 * std::ldexp(sum, scale_exp));
}

PairedRatio ppl_ratio(std::span<const double> nll_base, std::span<const double> nll_cand) {
  BITDIAL_ASSERT(nll_base.size() == nll_cand.size() && !nll_base.empty());
  std::vector<double> d(nll_base.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = nll_cand[i] - nll_base[i];
  const MeanStats m = mean_stats(d);
  PairedRatio r;
  r.ratio = std::exp(m.mean);
  r.se = r.ratio * m.se;
  r.n = m.n;
  return r;
}

}  // namespace bitdial
