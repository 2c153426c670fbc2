// What one request asks a backend for and what the backend answers, independent of HTTP: the
// server parses OpenAI bodies into a GenerationRequest, a Backend (a local GGUF model or an upstream
// endpoint) produces a GenerationResult, and the router reads its confidence to decide on a cascade.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/sampler.h"

namespace bitdial::serve {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (others passed through to the template)
  std::string content;
};

struct GenerationRequest {
  std::string request_id;
  bool chat = false;                   // /v1/chat/completions: `messages` holds the conversation
  std::vector<ChatMessage> messages;
  std::string prompt;                  // /v1/completions, text prompt
  std::vector<int32_t> prompt_ids;     // /v1/completions, prompt given as token ids (used when non-empty)
  int64_t max_tokens = 16;             // 0 with echo: score the prompt only
  SamplerParams sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
  std::vector<std::string> stop;       // generation ends before the first occurrence of any of these
  bool echo = false;                   // completions: return the prompt's tokens with their log-probs
  int logprobs = -1;                   // < 0: none; k >= 0: each token's log-prob and its k best alternatives
  // Classification (bitdial extension, completions only): score each choice as a continuation of the
  // prompt and answer the most likely one; the confidence is then about choices, not tokens.
  std::vector<std::string> choices;
  bool stream = false;
  double timeout_s = 0;                // 0: the server's default
};

// One token of a prompt (echo) or of a generation.
struct TokenLogprob {
  int32_t id = -1;                     // -1 when the token came from an upstream that reports text only
  std::string text;                    // its bytes as they appear in the text
  std::optional<double> logprob;       // natural log; none for the first prompt token
  std::vector<std::pair<std::string, double>> top;  // best alternatives, most likely first
  int64_t text_offset = 0;             // characters (UTF-8 code points) into prompt + completion
};

struct GenerationResult {
  std::string text;                    // generated text only (the prompt is in prompt_tokens when echoed)
  std::string finish_reason;           // "stop" (end token, stop string, classification) or "length"
  std::vector<TokenLogprob> prompt_tokens;  // echo only
  std::vector<TokenLogprob> tokens;    // the generated tokens (always filled: confidence needs them)
  int64_t n_prompt_tokens = 0;
  int64_t n_completion_tokens = 0;
  // Classification: log-likelihood of each choice, the index answered, and its softmax probability
  // over the choices and lead over the runner-up.
  std::vector<double> choice_logliks;
  int64_t chosen = -1;
  double choice_probability = 0;
  double choice_margin = 0;
  double time_to_first_token_s = 0;
  double total_s = 0;
};

// Called once per generated token as soon as it exists (streaming); return false to stop generating
// (the client went away). Called from the backend's worker thread.
using TokenCallback = std::function<bool(const TokenLogprob&)>;

// A backend failure the router may fail over from (timeout, connection refused, upstream 5xx,
// overloaded). `status` is the HTTP status to answer with when nothing else can serve the request.
class BackendError : public std::runtime_error {
 public:
  BackendError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// A request the backend cannot take as given (prompt longer than the context, unknown token id): the
// client's fault, answered with HTTP 400 and never failed over.
class InvalidRequest : public std::runtime_error {
 public:
  InvalidRequest(const std::string& param, const std::string& what) : std::runtime_error(what), param_(param) {}
  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const std::string& name() const = 0;
  // "local:<path>" or "upstream:<model>@<url>".
  virtual std::string describe() const = 0;
  // Blocks until the request is answered. Thread-safe: many requests run at once. Throws BackendError
  // or InvalidRequest.
  virtual GenerationResult generate(const GenerationRequest& request, const TokenCallback& on_token) = 0;
};

}  // namespace bitdial::serve
