// The local backend: concurrent requests share forward passes (continuous batching) and get exactly
// the answers they get alone; stop strings cut the text; token-id prompts are checked.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "serve/local_backend.h"
#include "test_support.h"

namespace bitdial::test {
namespace {

serve::LocalBackendOptions options(int max_batch) {
  serve::LocalBackendOptions o;
  o.name = "m";
  o.path = shared_path("models/stories260K.gguf");
  o.max_batch = max_batch;
  o.threads = 1;
  return o;
}

serve::GenerationRequest greedy(const std::string& prompt, int n) {
  serve::GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = n;
  r.sampling.temperature = 0;
  return r;
}

TEST(LocalBackend, ConcurrentRequestsShareForwardPassesAndMatchTheirAnswersAlone) {
  BITDIAL_REQUIRE_SHARED();
  const std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily had a big red ball and", "One day", "Tom"};
  std::vector<std::string> alone;
  {
    serve::LocalBackend one(options(1));
    for (const std::string& p : prompts) alone.push_back(one.generate(greedy(p, 24), nullptr).text);
  }
  serve::LocalBackend batched(options(16));
  std::vector<std::future<std::string>> answers;
  for (int rep = 0; rep < 4; ++rep)
    for (const std::string& p : prompts)
      answers.push_back(std::async(std::launch::async, [&batched, p] { return batched.generate(greedy(p, 24), nullptr).text; }));
  for (size_t i = 0; i < answers.size(); ++i) EXPECT_EQ(answers[i].get(), alone[i % prompts.size()]) << prompts[i % prompts.size()];
  const serve::LocalBackend::Stats s = batched.stats();
  EXPECT_GT(s.max_sequences, 1);
  EXPECT_LT(s.steps, s.sequence_steps);
}

TEST(LocalBackend, StopStringEndsTheTextBeforeIt) {
  BITDIAL_REQUIRE_SHARED();
  serve::LocalBackend b(options(4));
  const std::string full = b.generate(greedy("Once upon a time", 30), nullptr).text;
  const size_t cut = full.find(" a");
  ASSERT_NE(cut, std::string::npos) << full;
  serve::GenerationRequest r = greedy("Once upon a time", 30);
  r.stop = {" a"};
  const serve::GenerationResult g = b.generate(r, nullptr);
  EXPECT_EQ(g.text, full.substr(0, cut));
  EXPECT_EQ(g.finish_reason, "stop");
}

TEST(LocalBackend, StreamedPiecesConcatenateToTheText) {
  BITDIAL_REQUIRE_SHARED();
  serve::LocalBackend b(options(4));
  serve::GenerationRequest r = greedy("Once upon a time", 20);
  r.stream = true;
  std::string streamed;
  const serve::GenerationResult g = b.generate(r, [&](const serve::TokenLogprob& t) {
    streamed += t.text;
    return true;
  });
  EXPECT_EQ(streamed, g.text);
  EXPECT_EQ(g.tokens.size(), 20u);
}

TEST(LocalBackend, TokenIdOutsideTheVocabularyIsAnInvalidRequest) {
  BITDIAL_REQUIRE_SHARED();
  serve::LocalBackend b(options(4));
  serve::GenerationRequest r;
  r.prompt_ids = {1, 100000};
  try {
    (void)b.generate(r, nullptr);
    FAIL() << "expected InvalidRequest";
  } catch (const serve::InvalidRequest& e) {
    EXPECT_EQ(e.param(), "prompt");
    EXPECT_NE(std::string(e.what()).find("prompt[1]"), std::string::npos) << e.what();
  }
}

TEST(LocalBackend, CancelledStreamStopsGenerating) {
  BITDIAL_REQUIRE_SHARED();
  serve::LocalBackend b(options(4));
  serve::GenerationRequest r = greedy("Once upon a time", 200);
  r.stream = true;
  int calls = 0;
  const serve::GenerationResult g = b.generate(r, [&](const serve::TokenLogprob&) { return ++calls < 3; });
  EXPECT_EQ(g.finish_reason, "cancelled");
  EXPECT_LE(g.tokens.size(), 4u);
}

}  // namespace
}  // namespace bitdial::test
