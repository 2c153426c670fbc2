// Several sequences in one forward pass (model/session_batch.h): every sequence's logits are bitwise
// those of its own Session::eval, whatever the other sequences' lengths and positions; errors name the
// sequence they are about and leave every cache as it was.
#include "model/session_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/synth.h"
#include "test_support.h"

namespace bitdial {
namespace {

// Token ids 3 .. n_vocab - 1 from a fixed linear congruential sequence (seeded, so failures repeat).
std::vector<int32_t> some_tokens(int64_t n, int64_t n_vocab, uint32_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) {
    seed = seed * 1664525u + 1013904223u;
    id = 3 + static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(n_vocab - 3));
  }
  return ids;
}

// A 2-layer synth model with grouped-query attention (4 query heads share 2 K/V heads).
std::string write_gqa_synth(const test::TempDir& dir, TensorType type) {
  const SynthOverrides o = test::tiny_synth_shape(kSynthByteVocabMin);
  const std::string path = dir.file("gqa.gguf");
  SynthOptions so;
  so.type = type;
  so.seed = 7;
  so.weight_std = 0.2f;  // large enough that attention is far from uniform
  write_synth_model(path, make_synth_spec("", o), synth_byte_vocab(kSynthByteVocabMin), so);
  return path;
}

// Sequence i: a prefix of past[i] tokens evaluated alone first, then new_len[i] tokens. Batches the new
// tokens of all sequences once and evaluates them one session at a time in twins; expects equal logits.
void expect_batch_equals_separate(const LlamaModel& model, const std::vector<int64_t>& past,
                                  const std::vector<int64_t>& new_len, bool all_logits, KvType kv = KvType::f16) {
  const int64_t nv = model.hparams().n_vocab;
  const size_t n_seq = past.size();
  std::vector<std::unique_ptr<Session>> batched, separate;
  std::vector<std::vector<int32_t>> news;
  for (size_t i = 0; i < n_seq; ++i) {
    batched.push_back(std::make_unique<Session>(model, SessionOptions{.kv_type = kv, .n_ctx = 64}));
    separate.push_back(std::make_unique<Session>(model, SessionOptions{.kv_type = kv, .n_ctx = 64}));
    const std::vector<int32_t> prefix = some_tokens(past[i], nv, 100 + static_cast<uint32_t>(i));
    if (!prefix.empty()) {
      batched[i]->eval(prefix, false);
      separate[i]->eval(prefix, false);
    }
    news.push_back(some_tokens(new_len[i], nv, 200 + static_cast<uint32_t>(i)));
  }
  std::vector<Session*> sessions;
  std::vector<std::span<const int32_t>> tokens;
  for (size_t i = 0; i < n_seq; ++i) {
    sessions.push_back(batched[i].get());
    tokens.emplace_back(news[i]);
  }
  const std::vector<std::vector<float>> got = eval_batch(sessions, tokens, all_logits);
  ASSERT_EQ(got.size(), n_seq);
  for (size_t i = 0; i < n_seq; ++i) {
    const std::vector<float> want = separate[i]->eval(news[i], all_logits);
    EXPECT_EQ(got[i].size(), static_cast<size_t>((all_logits ? new_len[i] : 1) * nv)) << "sequence " << i;
    EXPECT_TRUE(got[i] == want) << "sequence " << i << " differs from its own eval";
    EXPECT_EQ(batched[i]->n_past(), past[i] + new_len[i]) << "sequence " << i;
  }
}

TEST(EvalBatch, StoriesSequencesOfDifferentLengthsAndPastsMatchSeparateEvals) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  // Lengths across the attention's 32-position chunks; one sequence a single token (decoding).
  expect_batch_equals_separate(model, {0, 5, 11, 40}, {7, 1, 35, 3}, /*all_logits=*/true);
}

TEST(EvalBatch, StoriesWithF32CacheMatchesSeparateEvals) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  expect_batch_equals_separate(model, {3, 0}, {9, 20}, /*all_logits=*/true, KvType::f32);
}

TEST(EvalBatch, LastLogitsOnlyMatchSeparateEvals) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  expect_batch_equals_separate(model, {0, 5, 11}, {7, 1, 35}, /*all_logits=*/false);
}

TEST(EvalBatch, GqaSynthModelSequencesMatchSeparateEvals) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  ASSERT_EQ(model.hparams().n_head / model.hparams().n_head_kv, 2);
  expect_batch_equals_separate(model, {0, 17, 2}, {12, 1, 33}, /*all_logits=*/true);
}

// Q8_0 weights quantize the activations row by row before the products: still per row, so still equal.
TEST(EvalBatch, QuantizedGqaSynthModelSequencesMatchSeparateEvals) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::Q8_0));
  expect_batch_equals_separate(model, {4, 0, 30}, {12, 6, 2}, /*all_logits=*/true);
}

