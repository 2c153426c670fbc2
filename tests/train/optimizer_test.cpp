// The trainer's update rule (train/optimizer.h): AdamW against a double-precision hand computation,
// decoupled decay only where asked, the warm-up + cosine schedule at its landmarks, global-norm
// clipping, accumulation scaling, thread-count independence and the NaN/Inf stop.
#include "train/optimizer.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "core/error.h"
#include "test_support.h"

namespace bitdial {
namespace {

constexpr double kFloatEps = std::numeric_limits<float>::epsilon();

Param make_param(const std::string& name, int64_t n, uint32_t seed, bool decay = true) {
  Param p;
  p.name = name;
  p.shape = {n};
  p.value = test::normal_floats(n, 0.5f, seed);
  p.grad = test::normal_floats(n, 0.1f, seed + 1000);
  p.decay = decay;
  return p;
}

ParamSet one_param_set(Param p) {
  ParamSet ps;
  ps.params.push_back(std::move(p));
  return ps;
}

TEST(AdamW, OneStepMatchesHandComputedDoubleUpdate) {
  ParamSet ps = one_param_set(make_param("w", 257, 11));
  AdamWConfig c;
  c.beta1 = 0.8;
  c.beta2 = 0.95;
  c.eps = 1e-6;
  c.weight_decay = 0.1;
  AdamWState st = make_adamw_state(ps);
  st.step = 2;  // the update is the third: bias corrections 1 - 0.8^3 and 1 - 0.95^3
  st.m[0] = test::normal_floats(257, 0.05f, 21);
  st.v[0] = test::normal_floats(257, 0.01f, 22);
  for (float& x : st.v[0]) x = x * x;
  const Param before = ps.params[0];
  const std::vector<float> m0 = st.m[0], v0 = st.v[0];
  const double lr = 0.01;

  adamw_step(ps, st, c, lr);

  EXPECT_EQ(st.step, 3);
  int mismatches = 0;
  for (size_t i = 0; i < before.value.size(); ++i) {
    const double g = before.grad[i];
    const double m = 0.8 * m0[i] + 0.2 * g;
    const double v = 0.95 * v0[i] + 0.05 * g * g;
    const double dir = (m / (1 - 0.8 * 0.8 * 0.8)) / (std::sqrt(v / (1 - 0.95 * 0.95 * 0.95)) + 1e-6);
    const double theta = before.value[i] * (1 - lr * 0.1) - lr * dir;
    // m and v are stored as float before the update uses them: a few float roundings of each term.
    const double tol = 4 * kFloatEps * (std::abs(theta) + lr * std::abs(dir));
    if (std::abs(ps.params[0].value[i] - theta) > tol || std::abs(st.m[0][i] - m) > kFloatEps * std::abs(m) ||
        std::abs(st.v[0][i] - v) > kFloatEps * std::abs(v)) {
      ADD_FAILURE() << "element " << i << ": theta " << ps.params[0].value[i] << " vs " << theta << ", m " << st.m[0][i]
                    << " vs " << m << ", v " << st.v[0][i] << " vs " << v;
      if (++mismatches > 10) break;
    }
  }
}

TEST(AdamW, FirstStepMovesEachWeightByAboutTheLearningRate) {
  // At t = 1, m_hat = g and v_hat = g^2, so the Adam direction is sign(g) (up to eps).
  ParamSet ps = one_param_set(make_param("w", 64, 3));
  const std::vector<float> before = ps.params[0].value;
  AdamWState st = make_adamw_state(ps);
  adamw_step(ps, st, AdamWConfig{}, 0.001);
  for (size_t i = 0; i < before.size(); ++i) {
    const double g = ps.params[0].grad[i];
    const double want = before[i] - 0.001 * g / (std::abs(g) + 1e-8);
    EXPECT_NEAR(ps.params[0].value[i], want, 4 * kFloatEps * std::abs(want)) << i;
  }
}

TEST(AdamW, WeightDecayIsSkippedForParamsWithoutDecay) {
  ParamSet ps;
  ps.params.push_back(make_param("matrix", 100, 5, /*decay=*/true));
  ps.params.push_back(make_param("norm", 100, 5, /*decay=*/false));  // same values and gradients
  ParamSet no_decay_run = ps;
  AdamWConfig with_decay;
  with_decay.weight_decay = 0.5;
  AdamWState st = make_adamw_state(ps), st_ref = make_adamw_state(no_decay_run);
  adamw_step(ps, st, with_decay, 0.01);
  adamw_step(no_decay_run, st_ref, AdamWConfig{}, 0.01);

  // The decay=false parameter moves exactly as without weight decay; the decay=true one is also
  // shrunk by lr * weight_decay * theta.
  EXPECT_EQ(0, std::memcmp(ps.params[1].value.data(), no_decay_run.params[1].value.data(), 100 * sizeof(float)));
  for (size_t i = 0; i < 100; ++i) {
    const double shrink = 0.01 * 0.5 * make_param("x", 100, 5).value[i];
    EXPECT_NEAR(no_decay_run.params[0].value[i] - ps.params[0].value[i], shrink, 1e-6) << i;
  }
}

TEST(AdamW, ZeroGradientOnlyDecaysTheWeight) {
  ParamSet ps = one_param_set(make_param("w", 16, 9));
  std::fill(ps.params[0].grad.begin(), ps.params[0].grad.end(), 0.0f);
  const std::vector<float> before = ps.params[0].value;
  AdamWConfig c;
  c.weight_decay = 0.1;
  AdamWState st = make_adamw_state(ps);
  adamw_step(ps, st, c, 0.02);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(ps.params[0].value[i], static_cast<float>(before[i] * (1 - 0.02 * 0.1)));
}

TEST(AdamW, StateOfAnotherParamSetIsRejected) {
  ParamSet ps = one_param_set(make_param("w", 16, 1));
  AdamWState st = make_adamw_state(ps);
  st.v[0].resize(15);
  EXPECT_NE(test::error_of([&] { adamw_step(ps, st, AdamWConfig{}, 0.01); }).find("optimiser moments of w"), std::string::npos);
}

TEST(AdamW, BetaOfOneIsRejected) {
  AdamWConfig c;
  c.beta2 = 1.0;
  EXPECT_NE(test::error_of([&] { validate_adamw_config(c); }).find("beta2"), std::string::npos);
}

TEST(AdamW, ResultDoesNotDependOnTheThreadCount) {
  ParamSet a = one_param_set(make_param("w", 100000, 4));  // above the single-thread threshold
  ParamSet b = a;
  AdamWState sa = make_adamw_state(a), sb = make_adamw_state(b);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  adamw_step(a, sa, AdamWConfig{}, 0.003);
  omp_set_num_threads(3);
  adamw_step(b, sb, AdamWConfig{}, 0.003);
  omp_set_num_threads(saved);
  EXPECT_EQ(0, std::memcmp(a.params[0].value.data(), b.params[0].value.data(), 100000 * sizeof(float)));
}

LrSchedule schedule() { return {.peak_lr = 1e-3, .min_lr = 1e-4, .warmup_steps = 10, .total_steps = 110}; }

TEST(LrSchedule, WarmUpRisesLinearlyFromTheFirstStep) {
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 0), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 4), 5e-4);
}

