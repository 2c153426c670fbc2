// KL divergence between two next-token distributions when only some tokens' probabilities are known
// (an endpoint returns its top-K log-probs, not the full row): the exact KL of the coarsened
// distributions, which is a lower bound on the full-vocabulary KL.
#pragma once

#include <cstdint>
#include <span>

namespace bitdial {

// Why it is a bound. Partition the vocabulary into buckets: one per token whose probability is known on
// both sides (the set S), and one tail bucket T holding everything else, P(T) = 1 - sum_{i in S} p(i).
// Merging outcomes is a deterministic map applied to both distributions, so by the data-processing
// inequality (Cover & Thomas, 2nd ed., Thm 2.8.1 / the log-sum inequality, Thm 2.7.1)
//     KL(P_b || P_c) >= sum_{i in S} p_b(i) log(p_b(i) / p_c(i)) + P_b(T) log(P_b(T) / P_c(T)),
// with equality when S is the whole vocabulary (or the tail distributions are proportional). The gap is
// how much the two distributions differ *inside* the tail, which the top-K cannot see.
//
// Rounding: an endpoint prints float32 log-probs, so the known probabilities can sum to slightly more than
// 1 and the computed tail be a tiny or negative number that means "nothing left". A tail below
// kTailFloor on either side is therefore merged into the bucket with the largest baseline probability, a
// coarser partition (still a lower bound) that does not divide by rounding noise.
constexpr double kTailFloor = 1e-6;

struct CoarseKl {
  double kld = 0;          // nats, >= 0
  double known_mass = 0;   // sum_{i in S} p_b(i): how much of the baseline's distribution the buckets see
  bool tail_merged = false;
};

// logp_base[i], logp_cand[i]: natural-log probabilities of the same token i of S on each side (distinct
// tokens; any order). Asserts equal sizes. An empty S gives 0 (one bucket holding everything).
CoarseKl coarse_kld(std::span<const double> logp_base, std::span<const double> logp_cand);

}  // namespace bitdial
