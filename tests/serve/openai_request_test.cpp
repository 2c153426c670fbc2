// OpenAI request parsing: defaults, every accepted prompt/content shape, bitdial's extensions, and one
// test per rejection, each checking HTTP 400, the param, and that the message names the field.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "serve/openai_request.h"

namespace bitdial::serve {
namespace {

const RequestLimits kLimits;

ParsedRequest completion(const std::string& body) { return parse_completion_request(body, kLimits); }
ParsedRequest chat(const std::string& body) { return parse_chat_request(body, kLimits); }

// The ApiError a parse throws; fails the test when it parses.
ApiError error_of(const std::function<ParsedRequest(const std::string&)>& parse, const std::string& body) {
  try {
    parse(body);
  } catch (const ApiException& e) {
    return e.error();
  }
  ADD_FAILURE() << "parsed without error: " << body;
  return {};
}

// Checks the common shape of a field error: 400, invalid_request_error, param, message naming it.
void expect_field_error(const ApiError& e, const std::string& param, const std::string& in_message) {
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, param);
  EXPECT_NE(e.message.find(in_message), std::string::npos) << e.message;
}

const std::string kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

// --- defaults and accepted shapes ---

TEST(OpenAIRequest, CompletionDefaultsFollowOpenAI) {
  const ParsedRequest r = completion(R"({"prompt":"Hello"})");
  EXPECT_FALSE(r.gen.chat);
  EXPECT_EQ(r.gen.prompt, "Hello");
  EXPECT_EQ(r.gen.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 1.0f);
  EXPECT_EQ(r.gen.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.gen.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(r.gen.sampling.repeat_penalty, 1.0f);
  EXPECT_EQ(r.gen.logprobs, -1);
  EXPECT_FALSE(r.gen.echo);
  EXPECT_FALSE(r.gen.stream);
  EXPECT_TRUE(r.gen.stop.empty());
  EXPECT_TRUE(r.gen.choices.empty());
  EXPECT_EQ(r.model, "");
  EXPECT_EQ(r.user, "");
  EXPECT_EQ(r.task, "");
  EXPECT_FALSE(r.high_stakes);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.n, 1);
}

TEST(OpenAIRequest, ChatDefaultMaxTokensIsTheLimit) {
  RequestLimits limits;
  limits.max_tokens = 1234;
  const ParsedRequest r = parse_chat_request("{" + kMsgs + "}", limits);
  EXPECT_TRUE(r.gen.chat);
  EXPECT_EQ(r.gen.max_tokens, 1234);
  EXPECT_EQ(r.gen.logprobs, -1);
}

TEST(OpenAIRequest, ReadsIdentityAndExtensionFields) {
  const ParsedRequest r = completion(
      R"({"prompt":"x","model":"m1","user":"alice","task":"summarise","high_stakes":true,"stream":true,
          "stream_options":{"include_usage":true},"n":1})");
  EXPECT_EQ(r.model, "m1");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.task, "summarise");
  EXPECT_TRUE(r.high_stakes);
  EXPECT_TRUE(r.gen.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(OpenAIRequest, ReadsSamplingFields) {
  const ParsedRequest r = completion(
      R"({"prompt":"x","temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.1,"seed":42,
          "repetition_penalty":1.1,"presence_penalty":0,"frequency_penalty":0.0,"max_tokens":100})");
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 0.9f);
  EXPECT_EQ(r.gen.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.gen.sampling.min_p, 0.1f);
  EXPECT_EQ(r.gen.sampling.seed, 42u);
  EXPECT_FLOAT_EQ(r.gen.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(r.gen.max_tokens, 100);
}

TEST(OpenAIRequest, RepeatPenaltyAliasIsAccepted) {
  EXPECT_FLOAT_EQ(completion(R"({"prompt":"x","repeat_penalty":1.3})").gen.sampling.repeat_penalty, 1.3f);
}

TEST(OpenAIRequest, LargeSeedIsReadAsUint64) {
  EXPECT_EQ(completion(R"({"prompt":"x","seed":18446744073709551615})").gen.sampling.seed, UINT64_MAX);
}

