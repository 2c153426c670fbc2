// Perplexity and the KL bound against endpoints: the top-K bucket KL by hand on a 4-token vocabulary,
// then stories260K served by a fake OpenAI endpoint that runs the real model (tests/fake_http.h), whose
// figures must equal the local evaluation's where exact and stay below the exact KL where a bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "eval/evaluation.h"
#include "eval/kld_bound.h"
#include "eval/perplexity.h"
#include "eval/remote_text.h"
#include "fake_http.h"
#include "test_support.h"

namespace bitdial {
namespace {

// --- coarse_kld by hand --------------------------------------------------------------------------

std::vector<double> logs(std::vector<double> p) {
  for (double& x : p) x = std::log(x);
  return p;
}

// P_b = (.5, .25, .15, .10), P_c = (.4, .3, .2, .1), tokens 0 and 1 known: buckets {0}, {1}, {2, 3}.
TEST(CoarseKld, TwoKnownTokensAndATailMatchTheHandSum) {
  const CoarseKl r = coarse_kld(logs({0.5, 0.25}), logs({0.4, 0.3}));
  const double hand = 0.5 * std::log(0.5 / 0.4) + 0.25 * std::log(0.25 / 0.3) + 0.25 * std::log(0.25 / 0.3);
  EXPECT_NEAR(r.kld, hand, 1e-15);
  EXPECT_NEAR(r.kld, 0.0204110, 1e-7);  // 0.1115718 - 0.0455804 - 0.0455804
  EXPECT_NEAR(r.known_mass, 0.75, 1e-15);
  EXPECT_FALSE(r.tail_merged);
  // The full KL is larger (data-processing inequality): 0.0228391.
  const double full = 0.5 * std::log(0.5 / 0.4) + 0.25 * std::log(0.25 / 0.3) + 0.15 * std::log(0.15 / 0.2);
  EXPECT_NEAR(full, 0.0228391, 1e-7);
  EXPECT_LT(r.kld, full);
}

TEST(CoarseKld, AllTokensKnownGiveTheExactKlAndOrderDoesNotMatter) {
  const std::vector<double> pb{0.5, 0.25, 0.15, 0.10}, pc{0.4, 0.3, 0.2, 0.1};
  double exact = 0;
  for (size_t i = 0; i < pb.size(); ++i) exact += pb[i] * std::log(pb[i] / pc[i]);
  EXPECT_NEAR(coarse_kld(logs(pb), logs(pc)).kld, exact, 1e-12);
  EXPECT_NEAR(coarse_kld(logs({0.1, 0.5, 0.15, 0.25}), logs({0.1, 0.4, 0.2, 0.3})).kld, exact, 1e-12);
}

TEST(CoarseKld, TailDifferenceAloneIsSeen) {
  // One known token, P_b(0) = 0.5 and P_c(0) = 0.8: the tails 0.5 and 0.2 carry half the bound.
  const CoarseKl r = coarse_kld(logs({0.5}), logs({0.8}));
  EXPECT_NEAR(r.kld, 0.5 * std::log(0.5 / 0.8) + 0.5 * std::log(0.5 / 0.2), 1e-15);
}

TEST(CoarseKld, IdenticalDistributionsAndNoKnownTokenGiveZero) {
  EXPECT_EQ(coarse_kld(logs({0.6, 0.3}), logs({0.6, 0.3})).kld, 0.0);
  EXPECT_EQ(coarse_kld({}, {}).kld, 0.0);
}

// Known probabilities that sum to 1 up to float rounding: the "tail" is noise (here negative on one
// side) and is merged into the largest bucket instead of being divided by.
TEST(CoarseKld, RoundingTailIsMergedNotDividedBy) {
  const CoarseKl r = coarse_kld(logs({0.7, 0.3 + 2e-8}), logs({0.6, 0.4 - 3e-9}));
  EXPECT_TRUE(r.tail_merged);
  EXPECT_TRUE(std::isfinite(r.kld));
  EXPECT_NEAR(r.kld, 0.7 * std::log(0.7 / 0.6) + 0.3 * std::log(0.3 / 0.4), 1e-7);
}

// --- stories260K behind the fake endpoint --------------------------------------------------------

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree. She ran to the ball and picked it up. Her friend "
    "Tom came over and asked to play too. Lily was happy to share. They played with the ball all day long. "
    "When the sun went down, Lily's mom called her home. She told her mom about the ball and her fun day.\n"
    "The next morning, Tom knocked on the door. \"Can we play again?\" he asked. Lily smiled and said yes. "
    "They ran to the park, but the ball was gone. They looked under the tree and behind the bench.\n";

constexpr int64_t kCtx = 64;

struct Models {
  LlamaModel f32 = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  LlamaModel q4 = LlamaModel::load(test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf"));
  Tokenizer tok = Tokenizer::from_gguf(f32.file());
  std::vector<int32_t> ids = tokenize_for_perplexity(tok, kStory);
};

Models& models() {
  static Models m;
  return m;
}

RemoteTextOptions remote_options(int top_k = 20) {
  RemoteTextOptions o;
  o.n_ctx = kCtx;
  o.bos = models().tok.bos();
  o.top_k = top_k;
  o.progress = nullptr;
  return o;
}

TextEvalResult local_eval(const LlamaModel& cand, const LlamaModel* base) {
  return evaluate_text(cand, base, models().ids, {.n_ctx = kCtx, .bos = models().tok.bos(), .progress = nullptr});
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

// Exact figures equal, and every position's bound at most the exact KL.
void expect_matches_local(const TextEvalResult& remote, const TextEvalResult& local) {
  ASSERT_EQ(remote.scores.size(), local.scores.size());
  ASSERT_GE(local.plan.n_chunks, 2);
  const PositionScores &r = remote.scores, &l = local.scores;
  int bad = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const bool ok = std::abs(r.nll_cand[i] - l.nll_cand[i]) <= 1e-9 && std::abs(r.nll_base[i] - l.nll_base[i]) <= 1e-9 &&
                    std::abs(r.dp[i] - l.dp[i]) <= 1e-9 && r.same_top1[i] == l.same_top1[i] &&
                    r.kld[i] <= l.kld[i] * (1 + 1e-9) + 1e-12 && r.kld[i] >= 0;
    if (!ok && ++bad <= 5)
      ADD_FAILURE() << "position " << i << ": nll " << r.nll_cand[i] << "/" << l.nll_cand[i] << " base " << r.nll_base[i]
                    << "/" << l.nll_base[i] << " top1 " << int(r.same_top1[i]) << "/" << int(l.same_top1[i]) << " kl bound "
                    << r.kld[i] << " exact " << l.kld[i];
  }
  EXPECT_EQ(bad, 0);
  EXPECT_NEAR(remote.ppl_cand, local.ppl_cand, 1e-9 * local.ppl_cand);
  EXPECT_NEAR(remote.ppl_base, local.ppl_base, 1e-9 * local.ppl_base);
  EXPECT_TRUE(remote.kld_lower_bound);
  EXPECT_FALSE(local.kld_lower_bound);
}

TEST(RemoteText, SameModelServedGivesTheLocalPplAndZeroKlBound) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer server(m.f32);
  RemoteModel rm = RemoteModel::connect(server.url(), "f32", "");
  const TextSide base{&m.f32, nullptr};
  const TextEvalResult r = evaluate_text_remote({nullptr, &rm}, &base, m.tok, m.ids, remote_options());
  const TextEvalResult l = local_eval(m.f32, &m.f32);
  expect_matches_local(r, l);
  for (size_t i = 0; i < r.scores.size(); ++i) {
    EXPECT_LT(r.scores.kld[i], 1e-12) << i;
    EXPECT_EQ(r.scores.same_top1[i], 1) << i;
  }
  EXPECT_EQ(r.unmapped_top_tokens, 0);
  EXPECT_EQ(r.kld_top_k, 20);
  // One request per chunk; nothing else.
  EXPECT_EQ(server.n_requests, l.plan.n_chunks);
}

TEST(RemoteText, ServedQ4AgainstLocalF32BoundsTheExactKlFromBelow) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer server(m.q4);
  RemoteModel rm = RemoteModel::connect(server.url(), "q4", "");
  const TextSide base{&m.f32, nullptr};
  const TextEvalResult l = local_eval(m.q4, &m.f32);
  double prev = -1;
  for (const int k : {1, 5, 20}) {
    const TextEvalResult r = evaluate_text_remote({nullptr, &rm}, &base, m.tok, m.ids, remote_options(k));
    expect_matches_local(r, l);
    const double bound = mean(r.scores.kld), exact = mean(l.scores.kld);
    std::printf("top-%d: KL bound %.6f exact %.6f (%.1f %%), baseline mass in buckets %.4f, PPL q4 %.4f f32 %.4f, "
                "same top-1 %.4f\n",
                k, bound, exact, 100 * bound / exact, r.kld_known_mass, r.ppl_cand, r.ppl_base,
                mean(std::vector<double>(r.scores.same_top1.begin(), r.scores.same_top1.end())));
    EXPECT_GT(bound, 0.0);
    EXPECT_LE(bound, exact);
    EXPECT_GT(bound, prev);  // more known tokens: a finer partition, a tighter bound
    prev = bound;
  }
}

// The local model as the candidate and the endpoint as the baseline: the other KL direction's buckets.
TEST(RemoteText, LocalQ4AgainstServedF32MatchesTheLocalEvaluation) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer server(m.f32);
  RemoteModel rm = RemoteModel::connect(server.url(), "f32", "");
  const TextSide base{nullptr, &rm};
  const TextEvalResult r = evaluate_text_remote({&m.q4, nullptr}, &base, m.tok, m.ids, remote_options());
  const TextEvalResult l = local_eval(m.q4, &m.f32);
  expect_matches_local(r, l);
  EXPECT_GT(mean(r.scores.kld), 0.0);
}

