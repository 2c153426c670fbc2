// The calibration hook and in-memory weight edits (model/activation_observer.h, LlamaModel::replace_weight,
// LlamaModel::vector): what the quantizer builds on to measure candidates without writing files.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "core/error.h"
#include "model/activation_observer.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/synth.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::string write_tiny(const test::TempDir& dir) { return test::write_tiny_f32_model(dir, 3, 0.2f); }

struct Recorder : ActivationObserver {
  std::vector<std::string> calls;  // "site layer n_tokens cols"
  void on_matmul_input(MatmulSite site, int64_t layer, const float*, int64_t n_tokens, int64_t cols) override {
    calls.push_back(std::to_string(static_cast<int>(site)) + " " + std::to_string(layer) + " " +
                    std::to_string(n_tokens) + " " + std::to_string(cols));
  }
};

TEST(ActivationObserver, SeesEveryMatmulInputOncePerSiteInLayerOrder) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir));
  const LlamaHparams& hp = model.hparams();
  Session s(model, SessionOptions{.n_ctx = 16});
  Recorder rec;
  s.set_observer(&rec);
  const std::vector<int32_t> toks{1, 40, 41, 42};
  s.eval(toks, true);
  std::vector<std::string> want;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const std::string l = " " + std::to_string(il) + " 4 ";
    want.push_back("0" + l + std::to_string(hp.n_embd));
    want.push_back("1" + l + std::to_string(hp.q_dim()));
    want.push_back("2" + l + std::to_string(hp.n_embd));
    want.push_back("3" + l + std::to_string(hp.n_ff));
  }
  want.push_back("4 " + std::to_string(hp.n_layer) + " 4 " + std::to_string(hp.n_embd));
  EXPECT_EQ(rec.calls, want);
}

TEST(ActivationObserver, SiteWeightsNameTheMatricesTheInputFeeds) {
  EXPECT_EQ(matmul_site_weights(MatmulSite::attn_in, 2),
            (std::vector<std::string>{"blk.2.attn_q.weight", "blk.2.attn_k.weight", "blk.2.attn_v.weight"}));
  EXPECT_EQ(matmul_site_weights(MatmulSite::ffn_mid, 0), (std::vector<std::string>{"blk.0.ffn_down.weight"}));
}

TEST(ReplaceWeight, QuantizedCopyChangesLogitsAndOriginalFileModelDoesNot) {
  test::TempDir dir;
  const std::string path = write_tiny(dir);
  const LlamaModel base = LlamaModel::load(path);
  LlamaModel edited = LlamaModel::load(path);
  const WeightView* w = edited.weight("blk.1.ffn_down.weight");
  ASSERT_NE(w, nullptr);
  const int64_t n = w->rows * w->cols;
  std::vector<float> f = dequantize_tensor(w->type, w->data, n, w->cols, "w");
  for (float& v : f) v = -v;  // a large, certain change
  edited.replace_weight("blk.1.ffn_down.weight", TensorType::F32,
                        std::vector<uint8_t>(reinterpret_cast<uint8_t*>(f.data()), reinterpret_cast<uint8_t*>(f.data() + n)));
  EXPECT_EQ(edited.weight("blk.1.ffn_down.weight")->type, TensorType::F32);
  Session a(base, SessionOptions{.n_ctx = 8}), b(edited, SessionOptions{.n_ctx = 8});
  const std::vector<int32_t> toks{1, 50, 60};
  const std::vector<float> la = a.eval(toks, false), lb = b.eval(toks, false);
  double diff = 0;
  for (size_t i = 0; i < la.size(); ++i) diff = std::max(diff, static_cast<double>(std::abs(la[i] - lb[i])));
  EXPECT_GT(diff, 1e-3);
}

TEST(ReplaceWeight, RejectsUnknownNameWrongSizeAndBlocksThatDoNotFit) {
  test::TempDir dir;
  LlamaModel m = LlamaModel::load(write_tiny(dir));
  EXPECT_NE(test::error_of([&] { m.replace_weight("blk.9.attn_q.weight", TensorType::F32, {}); }).find("no matrix 'blk.9.attn_q.weight'"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { m.replace_weight("blk.0.attn_q.weight", TensorType::F32, {1, 2, 3}); }).find("3 bytes given"),
            std::string::npos);
  // tiny shape rows are 64 wide: q4_K blocks of 256 cannot hold them.
  EXPECT_NE(test::error_of([&] { m.replace_weight("blk.0.attn_q.weight", TensorType::Q4_K, {}); }).find("do not fit blocks of 256"),
            std::string::npos);
}

TEST(ModelVectors, NormsAreWritableAndUnknownNamesAreNull) {
  test::TempDir dir;
  LlamaModel m = LlamaModel::load(write_tiny(dir));
  std::vector<float>* v = m.vector("blk.0.ffn_norm.weight");
  ASSERT_NE(v, nullptr);
  (*v)[0] = 42.0f;
  EXPECT_EQ(m.layers()[0].ffn_norm[0], 42.0f);
  EXPECT_EQ(m.vector("blk.0.attn_q.bias"), nullptr);  // llama has no biases
  EXPECT_EQ(m.vector("blk.01.ffn_norm.weight"), nullptr);
  EXPECT_EQ(m.weight("blk.x.attn_q.weight"), nullptr);
}

}  // namespace
}  // namespace bitdial
