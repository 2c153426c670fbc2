// Builds OpenAI response bodies from a GenerationResult: whole /v1/completions and /v1/chat/completions
// answers, and the server-sent-event chunks of a streamed answer. Token texts may be fragments of a
// multi-byte character, so everything is serialised with dump_safe (invalid UTF-8 → U+FFFD).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/generation.h"

namespace bitdial::serve {

// Token counts for the "usage" object.
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};
Usage usage_of(const GenerationResult& result);

// Compact JSON; invalid UTF-8 in any string (or key) is replaced by U+FFFD instead of throwing.
std::string dump_safe(const nlohmann::ordered_json& j);

// In every builder `extra`, when not null, is appended to the top level under "bitdial" (the caller
// fills it: backend, route, decision, confidence).

// {"id","object":"text_completion","created","model","choices":[{"index":0,"text","logprobs",
// "finish_reason"}],"usage"}. text is prompt + generation when request.echo. logprobs (when
// request.logprobs >= 0) is OpenAI's legacy object {"tokens","token_logprobs","top_logprobs",
// "text_offset"} over the echoed prompt tokens then the generated ones; the first prompt token's
// log-prob and alternatives are null. Classification requests (request.choices non-empty) also get
// "choice_scores":[{"choice","logprob"}] and "chosen" (index into choices) in the choice object.
nlohmann::ordered_json completion_body(const GenerationRequest& request, const GenerationResult& result,
                                       const std::string& request_id, const std::string& model, int64_t created,
                                       const nlohmann::ordered_json& extra = nullptr);

// {"id","object":"chat.completion","created","model","choices":[{"index":0,"message":{"role":
// "assistant","content"},"logprobs","finish_reason"}],"usage"}. logprobs (when request.logprobs >= 0)
// is {"content":[{"token","logprob","bytes","top_logprobs":[{"token","logprob","bytes"}]}]}, bytes
// being the token's raw UTF-8 bytes (so clients can rejoin split characters).
nlohmann::ordered_json chat_body(const GenerationRequest& request, const GenerationResult& result,
                                 const std::string& request_id, const std::string& model, int64_t created,
                                 const nlohmann::ordered_json& extra = nullptr);

// "data: <compact json>\n\n"
std::string sse_event(const nlohmann::ordered_json& j);
// "data: [DONE]\n\n"
std::string sse_done();

// Streamed /v1/completions: one chunk per token (finish_reason null; logprobs the legacy object for
// that token, or null), then the final chunk (empty text, the finish reason, "usage" when given).
nlohmann::ordered_json completion_chunk(const std::string& request_id, const std::string& model, int64_t created,
                                        const TokenLogprob& token, bool with_logprobs);
nlohmann::ordered_json completion_final_chunk(const std::string& request_id, const std::string& model,
                                              int64_t created, const std::string& finish_reason,
                                              const std::optional<Usage>& usage,
                                              const nlohmann::ordered_json& extra = nullptr);

// Streamed /v1/chat/completions: the first chunk announces the role (delta {"role":"assistant",
// "content":""}), one chunk per token (delta {"content": text}), then the final chunk (empty delta,
// the finish reason, "usage" when given). object is "chat.completion.chunk" throughout.
nlohmann::ordered_json chat_first_chunk(const std::string& request_id, const std::string& model, int64_t created);
nlohmann::ordered_json chat_chunk(const std::string& request_id, const std::string& model, int64_t created,
                                  const TokenLogprob& token, bool with_logprobs);
nlohmann::ordered_json chat_final_chunk(const std::string& request_id, const std::string& model, int64_t created,
                                        const std::string& finish_reason, const std::optional<Usage>& usage,
                                        const nlohmann::ordered_json& extra = nullptr);

}  // namespace bitdial::serve
