// Perplexity and KL divergence (eval/perplexity.h): the per-position metrics on hand-computed logits,
// llama-perplexity's chunking, and end-to-end figures on stories260K (F32 vs itself and vs Q4_K_M).
#include "eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/session.h"
#include "model/synth.h"
#include "test_support.h"

namespace bitdial {
namespace {

// A children's story written for this test (not from any training set), ~2,000 characters.
constexpr const char* kStory =
    "Once upon a time, in a small town by the sea, there lived a little girl named Mia. Mia loved to "
    "play in the sand and look for shells. Every morning she took her red bucket and ran down to the "
    "beach with her dog, Max. Max was a big brown dog with floppy ears and a happy tail.\n"
    "One day, Mia found a shiny blue shell under a rock. It was the most beautiful shell she had ever "
    "seen. She held it up to the sun and it sparkled like a star. \"Look, Max!\" she said. \"This is a "
    "magic shell!\" Max barked and jumped around her feet.\n"
    "Mia put the shell to her ear. She heard the sound of the sea, and then she heard a tiny voice. "
    "\"Help me, please,\" said the voice. Mia was surprised. She looked around, but there was nobody "
    "there. Then she saw a little crab stuck in a hole. The crab could not get out.\n"
    "Mia was kind and brave. She dug around the hole with her hands until the crab was free. The crab "
    "waved its claws and said, \"Thank you, Mia! You are a good friend.\" Mia smiled. She was happy "
    "that she could help.\n"
    "The crab told Mia about a big party under the sea. All the fish and the crabs and the turtles were "
    "going to dance and sing. \"Can I come too?\" asked Mia. The crab laughed. \"You cannot breathe under "
    "the water, but you can watch from the rocks when the moon is up.\"\n"
    "That night, Mia and her mom went to the rocks. The moon was big and bright. They saw the fish jump "
    "out of the water and the turtles swim in a circle. The little crab waved at Mia from a rock. Mia "
    "waved back and laughed. Her mom hugged her and said, \"What a wonderful night!\"\n"
    "When they went home, Mia put the blue shell on her table next to her bed. Every night before she "
    "went to sleep, she held the shell to her ear and listened to the sea. She dreamed of fish and "
    "turtles and her friend the crab.\n"
    "The next day, Mia told her friend Tom about the party. Tom did not believe her at first. But when "
    "he heard the tiny voice in the shell, his eyes grew wide. \"It is true!\" he said. From that day on, "
    "Mia and Tom went to the beach together, and they always looked out for little crabs that needed "
    "help. And they lived happily ever after.\n";

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kLn3 = 1.09861228866810969140;

// logits {0, ln 2, ln 3}: exp -> {1, 2, 3}, so p_cand = {1/6, 2/6, 3/6}; target 2 has NLL ln 2.
// logits {0, 0, 0}: p_base = {1/3, 1/3, 1/3}; target 2 has NLL ln 3.
// KL(P_base || P_cand) = 1/3 [ln((1/3)/(1/6)) + ln(1) + ln((1/3)/(1/2))] = 1/3 ln(4/3) = 0.095894...
// The reverse, KL(P_cand || P_base) = 1/2 ln(3/2) - 1/6 ln 2 = 0.087208..., so the test pins the direction.
TEST(ScorePosition, HandComputedNllKlAndProbabilityShift) {
  const float cand[3] = {0.0f, static_cast<float>(kLn2), static_cast<float>(kLn3)};
  const float base[3] = {0.0f, 0.0f, 0.0f};
  const PositionScore s = score_position(cand, base, 3, 2);
  const double tol = 1e-7;  // the logits are float: ln 2, ln 3 rounded to ~6e-8 relative
  EXPECT_NEAR(s.nll_cand, kLn2, tol);
  EXPECT_NEAR(s.nll_base, kLn3, tol);
  EXPECT_NEAR(s.kld, std::log(4.0 / 3.0) / 3.0, tol);
  EXPECT_NEAR(s.dp, 1.0 / 2.0 - 1.0 / 3.0, tol);
  EXPECT_FALSE(s.same_top1);  // cand's argmax is 2, base's is 0 (first of a tie)
}

TEST(ScorePosition, KlOfADistributionWithItselfIsExactlyZero) {
  const float x[4] = {-1.5f, 3.25f, 0.5f, 2.0f};
  const PositionScore s = score_position(x, x, 4, 0);
  EXPECT_EQ(s.kld, 0.0);
  EXPECT_EQ(s.dp, 0.0);
  EXPECT_EQ(s.nll_cand, s.nll_base);
  EXPECT_TRUE(s.same_top1);
}

// Softmax ignores a constant shift, and the max-subtraction keeps large logits from overflowing exp().
TEST(ScorePosition, ShiftedLogitsGiveTheSameScores) {
  const float base[4] = {0.0f, 1.0f, 2.0f, 3.0f};
  const float cand[4] = {1000.0f, 1001.0f, 1002.0f, 1003.0f};
  const PositionScore s = score_position(cand, base, 4, 1);
  EXPECT_NEAR(s.kld, 0.0, 1e-12);
  EXPECT_NEAR(s.nll_cand, s.nll_base, 1e-12);
  EXPECT_TRUE(s.same_top1);
  // p(1) = e / (1 + e + e^2 + e^3)
  const double e = std::exp(1.0);
  EXPECT_NEAR(s.nll_base, -std::log(e / (1 + e + e * e + e * e * e)), 1e-12);
}

TEST(ScorePosition, WithoutBaselineOnlyNllIsFilled) {
  const float cand[3] = {0.0f, static_cast<float>(kLn2), static_cast<float>(kLn3)};
  const PositionScore s = score_position(cand, nullptr, 3, 0);
  EXPECT_NEAR(s.nll_cand, std::log(6.0), 1e-7);
  EXPECT_EQ(s.kld, 0.0);
  EXPECT_EQ(s.nll_base, 0.0);
}

// n_ctx 8, 20 tokens: 2 chunks (4 tokens dropped); j = 4, 5, 6 predict tokens 5, 6, 7 -> 3 per chunk.
TEST(ChunkPlan, TwentyTokensInContextEightGiveTwoChunksOfThreeScoredPositions) {
  const ChunkPlan p = chunk_plan(20, 8);
  EXPECT_EQ(p.n_chunks, 2);
  EXPECT_EQ(p.first, 4);
  EXPECT_EQ(p.scored_per_chunk, 3);
  EXPECT_EQ(p.n_positions(), 6);
}

TEST(ChunkPlan, TextShorterThanOneChunkIsAnErrorNamingSourceAndCount) {
  try {
    chunk_plan(7, 8, "notes.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("shorter than one chunk"), std::string::npos) << msg;
    EXPECT_NE(msg.find("notes.txt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("7 tokens"), std::string::npos) << msg;
  }
}

TEST(ChunkPlan, ContextTooSmallToScoreIsAnError) { EXPECT_THROW(chunk_plan(100, 2), Error); }

struct Stories {
  LlamaModel f32 = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  Tokenizer tok = Tokenizer::from_gguf(f32.file());
};

TEST(EvaluateText, StoriesTextIsTokenizedWithBosAndChunksStartWithBos) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], s.tok.bos());
  EXPECT_EQ(chunk_start_token(s.tok), s.tok.bos());
}

// Whatever token starts a chunk, it is overwritten with BOS, so changing it changes no score.
TEST(EvaluateText, FirstTokenOfEachChunkIsReplacedByBos) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  ids.resize(20);
  TextEvalOptions o{.n_ctx = 8, .bos = s.tok.bos(), .progress = nullptr};
  const TextEvalResult a = evaluate_text(s.f32, nullptr, ids, o);
  ids[0] = 300;
  ids[8] = 301;
  const TextEvalResult b = evaluate_text(s.f32, nullptr, ids, o);
  EXPECT_EQ(a.plan.n_chunks, 2);
  ASSERT_EQ(a.scores.size(), 6u);
  EXPECT_EQ(a.scores.nll_cand, b.scores.nll_cand);
  // Without the replacement the changed first tokens do change the scores.
  o.bos = -1;
  const TextEvalResult c = evaluate_text(s.f32, nullptr, ids, o);
  EXPECT_NE(a.scores.nll_cand, c.scores.nll_cand);
}

TEST(EvaluateText, ModelAgainstItselfHasZeroKlAndSameTop1Everywhere) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  const TextEvalResult r = evaluate_text(s.f32, &s.f32, ids, {.n_ctx = 128, .bos = s.tok.bos(), .progress = nullptr});
  ASSERT_GT(r.scores.size(), 0u);
  EXPECT_EQ(r.scores.size(), static_cast<size_t>(r.plan.n_positions()));
  for (size_t i = 0; i < r.scores.size(); ++i) {
    EXPECT_LT(std::abs(r.scores.kld[i]), 1e-12) << "position " << i;
    EXPECT_EQ(r.scores.same_top1[i], 1) << "position " << i;
  }
  EXPECT_EQ(r.ppl_cand, r.ppl_base);
  EXPECT_GT(r.ppl_cand, 1.0);
}