TEST(LrSchedule, PeakAtTheEndOfWarmUp) {
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 9), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 10), 1e-3);
}

TEST(LrSchedule, CosineIsHalfwayAtMidDecayAndFollowsTheCurve) {
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 60), (1e-3 + 1e-4) / 2);
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 35), 1e-4 + 9e-4 * (1 + std::cos(std::numbers::pi / 4)) / 2);
}

TEST(LrSchedule, MinimumAtTheEndAndAfter) {
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 110), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(schedule(), 5000), 1e-4);
  EXPECT_GT(lr_at(schedule(), 109), 1e-4);
}

TEST(LrSchedule, WithoutWarmUpTheFirstStepIsThePeak) {
  LrSchedule s = schedule();
  s.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 1e-3);
}

TEST(LrSchedule, WarmUpLongerThanTheRunIsRejected) {
  LrSchedule s = schedule();
  s.warmup_steps = 111;
  EXPECT_NE(test::error_of([&] { validate_lr_schedule(s); }).find("warm-up steps 111"), std::string::npos);
}

// Gradients {3, 4} and {12}: global norm 13.
ParamSet norm13() {
  ParamSet ps;
  Param a, b;
  a.name = "a";
  a.shape = {2};
  a.value = {0, 0};
  a.grad = {3, 4};
  b.name = "b";
  b.shape = {1};
  b.value = {0};
  b.grad = {12};
  ps.params = {a, b};
  return ps;
}

