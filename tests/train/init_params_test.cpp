// Where training parameters come from: init_params (names and shapes the engine reads, values
// seeded and thread-count independent, norms 1 without decay) and params_from_model (every tensor
// decoded, the spec read back, unsupported architectures refused).
#include "train/init_params.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>

#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial {
namespace {

SynthSpec small_spec(bool tied = false) {
  SynthSpec s = make_synth_spec("", test::tiny_synth_shape(kSynthByteVocabMin));
  s.name = "init-test";
  s.rope_base = 50000.0f;
  s.rms_eps = 1e-6f;
  s.tied_embeddings = tied;
  return s;
}

std::string write_model(const test::TempDir& dir, const SynthSpec& spec, TensorType type, const std::string& name) {
  SynthOptions so;
  so.type = type;
  so.seed = 11;
  so.weight_std = 0.1f;
  const std::string path = dir.file(name);
  write_synth_model(path, spec, synth_byte_vocab(spec.n_vocab), so);
  return path;
}

TEST(InitParams, TensorNamesShapesAndOrderAreThoseOfAGgufTheEngineLoads) {
  for (bool tied : {false, true}) {
    const SynthSpec spec = small_spec(tied);
    test::TempDir dir;
    const GgufFile file = GgufFile::open(write_model(dir, spec, TensorType::F32, "m.gguf"));
    const ParamSet ps = init_params(spec, 1);
    ASSERT_EQ(ps.params.size(), file.tensors().size()) << "tied " << tied;
    for (size_t i = 0; i < ps.params.size(); ++i) {
      EXPECT_EQ(ps.params[i].name, file.tensors()[i].name);
      EXPECT_EQ(ps.params[i].shape, file.tensors()[i].ne) << ps.params[i].name;
    }
    EXPECT_EQ(ps.find("output.weight") == nullptr, tied);
    EXPECT_EQ(ps.numel(), spec.n_params());
  }
}

TEST(InitParams, NormsAreOneWithoutDecayAndMatricesHaveTheRequestedSpread) {
  const ParamSet ps = init_params(small_spec(), 2, 0.05f);
  for (const Param& p : ps.params) {
    EXPECT_EQ(p.grad, std::vector<float>(p.value.size(), 0.0f)) << p.name;
    if (p.shape.size() == 1) {
      EXPECT_FALSE(p.decay) << p.name;
      EXPECT_EQ(p.value, std::vector<float>(p.value.size(), 1.0f)) << p.name;
      continue;
    }
    EXPECT_TRUE(p.decay) << p.name;
    double sum = 0.0, sq = 0.0;
    for (float v : p.value) {
      sum += v;
      sq += static_cast<double>(v) * v;
    }
    const double n = static_cast<double>(p.value.size());
    const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    // n >= 4096 draws: the sample sd is within 5% and the mean within 4 standard errors.
    EXPECT_NEAR(sd, 0.05, 0.0025) << p.name;
    EXPECT_NEAR(mean, 0.0, 4.0 * 0.05 / std::sqrt(n)) << p.name;
  }
}

TEST(InitParams, ValuesDependOnTheSeedOnlyNotOnTheThreadCount) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const ParamSet one = init_params(small_spec(), 3);
  omp_set_num_threads(3);
  const ParamSet three = init_params(small_spec(), 3);
  omp_set_num_threads(before);
  const ParamSet other = init_params(small_spec(), 4);
  for (size_t i = 0; i < one.params.size(); ++i) {
    EXPECT_EQ(one.params[i].value, three.params[i].value) << one.params[i].name;
    if (one.params[i].shape.size() == 2) {
      EXPECT_NE(one.params[i].value, other.params[i].value) << one.params[i].name;
    }
  }
}

TEST(InitParams, RejectsOtherArchitecturesAndBadSpecs) {
  SynthSpec qwen = small_spec();
  qwen.arch = "qwen2";
  EXPECT_NE(test::error_of([&] { init_params(qwen, 1); }).find("'qwen2'"), std::string::npos);
  SynthSpec odd = small_spec();
  odd.n_head = 5;
  EXPECT_NE(test::error_of([&] { init_params(odd, 1); }).find("init_params: "), std::string::npos);
  EXPECT_NE(test::error_of([&] { init_params(small_spec(), 1, -1.0f); }).find("standard deviation"), std::string::npos);
}

TEST(ParamsFromModel, DecodesEveryTensorAndReadsTheSpecBack) {
  for (bool tied : {false, true}) {
    const SynthSpec spec = small_spec(tied);
    test::TempDir dir;
    const std::string path = write_model(dir, spec, TensorType::F32, "m.gguf");
    const ParamSet ps = params_from_model(LlamaModel::load(path));
    EXPECT_EQ(ps.spec.name, spec.name);
    EXPECT_EQ(ps.spec.arch, "llama");
    EXPECT_EQ(ps.spec.n_embd, spec.n_embd);
    EXPECT_EQ(ps.spec.n_layer, spec.n_layer);
    EXPECT_EQ(ps.spec.n_head, spec.n_head);
    EXPECT_EQ(ps.spec.n_head_kv, spec.n_head_kv);
    EXPECT_EQ(ps.spec.n_ff, spec.n_ff);
    EXPECT_EQ(ps.spec.n_vocab, spec.n_vocab);
    EXPECT_EQ(ps.spec.n_ctx, spec.n_ctx);
    EXPECT_EQ(ps.spec.rope_base, spec.rope_base);
    EXPECT_EQ(ps.spec.rms_eps, spec.rms_eps);
    EXPECT_EQ(ps.spec.tied_embeddings, tied);
    // F32 tensors come back as the file's bytes.
    const GgufFile file = GgufFile::open(path);
    ASSERT_EQ(ps.params.size(), file.tensors().size());
    for (size_t i = 0; i < ps.params.size(); ++i) {
      const GgufTensorInfo& t = file.tensors()[i];
      ASSERT_EQ(ps.params[i].name, t.name);
      EXPECT_EQ(0,
                std::memcmp(ps.params[i].value.data(), file.tensor_data(t), ps.params[i].value.size() * sizeof(float)))
          << t.name;
      EXPECT_EQ(ps.params[i].decay, t.ne.size() == 2) << t.name;
    }
  }
}

TEST(ParamsFromModel, DecodesQuantizedMatricesWithTheEnginesDecoder) {
  const SynthSpec spec = small_spec();
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_model(dir, spec, TensorType::Q8_0, "q8.gguf"));
  const ParamSet ps = params_from_model(model);
  const Param& embd = *ps.find("token_embd.weight");
  std::vector<float> row(static_cast<size_t>(spec.n_embd));
  for (int32_t id : {0, 7, static_cast<int32_t>(spec.n_vocab - 1)}) {
    model.embed(id, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), embd.value.data() + id * spec.n_embd, row.size() * sizeof(float)))
        << "row " << id;
  }
}

TEST(ParamsFromModel, RejectsArchitecturesOtherThanLlamaNamingThem) {
  SynthSpec spec = small_spec();
  spec.arch = "qwen2";
  test::TempDir dir;
  const std::string path = write_model(dir, spec, TensorType::F32, "qwen.gguf");
  const std::string msg = test::error_of([&] { params_from_model(LlamaModel::load(path)); });
  EXPECT_NE(msg.find("architecture 'qwen2'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qwen.gguf"), std::string::npos) << msg;
}

}  // namespace
}  // namespace bitdial