// Both remote: buckets are the tokens in both top-K lists; still exact PPL and same top-1.
TEST(RemoteText, TwoEndpointsMatchTheLocalEvaluationWithTheIntersectionBound) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer sq(m.q4), sf(m.f32);
  sq.spelling = test::ModelCompletionServer::Spelling::token_id;  // each server its own spelling
  sf.spelling = test::ModelCompletionServer::Spelling::piece;
  RemoteModel rq = RemoteModel::connect(sq.url(), "q4", ""), rf = RemoteModel::connect(sf.url(), "f32", "");
  const TextSide base{nullptr, &rf};
  const TextEvalResult r = evaluate_text_remote({nullptr, &rq}, &base, m.tok, m.ids, remote_options());
  const TextEvalResult l = local_eval(m.q4, &m.f32);
  expect_matches_local(r, l);
  EXPECT_GT(mean(r.scores.kld), 0.0);
}

TEST(RemoteText, CandidateAloneGivesTheLocalPpl) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer server(m.q4);
  RemoteModel rm = RemoteModel::connect(server.url(), "q4", "");
  const TextEvalResult r = evaluate_text_remote({nullptr, &rm}, nullptr, m.tok, m.ids, remote_options());
  const TextEvalResult l = local_eval(m.q4, nullptr);
  EXPECT_NEAR(r.ppl_cand, l.ppl_cand, 1e-9 * l.ppl_cand);
  EXPECT_FALSE(r.has_base);
  EXPECT_TRUE(r.scores.kld.empty());
}

