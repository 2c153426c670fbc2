// RemoteModel against an in-process fake of the OpenAI legacy /v1/completions protocol: the fake
// tokenizes at whitespace and scores tokens from a fixed table, so every expected value is by hand.
#include "eval/remote_model.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fake_http.h"
#include "test_support.h"

namespace bitdial {
namespace {

using nlohmann::json;

// log p of each token given anything before it; tokens above -1 are also the top-1 choice.
const std::map<std::string, double> kLogprob = {{" cat", -2.0}, {" sat", -0.5}, {" on", -0.25},
                                                {" the", -0.75}, {" mat", -3.0}};
constexpr double kUnknownLogprob = -4.0;
constexpr double kAltLogprob = -0.1;    // the top-1 alternative where the actual token is not greedy
constexpr double kEchoGenLogprob = -9;  // the token a max_tokens 1 echo appends; must never be counted
const std::vector<std::string> kGeneration = {" once", " upon", " a", " time"};

double logprob_of(const std::string& tok) {
  auto it = kLogprob.find(tok);
  return it == kLogprob.end() ? kUnknownLogprob : it->second;
}

int64_t chars(const std::string& s) {  // text_offset is in characters, as vLLM and OpenAI count them
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

enum class Mode { normal, reject_max_tokens_0, no_logprobs, http_500, no_text_offset };

class FakeServer {
 public:
  Mode mode = Mode::normal;
  std::string required_token;  // non-empty: answer 401 unless "Authorization: Bearer <token>"
  std::vector<json> requests;
  std::vector<std::string> authorizations;

  std::string url() const { return http_.url(); }
  json last_request() {
    std::lock_guard lock(mu_);
    return requests.back();
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    json body = json::parse(req.body);
    requests.push_back(body);
    authorizations.push_back(req.get_header_value("Authorization"));
    if (!required_token.empty() && authorizations.back() != "Bearer " + required_token) {
      res.status = 401;
      res.set_content(R"({"error":"unauthorized"})", "application/json");
      return;
    }
    if (mode == Mode::http_500) {
      res.status = 500;
      res.set_content("internal error: model crashed", "text/plain");
      return;
    }
    const std::string prompt = body["prompt"];
    const int max_tokens = body["max_tokens"];
    const bool echo = body.value("echo", false);
    if (mode == Mode::reject_max_tokens_0 && max_tokens == 0) {
      res.status = 400;
      res.set_content(R"({"error":"max_tokens must be at least 1"})", "application/json");
      return;
    }
    std::vector<std::string> tokens = echo ? test::split_words(prompt) : std::vector<std::string>{};
    for (int i = 0; i < max_tokens; ++i)
      tokens.push_back(echo ? " zzz" : kGeneration[i % kGeneration.size()]);
    const size_t n_prompt = echo ? test::split_words(prompt).size() : 0;
    const int top_k = body["logprobs"].is_number() ? body["logprobs"].get<int>() : 0;

    json lp{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"text_offset", json::array()},
            {"top_logprobs", json::array()}};
    int64_t offset = echo ? 0 : chars(prompt);
    std::string text = echo ? prompt : "";
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      lp["tokens"].push_back(t);
      lp["text_offset"].push_back(offset);
      offset += chars(t);
      if (i >= n_prompt) text += t;
      if (echo && i == 0) {  // nothing precedes the first prompt token
        lp["token_logprobs"].push_back(nullptr);
        lp["top_logprobs"].push_back(nullptr);
        continue;
      }
      const double v = i >= n_prompt && echo ? kEchoGenLogprob : logprob_of(t);
      lp["token_logprobs"].push_back(v);
      json top = json::object();
      const bool greedy = v > -1.0;
      if (!greedy) top["<alt0>"] = kAltLogprob;
      for (int k = static_cast<int>(top.size()); k < top_k; ++k) {
        if (k == (greedy ? 0 : 1)) top[t] = v;
        else top["<alt" + std::to_string(k) + ">"] = v - k;
      }
      lp["top_logprobs"].push_back(top);
    }
    if (mode == Mode::no_text_offset) lp.erase("text_offset");
    json choice{{"index", 0}, {"text", text}, {"finish_reason", max_tokens < 4 ? "length" : "stop"}};
    choice["logprobs"] = mode == Mode::no_logprobs || top_k == 0 ? json(nullptr) : lp;
    res.set_content(json{{"object", "text_completion"}, {"choices", {choice}}}.dump(), "application/json");
  }

