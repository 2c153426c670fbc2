// The QAT weight-transform hook: the pass runs on the transformed matrices, gradients reach the master
// parameters unchanged (straight-through), master values are left alone, norms are never transformed,
// and a transform that resizes a matrix is an error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "test_support.h"
#include "train/train_model.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

// Fake quantization to a grid of 1/8: what a QAT transform does, in its simplest form.
void round_to_eighths(const Param&, std::vector<float>& w) {
  for (float& v : w) v = std::round(v * 8.0f) / 8.0f;
}

TEST(TrainModelQat, PassOnTransformedWeightsEqualsPassOnTheirCopyWithGradientsStraightThrough) {
  const SynthSpec spec = test::tiny_train_spec(true);
  const TrainBatch batch = test::random_train_batch(2, 6, spec.n_vocab, 71);
  ParamSet master = test::tiny_train_params(spec);
  const ParamSet master_before = master;
  std::vector<std::string> seen;
  TrainWorkspace ws;
  const double loss_qat = forward_backward(master, batch, {}, ws, [&](const Param& p, std::vector<float>& w) {
    seen.push_back(p.name);
    round_to_eighths(p, w);
  });

  // The same pass on a parameter set that holds the transformed values as its own.
  ParamSet copy = master_before;
  for (Param& p : copy.params)
    if (p.shape.size() == 2) round_to_eighths(p, p.value);
  const double loss_copy = forward_backward(copy, batch, {}, ws);
  EXPECT_EQ(loss_qat, loss_copy);
  std::vector<std::string> matrices;
  for (size_t i = 0; i < master.params.size(); ++i) {
    const Param& p = master.params[i];
    if (p.shape.size() == 2) matrices.push_back(p.name);
    EXPECT_EQ(p.value, master_before.params[i].value) << p.name << ": master values changed";
    EXPECT_EQ(0, std::memcmp(p.grad.data(), copy.params[i].grad.data(), p.grad.size() * sizeof(float)))
        << p.name << ": gradient differs from the pass on the transformed copy";
  }
  EXPECT_EQ(seen, matrices) << "the transform sees every matrix once, in order, and no norm";

  // The transform made a difference (otherwise this test would prove nothing).
  TrainWorkspace plain_ws;
  ParamSet plain = master_before;
  EXPECT_NE(forward_backward(plain, batch, {}, plain_ws), loss_qat);
}

TEST(TrainModelQat, TransformThatResizesAMatrixIsRejected) {
  const SynthSpec spec = test::tiny_train_spec();
  ParamSet ps = test::tiny_train_params(spec);
  TrainWorkspace ws;
  const std::string msg = test::error_of([&] {
    forward_backward(ps, test::random_train_batch(1, 4, spec.n_vocab, 72), {}, ws,
                     [](const Param&, std::vector<float>& w) { w.pop_back(); });
  });
  EXPECT_NE(msg.find("token_embd.weight"), std::string::npos) << msg;
}

}  // namespace
}  // namespace bitdial
