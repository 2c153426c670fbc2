// UpstreamBackend against in-process fakes that answer as vLLM does (/v1/completions with legacy
// log-probs, /v1/chat/completions with logprobs.content, SSE streams), so every expected value is by hand.
#include "serve/upstream_backend.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fake_http.h"

namespace bitdial::serve {
namespace {

using nlohmann::json;
using test::LocalHttpServer;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

UpstreamOptions options_for(const std::string& url) {
  UpstreamOptions o;
  o.name = "big";
  o.url = url;
  o.model = "served-model";
  return o;
}

GenerationRequest completion_request(const std::string& prompt) {
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = 3;
  return r;
}

// A vLLM /v1/completions answer generating `tokens` (log-prob of token i: -0.5 * (i + 1)) after a
// prompt of `prompt_chars` characters, each token with two alternatives.
json completion_answer(const std::vector<std::string>& tokens, int64_t prompt_chars, const std::string& finish) {
  json lp{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
          {"text_offset", json::array()}};
  std::string text;
  int64_t offset = prompt_chars;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const double v = -0.5 * static_cast<double>(i + 1);
    lp["tokens"].push_back(tokens[i]);
    lp["token_logprobs"].push_back(v);
    lp["top_logprobs"].push_back({{tokens[i], v}, {"<alt>", v - 1}});
    lp["text_offset"].push_back(offset);
    offset += static_cast<int64_t>(tokens[i].size());
    text += tokens[i];
  }
  return {{"id", "cmpl-1"},
          {"object", "text_completion"},
          {"model", "served-model"},
          {"choices", {{{"index", 0}, {"text", text}, {"logprobs", lp}, {"finish_reason", finish}}}},
          {"usage", {{"prompt_tokens", 2}, {"completion_tokens", tokens.size()}, {"total_tokens", 2 + tokens.size()}}}};
}

void answer_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

TEST(UpstreamBackend, CompletionFillsTextTokensLogprobsAndUsage) {
  json seen;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    answer_json(res, completion_answer({" sat", " on", " the"}, 7, "length"));
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationResult g = backend.generate(completion_request("The cat"), nullptr);

  EXPECT_EQ(seen["model"], "served-model");
  EXPECT_EQ(seen["prompt"], "The cat");
  EXPECT_EQ(seen["max_tokens"], 3);
  EXPECT_EQ(seen["logprobs"], 1);  // asked for although the request wanted none: confidence needs them
  EXPECT_FALSE(seen.contains("stream"));
  EXPECT_EQ(g.text, " sat on the");
  EXPECT_EQ(g.finish_reason, "length");
  ASSERT_EQ(g.tokens.size(), 3u);
  EXPECT_EQ(g.tokens[1].text, " on");
  EXPECT_DOUBLE_EQ(*g.tokens[1].logprob, -1.0);
  EXPECT_EQ(g.tokens[1].text_offset, 11);
  EXPECT_TRUE(g.tokens[1].top.empty());  // the request asked for no alternatives
  EXPECT_EQ(g.n_prompt_tokens, 2);
  EXPECT_EQ(g.n_completion_tokens, 3);
  EXPECT_GT(g.total_s, 0);
}

TEST(UpstreamBackend, ReturnsOnlyAsManyAlternativesAsRequested) {
  json seen;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    answer_json(res, completion_answer({" sat"}, 7, "length"));
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationRequest r = completion_request("The cat");
  r.logprobs = 1;
  GenerationResult g = backend.generate(r, nullptr);
  EXPECT_EQ(seen["logprobs"], 1);
  ASSERT_EQ(g.tokens.size(), 1u);
  ASSERT_EQ(g.tokens[0].top.size(), 1u);
  EXPECT_EQ(g.tokens[0].top[0].first, " sat");
}

TEST(UpstreamBackend, SendsOnlySamplingFieldsThatWereSet) {
  json seen;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    answer_json(res, completion_answer({" sat"}, 7, "length"));
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationRequest r = completion_request("The cat");
  r.prompt_ids = {1, 450, 6635};
  r.sampling.temperature = 0.5f;
  r.sampling.seed = 42;
  r.stop = {"\n"};
  backend.generate(r, nullptr);
  EXPECT_EQ(seen["prompt"], json({1, 450, 6635}));
  EXPECT_DOUBLE_EQ(seen["temperature"].get<double>(), 0.5);
  EXPECT_EQ(seen["seed"], 42);
  EXPECT_EQ(seen["stop"], json({"\n"}));
  EXPECT_FALSE(seen.contains("top_p"));
  EXPECT_FALSE(seen.contains("top_k"));
  EXPECT_FALSE(seen.contains("echo"));
}

TEST(UpstreamBackend, ChatMapsMessagesAndReadsContentLogprobs) {
  json seen;
  LocalHttpServer server("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    json content = json::array();
    for (auto [tok, lp] : {std::pair{"Hello", -0.1}, std::pair{"!", -0.2}})
      content.push_back({{"token", tok}, {"logprob", lp}, {"bytes", json::array()},
                         {"top_logprobs", {{{"token", tok}, {"logprob", lp}}}}});
    answer_json(res, {{"object", "chat.completion"},
                      {"choices", {{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", "Hello!"}}},
                                    {"logprobs", {{"content", content}}},
                                    {"finish_reason", "stop"}}}},
                      {"usage", {{"prompt_tokens", 12}, {"completion_tokens", 2}}}});
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationRequest r;
  r.chat = true;
  r.messages = {{"system", "Be brief."}, {"user", "Hi"}};
  GenerationResult g = backend.generate(r, nullptr);

  EXPECT_EQ(seen["messages"], json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}])"));
  EXPECT_EQ(seen["logprobs"], true);
  EXPECT_EQ(seen["top_logprobs"], 0);
  EXPECT_FALSE(seen.contains("prompt"));
  EXPECT_EQ(g.text, "Hello!");
  EXPECT_EQ(g.finish_reason, "stop");
  ASSERT_EQ(g.tokens.size(), 2u);
  EXPECT_EQ(g.tokens[1].text, "!");
  EXPECT_DOUBLE_EQ(*g.tokens[1].logprob, -0.2);
  EXPECT_EQ(g.tokens[1].text_offset, 5);
  EXPECT_EQ(g.n_prompt_tokens, 12);
  EXPECT_EQ(g.n_completion_tokens, 2);
}