  std::mutex mu_;  // requests / authorizations are read by the test thread
  test::LocalHttpServer http_{"/v1/completions",
                              [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); }};
};

TEST(RemoteModel, ContinuationLoglikIsTheSumOfContinuationTokenLogprobs) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  auto s = m.score_continuation("The cat sat", " on the mat");
  EXPECT_EQ(s.n_tokens, 3);
  EXPECT_DOUBLE_EQ(s.loglik, -0.25 - 0.75 - 3.0);
  EXPECT_EQ(s.token_logprobs, (std::vector<double>{-0.25, -0.75, -3.0}));
}

TEST(RemoteModel, GreedyFlagsMarkContinuationTokensThatWereTopOne) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  auto mixed = m.score_continuation("The cat sat", " on the mat");
  EXPECT_EQ(mixed.token_greedy, (std::vector<bool>{true, true, false}));
  EXPECT_FALSE(mixed.greedy());
  EXPECT_TRUE(m.score_continuation("The cat", " sat on the").greedy());
}

TEST(RemoteModel, TokenStraddlingTheContextBoundaryCountsAsContinuation) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  auto s = m.score_continuation("The cat s", "at on");  // " sat" starts in the context
  EXPECT_EQ(s.n_tokens, 2);
  EXPECT_DOUBLE_EQ(s.loglik, -0.5 - 0.25);
}

TEST(RemoteModel, TextOffsetsAreCountedInCharactersNotBytes) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  // 14 characters, 17 bytes: a byte count would put " on" inside the context.
  auto s = m.score_continuation("Th\u00e9 caf\u00e9 cr\u00e8me", " on");
  EXPECT_EQ(s.n_tokens, 1);
  EXPECT_DOUBLE_EQ(s.loglik, -0.25);
}

TEST(RemoteModel, ScoringRequestEchoesThePromptWithMaxTokensZero) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  m.score_continuation("The cat", " sat");
  EXPECT_EQ(server.last_request(), (json{{"model", "fake"}, {"prompt", "The cat sat"}, {"max_tokens", 0},
                                         {"echo", true}, {"logprobs", 1}, {"temperature", 0}}));
}

TEST(RemoteModel, ServerRejectingMaxTokensZeroIsAskedForOneAndTheGeneratedTokenIsIgnored) {
  FakeServer server;
  server.mode = Mode::reject_max_tokens_0;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  EXPECT_DOUBLE_EQ(m.score_continuation("The cat sat", " on the mat").loglik, -4.0);
  EXPECT_DOUBLE_EQ(m.score_continuation("The cat", " sat").loglik, -0.5);
  ASSERT_EQ(server.requests.size(), 3u);  // the fallback is remembered: one retry in all
  EXPECT_EQ(server.requests[2]["max_tokens"], 1);
}

TEST(RemoteModel, GenerateReturnsTheCompletionTextLogprobsAndFinishReason) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  auto g = m.generate("Tell me a story:", 3);
  EXPECT_EQ(g.text, " once upon a");
  EXPECT_EQ(g.finish_reason, "length");
  EXPECT_EQ(g.tokens, (std::vector<std::string>{" once", " upon", " a"}));
  EXPECT_EQ(g.token_logprobs, (std::vector<double>{-4.0, -4.0, -4.0}));
  EXPECT_EQ(server.last_request(), (json{{"model", "fake"}, {"prompt", "Tell me a story:"}, {"max_tokens", 3},
                                         {"temperature", 0}, {"logprobs", 1}}));
}

