// The OpenAI wire format as UpstreamBackend speaks it to another server: request bodies built from a
// GenerationRequest, answers (whole, or one server-sent-events chunk at a time) read into a
// GenerationResult, and upstream error bodies read into a message. Pure functions, no HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/generation.h"

namespace bitdial::serve::upstream {

// The request body for POST {url}/completions (request.chat false) or {url}/chat/completions. Sends
// only what the caller set away from the API defaults (top_p < 1, top_k > 0, min_p > 0, seed != 0,
// repeat_penalty != 1 as vLLM/TGI's "repetition_penalty", stop, echo); temperature and max_tokens
// always (upstream defaults differ). Log-probs are always asked for (completions: at least 1; chat:
// logprobs true with top_logprobs >= 0) because cascade confidence needs each token's probability.
// stream: also asks for the usage chunk (stream_options.include_usage).
nlohmann::json request_body(const GenerationRequest& request, const std::string& model, bool stream);

// The echo request that scores `text` (prompt + choice) for classification.
nlohmann::json echo_body(const std::string& model, const std::string& text, int max_tokens);

// Where a parsed answer's figures land. `url` names the endpoint in every error (BackendError 502,
// "malformed response" and the JSON path of the field). `keep_top` is how many alternatives per token
// the caller asked for (request.logprobs clamped at 0); more that came back are dropped.
struct ParseContext {
  std::string url;
  bool chat = false;
  int keep_top = 0;
  // Completions echo: the prompt's own tokens are split off into prompt_tokens. They are the first
  // usage.prompt_tokens tokens when usage is given, else those whose text_offset lies inside the
  // text prompt, or the first n_prompt_ids (token-id prompt).
  bool echo = false;
  std::string prompt;        // the text prompt ("" for a token-id prompt or chat)
  int64_t n_prompt_ids = 0;  // token-id prompt: how many ids were sent
};

// A whole (non-streamed) answer: text, finish_reason, tokens, prompt_tokens (echo), usage. Token
// text_offset is the server's when given, else counted here in characters: from the end of the text
// prompt, or from the start of the answer (chat, token-id prompts: the prompt's text is unknown here).
// A server that sends no per-token log-probs gives one token per answer (or per streamed chunk) with
// the text and no log-prob, so the tokens always concatenate to the text.
GenerationResult parse_response(const nlohmann::json& root, const ParseContext& ctx);

// The figures one streamed chunk carries.
struct Chunk {
  std::string text;                  // the chunk's text (completions `text`, chat `delta.content`)
  std::vector<TokenLogprob> tokens;  // with log-probs when the chunk carried them, else empty
  std::string finish_reason;         // "" until the last content chunk
  int64_t n_prompt_tokens = -1;      // from a usage chunk; -1 when absent
  int64_t n_completion_tokens = -1;
};
// Throws BackendError(502) for an {"error": ...} chunk (vLLM reports mid-stream failures so) or a
// malformed one. `chars_so_far` continues text_offset counting where the server gives none.
Chunk parse_chunk(const nlohmann::json& root, const ParseContext& ctx, int64_t chars_so_far);

// Splits a server-sent-events body into `data:` payloads as bytes arrive. Each data line is one event
// (OpenAI-compatible servers send one-line JSON per event); comments, event:/id:/retry: fields and
// blank lines are skipped. "[DONE]" sets done().
class SseSplitter {
 public:
  // Appends bytes; returns the complete data payloads they finished, in order.
  std::vector<std::string> feed(std::string_view bytes);
  // The last line when the body ended without a newline (empty when none).
  std::vector<std::string> finish();
  bool done() const { return done_; }

 private:
  void take_line(std::string_view line, std::vector<std::string>& out);
  std::string pending_;
  bool done_ = false;
};

// The human-readable message and offending parameter of an error body in any of the shapes servers
// use: OpenAI/llama-server {"error": {"message", "param"}}, vLLM {"message", "param"}, TGI
// {"error": "..."}. Falls back to the first 200 bytes of the body.
struct UpstreamErrorText {
  std::string message;
  std::string param;
};
UpstreamErrorText error_text(const std::string& body);

}  // namespace bitdial::serve::upstream
