// Random-weight models (model/synth.h): the shape asked for, seeded determinism, the requested
// tensor types, a usable forward pass and a built-in vocabulary that round-trips ASCII text.
#include "model/synth.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>

#include "blocks/tensor_codec.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/tokenizer/tokenizer.h"
#include "test_support.h"

namespace bitdial {
namespace {

SynthSpec tiny_spec() { return make_synth_spec("", test::tiny_synth_shape(400)); }

std::string write_tiny(const test::TempDir& dir, const std::string& name, uint64_t seed, TensorType type = TensorType::F16,
                       const SynthSpec& spec = tiny_spec()) {
  SynthOptions opt;
  opt.seed = seed;
  opt.type = type;
  const std::string path = dir.file(name);
  write_synth_model(path, spec, synth_byte_vocab(spec.n_vocab), opt);
  return path;
}

TEST(Synth, TinySpecLoadsWithTheAskedHparams) {
  test::TempDir dir;
  const LlamaModel m = LlamaModel::load(write_tiny(dir, "m.gguf", 1));
  const LlamaHparams& hp = m.hparams();
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.n_embd, 64);
  EXPECT_EQ(hp.n_layer, 2);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.n_ff, 96);
  EXPECT_EQ(hp.n_vocab, 400);
  EXPECT_EQ(hp.n_ctx_train, 128);
  EXPECT_EQ(hp.head_dim, 16);
}

TEST(Synth, SameSeedGivesIdenticalBytes) {
  test::TempDir dir;
  EXPECT_EQ(read_file(write_tiny(dir, "a.gguf", 7)), read_file(write_tiny(dir, "b.gguf", 7)));
}

TEST(Synth, BytesDoNotDependOnTheThreadCount) {
  test::TempDir dir;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::string one = read_file(write_tiny(dir, "a.gguf", 7, TensorType::Q8_0));
  omp_set_num_threads(3);
  const std::string three = read_file(write_tiny(dir, "b.gguf", 7, TensorType::Q8_0));
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
}

TEST(Synth, AnotherSeedGivesOtherWeights) {
  test::TempDir dir;
  const GgufFile a = GgufFile::open(write_tiny(dir, "a.gguf", 7)), b = GgufFile::open(write_tiny(dir, "b.gguf", 8));
  const GgufTensorInfo& ta = *a.find_tensor("blk.0.attn_q.weight");
  const GgufTensorInfo& tb = *b.find_tensor("blk.0.attn_q.weight");
  EXPECT_NE(0, std::memcmp(a.tensor_data(ta), b.tensor_data(tb), ta.nbytes));
}

TEST(Synth, Q8_0TypeGivesQ8_0MatricesAndF32Norms) {
  test::TempDir dir;
  const GgufFile f = GgufFile::open(write_tiny(dir, "m.gguf", 1, TensorType::Q8_0));
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.ne.size() == 2) EXPECT_EQ(t.type, TensorType::Q8_0) << t.name;
    else EXPECT_EQ(t.type, TensorType::F32) << t.name;
  }
  EXPECT_NE(f.find_tensor("output.weight"), nullptr);
}

TEST(Synth, MatricesHaveTheAskedStandardDeviationAndNormsAreOne) {
  test::TempDir dir;
  const GgufFile f = GgufFile::open(write_tiny(dir, "m.gguf", 3, TensorType::F32));
  const GgufTensorInfo& e = *f.find_tensor("token_embd.weight");
  const std::vector<float> v = dequantize_tensor(e.type, f.tensor_data(e), e.n_elements(), e.ne[0], "embd");
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(v.size()), mean = sum / n, std = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);
  EXPECT_NEAR(std, 0.02, 0.001);  // 25600 values: the estimate's own spread is ~1e-4
  const GgufTensorInfo& norm = *f.find_tensor("blk.1.ffn_norm.weight");
  const float* w = reinterpret_cast<const float*>(f.tensor_data(norm));
  for (int64_t i = 0; i < norm.ne[0]; ++i) EXPECT_EQ(w[i], 1.0f);
}