// One vLLM completions stream chunk carrying one token.
std::string sse_token(const std::string& tok, double lp, int64_t offset) {
  json chunk{{"object", "text_completion"},
             {"choices", {{{"index", 0},
                           {"text", tok},
                           {"logprobs", {{"tokens", {tok}}, {"token_logprobs", {lp}}, {"top_logprobs", {{{tok, lp}}}},
                                         {"text_offset", {offset}}}},
                           {"finish_reason", nullptr}}}}};
  return "data: " + chunk.dump() + "\n\n";
}

// Serves an SSE stream of `tokens`, then a finish chunk, a usage chunk and [DONE].
void stream_tokens(httplib::Response& res, std::vector<std::string> tokens) {
  res.set_chunked_content_provider("text/event-stream", [tokens](size_t, httplib::DataSink& sink) {
    int64_t offset = 7;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string ev = sse_token(tokens[i], -0.5 * static_cast<double>(i + 1), offset);
      offset += static_cast<int64_t>(tokens[i].size());
      // Split each event across two writes: the client must reassemble lines.
      sink.write(ev.data(), ev.size() / 2);
      sink.write(ev.data() + ev.size() / 2, ev.size() - ev.size() / 2);
    }
    std::string tail =
        "data: " + json{{"choices", {{{"index", 0}, {"text", ""}, {"finish_reason", "length"}}}}}.dump() + "\n\n" +
        "data: " + json{{"choices", json::array()}, {"usage", {{"prompt_tokens", 2}, {"completion_tokens", tokens.size()}}}}.dump() +
        "\n\ndata: [DONE]\n\n";
    sink.write(tail.data(), tail.size());
    sink.done();
    return true;
  });
}

