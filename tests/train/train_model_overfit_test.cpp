// End to end: a tiny model trained with forward_backward and a plain Adam written here memorises a
// fixed 100-character text (byte-level ids) to near-zero loss in a few hundred steps. Proves that the
// pass's gradients, applied, actually train a model.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "train/init_params.h"
#include "train/train_model.h"

namespace bitdial {
namespace {

// Adam (Kingma & Ba 2015, algorithm 1), no weight decay: enough to show the gradients train.
class TestAdam {
 public:
  TestAdam(const ParamSet& ps, double lr) : lr_(lr) {
    for (const Param& p : ps.params) {
      m_.emplace_back(p.value.size(), 0.0);
      v_.emplace_back(p.value.size(), 0.0);
    }
  }
  void step(ParamSet& ps) {
    ++t_;
    const double c1 = 1.0 - std::pow(kBeta1, t_), c2 = 1.0 - std::pow(kBeta2, t_);
    for (size_t i = 0; i < ps.params.size(); ++i) {
      Param& p = ps.params[i];
      for (size_t j = 0; j < p.value.size(); ++j) {
        const double g = p.grad[j];
        m_[i][j] = kBeta1 * m_[i][j] + (1.0 - kBeta1) * g;
        v_[i][j] = kBeta2 * v_[i][j] + (1.0 - kBeta2) * g * g;
        p.value[j] -= static_cast<float>(lr_ * (m_[i][j] / c1) / (std::sqrt(v_[i][j] / c2) + 1e-8));
      }
    }
  }

 private:
  static constexpr double kBeta1 = 0.9, kBeta2 = 0.999;
  double lr_;
  int t_ = 0;
  std::vector<std::vector<double>> m_, v_;
};

TEST(TrainModelOverfit, TinyModelMemorisesAFixedTextToNearZeroLoss) {
  const std::string text =
      "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
      "sphinx of black";
  ASSERT_EQ(text.size(), 101u);
  SynthSpec spec;
  spec.n_embd = 32;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 64;
  spec.n_vocab = 128;  // ASCII bytes are the ids
  spec.n_ctx = 128;
  ParamSet ps = init_params(spec, 3, 0.1f);

  TrainBatch batch;
  batch.n_seq = 1;
  batch.seq_len = static_cast<int64_t>(text.size()) - 1;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    batch.tokens.push_back(static_cast<int32_t>(text[i]));
    batch.targets.push_back(static_cast<int32_t>(text[i + 1]));
  }
  TrainWorkspace ws;
  TestAdam adam(ps, 1e-2);
  const double first = forward_loss(ps, batch, {}, ws).loss;
  EXPECT_NEAR(first, std::log(128.0), 0.5) << "an untrained model should be near uniform";
  double loss = first;
  int steps = 0;
  for (; steps < 400 && loss >= 0.05; ++steps) {
    ps.zero_grads();
    loss = forward_backward(ps, batch, {}, ws);
    adam.step(ps);
  }
  const double final_loss = forward_loss(ps, batch, {}, ws).loss;
  RecordProperty("steps", steps);
  RecordProperty("final_loss", std::to_string(final_loss));
  EXPECT_LT(final_loss, 0.05) << "after " << steps << " steps (first loss " << first << ")";
}

}  // namespace
}  // namespace bitdial