TEST(OpenAIRequest, NegativeSeedWrapsToUint64) {
  EXPECT_EQ(completion(R"({"prompt":"x","seed":-1})").gen.sampling.seed, UINT64_MAX);
}

TEST(OpenAIRequest, EchoFalseIsAcceptedOnChat) {
  EXPECT_FALSE(chat("{" + kMsgs + R"(,"echo":false})").gen.echo);
}

TEST(OpenAIRequest, TemperatureZeroIsAllowed) {
  EXPECT_FLOAT_EQ(completion(R"({"prompt":"x","temperature":0})").gen.sampling.temperature, 0.0f);
}

TEST(OpenAIRequest, NullFieldsCountAsAbsent) {
  const ParsedRequest r =
      completion(R"({"prompt":"x","stop":null,"max_tokens":null,"temperature":null,"logprobs":null,"user":null})");
  EXPECT_EQ(r.gen.max_tokens, 16);
  EXPECT_TRUE(r.gen.stop.empty());
  EXPECT_EQ(r.gen.logprobs, -1);
}

TEST(OpenAIRequest, UnknownFieldsAreIgnored) {
  EXPECT_EQ(completion(R"({"prompt":"x","suffix":"y","logit_bias":{},"whatever":[1,2]})").gen.prompt, "x");
}

TEST(OpenAIRequest, PromptAsArrayOfOneString) {
  EXPECT_EQ(completion(R"({"prompt":["Hello"]})").gen.prompt, "Hello");
}

TEST(OpenAIRequest, PromptAsTokenIds) {
  const ParsedRequest r = completion(R"({"prompt":[1,15043,0]})");
  EXPECT_EQ(r.gen.prompt, "");
  EXPECT_EQ(r.gen.prompt_ids, (std::vector<int32_t>{1, 15043, 0}));
}

TEST(OpenAIRequest, PromptAsOneArrayOfTokenIds) {
  EXPECT_EQ(completion(R"({"prompt":[[5,6]]})").gen.prompt_ids, (std::vector<int32_t>{5, 6}));
}

TEST(OpenAIRequest, StopAsStringOrArray) {
  EXPECT_EQ(completion(R"({"prompt":"x","stop":"\n"})").gen.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(completion(R"({"prompt":"x","stop":["a","b"]})").gen.stop, (std::vector<std::string>{"a", "b"}));
}

TEST(OpenAIRequest, CompletionLogprobsAndEcho) {
  const ParsedRequest r = completion(R"({"prompt":"x","logprobs":5,"echo":true,"max_tokens":0})");
  EXPECT_EQ(r.gen.logprobs, 5);
  EXPECT_TRUE(r.gen.echo);
  EXPECT_EQ(r.gen.max_tokens, 0);
}

TEST(OpenAIRequest, ChatLogprobsWithTopLogprobs) {
  EXPECT_EQ(chat("{" + kMsgs + R"(,"logprobs":true,"top_logprobs":3})").gen.logprobs, 3);
  EXPECT_EQ(chat("{" + kMsgs + R"(,"logprobs":true})").gen.logprobs, 0);
  EXPECT_EQ(chat("{" + kMsgs + R"(,"logprobs":false})").gen.logprobs, -1);
}

TEST(OpenAIRequest, ChatMaxCompletionTokensIsAccepted) {
  EXPECT_EQ(chat("{" + kMsgs + R"(,"max_completion_tokens":7})").gen.max_tokens, 7);
  EXPECT_EQ(chat("{" + kMsgs + R"(,"max_tokens":9})").gen.max_tokens, 9);
}

TEST(OpenAIRequest, ChatMessagesAreRead) {
  const ParsedRequest r =
      chat(R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi","name":"bob"}]})");
  ASSERT_EQ(r.gen.messages.size(), 2u);
  EXPECT_EQ(r.gen.messages[0].role, "system");
  EXPECT_EQ(r.gen.messages[0].content, "be brief");
  EXPECT_EQ(r.gen.messages[1].role, "user");
  EXPECT_EQ(r.gen.messages[1].content, "hi");
}

TEST(OpenAIRequest, ChatContentPartsAreConcatenated) {
  const ParsedRequest r = chat(
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}]}]})");
  EXPECT_EQ(r.gen.messages[0].content, "Hello, world");
}