TEST(UpstreamBackend, StreamingDeliversTokensInOrderAndMatchesTheFinalText) {
  json seen;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = json::parse(req.body);
    stream_tokens(res, {" once", " upon", " a", " time"});
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationRequest r = completion_request("The cat");
  r.stream = true;
  std::vector<std::string> got;
  std::vector<double> lps;
  GenerationResult g = backend.generate(r, [&](const TokenLogprob& t) {
    got.push_back(t.text);
    lps.push_back(t.logprob.value_or(0));
    return true;
  });

  EXPECT_EQ(seen["stream"], true);
  EXPECT_EQ(got, (std::vector<std::string>{" once", " upon", " a", " time"}));
  EXPECT_EQ(lps, (std::vector<double>{-0.5, -1.0, -1.5, -2.0}));
  EXPECT_EQ(g.text, " once upon a time");
  EXPECT_EQ(g.tokens.size(), 4u);
  EXPECT_EQ(g.finish_reason, "length");
  EXPECT_EQ(g.n_completion_tokens, 4);
  EXPECT_EQ(g.n_prompt_tokens, 2);
  EXPECT_LE(g.time_to_first_token_s, g.total_s);
}

TEST(UpstreamBackend, OnTokenReturningFalseStopsTheUpstreamStream) {
  std::atomic<int> sent{0};
  std::atomic<bool> cut{false};
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      for (int i = 0; i < 200; ++i) {  // 200 tokens, 10 ms apart: 2 s unless the client hangs up
        std::string ev = sse_token(" w", -1.0, 7 + 2 * i);
        if (!sink.is_writable() || !sink.write(ev.data(), ev.size())) {
          cut = true;
          return false;
        }
        ++sent;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      sink.done();
      return true;
    });
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationRequest r = completion_request("The cat");
  r.stream = true;
  r.max_tokens = 200;
  int calls = 0;
  const auto t0 = Clock::now();
  GenerationResult g = backend.generate(r, [&](const TokenLogprob&) { return ++calls < 3; });
  EXPECT_LT(seconds_since(t0), 1.0);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(g.tokens.size(), 3u);
  EXPECT_EQ(g.finish_reason, "stop");
  for (int i = 0; i < 100 && !cut; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(cut) << "the upstream kept streaming after the client stopped";
  EXPECT_LT(sent.load(), 200);
}

TEST(UpstreamBackend, RetriesA503AndSucceeds) {
  int requests = 0;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++requests == 1) return answer_json(res, {{"message", "loading"}}, 503);
    answer_json(res, completion_answer({" sat"}, 7, "length"));
  });
  UpstreamBackend backend(options_for(server.url()));
  GenerationResult g = backend.generate(completion_request("The cat"), nullptr);
  EXPECT_EQ(requests, 2);
  EXPECT_EQ(g.text, " sat");
}

TEST(UpstreamBackend, A5xxThatOutlivesTheRetriesIsBackendError502) {
  int requests = 0;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    answer_json(res, {{"message", "overloaded"}}, 503);
  });
  UpstreamOptions o = options_for(server.url());
  o.retries = 2;
  UpstreamBackend backend(o);
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 502);
    EXPECT_NE(std::string(e.what()).find("overloaded"), std::string::npos) << e.what();
  }
  EXPECT_EQ(requests, 3);
}

TEST(UpstreamBackend, Upstream400IsInvalidRequestWithItsMessageAndNoRetry) {
  int requests = 0;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    answer_json(res,
                {{"object", "error"}, {"message", "This model's maximum context length is 2048 tokens"},
                 {"type", "BadRequestError"}, {"param", nullptr}, {"code", 400}},
                400);
  });
  UpstreamBackend backend(options_for(server.url()));
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_NE(std::string(e.what()).find("maximum context length is 2048"), std::string::npos) << e.what();
  }
  EXPECT_EQ(requests, 1);
}

TEST(UpstreamBackend, RejectedApiKeyIsBackendError502) {
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    answer_json(res, {{"error", {{"message", "Incorrect API key provided"}, {"type", "invalid_request_error"}}}}, 401);
  });
  UpstreamBackend backend(options_for(server.url()));
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 502);
    EXPECT_NE(std::string(e.what()).find("API key"), std::string::npos) << e.what();
  }
}