// Q4_K_M vs F32, with the first chunk's KL mean recomputed naively: one Session pass over the whole
// chunk (no batching) and a plain double log-sum-exp, in the llama.cpp direction KL(P_f32 || P_q4).
TEST(EvaluateText, Q4KMAgainstF32HasSmallPositiveKlMatchingANaiveRecomputation) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const LlamaModel q4 = LlamaModel::load(test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf"));
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  const int64_t n_ctx = 128;
  const TextEvalResult r = evaluate_text(q4, &s.f32, ids, {.n_ctx = n_ctx, .bos = s.tok.bos(), .progress = nullptr});
  const size_t n = r.scores.size();
  ASSERT_GT(n, 0u);
  const double kld_mean = std::accumulate(r.scores.kld.begin(), r.scores.kld.end(), 0.0) / n;
  const double top1 = std::accumulate(r.scores.same_top1.begin(), r.scores.same_top1.end(), 0.0) / n;
  double dp2 = 0;
  for (const double d : r.scores.dp) dp2 += d * d;
  std::printf("tokens %lld chunks %lld positions %zu: KLD mean %.6f, same top-1 %.4f, RMS dp %.5f, "
              "PPL q4 %.4f f32 %.4f ratio %.5f, %.0f tok/s\n",
              static_cast<long long>(r.n_tokens), static_cast<long long>(r.plan.n_chunks), n, kld_mean, top1,
              std::sqrt(dp2 / n), r.ppl_cand, r.ppl_base, r.ppl_cand / r.ppl_base, r.tokens_per_second);
  EXPECT_GT(kld_mean, 0.0);
  EXPECT_LT(kld_mean, 0.5);
  EXPECT_GT(top1, 0.5);
  EXPECT_LE(top1, 1.0);

  // Naive first chunk.
  std::vector<int32_t> chunk(ids.begin(), ids.begin() + n_ctx);
  chunk[0] = s.tok.bos();
  Session sq(q4, {.n_ctx = n_ctx}), sf(s.f32, {.n_ctx = n_ctx});
  const std::vector<float> lq = sq.eval(chunk, true), lf = sf.eval(chunk, true);
  const int64_t nv = s.f32.hparams().n_vocab;
  auto log_z = [nv](const float* x) {
    double z = 0;
    for (int64_t i = 0; i < nv; ++i) z += std::exp(static_cast<double>(x[i]));
    return std::log(z);
  };
  double sum = 0;
  int64_t count = 0;
  for (int64_t j = n_ctx / 2; j < n_ctx - 1; ++j, ++count) {
    const float* q = lq.data() + j * nv;
    const float* f = lf.data() + j * nv;
    const double zq = log_z(q), zf = log_z(f);
    for (int64_t i = 0; i < nv; ++i) {
      const double lpf = f[i] - zf, lpq = q[i] - zq;
      sum += std::exp(lpf) * (lpf - lpq);
    }
  }
  ASSERT_EQ(count, r.plan.scored_per_chunk);
  const double naive = sum / count;
  const double ours =
      std::accumulate(r.scores.kld.begin(), r.scores.kld.begin() + count, 0.0) / static_cast<double>(count);
  EXPECT_NEAR(ours, naive, 1e-9 * naive) << "first-chunk KLD mean: ours " << ours << " naive " << naive;
}