TEST(OpenAIRequest, ClassificationChoicesAreRead) {
  EXPECT_EQ(completion(R"({"prompt":"x","choices":[" yes"," no"]})").gen.choices,
            (std::vector<std::string>{" yes", " no"}));
}

// --- rejections ---

TEST(OpenAIRequestErrors, BodyNotJsonGivesByteOffset) {
  const ApiError e = error_of(completion, R"({"prompt": "x",})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_NE(e.message.find("not valid JSON"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("at byte 16"), std::string::npos) << e.message;
}

TEST(OpenAIRequestErrors, BodyNotAnObject) {
  const ApiError e = error_of(chat, "[1,2]");
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(e.message.find("must be a JSON object"), std::string::npos) << e.message;
}

TEST(OpenAIRequestErrors, MaxTokensNotInteger) {
  expect_field_error(error_of(completion, R"({"prompt":"x","max_tokens":"10"})"), "max_tokens",
                     "max_tokens must be an integer");
  expect_field_error(error_of(completion, R"({"prompt":"x","max_tokens":10.5})"), "max_tokens",
                     "max_tokens must be an integer");
}

TEST(OpenAIRequestErrors, MaxTokensNegative) {
  expect_field_error(error_of(completion, R"({"prompt":"x","max_tokens":-1})"), "max_tokens", "max_tokens");
}

TEST(OpenAIRequestErrors, MaxTokensOverLimit) {
  expect_field_error(error_of(completion, R"({"prompt":"x","max_tokens":4097})"), "max_tokens", "at most 4096");
  expect_field_error(error_of(completion, R"({"prompt":"x","max_tokens":18446744073709551615})"), "max_tokens",
                     "at most 4096");
}

TEST(OpenAIRequestErrors, ChatMaxTokensZero) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"max_tokens":0})"), "max_tokens", "max_tokens");
}

TEST(OpenAIRequestErrors, ChatMaxCompletionTokensOverLimit) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"max_completion_tokens":100000})"), "max_completion_tokens",
                     "max_completion_tokens");
}

TEST(OpenAIRequestErrors, TemperatureOutOfRange) {
  expect_field_error(error_of(completion, R"({"prompt":"x","temperature":2.5})"), "temperature", "temperature");
  expect_field_error(error_of(completion, R"({"prompt":"x","temperature":-0.1})"), "temperature", "temperature");
}

TEST(OpenAIRequestErrors, TemperatureNotNumber) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"temperature":"hot"})"), "temperature",
                     "temperature must be a number");
}

TEST(OpenAIRequestErrors, TopPOutOfRange) {
  expect_field_error(error_of(completion, R"({"prompt":"x","top_p":0})"), "top_p", "top_p");
  expect_field_error(error_of(completion, R"({"prompt":"x","top_p":1.01})"), "top_p", "top_p");
}

TEST(OpenAIRequestErrors, TopKNegative) {
  expect_field_error(error_of(completion, R"({"prompt":"x","top_k":-3})"), "top_k", "top_k");
}

TEST(OpenAIRequestErrors, MinPOutOfRange) {
  expect_field_error(error_of(completion, R"({"prompt":"x","min_p":1.5})"), "min_p", "min_p");
}

TEST(OpenAIRequestErrors, RepetitionPenaltyNotPositive) {
  expect_field_error(error_of(completion, R"({"prompt":"x","repetition_penalty":0})"), "repetition_penalty",
                     "repetition_penalty");
}

TEST(OpenAIRequestErrors, SeedNotInteger) {
  expect_field_error(error_of(completion, R"({"prompt":"x","seed":1.5})"), "seed", "seed must be an integer");
}

TEST(OpenAIRequestErrors, NOtherThanOne) {
  expect_field_error(error_of(completion, R"({"prompt":"x","n":2})"), "n", "only n=1 is supported");
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"n":0})"), "n", "only n=1 is supported");
}

TEST(OpenAIRequestErrors, PresencePenaltyNotSupported) {
  expect_field_error(error_of(completion, R"({"prompt":"x","presence_penalty":0.5})"), "presence_penalty",
                     "presence_penalty is not supported");
}

