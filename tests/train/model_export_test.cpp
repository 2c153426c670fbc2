// Exporting trained parameters (train/model_export.h): the file loads in bitdial's engine with the
// trainer's weights (exact in F32, within the type's error in F16 and Q8_0), carries the llama keys,
// falls back like synth for rows that are not whole blocks, and refuses a mismatched vocabulary.
#include "train/model_export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "blocks/tensor_codec.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/llama_gguf_keys.h"
#include "model/llama_model.h"
#include "test_support.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

// Rows of 32 (one Q8_0 block) so quantized matrices keep the asked type; head size 16.
SynthSpec spec32() {
  SynthSpec s;
  s.name = "tiny-export";
  s.n_embd = 32;
  s.n_layer = 2;
  s.n_head = 2;
  s.n_head_kv = 1;
  s.n_ff = 64;
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = 64;
  return s;
}

// Seeded weights: matrices N(0, 0.05^2), norms N(0, 1).
ParamSet make_params(const SynthSpec& spec, uint32_t seed) { return test::normal_params(spec, seed, 0.05f, 1.0f); }

// The weights the engine holds for `name`, decoded to floats (matrices via their views, vectors as loaded).
std::vector<float> loaded_values(const LlamaModel& m, const std::string& name) {
  if (const WeightView* w = m.weight(name)) return dequantize_tensor(w->type, w->data, w->rows * w->cols, w->cols, name);
  if (name == "output_norm.weight") return m.output_norm();
  const size_t dot = name.find('.', 4);
  const LlamaLayer& layer = m.layers()[std::stoul(name.substr(4, dot - 4))];
  if (name.ends_with("attn_norm.weight")) return layer.attn_norm;
  if (name.ends_with("ffn_norm.weight")) return layer.ffn_norm;
  ADD_FAILURE() << "no loaded tensor " << name;
  return {};
}

struct LoadedTensor {
  std::string name;
  bool matrix;
  std::vector<float> exact;   // the trainer's values
  std::vector<float> loaded;  // what the engine decoded from the exported file
};

// Exports make_params(spec32()) in `type` and loads it with LlamaModel::load.
std::vector<LoadedTensor> export_and_load(TensorType type) {
  test::TempDir dir;
  const ParamSet ps = make_params(spec32(), 1);
  ModelExportOptions opt;
  opt.type = type;
  const ModelExportResult r = export_llama_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), opt);
  EXPECT_TRUE(r.fallbacks.empty());
  EXPECT_EQ(r.params, static_cast<uint64_t>(ps.numel()));
  const LlamaModel m = LlamaModel::load(dir.file("m.gguf"));
  EXPECT_EQ(m.hparams().n_embd, 32);
  EXPECT_EQ(m.hparams().n_head_kv, 1);
  EXPECT_EQ(m.hparams().n_vocab, kSynthByteVocabMin);
  std::vector<LoadedTensor> out;
  for (const Param& p : ps.params) {
    out.push_back({p.name, p.shape.size() == 2, p.value, loaded_values(m, p.name)});
    EXPECT_EQ(out.back().loaded.size(), p.value.size()) << p.name;
  }
  return out;
}

// Checks every element: norms exactly, matrices within tolerance(exact, i); reports the first mismatches.
template <class Tolerance>
void expect_within(const std::vector<LoadedTensor>& tensors, Tolerance tolerance) {
  int mismatches = 0;
  for (const LoadedTensor& t : tensors)
    for (size_t i = 0; i < t.exact.size() && i < t.loaded.size(); ++i) {
      const double tol = t.matrix ? tolerance(t.exact, i) : 0.0;  // norms stay F32
      if (std::abs(static_cast<double>(t.loaded[i]) - t.exact[i]) > tol && ++mismatches <= 10)
        ADD_FAILURE() << t.name << "[" << i << "]: " << t.loaded[i] << " vs " << t.exact[i] << " (tolerance " << tol << ")";
    }
}

TEST(ModelExport, F32WeightsLoadExactly) {
  expect_within(export_and_load(TensorType::F32), [](const std::vector<float>&, size_t) { return 0.0; });
}

TEST(ModelExport, F16WeightsLoadWithinHalfPrecisionRounding) {
  // Round to nearest F16: relative error 2^-11 for normal values, absolute 2^-25 below 2^-14.
  expect_within(export_and_load(TensorType::F16), [](const std::vector<float>& v, size_t i) {
    return std::abs(v[i]) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25);
  });
}

