// Training checkpoints (train/checkpoint.h): an exact round trip, a resumed run identical to an
// uninterrupted one, shape mismatches named by file and key/tensor, NaN refusal that keeps the previous
// file, and a file that is also an ordinary llama GGUF.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/llama_gguf_keys.h"
#include "test_support.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

// tiny_train_spec with the byte vocabulary (the checkpoint carries it) and a context of 32.
SynthSpec tiny_spec() {
  SynthSpec s = test::tiny_train_spec();
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = 32;
  return s;
}

// Parameters of `spec` with seeded N(0, 0.5^2) values; norms do not decay.
ParamSet make_params(const SynthSpec& spec, uint32_t seed) { return test::normal_params(spec, seed, 0.5f, 0.5f); }

// A deterministic stand-in for backward: depends on the weights and the step, as a real gradient does.
void fake_gradients(ParamSet& ps, int64_t step) {
  for (size_t k = 0; k < ps.params.size(); ++k) {
    Param& p = ps.params[k];
    for (size_t i = 0; i < p.value.size(); ++i)
      p.grad[i] = std::sin(3.0f * p.value[i] + 0.1f * static_cast<float>(step) + 0.01f * static_cast<float>(i + k));
  }
}

AdamWConfig adamw() {
  AdamWConfig c;
  c.weight_decay = 0.1;
  return c;
}

LrSchedule schedule() { return {.peak_lr = 1e-2, .min_lr = 1e-3, .warmup_steps = 2, .total_steps = 8}; }

// One trainer step as train/optimizer.h orders it (accumulation of 2 micro-batches, clipping at 1).
void train_step(ParamSet& ps, AdamWState& st) {
  fake_gradients(ps, st.step);
  scale_grads(ps, 0.5f);
  check_step_finite(1.0, ps, st.step);
  clip_grad_norm(ps, 1.0);
  adamw_step(ps, st, adamw(), lr_at(schedule(), st.step));
  ps.zero_grads();
}

TrainProgress progress() {
  TrainProgress p;
  p.seed = 0xDEADBEEFCAFEull;
  p.tokens_seen = 123456789012ull;
  p.data_cursor = 98765;
  p.rng_state = {1, 0xFFFFFFFFFFFFFFFFull, 42};
  p.config_fingerprint = "sha256:0123abcd";
  return p;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_same_state(const ParamSet& a, const AdamWState& sa, const ParamSet& b, const AdamWState& sb) {
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(sa.step, sb.step);
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_EQ(a.params[i].name, b.params[i].name);
    EXPECT_TRUE(same_bits(a.params[i].value, b.params[i].value)) << a.params[i].name;
    EXPECT_TRUE(same_bits(sa.m[i], sb.m[i])) << "m of " << a.params[i].name;
    EXPECT_TRUE(same_bits(sa.v[i], sb.v[i])) << "v of " << a.params[i].name;
  }
}

// A copy of a GGUF with one tensor reshaped (same bytes) or dropped, for mismatch fixtures.
void rewrite(const std::string& from, const std::string& to, const std::string& tensor, std::vector<int64_t> new_ne) {
  const GgufFile f = GgufFile::open(from);
  GgufWriter w;
  for (const GgufKeyValue& kv : f.metadata()) w.set(kv.key, kv.value);
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name == tensor && new_ne.empty()) continue;
    w.add_tensor(t.name, t.type, t.name == tensor ? new_ne : t.ne, f.tensor_data(t), t.nbytes);
  }
  w.write(to);
}

TEST(Checkpoint, RoundTripRestoresValuesMomentsStepAndProgressBitwise) {
  test::TempDir dir;
  ParamSet ps = make_params(tiny_spec(), 1);
  AdamWState st = make_adamw_state(ps);
  for (int i = 0; i < 3; ++i) train_step(ps, st);
  write_checkpoint(dir.file("ckpt.gguf"), ps, st, progress(), synth_byte_vocab(kSynthByteVocabMin));

  const TrainCheckpoint ck = read_checkpoint(dir.file("ckpt.gguf"), tiny_spec());
  expect_same_state(ps, st, ck.params, ck.optim);
  EXPECT_EQ(ck.optim.step, 3);
  for (size_t i = 0; i < ps.params.size(); ++i) {
    EXPECT_EQ(ck.params.params[i].shape, ps.params[i].shape);
    EXPECT_EQ(ck.params.params[i].decay, ps.params[i].decay) << ps.params[i].name;
    EXPECT_EQ(ck.params.params[i].grad, std::vector<float>(ps.params[i].value.size(), 0.0f));
  }
  const TrainProgress want = progress();
  EXPECT_EQ(ck.progress.seed, want.seed);
  EXPECT_EQ(ck.progress.tokens_seen, want.tokens_seen);
  EXPECT_EQ(ck.progress.data_cursor, want.data_cursor);
  EXPECT_EQ(ck.progress.rng_state, want.rng_state);
  EXPECT_EQ(ck.progress.config_fingerprint, want.config_fingerprint);
  EXPECT_EQ(ck.vocab.size, kSynthByteVocabMin);
  EXPECT_EQ(ck.vocab.keys.size(), synth_byte_vocab(kSynthByteVocabMin).keys.size());
}