// Chunks evaluated several per forward pass (n_seq) score exactly as one chunk at a time, with a
// baseline, a last batch of fewer chunks than n_seq, and scored positions split over several calls.
TEST(EvaluateText, SeveralChunksPerPassScoreBitwiseAsOneAtATime) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const LlamaModel q4 = LlamaModel::load(test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf"));
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  TextEvalOptions o{.n_ctx = 64, .n_batch = 20, .bos = s.tok.bos(), .progress = nullptr};
  o.n_seq = 1;
  const TextEvalResult one = evaluate_text(q4, &s.f32, ids, o);
  ASSERT_GE(one.plan.n_chunks, 5);
  for (const int64_t n_seq : {3, 4, 100}) {
    o.n_seq = n_seq;
    const TextEvalResult many = evaluate_text(q4, &s.f32, ids, o);
    EXPECT_EQ(many.scores.nll_cand, one.scores.nll_cand) << "n_seq " << n_seq;
    EXPECT_EQ(many.scores.nll_base, one.scores.nll_base) << "n_seq " << n_seq;
    EXPECT_EQ(many.scores.kld, one.scores.kld) << "n_seq " << n_seq;
    EXPECT_EQ(many.scores.dp, one.scores.dp) << "n_seq " << n_seq;
    EXPECT_EQ(many.scores.same_top1, one.scores.same_top1) << "n_seq " << n_seq;
    EXPECT_EQ(many.ppl_cand, one.ppl_cand) << "n_seq " << n_seq;
  }
}

