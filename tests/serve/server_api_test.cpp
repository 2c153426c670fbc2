// `bitdial serve` over real HTTP on loopback: completions, chat, streaming, log-probs and echo match
// the engine; models, health and metrics answer; bad input gets an OpenAI-style error and the server
// keeps serving.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <future>
#include <thread>
#include <string>

#include "fake_http.h"
#include "live_server.h"
#include "model/generate.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial::test {
namespace {

using nlohmann::json;

class ServerApi : public ::testing::Test {
 protected:
  void SetUp() override {
    BITDIAL_REQUIRE_SHARED();
    server_ = std::make_unique<LiveServer>(two_model_config(dir_.file("events.db")));
  }
  TempDir dir_;
  std::unique_ptr<LiveServer> server_;
};

// Greedy tokens of the baseline file straight from the engine, for comparison.
std::string engine_greedy(const std::string& model_path, const std::string& prompt, int n) {
  const LlamaModel m = LlamaModel::load(model_path);
  const Tokenizer tok = Tokenizer::from_gguf(m.file());
  Session s(m);
  Sampler sampler(SamplerParams{.temperature = 0});
  std::string out;
  generate(s, sampler, tok.encode(prompt, true), n, [&](int32_t id) {
    if (tok.is_eog(id)) return false;
    out += tok.piece(id);
    return true;
  });
  return out;
}

TEST_F(ServerApi, GreedyCompletionMatchesTheEngineAndNamesItsBackend) {
  httplib::Client c = server_->client();
  const auto res = c.Post("/v1/completions", R"({"model":"primary","prompt":"Once upon a time","max_tokens":12,"temperature":0})",
                          "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], engine_greedy(quantized_stories(), "Once upon a time", 12));
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(res->get_header_value("X-Bitdial-Backend"), "primary");
  EXPECT_EQ(res->get_header_value("X-Request-Id"), j["id"]);
  EXPECT_EQ(j["bitdial"]["backend"], "primary");
}

TEST_F(ServerApi, ChatCompletionAnswersAsTheAssistant) {
  const auto [status, j] = server_->post("/v1/chat/completions",
                                         {{"messages", {{{"role", "system"}, {"content", "Tell stories."}}, {{"role", "user"}, {"content", "A story"}}}},
                                          {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(j["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);
}

TEST_F(ServerApi, StreamedTokensConcatenateToTheUnstreamedAnswer) {
  const json body = {{"prompt", "The little dog"}, {"max_tokens", 16}, {"temperature", 0}};
  const auto [status, whole] = server_->post("/v1/completions", body);
  ASSERT_EQ(status, 200);
  json sbody = body;
  sbody["stream"] = true;
  httplib::Client c = server_->client();
  std::string sse;
  const auto res = c.Post("/v1/completions", sbody.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  std::string text, finish;
  int chunks = 0;
  size_t pos = 0;
  bool done = false;
  while ((pos = res->body.find("data: ", pos)) != std::string::npos) {
    const size_t end = res->body.find("\n\n", pos);
    const std::string data = res->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    const json chunk = json::parse(data);
    ++chunks;
    text += chunk["choices"][0]["text"].get<std::string>();
    if (chunk["choices"][0]["finish_reason"].is_string()) finish = chunk["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_GT(chunks, 4);
  EXPECT_EQ(text, whole["choices"][0]["text"]);
  EXPECT_EQ(finish, "length");
}

TEST_F(ServerApi, EchoedPromptLogprobsAreTheEnginesLogSoftmax) {
  const auto [status, j] = server_->post("/v1/completions", {{"model", "baseline"}, {"prompt", "Once upon a time there was"},
                                                            {"max_tokens", 0}, {"echo", true}, {"logprobs", 3}});
  ASSERT_EQ(status, 200) << j.dump();
  const json& lp = j["choices"][0]["logprobs"];
  const LlamaModel m = LlamaModel::load(stories_model());
  const Tokenizer tok = Tokenizer::from_gguf(m.file());
  const std::vector<int32_t> ids = tok.encode("Once upon a time there was", true);
  ASSERT_EQ(lp["tokens"].size(), ids.size());
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  Session s(m);
  const std::vector<float> logits = s.eval(ids, true);
  const int64_t V = m.hparams().n_vocab;
  for (size_t t = 1; t < ids.size(); ++t) {
    const float* row = logits.data() + (t - 1) * V;
    double mx = row[0], z = 0;
    for (int64_t i = 0; i < V; ++i) mx = std::max<double>(mx, row[i]);
    for (int64_t i = 0; i < V; ++i) z += std::exp(row[i] - mx);
    EXPECT_NEAR(lp["token_logprobs"][t].get<double>(), row[ids[t]] - mx - std::log(z), 1e-9) << "token " << t;
    EXPECT_EQ(lp["top_logprobs"][t].size(), 3u);
  }
  EXPECT_EQ(j["choices"][0]["text"], "Once upon a time there was");
  EXPECT_EQ(lp["text_offset"][1], 0);  // BOS is empty text; "Once" starts the prompt
}

TEST_F(ServerApi, ClassificationAnswersTheLikeliestChoiceWithScores) {
  const auto [status, j] = server_->post("/v1/completions", {{"prompt", "Once upon a time, there was a little"},
                                                            {"choices", {" girl", " xylophone"}}});
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["choices"][0]["text"], " girl");
  EXPECT_EQ(j["choices"][0]["chosen"], 0);
  EXPECT_GT(j["choices"][0]["choice_scores"][0]["logprob"].get<double>(), j["choices"][0]["choice_scores"][1]["logprob"].get<double>());
  EXPECT_GT(j["bitdial"]["confidence"].get<double>(), 0.5);
}

TEST_F(ServerApi, ModelsHealthAndMetricsAnswer) {
  httplib::Client c = server_->client();
  const auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_NE(models->body.find("\"primary\""), std::string::npos);
  const auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  (void)server_->post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}});
  const auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("bitdial_requests_total{route=\"default\",backend=\"primary\",decision=\"primary\",status=\"200\"} 1"),
            std::string::npos)
      << metrics->body.substr(0, 2000);
  EXPECT_NE(metrics->body.find("bitdial_request_duration_seconds_bucket"), std::string::npos);
}

TEST_F(ServerApi, MalformedJsonIs400WithAnOpenAIErrorBody) {
  httplib::Client c = server_->client();
  const auto res = c.Post("/v1/completions", R"({"prompt": "x", )", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  const json j = json::parse(res->body);
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("byte"), std::string::npos);
}

TEST_F(ServerApi, WrongTypeNamesTheField) {
  const auto [status, j] = server_->post("/v1/completions", {{"prompt", "x"}, {"max_tokens", "ten"}});
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["error"]["param"], "max_tokens");
}

TEST_F(ServerApi, PromptLongerThanTheContextIs400) {
  std::string prompt;
  for (int i = 0; i < 800; ++i) prompt += " story";
  const auto [status, j] = server_->post("/v1/completions", {{"prompt", prompt}});
  EXPECT_EQ(status, 400) << j.dump();
  EXPECT_EQ(j["error"]["param"], "prompt");
}

TEST_F(ServerApi, UnknownPathIs404WithErrorBody) {
  httplib::Client c = server_->client();
  const auto res = c.Get("/v1/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["error"]["type"], "not_found_error");
}

TEST_F(ServerApi, ClientThatDisconnectsMidStreamDoesNotStopTheServer) {
  {
    // A raw socket: send a streaming request, read the first bytes of the answer, hang up.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string body = R"({"prompt":"Once","max_tokens":400,"stream":true})";
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    char buf[512];
    EXPECT_GT(::recv(fd, buf, sizeof buf, 0), 0);
    ::close(fd);
  }
  const auto [status, j] = server_->post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 4}});
  EXPECT_EQ(status, 200) << j.dump();
}

TEST(ServerLimits, OversizeBodyIs413) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig c = two_model_config(dir.file("events.db"));
  c.limits.max_body_bytes = 2048;
  LiveServer server(c);
  const auto [status, j] = server.post("/v1/completions", {{"prompt", std::string(4000, 'a')}});
  EXPECT_EQ(status, 413);
  EXPECT_EQ(j["error"]["code"], "body_too_large");
}

TEST(ServerLimits, MissingOrWrongApiKeyIs401AndTheRightOneWorks) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig c = two_model_config(dir.file("events.db"));
  c.auth.api_key_sha256 = {serve::key_hash("s3cret")};
  LiveServer server(c);
  const json body = {{"prompt", "Hi"}, {"max_tokens", 1}};
  EXPECT_EQ(server.post("/v1/completions", body).first, 401);
  EXPECT_EQ(server.post("/v1/completions", body, {{"Authorization", "Bearer nope"}}).first, 401);
  EXPECT_EQ(server.post("/v1/completions", body, {{"Authorization", "Bearer s3cret"}}).first, 200);
}

TEST(ServerLimits, RequestsBeyondTheConcurrencyLimitAre429) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  // An upstream that takes 1.5 s keeps the only slot busy.
  LocalHttpServer slow("/v1/completions", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content(R"({"choices":[{"index":0,"text":"ok","finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})",
                    "application/json");
  });
  serve::ServeConfig c = two_model_config(dir.file("events.db"));
  c.backends.push_back(upstream_backend("slow", slow.url()));
  c.routes[0].primary = "slow";
  c.limits.max_concurrency = 1;
  LiveServer server(c);
  auto first = std::async(std::launch::async, [&] { return server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}}).first; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}});
  EXPECT_EQ(status, 429);
  EXPECT_EQ(j["error"]["type"], "rate_limit_error");
  EXPECT_EQ(first.get(), 200);
}

}  // namespace
}  // namespace bitdial::test
