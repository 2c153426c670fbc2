// Parses and validates the JSON bodies of OpenAI's /v1/completions and /v1/chat/completions into a
// GenerationRequest. Every rejection is an ApiException (HTTP 400, "invalid_request_error") whose param
// is the offending field and whose message names it; unknown fields are ignored, as clients send many.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serve/api_error.h"
#include "serve/generation.h"

namespace bitdial::serve {

struct ParsedRequest {
  GenerationRequest gen;      // gen.chat, messages/prompt/prompt_ids, max_tokens, sampling, stop, echo,
                              // logprobs, choices, stream (request_id and timeout_s are left to the server)
  std::string model;          // "model" field ("" if absent)
  std::string user;           // "user" field (sticky A/B key), "" if absent
  std::string task;           // bitdial extension "task" (hybrid routing), "" if absent
  bool high_stakes = false;   // bitdial extension "high_stakes": true
  bool include_usage = false; // stream_options.include_usage
  int n = 1;                  // always 1 (anything else is rejected)
};

struct RequestLimits {
  int64_t max_tokens = 4096;          // largest max_tokens accepted; also chat's default
  int64_t max_prompt_chars = 1 << 20; // bytes of prompt text (all messages together), or token ids
  int max_logprobs = 20;              // largest logprobs (completions) / top_logprobs (chat)
  int max_choices = 64;               // classification choices
  int max_stop = 4;                   // stop strings
};

// /v1/completions. Defaults: max_tokens 16 (OpenAI's legacy default), temperature 1, top_p 1, no
// top_k/min_p, no logprobs.
ParsedRequest parse_completion_request(std::string_view body, const RequestLimits& limits);

// /v1/chat/completions. Defaults as above except max_tokens = limits.max_tokens (generate until the end
// of the turn); `max_completion_tokens` is accepted as the newer name of max_tokens.
ParsedRequest parse_chat_request(std::string_view body, const RequestLimits& limits);

}  // namespace bitdial::serve