TEST(OpenAIRequestErrors, FrequencyPenaltyNotSupported) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"frequency_penalty":1})"), "frequency_penalty",
                     "frequency_penalty is not supported");
}

TEST(OpenAIRequestErrors, CompletionLogprobsOutOfRange) {
  expect_field_error(error_of(completion, R"({"prompt":"x","logprobs":21})"), "logprobs", "logprobs");
  expect_field_error(error_of(completion, R"({"prompt":"x","logprobs":-1})"), "logprobs", "logprobs");
}

TEST(OpenAIRequestErrors, CompletionLogprobsNotInteger) {
  expect_field_error(error_of(completion, R"({"prompt":"x","logprobs":true})"), "logprobs",
                     "logprobs must be an integer");
}

TEST(OpenAIRequestErrors, ChatLogprobsNotBoolean) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"logprobs":5})"), "logprobs", "logprobs must be a boolean");
}

TEST(OpenAIRequestErrors, ChatTopLogprobsOutOfRange) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"logprobs":true,"top_logprobs":21})"), "top_logprobs",
                     "top_logprobs");
}

TEST(OpenAIRequestErrors, ChatTopLogprobsWithoutLogprobs) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"top_logprobs":2})"), "top_logprobs", "top_logprobs");
}

TEST(OpenAIRequestErrors, StopNotStringOrArray) {
  expect_field_error(error_of(completion, R"({"prompt":"x","stop":5})"), "stop", "stop");
  expect_field_error(error_of(completion, R"({"prompt":"x","stop":["a",1]})"), "stop", "stop");
}

TEST(OpenAIRequestErrors, TooManyStopStrings) {
  expect_field_error(error_of(completion, R"({"prompt":"x","stop":["a","b","c","d","e"]})"), "stop", "at most 4");
}

TEST(OpenAIRequestErrors, EmptyStopString) {
  expect_field_error(error_of(completion, R"({"prompt":"x","stop":""})"), "stop", "stop");
}

TEST(OpenAIRequestErrors, PromptMissing) {
  expect_field_error(error_of(completion, R"({"max_tokens":5})"), "prompt", "prompt is required");
}

TEST(OpenAIRequestErrors, PromptEmpty) {
  expect_field_error(error_of(completion, R"({"prompt":""})"), "prompt", "prompt must not be empty");
  expect_field_error(error_of(completion, R"({"prompt":[]})"), "prompt", "prompt must not be empty");
}

TEST(OpenAIRequestErrors, PromptBatchOfStrings) {
  expect_field_error(error_of(completion, R"({"prompt":["a","b"]})"), "prompt", "prompt must be a string");
}

TEST(OpenAIRequestErrors, PromptWrongType) {
  expect_field_error(error_of(completion, R"({"prompt":42})"), "prompt", "prompt must be a string");
  expect_field_error(error_of(completion, R"({"prompt":{"text":"x"}})"), "prompt", "prompt must be a string");
}

TEST(OpenAIRequestErrors, PromptNegativeTokenId) {
  expect_field_error(error_of(completion, R"({"prompt":[1,-2]})"), "prompt", "prompt[1]");
}

TEST(OpenAIRequestErrors, PromptTokenIdNotInteger) {
  expect_field_error(error_of(completion, R"({"prompt":[1,2.5]})"), "prompt", "prompt");
}

TEST(OpenAIRequestErrors, PromptTooLong) {
  RequestLimits limits;
  limits.max_prompt_chars = 4;
  try {
    parse_completion_request(R"({"prompt":"hello"})", limits);
    FAIL() << "no error";
  } catch (const ApiException& e) {
    expect_field_error(e.error(), "prompt", "prompt is longer than 4");
  }
}

TEST(OpenAIRequestErrors, PromptTokenIdBeyondInt32) {
  expect_field_error(error_of(completion, R"({"prompt":[1,4294967296]})"), "prompt", "prompt[1]");
}