TEST(Checkpoint, ResumedRunEqualsUninterruptedRunBitwise) {
  test::TempDir dir;
  constexpr int kSteps = 7, kSaveAt = 3;
  ParamSet continuous = make_params(tiny_spec(), 2);
  AdamWState continuous_state = make_adamw_state(continuous);
  for (int i = 0; i < kSteps; ++i) train_step(continuous, continuous_state);

  ParamSet first = make_params(tiny_spec(), 2);
  AdamWState first_state = make_adamw_state(first);
  for (int i = 0; i < kSaveAt; ++i) train_step(first, first_state);
  write_checkpoint(dir.file("ckpt.gguf"), first, first_state, progress(), synth_byte_vocab(kSynthByteVocabMin));
  TrainCheckpoint resumed = read_checkpoint(dir.file("ckpt.gguf"), tiny_spec());
  for (int i = kSaveAt; i < kSteps; ++i) train_step(resumed.params, resumed.optim);

  expect_same_state(continuous, continuous_state, resumed.params, resumed.optim);
}

TEST(Checkpoint, HyperparameterMismatchNamesTheFileAndKey) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 3);
  write_checkpoint(dir.file("ckpt.gguf"), ps, make_adamw_state(ps), progress(), synth_byte_vocab(kSynthByteVocabMin));
  SynthSpec wider = tiny_spec();
  wider.n_embd = 16;
  const std::string msg = test::error_of([&] { read_checkpoint(dir.file("ckpt.gguf"), wider); });
  EXPECT_NE(msg.find("ckpt.gguf: llama.embedding_length is 8, config expects 16"), std::string::npos) << msg;
}

TEST(Checkpoint, TensorShapeMismatchNamesTheFileAndTensor) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 4);
  write_checkpoint(dir.file("good.gguf"), ps, make_adamw_state(ps), progress(), synth_byte_vocab(kSynthByteVocabMin));
  rewrite(dir.file("good.gguf"), dir.file("ckpt.gguf"), "blk.1.attn_q.weight", {4, 16});
  const std::string msg = test::error_of([&] { read_checkpoint(dir.file("ckpt.gguf"), tiny_spec()); });
  EXPECT_NE(msg.find("ckpt.gguf: blk.1.attn_q.weight has shape 4x16, config expects 8x8"), std::string::npos) << msg;
}

TEST(Checkpoint, MissingMomentTensorIsNamed) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 5);
  write_checkpoint(dir.file("good.gguf"), ps, make_adamw_state(ps), progress(), synth_byte_vocab(kSynthByteVocabMin));
  rewrite(dir.file("good.gguf"), dir.file("ckpt.gguf"), "optim.v.output_norm.weight", {});
  const std::string msg = test::error_of([&] { read_checkpoint(dir.file("ckpt.gguf"), tiny_spec()); });
  EXPECT_NE(msg.find("ckpt.gguf: tensor optim.v.output_norm.weight missing"), std::string::npos) << msg;
}

TEST(Checkpoint, UntiedCheckpointReadAsTiedConfigNamesTheExtraTensor) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 6);
  write_checkpoint(dir.file("ckpt.gguf"), ps, make_adamw_state(ps), progress(), synth_byte_vocab(kSynthByteVocabMin));
  SynthSpec tied = tiny_spec();
  tied.tied_embeddings = true;
  const std::string msg = test::error_of([&] { read_checkpoint(dir.file("ckpt.gguf"), tied); });
  EXPECT_NE(msg.find("ckpt.gguf: tensor output.weight is not part of the model"), std::string::npos) << msg;
}

TEST(Checkpoint, NanWeightIsRefusedAndTheExistingFileKeepsItsBytes) {
  test::TempDir dir;
  const std::string path = dir.file("ckpt.gguf");
  ParamSet ps = make_params(tiny_spec(), 7);
  AdamWState st = make_adamw_state(ps);
  write_checkpoint(path, ps, st, progress(), synth_byte_vocab(kSynthByteVocabMin));
  const std::string before = read_file(path);

  train_step(ps, st);
  ps.find("blk.0.ffn_up.weight")->value[5] = std::numeric_limits<float>::quiet_NaN();
  const std::string msg = test::error_of([&] { write_checkpoint(path, ps, st, progress(), synth_byte_vocab(kSynthByteVocabMin)); });
  EXPECT_NE(msg.find("blk.0.ffn_up.weight is nan at element 5"), std::string::npos) << msg;
  EXPECT_EQ(read_file(path), before);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);  // no temporary left behind
}

TEST(Checkpoint, InfMomentIsRefusedNamingTheMomentTensor) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 8);
  AdamWState st = make_adamw_state(ps);
  st.v[3][0] = std::numeric_limits<float>::infinity();
  const std::string msg = test::error_of([&] { write_checkpoint(dir.file("ckpt.gguf"), ps, st, progress(), synth_byte_vocab(kSynthByteVocabMin)); });
  EXPECT_NE(msg.find("optim.v." + ps.params[3].name + " is inf"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir.file("ckpt.gguf")));
}

TEST(Checkpoint, FileCarriesLlamaAndTokenizerKeysSoInspectReadsIt) {
  test::TempDir dir;
  const ParamSet ps = make_params(tiny_spec(), 9);
  write_checkpoint(dir.file("ckpt.gguf"), ps, make_adamw_state(ps), progress(), synth_byte_vocab(kSynthByteVocabMin));
  const GgufFile f = GgufFile::open(dir.file("ckpt.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_uint("llama.block_count"), 2u);
  EXPECT_EQ(f.get_uint("general.file_type"), 0u);
  EXPECT_NE(f.find("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(f.get_uint("bitdial.train.checkpoint_version"), kCheckpointVersion);
  const test::CommandResult r = test::run_bitdial("inspect '" + dir.file("ckpt.gguf") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("optim.m.token_embd.weight"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bitdial
