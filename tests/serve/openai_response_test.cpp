// OpenAI response bodies: the completion and chat shapes, legacy and chat log-prob objects, the
// classification fields, the "bitdial" extra, SSE framing, and invalid UTF-8 never throwing.
#include <gtest/gtest.h>

#include <string>

#include "serve/api_error.h"
#include "serve/openai_response.h"

namespace bitdial::serve {
namespace {

using nlohmann::ordered_json;

TokenLogprob tok(int32_t id, std::string text, std::optional<double> lp, int64_t offset,
                 std::vector<std::pair<std::string, double>> top = {}) {
  TokenLogprob t;
  t.id = id;
  t.text = std::move(text);
  t.logprob = lp;
  t.text_offset = offset;
  t.top = std::move(top);
  return t;
}

GenerationResult two_token_result() {
  GenerationResult r;
  r.text = " world!";
  r.finish_reason = "length";
  r.tokens = {tok(10, " world", -0.5, 5, {{" world", -0.5}, {" there", -1.5}}), tok(11, "!", -0.25, 11, {{"!", -0.25}})};
  r.n_prompt_tokens = 2;
  r.n_completion_tokens = 2;
  return r;
}

TEST(OpenAIResponse, CompletionBodyShape) {
  GenerationRequest req;
  req.prompt = "Hello";
  const ordered_json j = completion_body(req, two_token_result(), "cmpl-1", "tiny", 1700000000);
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "tiny");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["text"], " world!");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"], (ordered_json{{"prompt_tokens", 2}, {"completion_tokens", 2}, {"total_tokens", 4}}));
  EXPECT_FALSE(j.contains("bitdial"));
  EXPECT_FALSE(j["choices"][0].contains("choice_scores"));
}

TEST(OpenAIResponse, CompletionEchoPrependsPrompt) {
  GenerationRequest req;
  req.prompt = "Hello";
  req.echo = true;
  EXPECT_EQ(completion_body(req, two_token_result(), "c", "m", 0)["choices"][0]["text"], "Hello world!");
}

TEST(OpenAIResponse, CompletionEchoOfTokenIdsUsesDecodedPrompt) {
  GenerationRequest req;
  req.prompt_ids = {1, 2};
  req.echo = true;
  GenerationResult r = two_token_result();
  r.prompt_tokens = {tok(1, "Hel", std::nullopt, 0), tok(2, "lo", -2.0, 3)};
  EXPECT_EQ(completion_body(req, r, "c", "m", 0)["choices"][0]["text"], "Hello world!");
}

TEST(OpenAIResponse, LegacyLogprobsCoverEchoedPromptThenGeneration) {
  GenerationRequest req;
  req.prompt = "Hello";
  req.echo = true;
  req.logprobs = 1;
  GenerationResult r = two_token_result();
  r.prompt_tokens = {tok(1, "Hel", std::nullopt, 0), tok(2, "lo", -2.0, 3, {{"p", -1.0}})};
  const ordered_json lp = completion_body(req, r, "c", "m", 0)["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], (ordered_json{"Hel", "lo", " world", "!"}));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -2.0);
  EXPECT_EQ(lp["token_logprobs"][2], -0.5);
  EXPECT_EQ(lp["token_logprobs"][3], -0.25);
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["top_logprobs"][1], (ordered_json{{"p", -1.0}}));
  EXPECT_EQ(lp["top_logprobs"][2], (ordered_json{{" world", -0.5}, {" there", -1.5}}));
  EXPECT_EQ(lp["text_offset"], (ordered_json{0, 3, 5, 11}));
}

TEST(OpenAIResponse, LegacyLogprobsWithoutEchoCoverGenerationOnly) {
  GenerationRequest req;
  req.prompt = "Hello";
  req.logprobs = 0;
  GenerationResult r = two_token_result();
  r.prompt_tokens = {tok(1, "Hel", std::nullopt, 0)};
  const ordered_json lp = completion_body(req, r, "c", "m", 0)["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], (ordered_json{" world", "!"}));
}

TEST(OpenAIResponse, ClassificationAddsChoiceScoresAndChosen) {
  GenerationRequest req;
  req.prompt = "Is it? Answer:";
  req.choices = {" yes", " no"};
  GenerationResult r;
  r.text = " no";
  r.finish_reason = "stop";
  r.choice_logliks = {-2.0, -0.1};
  r.chosen = 1;
  const ordered_json c = completion_body(req, r, "c", "m", 0)["choices"][0];
  EXPECT_EQ(c["choice_scores"], (ordered_json::array({ordered_json{{"choice", " yes"}, {"logprob", -2.0}},
                                                      ordered_json{{"choice", " no"}, {"logprob", -0.1}}})));
  EXPECT_EQ(c["chosen"], 1);
  EXPECT_EQ(c["text"], " no");
}

TEST(OpenAIResponse, ExtraGoesUnderBitdialKey) {
  GenerationRequest req;
  const ordered_json extra{{"backend", "q4"}, {"route", "cascade"}, {"decision", "accept"}, {"confidence", 0.9}};
  const ordered_json j = completion_body(req, two_token_result(), "c", "m", 0, extra);
  EXPECT_EQ(j["bitdial"], extra);
  EXPECT_EQ(chat_body(req, two_token_result(), "c", "m", 0, extra)["bitdial"], extra);
}

TEST(OpenAIResponse, ChatBodyShape) {
  GenerationRequest req;
  req.chat = true;
  const ordered_json j = chat_body(req, two_token_result(), "chatcmpl-1", "tiny", 5);
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 5);
  EXPECT_EQ(j["choices"][0]["message"], (ordered_json{{"role", "assistant"}, {"content", " world!"}}));
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["total_tokens"], 4);
}