TEST(Clip, ScalesToTheMaxNormAndReportsThePreClipNorm) {
  ParamSet ps = norm13();
  EXPECT_EQ(clip_grad_norm(ps, 6.5), 13.0);
  EXPECT_FLOAT_EQ(ps.params[0].grad[0], 1.5f);
  EXPECT_FLOAT_EQ(ps.params[0].grad[1], 2.0f);
  EXPECT_FLOAT_EQ(ps.params[1].grad[0], 6.0f);
  EXPECT_NEAR(grad_norm(ps), 6.5, 6.5 * 2 * kFloatEps);
}

TEST(Clip, NormBelowTheMaxLeavesGradientsUnchanged) {
  ParamSet ps = norm13();
  EXPECT_EQ(clip_grad_norm(ps, 20.0), 13.0);
  EXPECT_EQ(ps.params[0].grad, (std::vector<float>{3, 4}));
  EXPECT_EQ(ps.params[1].grad, (std::vector<float>{12}));
}

TEST(Clip, NormIsTheSameBitsOnAnyThreadCountAndMatchesALongDoubleSum) {
  ParamSet ps;
  ps.params.push_back(make_param("big", 200003, 8));
  ps.params.push_back(make_param("small", 37, 9));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = grad_norm(ps);
  omp_set_num_threads(3);
  const double three = grad_norm(ps);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
  long double sum = 0;
  for (const Param& p : ps.params)
    for (float g : p.grad) sum += static_cast<long double>(g) * g;
  const double want = static_cast<double>(std::sqrt(sum));
  EXPECT_NEAR(one, want, want * 1e-12);
}

TEST(Accumulation, ScaleGradsMultipliesEveryGradient) {
  ParamSet ps = norm13();
  scale_grads(ps, 0.25f);
  EXPECT_EQ(ps.params[0].grad, (std::vector<float>{0.75f, 1.0f}));
  EXPECT_EQ(ps.params[1].grad, (std::vector<float>{3.0f}));
}

TEST(FiniteCheck, NanLossStopsTheStep) {
  const std::string msg = test::error_of([] { check_step_finite(std::nan(""), norm13(), 12); });
  EXPECT_NE(msg.find("step 12: loss is nan"), std::string::npos) << msg;
}

TEST(FiniteCheck, InfGradientNamesTheTensorAndElement) {
  ParamSet ps = norm13();
  ps.params[1].grad[0] = std::numeric_limits<float>::infinity();
  const std::string msg = test::error_of([&] { check_step_finite(2.5, ps, 7); });
  EXPECT_NE(msg.find("step 7: gradient of b is inf at element 0"), std::string::npos) << msg;
  ASSERT_TRUE(find_nonfinite_grad(ps).has_value());
  EXPECT_EQ(find_nonfinite_grad(ps)->tensor, "b");
  EXPECT_FALSE(find_nonfinite_value(ps).has_value());
}

TEST(FiniteCheck, FiniteLossAndGradientsPass) { EXPECT_NO_THROW(check_step_finite(2.5, norm13(), 1)); }

}  // namespace
}  // namespace bitdial