TEST(RemoteModel, ScoreTextGivesEveryTokenItsLogprobAndTopKAlternatives) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  auto t = m.score_text("The cat sat", 2);
  ASSERT_EQ(t.tokens.size(), 3u);
  EXPECT_EQ(t.tokens[0].token, "The");
  EXPECT_FALSE(t.tokens[0].logprob.has_value());
  EXPECT_EQ(*t.tokens[1].logprob, -2.0);  // " cat" is not greedy: "<alt0>" leads
  EXPECT_EQ(t.tokens[1].top, (std::vector<std::pair<std::string, double>>{{"<alt0>", -0.1}, {" cat", -2.0}}));
  EXPECT_EQ(t.tokens[2].top, (std::vector<std::pair<std::string, double>>{{" sat", -0.5}, {"<alt1>", -1.5}}));
  EXPECT_EQ(server.last_request()["logprobs"], 2);
}

TEST(RemoteModel, BearerTokenFromTheNamedVariableIsSent) {
  FakeServer server;
  server.required_token = "sk-test-123";
  setenv("BITDIAL_TEST_REMOTE_KEY", "sk-test-123", 1);
  auto m = RemoteModel::connect(server.url(), "fake", "BITDIAL_TEST_REMOTE_KEY");
  unsetenv("BITDIAL_TEST_REMOTE_KEY");
  EXPECT_DOUBLE_EQ(m.score_continuation("The cat", " sat").loglik, -0.5);
  EXPECT_EQ(server.authorizations.back(), "Bearer sk-test-123");
}

TEST(RemoteModel, UnsetApiKeyVariableIsAnErrorNamingIt) {
  unsetenv("BITDIAL_TEST_UNSET_KEY");
  std::string msg = test::error_of([] { RemoteModel::connect("http://127.0.0.1:8080/v1", "fake", "BITDIAL_TEST_UNSET_KEY"); });
  EXPECT_NE(msg.find("BITDIAL_TEST_UNSET_KEY"), std::string::npos) << msg;
}

TEST(RemoteModel, UnreachableEndpointIsAnErrorNamingTheUrl) {
  const test::RefusingPort port;
  const std::string url = port.url();
  auto m = RemoteModel::connect(url, "fake", "");
  std::string msg = test::error_of([&] { m.probe(); });
  EXPECT_NE(msg.find(url), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot connect"), std::string::npos) << msg;
}

TEST(RemoteModel, EndpointWithoutLogprobsIsAnErrorSayingSo) {
  FakeServer server;
  server.mode = Mode::no_logprobs;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  std::string msg = test::error_of([&] { m.score_continuation("The cat", " sat"); });
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("returned no log-probs"), std::string::npos) << msg;
}

TEST(RemoteModel, ResponseMissingAFieldIsAnErrorNamingTheField) {
  FakeServer server;
  server.mode = Mode::no_text_offset;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  std::string msg = test::error_of([&] { m.score_continuation("The cat", " sat"); });
  EXPECT_NE(msg.find("choices[0].logprobs.text_offset"), std::string::npos) << msg;
}

TEST(RemoteModel, Http500IsAnErrorWithTheStatusAndBody) {
  FakeServer server;
  server.mode = Mode::http_500;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  std::string msg = test::error_of([&] { m.generate("The cat", 2); });
  EXPECT_NE(msg.find(server.url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 500"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model crashed"), std::string::npos) << msg;
}

TEST(RemoteModel, MalformedBaseUrlIsAnErrorNamingIt) {
  for (std::string url : {"ftp://host/v1", "localhost:8080/v1", "http:///v1", "http://host:99999/v1",
                          "http://host:/v1", "http://host/v1?x=1", "http://user:pw@host/v1"}) {
    std::string msg = test::error_of([&] { RemoteModel::connect(url, "fake", ""); });
    EXPECT_NE(msg.find(url), std::string::npos) << msg;
  }
}

TEST(RemoteModel, DescribeNamesModelAndNormalisedUrl) {
  auto m = RemoteModel::connect("https://example.com:8443/v1/", "llama-70b", "");
  EXPECT_EQ(m.describe(), "remote:llama-70b@https://example.com:8443/v1");
}

}  // namespace
}  // namespace bitdial