TEST(OpenAIResponse, ChatLogprobsCarryBytes) {
  GenerationRequest req;
  req.chat = true;
  req.logprobs = 2;
  GenerationResult r;
  r.text = "é";
  r.tokens = {tok(7, "\xc3\xa9", -0.1, 0, {{"\xc3\xa9", -0.1}, {"e", -2.5}})};
  const ordered_json content = chat_body(req, r, "c", "m", 0)["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 1u);
  EXPECT_EQ(content[0]["token"], "\xc3\xa9");
  EXPECT_EQ(content[0]["logprob"], -0.1);
  EXPECT_EQ(content[0]["bytes"], (ordered_json{195, 169}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1],
            (ordered_json{{"token", "e"}, {"logprob", -2.5}, {"bytes", ordered_json{101}}}));
}

TEST(OpenAIResponse, FinishReasonEmptyIsNull) {
  GenerationRequest req;
  GenerationResult r;
  EXPECT_TRUE(completion_body(req, r, "c", "m", 0)["choices"][0]["finish_reason"].is_null());
}

TEST(OpenAIResponse, SseEventFraming) {
  EXPECT_EQ(sse_event(ordered_json{{"a", 1}, {"b", "x"}}), "data: {\"a\":1,\"b\":\"x\"}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(OpenAIResponse, CompletionChunkCarriesOneToken) {
  const ordered_json j = completion_chunk("c", "m", 3, tok(10, " world", -0.5, 5, {{" world", -0.5}}), true);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], " world");
  EXPECT_TRUE(j["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], (ordered_json{" world"}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["token_logprobs"], (ordered_json{-0.5}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], (ordered_json{5}));
  EXPECT_TRUE(completion_chunk("c", "m", 3, tok(1, "a", -1.0, 0), false)["choices"][0]["logprobs"].is_null());
}

TEST(OpenAIResponse, CompletionFinalChunkWithUsage) {
  const ordered_json j = completion_final_chunk("c", "m", 3, "stop", Usage{4, 2}, ordered_json{{"route", "r"}});
  EXPECT_EQ(j["choices"][0]["text"], "");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
  EXPECT_EQ(j["bitdial"]["route"], "r");
  EXPECT_FALSE(completion_final_chunk("c", "m", 3, "stop", std::nullopt).contains("usage"));
}

TEST(OpenAIResponse, ChatChunkSequence) {
  const ordered_json first = chat_first_chunk("id", "m", 9);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], (ordered_json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());

  const ordered_json mid = chat_chunk("id", "m", 9, tok(5, "Hi", -0.3, 0), true);
  EXPECT_EQ(mid["object"], "chat.completion.chunk");
  EXPECT_EQ(mid["choices"][0]["delta"], (ordered_json{{"content", "Hi"}}));
  EXPECT_EQ(mid["choices"][0]["logprobs"]["content"][0]["token"], "Hi");
  EXPECT_TRUE(chat_chunk("id", "m", 9, tok(5, "Hi", -0.3, 0), false)["choices"][0]["logprobs"].is_null());

  const ordered_json last = chat_final_chunk("id", "m", 9, "length", Usage{1, 1});
  EXPECT_EQ(last["choices"][0]["delta"], ordered_json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(last["usage"]["completion_tokens"], 1);
}

TEST(OpenAIResponse, InvalidUtf8IsReplacedNotThrown) {
  // The first byte of "é" alone, as a byte-level tokenizer emits it.
  const TokenLogprob half = tok(3, "\xc3", -0.2, 0, {{"\xc3", -0.2}});
  std::string event;
  ASSERT_NO_THROW(event = sse_event(chat_chunk("id", "m", 0, half, true)));
  EXPECT_NE(event.find("\xef\xbf\xbd"), std::string::npos) << event;  // U+FFFD
  // The raw byte survives in "bytes".
  EXPECT_NE(event.find("[195]"), std::string::npos) << event;
  ASSERT_NO_THROW(sse_event(completion_chunk("id", "m", 0, half, true)));  // also as a top_logprobs key

  GenerationRequest req;
  GenerationResult r;
  r.text = "ok\xff";
  EXPECT_EQ(dump_safe(completion_body(req, r, "c", "m", 0)).find("\xff"), std::string::npos);
}

TEST(OpenAIResponse, ErrorBodyShape) {
  const std::string body = error_body(ApiError{400, "invalid_request_error", "n must be 1", "n", ""});
  EXPECT_EQ(body,
            R"({"error":{"message":"n must be 1","type":"invalid_request_error","param":"n","code":null}})");
  EXPECT_EQ(error_body(ApiError{500, "server_error", "boom", "", "x"}),
            R"({"error":{"message":"boom","type":"server_error","param":null,"code":"x"}})");
}

TEST(OpenAIResponse, ApiExceptionCarriesError) {
  try {
    throw ApiException::invalid_request("top_p", "top_p must be > 0");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "top_p must be > 0");
    const auto* api = dynamic_cast<const ApiException*>(&e);
    ASSERT_NE(api, nullptr);
    EXPECT_EQ(api->error().status, 400);
    EXPECT_EQ(api->error().param, "top_p");
  }
}

}  // namespace
}  // namespace bitdial::serve