TEST(UpstreamBackend, RefusedConnectionIsBackendError502NamingTheUrl) {
  test::RefusingPort port;
  UpstreamBackend backend(options_for(port.url()));
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 502);
    EXPECT_NE(std::string(e.what()).find(port.url()), std::string::npos) << e.what();
  }
}

TEST(UpstreamBackend, SlowUpstreamIsBackendError504WithinTheTimeout) {
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    answer_json(res, completion_answer({" sat"}, 7, "length"));
  });
  UpstreamOptions o = options_for(server.url());
  o.timeout_s = 0.5;
  UpstreamBackend backend(o);
  const auto t0 = Clock::now();
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 504);
    EXPECT_NE(std::string(e.what()).find(server.url()), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 1.5);
}

TEST(UpstreamBackend, StalledStreamIsCutAtTheTimeout) {
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
      std::string ev = sse_token(" once", -0.5, 7);
      sink.write(ev.data(), ev.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // stalls after one token
      return false;
    });
  });
  UpstreamOptions o = options_for(server.url());
  o.timeout_s = 0.5;
  UpstreamBackend backend(o);
  GenerationRequest r = completion_request("The cat");
  r.stream = true;
  int calls = 0;
  const auto t0 = Clock::now();
  try {
    backend.generate(r, [&](const TokenLogprob&) { return ++calls > 0; });
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 504);
  }
  EXPECT_EQ(calls, 1);
  EXPECT_LT(seconds_since(t0), 1.5);
}

TEST(UpstreamBackend, SendsTheApiKeyFromTheEnvironmentAsBearer) {
  std::string auth;
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    auth = req.get_header_value("Authorization");
    answer_json(res, completion_answer({" sat"}, 7, "length"));
  });
  setenv("BITDIAL_TEST_UPSTREAM_KEY", "sk-test-123", 1);
  UpstreamOptions o = options_for(server.url());
  o.api_key_env = "BITDIAL_TEST_UPSTREAM_KEY";
  UpstreamBackend backend(o);
  unsetenv("BITDIAL_TEST_UPSTREAM_KEY");  // read at construction
  backend.generate(completion_request("The cat"), nullptr);
  EXPECT_EQ(auth, "Bearer sk-test-123");
}

TEST(UpstreamBackend, AnEmptyOrUnsetApiKeyVariableFailsAtConstruction) {
  UpstreamOptions o = options_for("http://127.0.0.1:9/v1");
  o.api_key_env = "BITDIAL_TEST_UPSTREAM_KEY_EMPTY";
  setenv("BITDIAL_TEST_UPSTREAM_KEY_EMPTY", "", 1);
  EXPECT_THROW(UpstreamBackend{o}, Error);
  unsetenv("BITDIAL_TEST_UPSTREAM_KEY_EMPTY");
  EXPECT_THROW(UpstreamBackend{o}, Error);
}

TEST(UpstreamBackend, MalformedAnswerIsBackendError502NamingTheField) {
  LocalHttpServer server("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    json a = completion_answer({" sat"}, 7, "length");
    a["choices"][0]["logprobs"]["token_logprobs"] = {"high"};
    answer_json(res, a);
  });
  UpstreamBackend backend(options_for(server.url()));
  try {
    backend.generate(completion_request("The cat"), nullptr);
    FAIL() << "no BackendError";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), 502);
    EXPECT_NE(std::string(e.what()).find("token_logprobs[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(server.url()), std::string::npos) << e.what();
  }
}

TEST(UpstreamBackend, DescribeNamesModelAndUrl) {
  UpstreamBackend backend(options_for("http://127.0.0.1:8000/v1/"));
  EXPECT_EQ(backend.describe(), "upstream:served-model@http://127.0.0.1:8000/v1");
  UpstreamOptions o = options_for("http://127.0.0.1:8000/v1");
  o.model = "";
  EXPECT_EQ(UpstreamBackend(o).describe(), "upstream:big@http://127.0.0.1:8000/v1");
}