TEST(Synth, ForwardPassGivesFiniteLogitsThatDifferByToken) {
  test::TempDir dir;
  const LlamaModel m = LlamaModel::load(write_tiny(dir, "m.gguf", 1, TensorType::Q8_0));
  Session s(m);
  const std::vector<int32_t> tokens = {1, 300, 301, 302, 5};
  const std::vector<float> logits = s.eval(tokens, /*all_logits=*/true);
  ASSERT_EQ(logits.size(), tokens.size() * 400);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NE(logits[0], logits[400]);
}

TEST(Synth, RowsThatAreNotWholeBlocksFallBackLikeLlamaCpp) {
  test::TempDir dir;
  SynthOverrides o;
  o.n_embd = 256;
  o.n_layer = 1;
  o.n_head = 2;
  o.n_ff = 320;  // 320 = 10 x 32, not a multiple of 256
  o.n_vocab = 400;
  const SynthSpec spec = make_synth_spec("", o);
  SynthOptions opt;
  opt.type = TensorType::Q4_K;
  const SynthResult r = write_synth_model(dir.file("m.gguf"), spec, synth_byte_vocab(400), opt);
  const GgufFile f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f.find_tensor("blk.0.ffn_up.weight")->type, TensorType::Q4_K);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, TensorType::Q5_0);
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_EQ(r.fallbacks[0], "blk.0.ffn_down.weight: q5_0");
}

TEST(Synth, ByteVocabularyRoundTripsAsciiText) {
  test::TempDir dir;
  const GgufFile f = GgufFile::open(write_tiny(dir, "m.gguf", 1));
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::string text = "Hello, world! The quick brown fox (42) jumps over ~lazy~ dogs.\n\tNext line; {x: \"y\"} 100% <ok>";
  const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/true);
  EXPECT_EQ(ids.front(), 1);  // <s>
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(tok.encode("ab", false).size(), 3u);  // the space prefix, 'a', 'b'
}

TEST(Synth, Llama1bPresetHasTinyLlamaShape) {
  const SynthSpec s = synth_preset("llama-1b");
  EXPECT_EQ(s.n_embd, 2048);
  EXPECT_EQ(s.n_layer, 22);
  EXPECT_EQ(s.n_head, 32);
  EXPECT_EQ(s.n_head_kv, 4);
  EXPECT_EQ(s.n_ff, 5632);
  EXPECT_EQ(s.n_vocab, 32000);
  EXPECT_EQ(s.n_ctx, 2048);
  EXPECT_EQ(s.n_params(), 1100048384);  // TinyLlama-1.1B's published parameter count
}

TEST(Synth, OverridesReplacePresetDimensions) {
  SynthOverrides o;
  o.n_layer = 3;
  const SynthSpec s = make_synth_spec("llama-7b", o);
  EXPECT_EQ(s.n_layer, 3);
  EXPECT_EQ(s.n_embd, 4096);
}

TEST(Synth, UnknownPresetNamesTheKnownOnes) {
  try {
    (void)synth_preset("llama-70b");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama-1b"), std::string::npos) << e.what();
  }
}

TEST(Synth, HeadsThatDoNotDivideTheWidthAreRejected) {
  SynthOverrides o;
  o.n_head = 5;
  EXPECT_THROW(make_synth_spec("llama-1b", o), Error);
}

TEST(Synth, MissingDimensionWithoutPresetIsRejected) {
  SynthOverrides o;
  o.n_embd = 64;
  EXPECT_THROW(make_synth_spec("", o), Error);
}

TEST(Synth, VocabularySizeMustMatchTheSpec) {
  test::TempDir dir;
  EXPECT_THROW(write_synth_model(dir.file("m.gguf"), tiny_spec(), synth_byte_vocab(500), {}), Error);
}

TEST(Synth, VocabularyCopiedFromStories260KKeepsEveryTokenizerKey) {
  BITDIAL_REQUIRE_SHARED();
  const std::string src = test::shared_path("models/stories260K.gguf");
  const SynthVocab v = synth_vocab_from_gguf(src);
  EXPECT_EQ(v.size, 512);
  const GgufFile f = GgufFile::open(src);
  size_t n = 0;
  for (const GgufKeyValue& kv : f.metadata()) n += kv.key.starts_with("tokenizer.") ? 1 : 0;
  EXPECT_EQ(v.keys.size(), n);
}

}  // namespace
}  // namespace bitdial