TEST(EvaluateText, NonPositiveChunksPerPassIsAnError) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, kStory);
  TextEvalOptions o{.n_ctx = 64, .progress = nullptr};
  o.n_seq = 0;
  EXPECT_THROW(evaluate_text(s.f32, nullptr, ids, o), Error);
}

TEST(EvaluateText, TooShortTextIsAnErrorSayingShorterThanOneChunk) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  const std::vector<int32_t> ids = tokenize_for_perplexity(s.tok, "Once upon a time.");
  try {
    evaluate_text(s.f32, nullptr, ids, {.n_ctx = 128, .source = "tiny.txt", .progress = nullptr});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiny.txt: text shorter than one chunk"), std::string::npos) << e.what();
  }
}

std::string write_synth(const test::TempDir& dir, int64_t n_vocab) {
  SynthOverrides o = test::tiny_synth_shape(n_vocab);
  o.n_layer = 1;
  const std::string path = dir.file("synth" + std::to_string(n_vocab) + ".gguf");
  write_synth_model(path, make_synth_spec("", o), synth_byte_vocab(n_vocab), {});
  return path;
}

void expect_vocab_error(const LlamaModel& cand, const LlamaModel& base, const std::vector<int32_t>& ids) {
  try {
    evaluate_text(cand, &base, ids, {.n_ctx = 8, .progress = nullptr});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("different vocabulary"), std::string::npos) << msg;
    EXPECT_NE(msg.find(cand.file().path()), std::string::npos) << msg;
    EXPECT_NE(msg.find(base.file().path()), std::string::npos) << msg;
  }
}

TEST(EvaluateText, BaselineWithADifferentVocabularySizeIsAnErrorNamingBothFiles) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  test::TempDir dir;
  const LlamaModel other = LlamaModel::load(write_synth(dir, 400));
  expect_vocab_error(s.f32, other, std::vector<int32_t>(16, 5));
}

// Same n_vocab (512) but the synth byte vocabulary maps ids to other strings than stories260K's.
TEST(EvaluateText, BaselineWithSameSizeButDifferentTokensIsAnError) {
  BITDIAL_REQUIRE_SHARED();
  Stories s;
  test::TempDir dir;
  const LlamaModel other = LlamaModel::load(write_synth(dir, 512));
  ASSERT_EQ(other.hparams().n_vocab, s.f32.hparams().n_vocab);
  expect_vocab_error(s.f32, other, std::vector<int32_t>(16, 5));
}

}  // namespace
}  // namespace bitdial