TEST(UpstreamBackend, ConcurrentRequestsEachGetTheirOwnAnswer) {
  LocalHttpServer server("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string prompt = json::parse(req.body)["prompt"];
    answer_json(res, completion_answer({" re:" + prompt}, static_cast<int64_t>(prompt.size()), "stop"));
  });
  UpstreamBackend backend(options_for(server.url()));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string p = concat("p", t, "_", i);  // (operator+ chains trip a GCC 12 -Wrestrict false positive)
        if (backend.generate(completion_request(p), nullptr).text != " re:" + p) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// An echo server: whitespace tokens of the prompt with log-probs from a table; `min_max_tokens` 1
// imitates servers that refuse max_tokens 0 (then one generated token is appended to the echo).
struct EchoServer {
  std::map<std::string, double> table{{" Paris", -0.5}, {" London", -3.0}};
  int min_max_tokens = 0;
  int requests = 0;
  LocalHttpServer http{"/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
                         ++requests;
                         const json body = json::parse(req.body);
                         if (body["max_tokens"].get<int>() < min_max_tokens)
                           return answer_json(res, {{"message", "max_tokens must be at least 1"}}, 400);
                         EXPECT_EQ(body["echo"], true);
                         std::vector<std::string> toks = test::split_words(body["prompt"].get<std::string>());
                         if (body["max_tokens"].get<int>() > 0) toks.push_back(" GEN");
                         json lp{{"tokens", toks}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                                 {"text_offset", json::array()}};
                         int64_t offset = 0;
                         for (size_t i = 0; i < toks.size(); ++i) {
                           const double v = table.count(toks[i]) ? table.at(toks[i]) : (toks[i] == " GEN" ? -9.0 : -1.0);
                           lp["token_logprobs"].push_back(i == 0 ? json(nullptr) : json(v));
                           lp["top_logprobs"].push_back(i == 0 ? json(nullptr) : json{{toks[i], v}});
                           lp["text_offset"].push_back(offset);
                           offset += static_cast<int64_t>(toks[i].size());
                         }
                         std::string text;
                         for (auto& t : toks) text += t;
                         answer_json(res, {{"choices", {{{"index", 0}, {"text", text}, {"logprobs", lp}, {"finish_reason", "length"}}}}});
                       }};
};

GenerationRequest classification_request() {
  GenerationRequest r;
  r.prompt = "The capital of France is";
  r.choices = {" London", " Paris"};
  return r;
}

TEST(UpstreamBackend, ClassificationPicksTheChoiceWithTheHigherEchoedLoglik) {
  EchoServer server;
  UpstreamBackend backend(options_for(server.http.url()));
  GenerationResult g = backend.generate(classification_request(), nullptr);
  ASSERT_EQ(g.choice_logliks.size(), 2u);
  EXPECT_DOUBLE_EQ(g.choice_logliks[0], -3.0);
  EXPECT_DOUBLE_EQ(g.choice_logliks[1], -0.5);
  EXPECT_EQ(g.chosen, 1);
  EXPECT_EQ(g.text, " Paris");
  EXPECT_EQ(g.finish_reason, "stop");
  const double p = 1.0 / (1.0 + std::exp(-2.5));
  EXPECT_NEAR(g.choice_probability, p, 1e-12);
  EXPECT_NEAR(g.choice_margin, p - (1 - p), 1e-12);
  ASSERT_EQ(g.tokens.size(), 1u);
  EXPECT_EQ(g.tokens[0].text, " Paris");
}

TEST(UpstreamBackend, ClassificationFallsBackToMaxTokensOneAndDropsTheGeneratedToken) {
  EchoServer server;
  server.min_max_tokens = 1;
  UpstreamBackend backend(options_for(server.http.url()));
  GenerationResult g = backend.generate(classification_request(), nullptr);
  EXPECT_DOUBLE_EQ(g.choice_logliks[1], -0.5);  // not -9.5: the generated " GEN" is not the choice's
  EXPECT_EQ(g.chosen, 1);
  const int after_first = server.requests;
  backend.generate(classification_request(), nullptr);
  EXPECT_EQ(server.requests - after_first, 2);  // remembered: one request per choice from then on
}

}  // namespace
}  // namespace bitdial::serve