// A server that validates max_tokens >= 1 gets 1 and its generated token is dropped from the echo.
TEST(RemoteText, ServerRejectingMaxTokensZeroGivesTheSameScores) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::ModelCompletionServer server(m.f32);
  server.reject_max_tokens_zero = true;
  RemoteModel rm = RemoteModel::connect(server.url(), "f32", "");
  const TextEvalResult r = evaluate_text_remote({nullptr, &rm}, nullptr, m.tok, m.ids, remote_options());
  EXPECT_NEAR(r.ppl_cand, local_eval(m.f32, nullptr).ppl_cand, 1e-9 * r.ppl_cand);
}

std::string remote_error(test::ModelCompletionServer& server) {
  Models& m = models();
  RemoteModel rm = RemoteModel::connect(server.url(), "f32", "");
  const TextSide base{&m.f32, nullptr};
  return test::error_of([&] { evaluate_text_remote({nullptr, &rm}, &base, m.tok, m.ids, remote_options()); });
}

TEST(RemoteTextErrors, EchoWithAnotherTokenCountNamesTheUrl) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer server(models().f32);
  server.extra_tokens = 1;
  const std::string msg = remote_error(server);
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("token ids but the server echoed"), std::string::npos) << msg;
}

TEST(RemoteTextErrors, EchoSpellingOtherTokensIsAVocabularyMismatch) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer server(models().f32);
  server.shift_ids = 7;
  const std::string msg = remote_error(server);
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("another vocabulary"), std::string::npos) << msg;
}

