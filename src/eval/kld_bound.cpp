#include "eval/kld_bound.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace bitdial {

namespace {

// p log(p / q) with the conventions 0 log(0 / q) = 0; q = 0 < p cannot occur for exp() of a finite log-prob.
double kl_term(double p, double q) { return p > 0 ? p * (std::log(p) - std::log(q)) : 0.0; }

}  // namespace

CoarseKl coarse_kld(std::span<const double> logp_base, std::span<const double> logp_cand) {
  BITDIAL_ASSERT(logp_base.size() == logp_cand.size());
  const size_t n = logp_base.size();
  CoarseKl r;
  if (n == 0) return r;
  std::vector<double> pb(n), pc(n);
  double sum_b = 0, sum_c = 0;
  size_t top = 0;  // bucket with the largest baseline probability
  for (size_t i = 0; i < n; ++i) {
    pb[i] = std::exp(logp_base[i]);
    pc[i] = std::exp(logp_cand[i]);
    sum_b += pb[i];
    sum_c += pc[i];
    if (pb[i] > pb[top]) top = i;
  }
  double tail_b = 1 - sum_b, tail_c = 1 - sum_c;
  if (tail_b < kTailFloor || tail_c < kTailFloor) {
    pb[top] += std::max(tail_b, 0.0);
    pc[top] += std::max(tail_c, 0.0);
    tail_b = tail_c = 0;
    r.tail_merged = true;
  }
  double kld = 0;
  for (size_t i = 0; i < n; ++i) kld += kl_term(pb[i], pc[i]);
  kld += kl_term(tail_b, tail_c);
  // Each term can be negative, the sum cannot (Gibbs' inequality) except by rounding of probabilities
  // that agree to the last bit.
  r.kld = std::max(kld, 0.0);
  r.known_mass = std::min(sum_b, 1.0);
  return r;
}

}  // namespace bitdial