// q6_K weights, 256 wide so every matrix is q6_K: on the AVX2 path they are packed 8 rows at a time at
// load, and the packed kernel keeps batched and separate evals bitwise equal.
TEST(EvalBatch, PackedQ6_KSynthModelSequencesMatchSeparateEvals) {
  test::TempDir dir;
  SynthOverrides o = test::tiny_synth_shape(kSynthByteVocabMin);
  o.n_embd = 256;
  o.n_ff = 512;
  const std::string path = dir.file("q6k.gguf");
  SynthOptions so;
  so.type = TensorType::Q6_K;
  so.seed = 9;
  const SynthResult written = write_synth_model(path, make_synth_spec("", o), synth_byte_vocab(kSynthByteVocabMin), so);
  ASSERT_TRUE(written.fallbacks.empty());
  const LlamaModel model = LlamaModel::load(path);
  const WeightView* down = model.weight("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->type, TensorType::Q6_K);
  EXPECT_EQ(down->packed != nullptr, active_isa() == Isa::Avx2);
  expect_batch_equals_separate(model, {3, 0, 21}, {9, 5, 2}, /*all_logits=*/true);
}

TEST(EvalBatch, SequencesContinuingAfterAPreviousBatchMatchSeparateEvals) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  const int64_t nv = model.hparams().n_vocab;
  Session a(model, {.n_ctx = 64}), b(model, {.n_ctx = 64}), a1(model, {.n_ctx = 64}), b1(model, {.n_ctx = 64});
  Session* const both[2] = {&a, &b};
  const std::vector<int32_t> a_first = some_tokens(10, nv, 1), b_first = some_tokens(3, nv, 2);
  const std::vector<int32_t> a_next = some_tokens(1, nv, 3), b_next = some_tokens(8, nv, 4);
  const std::span<const int32_t> first[2] = {a_first, b_first};
  const std::span<const int32_t> next[2] = {a_next, b_next};
  eval_batch(both, first, false);
  const std::vector<std::vector<float>> got = eval_batch(both, next, true);
  a1.eval(a_first, false);
  b1.eval(b_first, false);
  EXPECT_TRUE(got[0] == a1.eval(a_next, true));
  EXPECT_TRUE(got[1] == b1.eval(b_next, true));
  EXPECT_EQ(a.n_past(), 11);
  EXPECT_EQ(b.n_past(), 11);
}

// A session that copies another's first positions (over a longer history of its own, whose stale values
// must not leak into attention) continues exactly like one that evaluated those tokens itself.
TEST(SessionCopyPrefix, ContinuesBitwiseAsIfItHadEvaluatedThePrefix) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  const int64_t nv = model.hparams().n_vocab;
  const std::vector<int32_t> toks = some_tokens(20, nv, 5), other = some_tokens(40, nv, 6);
  Session source(model, {.n_ctx = 64}), copy(model, {.n_ctx = 48}), whole(model, {.n_ctx = 64});
  source.eval(toks, false);
  copy.eval(other, false);
  copy.copy_prefix(source, 12);
  EXPECT_EQ(copy.n_past(), 12);
  const std::span<const int32_t> rest = std::span<const int32_t>(toks).subspan(12);
  const std::vector<float> got = copy.eval(rest, true);
  const std::vector<float> all = whole.eval(toks, true);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), all.end() - static_cast<std::ptrdiff_t>(got.size())));
}

TEST(EvalBatch, OverflowingSequenceIsNamedAndNoCacheChanges) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  Session a(model, {.n_ctx = 8}), b(model, {.n_ctx = 8}), c(model, {.n_ctx = 8});
  b.eval(std::vector<int32_t>{1, 5, 6}, false);
  Session* const all[3] = {&a, &b, &c};
  const std::vector<int32_t> ok = {1, 7}, too_long = {8, 9, 10, 11, 12, 13};  // 3 cached + 6 > 8
  const std::span<const int32_t> tokens[3] = {ok, too_long, ok};
  try {
    eval_batch(all, tokens, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("sequence 1: 3 cached + 6 new tokens exceed the context size 8"), std::string::npos) << msg;
  }
  EXPECT_EQ(a.n_past(), 0);
  EXPECT_EQ(b.n_past(), 3);
  EXPECT_EQ(c.n_past(), 0);
}

TEST(EvalBatch, EmptyBatchIsAnError) {
  try {
    eval_batch({}, {}, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no sequences"), std::string::npos) << e.what();
  }
}

TEST(EvalBatch, EmptySequenceIsNamedInTheError) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  Session a(model, {.n_ctx = 8}), b(model, {.n_ctx = 8});
  Session* const both[2] = {&a, &b};
  const std::vector<int32_t> ok = {1, 7};
  const std::span<const int32_t> tokens[2] = {ok, {}};
  try {
    eval_batch(both, tokens, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence 1: no tokens"), std::string::npos) << e.what();
  }
}

TEST(EvalBatch, OneSessionTwiceIsAnError) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_gqa_synth(dir, TensorType::F16));
  Session a(model, {.n_ctx = 8});
  Session* const twice[2] = {&a, &a};
  const std::vector<int32_t> ok = {1, 7};
  const std::span<const int32_t> tokens[2] = {ok, ok};
  try {
    eval_batch(twice, tokens, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequences 0 and 1 share one session"), std::string::npos) << e.what();
  }
  EXPECT_EQ(a.n_past(), 0);
}

}  // namespace
}  // namespace bitdial
