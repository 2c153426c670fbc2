// llama.cpp-quantized stories260K files (mixed q2_K/q4_K/q6_K recipes with q5_0/q8_0/iq4_nl/f16
// tensors) load and greedy-generate the same tokens on every run and for 1 or 2 threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "model/generate.h"
#include "model/llama_model.h"
#include "model/sampler.h"
#include "model/session.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::vector<int32_t> greedy(const LlamaModel& model, int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  Session session(model);
  Sampler sampler({.temperature = 0.0f});
  std::vector<int32_t> out;
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};  // "<s> Once upon a time"
  generate(session, sampler, prompt, 32, [&](int32_t id) {
    out.push_back(id);
    return true;
  });
  omp_set_num_threads(saved);
  return out;
}

class QuantizedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizedModel, GreedyTokensIdenticalAcrossRunsAndThreadCounts) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K-llamacpp-" + GetParam() + ".gguf"));
  EXPECT_EQ(model.hparams().n_vocab, 512);
  const std::vector<int32_t> a = greedy(model, 1), b = greedy(model, 2), c = greedy(model, 2);
  ASSERT_EQ(a.size(), 32u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, c);
  std::string ids;
  for (const int32_t id : a) ids += std::to_string(id) + " ";
  std::printf("%s greedy: %s\n", GetParam().c_str(), ids.c_str());
}

INSTANTIATE_TEST_SUITE_P(Stories260K, QuantizedModel, ::testing::Values("Q2_K", "Q4_K_M", "Q6_K"));

}  // namespace
}  // namespace bitdial
