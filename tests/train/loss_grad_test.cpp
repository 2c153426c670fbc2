// Training losses: values computed by hand, and gradients against central finite differences in double
// (cross-entropy with ignored targets; distillation KL with temperature, mixed with cross-entropy).
#include <gtest/gtest.h>

#include <cmath>

#include "grad_check.h"
#include "train/loss.h"

namespace bitdial {
namespace {

using test::expect_gradient_near;
using test::normal_doubles;
using test::numeric_gradient;

TEST(LossGrad, CrossEntropyValueByHand) {
  // Row 0: uniform over 4 -> ln 4. Row 1 ignored. Row 2: p(target 0) = 3 / (3 + 1 + 1 + 1) = 1/2 -> ln 2.
  const std::vector<double> logits = {0, 0, 0, 0, 9, -9, 9, -9, std::log(3.0), 0, 0, 0};
  const std::vector<int32_t> targets = {2, kIgnoreTarget, 0};
  const LossValue v = cross_entropy_loss(logits.data(), targets.data(), 3, 4, 1.0, static_cast<double*>(nullptr));
  EXPECT_EQ(v.counted, 2);
  EXPECT_NEAR(v.loss, (std::log(4.0) + std::log(2.0)) / 2.0, 1e-15);
}

TEST(LossGrad, CrossEntropyGradientMatchesFiniteDifferencesAndSkipsIgnoredRows) {
  const int64_t n = 5, vocab = 7;
  std::vector<double> logits = normal_doubles(n * vocab, 2.0, 31);
  const std::vector<int32_t> targets = {3, kIgnoreTarget, 0, 6, kIgnoreTarget};
  const double scale = 0.75;
  auto loss = [&] {
    return scale * cross_entropy_loss(logits.data(), targets.data(), n, vocab, 1.0, static_cast<double*>(nullptr)).loss;
  };
  std::vector<double> grad(logits.size(), 5.0);  // written over, ignored rows included
  cross_entropy_loss(logits.data(), targets.data(), n, vocab, scale, grad.data());
  expect_gradient_near(grad, numeric_gradient(logits, loss), "dlogits");
  for (int64_t i = 0; i < vocab; ++i) EXPECT_EQ(grad[static_cast<size_t>(vocab + i)], 0.0);
}

TEST(LossGrad, NoCountedTargetGivesZeroLossAndZeroGradient) {
  const std::vector<float> logits = {1, 2, 3, 4};
  const std::vector<int32_t> targets = {kIgnoreTarget, kIgnoreTarget};
  std::vector<float> grad(4, 1.0f);
  const LossValue v = cross_entropy_loss(logits.data(), targets.data(), 2, 2, 1.0, grad.data());
  EXPECT_EQ(v.counted, 0);
  EXPECT_EQ(v.loss, 0.0);
  for (float g : grad) EXPECT_EQ(g, 0.0f);
}

TEST(LossGrad, DistillationKlByHand) {
  // Teacher uniform over 2, student logits (ln 3, 0). At temperature 2 the student's softened
  // distribution is (sqrt3, 1) / (sqrt3 + 1); KL(t || s) = sum 0.5 ln(0.5 / p_s), times T^2 = 4.
  const std::vector<double> student = {std::log(3.0), 0.0};
  const std::vector<float> teacher = {0.0f, 0.0f};
  const std::vector<int32_t> targets = {1};
  const double r3 = std::sqrt(3.0);
  const double kl = 0.5 * std::log(0.5 * (r3 + 1.0) / r3) + 0.5 * std::log(0.5 * (r3 + 1.0));
  const LossValue soft = distillation_loss(student.data(), teacher.data(), targets.data(), 1, 2, {2.0f, 0.0f}, 1.0,
                                           static_cast<double*>(nullptr));
  EXPECT_NEAR(soft.loss, 4.0 * kl, 1e-15);
  // alpha 0.25 mixes in a quarter of the hard loss -ln(1/4).
  const LossValue mixed = distillation_loss(student.data(), teacher.data(), targets.data(), 1, 2, {2.0f, 0.25f}, 1.0,
                                            static_cast<double*>(nullptr));
  EXPECT_NEAR(mixed.loss, 0.25 * std::log(4.0) + 0.75 * 4.0 * kl, 1e-15);
}

TEST(LossGrad, DistillationGradientMatchesFiniteDifferences) {
  const int64_t n = 4, vocab = 6;
  std::vector<double> logits = normal_doubles(n * vocab, 2.0, 32);
  const std::vector<double> teacher_d = normal_doubles(n * vocab, 2.0, 33);
  const std::vector<float> teacher(teacher_d.begin(), teacher_d.end());
  const std::vector<int32_t> targets = {1, kIgnoreTarget, 5, 0};
  const DistillWeights weights{2.5f, 0.3f};
  auto loss = [&] {
    return distillation_loss(logits.data(), teacher.data(), targets.data(), n, vocab, weights, 1.0,
                             static_cast<double*>(nullptr))
        .loss;
  };
  std::vector<double> grad(logits.size());
  distillation_loss(logits.data(), teacher.data(), targets.data(), n, vocab, weights, 1.0, grad.data());
  expect_gradient_near(grad, numeric_gradient(logits, loss), "dlogits");
  for (int64_t i = 0; i < vocab; ++i) EXPECT_EQ(grad[static_cast<size_t>(vocab + i)], 0.0);
}

TEST(LossGrad, DistillationVanishesWhenStudentEqualsTeacher) {
  const int64_t n = 3, vocab = 5;
  const std::vector<double> logits_d = normal_doubles(n * vocab, 3.0, 34);
  const std::vector<float> teacher(logits_d.begin(), logits_d.end());
  const std::vector<double> logits(teacher.begin(), teacher.end());
  const std::vector<int32_t> targets = {0, 1, 2};
  std::vector<double> grad(logits.size());
  const LossValue v =
      distillation_loss(logits.data(), teacher.data(), targets.data(), n, vocab, {3.0f, 0.0f}, 1.0, grad.data());
  EXPECT_NEAR(v.loss, 0.0, 1e-14);
  for (double g : grad) EXPECT_NEAR(g, 0.0, 1e-15);
}

}  // namespace
}  // namespace bitdial
