// The whole model's gradient: the double-precision pass against central finite differences for every
// parameter of a tiny model (untied, tied embeddings, distillation loss), the float pass against the
// double one, and accumulation across calls.
#include <gtest/gtest.h>

#include <cmath>

#include "grad_check.h"
#include "train/train_model.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

using test::DoubleParams;

void check_whole_model_gradient(bool tied, bool distill) {
  const SynthSpec spec = test::tiny_train_spec(tied);
  const ParamSet ps = test::tiny_train_params(spec);
  const TrainBatch batch = test::random_train_batch(2, 5, spec.n_vocab, 41);
  std::vector<float> teacher;
  LossSpec loss;
  if (distill) {
    const std::vector<double> t = test::normal_doubles(batch.n_seq * batch.seq_len * spec.n_vocab, 1.5, 42);
    teacher.assign(t.begin(), t.end());
    loss.teacher_logits = teacher;
    loss.distill = {2.0f, 0.25f};
  }
  DoubleParams dp(ps);
  dp.loss(batch, loss, true);
  for (size_t i = 0; i < ps.params.size(); ++i) {
    const std::vector<double> numeric =
        test::numeric_gradient(dp.values[i], [&] { return dp.loss(batch, loss, false); });
    test::expect_gradient_near(dp.grads[i], numeric, ps.params[i].name);
  }
}

TEST(TrainModelGrad, WholeModelGradientMatchesFiniteDifferences) { check_whole_model_gradient(false, false); }

TEST(TrainModelGrad, WholeModelGradientWithTiedEmbeddingsMatchesFiniteDifferences) {
  check_whole_model_gradient(true, false);
}

TEST(TrainModelGrad, WholeModelDistillationGradientMatchesFiniteDifferences) {
  check_whole_model_gradient(false, true);
}

// The float pass computes what the double pass computes, to float rounding: every gradient within
// 1e-4 of its tensor's largest double gradient, and the loss within 1e-5 relative.
TEST(TrainModelGrad, FloatPassAgreesWithDoublePass) {
  const SynthSpec spec = test::tiny_train_spec();
  ParamSet ps = test::tiny_train_params(spec);
  const TrainBatch batch = test::random_train_batch(3, 7, spec.n_vocab, 43);
  DoubleParams dp(ps);
  const double loss_d = dp.loss(batch, {}, true);
  TrainWorkspace ws;
  const double loss_f = forward_backward(ps, batch, {}, ws);
  EXPECT_NEAR(loss_f, loss_d, 1e-5 * loss_d);
  for (size_t i = 0; i < ps.params.size(); ++i) {
    double scale = 0.0;
    for (double g : dp.grads[i]) scale = std::max(scale, std::fabs(g));
    int bad = 0;
    for (size_t j = 0; j < dp.grads[i].size(); ++j)
      if (!(std::fabs(ps.params[i].grad[j] - dp.grads[i][j]) <= 1e-4 * scale) && ++bad <= 5)
        ADD_FAILURE() << ps.params[i].name << "[" << j << "]: float " << ps.params[i].grad[j] << ", double "
                      << dp.grads[i][j];
    EXPECT_EQ(bad, 0) << ps.params[i].name;
  }
}

TEST(TrainModelGrad, RepeatedCallsAddGradientsScaledByGradScale) {
  const SynthSpec spec = test::tiny_train_spec();
  const TrainBatch batch = test::random_train_batch(2, 6, spec.n_vocab, 44);
  TrainWorkspace ws;
  ParamSet once = test::tiny_train_params(spec);
  const double loss = forward_backward(once, batch, {}, ws);
  ParamSet twice = test::tiny_train_params(spec);
  LossSpec half;
  half.grad_scale = 0.5;
  EXPECT_EQ(forward_backward(twice, batch, half, ws), loss);
  EXPECT_EQ(forward_backward(twice, batch, half, ws), loss);
  for (size_t i = 0; i < once.params.size(); ++i) {
    double scale = 0.0;
    for (float g : once.params[i].grad) scale = std::max(scale, static_cast<double>(std::fabs(g)));
    EXPECT_GT(scale, 0.0) << once.params[i].name << " got no gradient";
    for (size_t j = 0; j < once.params[i].grad.size(); ++j)
      ASSERT_NEAR(twice.params[i].grad[j], once.params[i].grad[j], 1e-6 * scale)
          << once.params[i].name << "[" << j << "]";
  }
}

}  // namespace
}  // namespace bitdial
