// The trainer's forward pass against the inference engine: the same GGUF loaded by LlamaModel and
// by params_from_model must give the same logits (engine with an F32 KV cache; the two differ only in
// summation order, so within 1e-4 of the largest logit).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/session.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/train_model.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

// Compares forward_logits over all sequences of `batch` with the engine's logits, one fresh session
// per sequence.
void expect_engine_parity(const LlamaModel& model, const TrainBatch& batch) {
  const ParamSet ps = params_from_model(model);
  TrainWorkspace ws;
  const std::vector<float> ours = forward_logits(ps, batch, ws);
  const int64_t vocab = model.hparams().n_vocab;
  ASSERT_EQ(static_cast<int64_t>(ours.size()), batch.n_seq * batch.seq_len * vocab);
  for (int64_t s = 0; s < batch.n_seq; ++s) {
    Session session(model, SessionOptions{.kv_type = KvType::f32, .n_ctx = 0});
    const std::span<const int32_t> tokens(batch.tokens.data() + s * batch.seq_len, static_cast<size_t>(batch.seq_len));
    const std::vector<float> engine = session.eval(tokens, true);
    ASSERT_EQ(static_cast<int64_t>(engine.size()), batch.seq_len * vocab);
    float scale = 0.0f;
    for (float v : engine) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.1f) << "logits too small to compare meaningfully";
    int bad = 0;
    for (size_t i = 0; i < engine.size(); ++i) {
      const float got = ours[static_cast<size_t>(s * batch.seq_len * vocab) + i];
      if (!(std::fabs(got - engine[i]) <= 1e-4f * scale) && ++bad <= 10)
        ADD_FAILURE() << "sequence " << s << " position " << static_cast<int64_t>(i) / vocab << " token "
                      << static_cast<int64_t>(i) % vocab << ": trainer " << got << ", engine " << engine[i];
    }
    EXPECT_EQ(bad, 0) << "sequence " << s << ": " << bad << " logits differ (scale " << scale << ")";
  }
}

TEST(TrainModelParity, ForwardLogitsMatchTheEngineOnASynthModel) {
  // 64 wide, 2 layers, 4 query heads on 2 K/V heads, F32; weights of std 0.2 so logits are well spread.
  test::TempDir dir;
  const std::string path = test::write_tiny_f32_model(dir, 5, 0.2f);
  const LlamaModel model = LlamaModel::load(path);
  expect_engine_parity(model, test::random_tokens(2, 19, model.hparams().n_vocab, 51));
}

TEST(TrainModelParity, ForwardLogitsMatchTheEngineOnStories260K) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  expect_engine_parity(model, test::random_tokens(2, 24, model.hparams().n_vocab, 52));
}

}  // namespace
}  // namespace bitdial