TEST(RemoteTextErrors, EndpointWithoutLogprobsNamesTheUrl) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer server(models().f32);
  server.no_logprobs = true;
  const std::string msg = remote_error(server);
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no log-probs"), std::string::npos) << msg;
}

TEST(RemoteTextErrors, UnreachableEndpointNamesTheUrl) {
  BITDIAL_REQUIRE_SHARED();
  Models& m = models();
  test::RefusingPort port;
  RemoteModel rm = RemoteModel::connect(port.url(), "f32", "");
  const std::string msg =
      test::error_of([&] { evaluate_text_remote({nullptr, &rm}, nullptr, m.tok, m.ids, remote_options()); });
  EXPECT_NE(msg.find(port.url()), std::string::npos) << msg;
}

// --- run_evaluation ------------------------------------------------------------------------------

struct StoryFile {
  test::TempDir tmp;
  std::string path = tmp.file("story.txt");
  StoryFile() { std::ofstream(path) << kStory; }
};

EvalOptions text_options(const StoryFile& f) {
  EvalOptions o;
  o.texts = {f.path};
  o.n_ctx = kCtx;
  o.progress = nullptr;
  return o;
}

TEST(RemoteTextEvaluation, SummaryMarksTheKlAsATopKBoundAndKeepsExactFigures) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer server(models().q4);
  StoryFile f;
  EvalOptions o = text_options(f);
  o.model = server.url();
  o.model_name = "q4";
  o.baseline = test::shared_path("models/stories260K.gguf");
  const EvalOutput out = run_evaluation(o);
  EvalOptions lo = text_options(f);
  lo.model = test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf");
  lo.baseline = o.baseline;
  const EvalOutput local = run_evaluation(lo);
  const auto& t = out.summary["texts"][0];
  const auto& lt = local.summary["texts"][0];
  EXPECT_EQ(t["kld_lower_bound"], true);
  EXPECT_EQ(t["kld_top_k"], 20);
  EXPECT_EQ(lt["kld_lower_bound"], false);
  EXPECT_FALSE(lt.contains("kld_top_k"));
  for (const char* key : {"ppl", "baseline_ppl", "ppl_ratio"})
    EXPECT_NEAR(t[key]["value"].get<double>(), lt[key]["value"].get<double>(), 1e-9) << key;
  EXPECT_EQ(t["same_top1"]["k"], lt["same_top1"]["k"]);
  EXPECT_NEAR(t["rms_dp"].get<double>(), lt["rms_dp"].get<double>(), 1e-9);
  EXPECT_LE(t["kld"]["mean"].get<double>(), lt["kld"]["mean"].get<double>());
  EXPECT_LE(t["kld"]["max"].get<double>(), lt["kld"]["max"].get<double>() * (1 + 1e-9));
  const std::string table = render_eval_table(out.summary);
  EXPECT_NE(table.find("KL (top-20 bound) mean"), std::string::npos) << table;
  EXPECT_EQ(render_eval_table(local.summary).find("bound"), std::string::npos);
}

