// forward_backward's results do not depend on the OpenMP thread count: gradients and loss are bitwise
// equal with 1, 2 and 3 threads, on a shape large enough that every op takes its parallel path.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>

#include "grad_check.h"
#include "train/init_params.h"
#include "train/train_model.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

struct PassResult {
  double loss = 0.0;
  std::vector<std::vector<float>> grads;
};

PassResult run_with_threads(int threads, const LossSpec& loss) {
  SynthSpec spec;
  spec.n_embd = 96;
  spec.n_layer = 2;
  spec.n_head = 6;
  spec.n_head_kv = 2;
  spec.n_ff = 160;
  spec.n_vocab = 301;
  spec.n_ctx = 64;
  spec.tied_embeddings = true;  // the token_embd gradient then gets both the scatter and the output GEMM
  ParamSet ps = init_params(spec, 9, 0.05f);
  const TrainBatch batch = test::random_train_batch(3, 41, spec.n_vocab, 61);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  TrainWorkspace ws;
  PassResult r;
  r.loss = forward_backward(ps, batch, loss, ws);
  omp_set_num_threads(before);
  for (const Param& p : ps.params) r.grads.push_back(p.grad);
  return r;
}

void expect_same_bits(const PassResult& a, const PassResult& b, int threads) {
  EXPECT_EQ(0, std::memcmp(&a.loss, &b.loss, sizeof(double)))
      << threads << " threads: loss " << b.loss << " vs " << a.loss;
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i)
    EXPECT_EQ(0, std::memcmp(a.grads[i].data(), b.grads[i].data(), a.grads[i].size() * sizeof(float)))
        << threads << " threads: gradient of tensor " << i << " differs";
}

TEST(TrainModelDeterminism, GradientsAreBitwiseEqualForAnyThreadCount) {
  const PassResult one = run_with_threads(1, {});
  for (int threads : {2, 3}) expect_same_bits(one, run_with_threads(threads, {}), threads);
}

TEST(TrainModelDeterminism, DistillationGradientsAreBitwiseEqualForAnyThreadCount) {
  const std::vector<double> t = test::normal_doubles(3 * 41 * 301, 1.0, 62);
  const std::vector<float> teacher(t.begin(), t.end());
  LossSpec loss;
  loss.teacher_logits = teacher;
  loss.distill = {2.0f, 0.5f};
  const PassResult one = run_with_threads(1, loss);
  expect_same_bits(one, run_with_threads(2, loss), 2);
}

}  // namespace
}  // namespace bitdial
