// Forward-pass pieces on hand-computed cases: rotary embedding layouts, RMSNorm, softmax, SwiGLU.
#include "model/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace bitdial {
namespace {

LlamaHparams rope_hparams(int64_t head_dim, int64_t rope_dim) {
  LlamaHparams hp;
  hp.head_dim = head_dim;
  hp.rope_dim = rope_dim;
  hp.rope_base = 10000.0f;
  return hp;
}

TEST(Ops, RopeTableAngles) {
  // theta_i(pos) = pos * base^(-2i/rope_dim): rope_dim 4 -> frequencies 1 and 1/100.
  const RopeTable t = rope_table(rope_hparams(4, 4), {}, 3, 1);
  ASSERT_EQ(t.half, 2);
  EXPECT_FLOAT_EQ(t.cos[0], static_cast<float>(std::cos(3.0)));
  EXPECT_FLOAT_EQ(t.sin[1], static_cast<float>(std::sin(0.03)));
  LlamaHparams scaled = rope_hparams(4, 4);
  scaled.rope_freq_scale = 0.5f;  // linear scaling: position 3 acts like 1.5
  EXPECT_FLOAT_EQ(rope_table(scaled, {}, 3, 1).sin[0], static_cast<float>(std::sin(1.5)));
  EXPECT_FLOAT_EQ(rope_table(rope_hparams(4, 4), {2.0f, 1.0f}, 3, 1).sin[0], static_cast<float>(std::sin(1.5)));
}

TEST(Ops, RopeNormalRotatesAdjacentPairsNeoxHalves) {
  const RopeTable t = rope_table(rope_hparams(6, 4), {}, 1, 1);  // angles 1 and 0.01; dims 4,5 untouched
  const float c0 = std::cos(1.0f), s0 = std::sin(1.0f), c1 = std::cos(0.01f), s1 = std::sin(0.01f);
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  rope_apply(x.data(), 1, 1, 6, RopeMode::normal, t);
  const std::vector<float> normal = {1 * c0 - 2 * s0, 1 * s0 + 2 * c0, 3 * c1 - 4 * s1, 3 * s1 + 4 * c1, 5, 6};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(x[i], normal[i], 1e-6) << i;
  x = {1, 2, 3, 4, 5, 6};
  rope_apply(x.data(), 1, 1, 6, RopeMode::neox, t);  // pairs (0, 2) and (1, 3)
  const std::vector<float> neox = {1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 1 * s0 + 3 * c0, 2 * s1 + 4 * c1, 5, 6};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(x[i], neox[i], 1e-6) << i;
}

TEST(Ops, RmsNormSoftmaxSwiglu) {
  const std::vector<float> x = {3, 4}, w = {1, 2};  // rms = sqrt(12.5)
  std::vector<float> o(2);
  rms_norm(x.data(), w.data(), 1, 2, 0.0f, o.data());
  EXPECT_NEAR(o[0], 3 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(o[1], 8 / std::sqrt(12.5), 1e-6);
  std::vector<float> s = {0.0f, std::log(3.0f), 1000.0f, 1000.0f};
  softmax_inplace(s.data(), 2);
  EXPECT_NEAR(s[0], 0.25, 1e-7);
  softmax_inplace(s.data() + 2, 2);  // large values: no overflow
  EXPECT_FLOAT_EQ(s[2], 0.5f);
  std::vector<float> g = {0.0f, 2.0f};
  const std::vector<float> u = {5.0f, 3.0f};
  swiglu_inplace(g.data(), u.data(), 2);
  EXPECT_FLOAT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], 2.0 / (1.0 + std::exp(-2.0)) * 3.0, 1e-6);
}

}  // namespace
}  // namespace bitdial