TEST(OpenAIRequestErrors, MessagesTooLong) {
  RequestLimits limits;
  limits.max_prompt_chars = 5;
  try {
    parse_chat_request(R"({"messages":[{"role":"system","content":"abc"},{"role":"user","content":"def"}]})", limits);
    FAIL() << "no error";
  } catch (const ApiException& e) {
    expect_field_error(e.error(), "messages", "messages are longer than 5");
  }
}

TEST(OpenAIRequestErrors, MessagesMissing) {
  expect_field_error(error_of(chat, R"({"model":"m"})"), "messages", "messages is required");
}

TEST(OpenAIRequestErrors, MessagesEmpty) {
  expect_field_error(error_of(chat, R"({"messages":[]})"), "messages", "messages must not be empty");
}

TEST(OpenAIRequestErrors, MessagesNotArray) {
  expect_field_error(error_of(chat, R"({"messages":"hi"})"), "messages", "messages must be an array");
}

TEST(OpenAIRequestErrors, MessageNotObject) {
  expect_field_error(error_of(chat, R"({"messages":["hi"]})"), "messages", "messages[0] must be an object");
}

TEST(OpenAIRequestErrors, MessageRoleNotString) {
  expect_field_error(error_of(chat, R"({"messages":[{"role":1,"content":"hi"}]})"), "messages",
                     "messages[0].role must be a string");
  expect_field_error(error_of(chat, R"({"messages":[{"content":"hi"}]})"), "messages", "messages[0].role");
}

TEST(OpenAIRequestErrors, MessageContentNotString) {
  expect_field_error(error_of(chat, R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":5}]})"),
                     "messages", "messages[1].content");
  expect_field_error(error_of(chat, R"({"messages":[{"role":"user"}]})"), "messages",
                     "messages[0].content is required");
}

TEST(OpenAIRequestErrors, MessageContentPartNotText) {
  expect_field_error(
      error_of(chat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})"),
      "messages", "messages[0].content[0].type");
}

TEST(OpenAIRequestErrors, ChoicesOnChat) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"choices":["a","b"]})"), "choices", "choices");
}

TEST(OpenAIRequestErrors, EchoOnChat) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"echo":true})"), "echo", "echo");
}

TEST(OpenAIRequestErrors, ChoicesEmpty) {
  expect_field_error(error_of(completion, R"({"prompt":"x","choices":[]})"), "choices", "choices");
}

TEST(OpenAIRequestErrors, ChoicesNotStrings) {
  expect_field_error(error_of(completion, R"({"prompt":"x","choices":["a",2]})"), "choices",
                     "choices[1] must be a string");
}

TEST(OpenAIRequestErrors, ChoiceEmptyString) {
  expect_field_error(error_of(completion, R"({"prompt":"x","choices":["a",""]})"), "choices", "choices[1]");
}

TEST(OpenAIRequestErrors, ChoicesRepeated) {
  expect_field_error(error_of(completion, R"({"prompt":"x","choices":["a","b","a"]})"), "choices", "choices[2]");
}

TEST(OpenAIRequestErrors, TooManyChoices) {
  RequestLimits limits;
  limits.max_choices = 2;
  try {
    parse_completion_request(R"({"prompt":"x","choices":["a","b","c"]})", limits);
    FAIL() << "no error";
  } catch (const ApiException& e) {
    expect_field_error(e.error(), "choices", "at most 2");
  }
}

TEST(OpenAIRequestErrors, StreamNotBoolean) {
  expect_field_error(error_of(completion, R"({"prompt":"x","stream":"yes"})"), "stream", "stream must be a boolean");
}

TEST(OpenAIRequestErrors, IncludeUsageNotBoolean) {
  expect_field_error(error_of(completion, R"({"prompt":"x","stream_options":{"include_usage":1}})"),
                     "stream_options.include_usage", "stream_options.include_usage");
}

TEST(OpenAIRequestErrors, ModelNotString) {
  expect_field_error(error_of(completion, R"({"prompt":"x","model":3})"), "model", "model must be a string");
}

TEST(OpenAIRequestErrors, HighStakesNotBoolean) {
  expect_field_error(error_of(chat, "{" + kMsgs + R"(,"high_stakes":"yes"})"), "high_stakes", "high_stakes");
}

}  // namespace
}  // namespace bitdial::serve