TEST(ModelExport, Q8_0WeightsLoadWithinTheBlockError) {
  // Q8_0 (blocks of 32, codes -127..127): with the plain scale d = amax / 127 (stored as F16) every
  // element is within d / 2, and bitdial's refit only keeps a scale with a smaller squared error, so each
  // block's RMS error is at most d / 2 (F16 rounding of d adds 2^-11 relative). The norms are exact.
  const std::vector<LoadedTensor> tensors = export_and_load(TensorType::Q8_0);
  expect_within(tensors, [](const std::vector<float>&, size_t) { return 1e30; });  // norms only
  int bad_blocks = 0;
  for (const LoadedTensor& t : tensors) {
    if (!t.matrix) continue;
    for (size_t start = 0; start + 32 <= t.exact.size(); start += 32) {
      double amax = 0, sse = 0;
      for (size_t j = start; j < start + 32; ++j) {
        amax = std::max(amax, static_cast<double>(std::abs(t.exact[j])));
        sse += (static_cast<double>(t.loaded[j]) - t.exact[j]) * (static_cast<double>(t.loaded[j]) - t.exact[j]);
      }
      const double rms = std::sqrt(sse / 32), bound = amax / 127 / 2 * (1 + std::ldexp(1.0, -10));
      if (rms > bound && ++bad_blocks <= 10) ADD_FAILURE() << t.name << " block at " << start << ": RMS error " << rms << " > " << bound;
      if (sse == 0 && amax > 0 && ++bad_blocks <= 10) ADD_FAILURE() << t.name << " block at " << start << " is exact: not quantized?";
    }
  }
}

TEST(ModelExport, FileCarriesLlamaKeysFileTypeAndF32Norms) {
  test::TempDir dir;
  ModelExportOptions opt;
  opt.type = TensorType::Q8_0;
  export_llama_gguf(dir.file("m.gguf"), make_params(spec32(), 2), synth_byte_vocab(kSynthByteVocabMin), opt);
  const GgufFile f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("general.name"), "tiny-export");
  EXPECT_EQ(f.get_uint("general.file_type"), 7u);  // LLAMA_FTYPE_MOSTLY_Q8_0
  EXPECT_EQ(f.get_uint("llama.context_length"), 64u);
  EXPECT_EQ(f.get_uint("llama.feed_forward_length"), 64u);
  EXPECT_EQ(f.get_uint("llama.rope.dimension_count"), 16u);
  EXPECT_EQ(f.get_uint("llama.vocab_size"), static_cast<uint64_t>(kSynthByteVocabMin));
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_NE(f.find("tokenizer.ggml.model"), nullptr);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.type, t.ne.size() == 2 ? TensorType::Q8_0 : TensorType::F32) << t.name;
  EXPECT_EQ(f.tensors().size(), llama_tensor_layout(spec32()).size());
}

TEST(ModelExport, RowsThatAreNotWholeBlocksFallBackLikeSynth) {
  test::TempDir dir;
  SynthSpec s = spec32();
  s.n_ff = 48;  // ffn_down rows of 48: not a multiple of Q8_0's 32
  ModelExportOptions opt;
  opt.type = TensorType::Q8_0;
  const ModelExportResult r = export_llama_gguf(dir.file("m.gguf"), make_params(s, 3), synth_byte_vocab(kSynthByteVocabMin), opt);
  EXPECT_EQ(r.fallbacks, (std::vector<std::string>{"blk.0.ffn_down.weight: f16", "blk.1.ffn_down.weight: f16"}));
  EXPECT_EQ(GgufFile::open(dir.file("m.gguf")).find_tensor("blk.1.ffn_down.weight")->type, TensorType::F16);
  EXPECT_NO_THROW(LlamaModel::load(dir.file("m.gguf")));
}

TEST(ModelExport, VocabularyOfAnotherSizeIsAnErrorAndWritesNothing) {
  test::TempDir dir;
  SynthSpec s = spec32();
  s.n_vocab = 400;
  const std::string msg =
      test::error_of([&] { export_llama_gguf(dir.file("m.gguf"), make_params(s, 4), synth_byte_vocab(kSynthByteVocabMin), {}); });
  EXPECT_NE(msg.find("400 token rows but the tokenizer (built-in) has 354 tokens"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf")));
}

TEST(ModelExport, NanWeightIsRefusedNamingTheTensor) {
  test::TempDir dir;
  ParamSet ps = make_params(spec32(), 5);
  ps.find("blk.1.attn_v.weight")->value[3] = -std::numeric_limits<float>::infinity();
  const std::string msg = test::error_of([&] { export_llama_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), {}); });
  EXPECT_NE(msg.find("blk.1.attn_v.weight is -inf at element 3"), std::string::npos) << msg;
}

TEST(ModelExport, ParameterListThatDoesNotMatchTheSpecIsAnError) {
  test::TempDir dir;
  ParamSet ps = make_params(spec32(), 6);
  ps.params.pop_back();  // output.weight
  const std::string msg = test::error_of([&] { export_llama_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), {}); });
  EXPECT_NE(msg.find("parameter tensors, the model shape has"), std::string::npos) << msg;
}

}  // namespace
}  // namespace bitdial
