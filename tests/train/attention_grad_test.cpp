// Causal grouped-query attention of the trainer: gradients against central finite differences in
// double, values against the formula evaluated directly, causality and sequence independence.
#include "train/attention_grad.h"

#include <gtest/gtest.h>

#include <cmath>

#include "grad_check.h"

namespace bitdial {
namespace {

using test::expect_gradient_near;
using test::normal_doubles;
using test::numeric_gradient;
using test::weighted_sum;

// 2 sequences of 4 positions, 4 query heads sharing 2 K/V heads of 4 dims.
constexpr AttentionShape kShape{2, 4, 4, 2, 4};

struct AttentionData {
  std::vector<double> q = normal_doubles(kShape.n_rows() * kShape.q_dim(), 1.0, 21);
  std::vector<double> k = normal_doubles(kShape.n_rows() * kShape.kv_dim(), 1.0, 22);
  std::vector<double> v = normal_doubles(kShape.n_rows() * kShape.kv_dim(), 1.0, 23);
  std::vector<double> out = std::vector<double>(static_cast<size_t>(kShape.n_rows() * kShape.q_dim()));
  std::vector<double> probs = std::vector<double>(static_cast<size_t>(kShape.probs_size()));

  void forward() { attention_forward(kShape, q.data(), k.data(), v.data(), out.data(), probs.data()); }
};

TEST(AttentionGrad, GradientMatchesFiniteDifferencesWithCausalMaskAndGqa) {
  AttentionData a;
  const std::vector<double> c = normal_doubles(static_cast<int64_t>(a.out.size()), 1.0, 24);
  auto loss = [&] {
    a.forward();
    return weighted_sum(c, a.out);
  };
  loss();
  std::vector<double> dq(a.q.size(), 7.0), dk(a.k.size(), 7.0), dv(a.v.size(), 7.0), scratch;  // written over
  attention_backward(kShape, a.q.data(), a.k.data(), a.v.data(), a.probs.data(), c.data(), dq.data(), dk.data(),
                     dv.data(), scratch);
  expect_gradient_near(dq, numeric_gradient(a.q, loss), "dq");
  expect_gradient_near(dk, numeric_gradient(a.k, loss), "dk");
  expect_gradient_near(dv, numeric_gradient(a.v, loss), "dv");
}

TEST(AttentionGrad, ForwardEqualsTheFormula) {
  AttentionData a;
  a.forward();
  const int64_t L = kShape.seq_len, hd = kShape.head_dim, group = kShape.n_head / kShape.n_head_kv;
  for (int64_t b = 0; b < kShape.n_seq; ++b)
    for (int64_t h = 0; h < kShape.n_head; ++h)
      for (int64_t t = 0; t < L; ++t) {
        // softmax_j<=t(q_t . k_j / sqrt(hd)) weighted sum of v_j, K/V head h / group.
        const double* qt = a.q.data() + (b * L + t) * kShape.q_dim() + h * hd;
        std::vector<double> w(static_cast<size_t>(t + 1));
        double z = 0.0;
        for (int64_t j = 0; j <= t; ++j) {
          const double* kj = a.k.data() + (b * L + j) * kShape.kv_dim() + (h / group) * hd;
          double s = 0.0;
          for (int64_t i = 0; i < hd; ++i) s += qt[i] * kj[i];
          w[static_cast<size_t>(j)] = std::exp(s / std::sqrt(static_cast<double>(hd)));
          z += w[static_cast<size_t>(j)];
        }
        for (int64_t i = 0; i < hd; ++i) {
          double o = 0.0;
          for (int64_t j = 0; j <= t; ++j)
            o += w[static_cast<size_t>(j)] / z *
                 a.v[static_cast<size_t>((b * L + j) * kShape.kv_dim() + (h / group) * hd + i)];
          EXPECT_NEAR(a.out[static_cast<size_t>((b * L + t) * kShape.q_dim() + h * hd + i)], o, 1e-12)
              << "sequence " << b << " head " << h << " position " << t << " dim " << i;
        }
      }
}

TEST(AttentionGrad, OutputIgnoresLaterPositionsAndOtherSequences) {
  AttentionData a;
  a.forward();
  const std::vector<double> before = a.out;
  // Change K and V of sequence 0's last position: only that position's outputs may move, and none of
  // sequence 1's.
  const int64_t last = kShape.seq_len - 1;
  for (int64_t i = 0; i < kShape.kv_dim(); ++i) {
    a.k[static_cast<size_t>(last * kShape.kv_dim() + i)] += 1.0;
    a.v[static_cast<size_t>(last * kShape.kv_dim() + i)] -= 1.0;
  }
  a.forward();
  for (int64_t row = 0; row < kShape.n_rows(); ++row) {
    bool same = true;
    for (int64_t i = 0; i < kShape.q_dim(); ++i)
      same = same && a.out[static_cast<size_t>(row * kShape.q_dim() + i)] ==
                         before[static_cast<size_t>(row * kShape.q_dim() + i)];
    EXPECT_EQ(same, row != last) << "row " << row;
  }
}

}  // namespace
}  // namespace bitdial