TEST(RemoteTextEvaluation, TwoEndpointsNeedATokenizerFile) {
  StoryFile f;
  EvalOptions o = text_options(f);
  o.model = o.baseline = "http://127.0.0.1:9/v1";
  o.model_name = "fake";
  const std::string msg = test::error_of([&] { run_evaluation(o); });
  EXPECT_NE(msg.find("needs --tokenizer GGUF"), std::string::npos) << msg;
}

TEST(RemoteTextEvaluation, TokenizerWithALocalModelIsAnError) {
  StoryFile f;
  EvalOptions o = text_options(f);
  o.model = "http://127.0.0.1:9/v1";
  o.model_name = "fake";
  o.baseline = "base.gguf";
  o.tokenizer = "tok.gguf";
  const std::string msg = test::error_of([&] { run_evaluation(o); });
  EXPECT_NE(msg.find("--tokenizer applies only"), std::string::npos) << msg;
}

TEST(RemoteTextEvaluation, TwoEndpointsWithATokenizerFileRun) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer sq(models().q4), sf(models().f32);
  StoryFile f;
  EvalOptions o = text_options(f);
  o.model = sq.url();
  o.model_name = "q4";
  o.baseline = sf.url();
  o.baseline_name = "f32";
  o.tokenizer = test::shared_path("models/stories260K.gguf");
  const EvalOutput out = run_evaluation(o);
  const auto& t = out.summary["texts"][0];
  EXPECT_EQ(t["kld_lower_bound"], true);
  EXPECT_NEAR(t["ppl"]["value"].get<double>(), local_eval(models().q4, nullptr).ppl_cand, 1e-9);
}

// The probe asks for the run's K first, so a server's cap fails the run in one line before any chunk.
TEST(RemoteTextEvaluation, LogprobsAboveTheServersCapFailsAtTheProbeWithAHint) {
  BITDIAL_REQUIRE_SHARED();
  test::ModelCompletionServer server(models().q4);
  server.max_logprobs = 5;
  StoryFile f;
  EvalOptions o = text_options(f);
  o.model = server.url();
  o.model_name = "q4";
  o.baseline = test::shared_path("models/stories260K.gguf");
  const std::string msg = test::error_of([&] { run_evaluation(o); });
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 400"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--logprobs"), std::string::npos) << msg;
  EXPECT_EQ(server.n_requests, 2);  // the probe and its max_tokens 1 retry
  o.top_logprobs = 5;
  EXPECT_EQ(run_evaluation(o).summary["texts"][0]["kld_top_k"], 5);
}

// --- TokenResolver -------------------------------------------------------------------------------

TEST(TokenResolver, AcceptsVocabularyStringsTokenIdsAndUniqueDecodedPieces) {
  BITDIAL_REQUIRE_SHARED();
  const Tokenizer& tok = models().tok;
  const TokenResolver res(tok);
  const int32_t id = models().ids[5];
  EXPECT_EQ(res.resolve(tok.token_text(id)), id);
  EXPECT_EQ(res.resolve("token_id:" + std::to_string(id)), id);
  EXPECT_EQ(res.resolve("token_id:99999"), -1);
  EXPECT_EQ(res.resolve("no such token \x01"), -1);
  int decoded = 0;
  for (int32_t i = 0; i < static_cast<int32_t>(tok.vocab_size()); ++i) {
    const std::string p = tok.piece(i);
    if (tok.is_control(i) || p.empty() || p == tok.token_text(i)) continue;
    if (res.resolve(p) == i) ++decoded;
    EXPECT_NE(res.resolve_exact(p), i) << "decoded spellings are not exact: " << p;
  }
  EXPECT_GT(decoded, 100);  // "▁the" -> " the" and the like
}

}  // namespace
}  // namespace bitdial
