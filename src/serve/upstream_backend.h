// A backend that forwards requests to an OpenAI-compatible endpoint (vLLM, TGI, llama-server, a
// hosted API, another bitdial serve), always asking for log-probs so the router can judge confidence,
// streaming tokens through as they arrive, and classifying by the echoed log-likelihood of each choice.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/generation.h"

namespace bitdial::serve {

namespace upstream {
class UpstreamHttp;
}

struct UpstreamOptions {
  std::string name;         // backend name in the config
  std::string url;          // base URL ending in /v1, http or https
  std::string model;        // model name sent upstream; "": the backend's name
  std::string api_key_env;  // env var holding the bearer token ("" none); read at construction
  double connect_timeout_s = 5;
  double timeout_s = 120;   // bounds the whole request, every attempt and a stalled stream included
  int retries = 1;          // extra attempts after a connection failure, a 5xx or 429, only while no
                            // token has been delivered to the caller; backoff 0.2 s * 2^attempt
};

// generate():
//  - Completions go to POST {url}/completions, chat to {url}/chat/completions (upstream_wire.h maps the
//    fields). Tokens always carry log-probs when the server gives them; `top` holds only as many
//    alternatives as request.logprobs asked for.
//  - request.stream with a callable on_token (and no echo, no choices): streamed upstream (SSE), on_token
//    called for each token as its chunk arrives; returning false aborts the upstream request and
//    generate() returns what arrived so far with finish_reason "stop". Otherwise the request is sent
//    whole and, when on_token is callable, it is called for each result token after the answer
//    arrived (stopping early if it returns false), so a caller sees every token exactly once either way.
//  - time_to_first_token_s: when the first token reached us (the whole answer, unless streamed).
//  - request.timeout_s > 0 shortens timeout_s for that request.
//  - Classification (request.choices): one echo request per choice (in parallel) scoring prompt +
//    choice; tokens are the chosen choice's tokens, n_prompt_tokens the tokens scored over all choices.
// Errors: BackendError 504 on timeout, 502 for refused connections, 5xx/429 after retries, rejected API
// keys (401/403), malformed answers; InvalidRequest for an upstream 400/413/422 (its message).
class UpstreamBackend : public Backend {
 public:
  // Throws bitdial::Error for a bad URL or timeouts, or an api_key_env that is unset or empty.
  explicit UpstreamBackend(UpstreamOptions options);
  ~UpstreamBackend() override;
  UpstreamBackend(const UpstreamBackend&) = delete;
  UpstreamBackend& operator=(const UpstreamBackend&) = delete;

  const std::string& name() const override { return options_.name; }
  std::string describe() const override;  // "upstream:<model>@<url>"
  GenerationResult generate(const GenerationRequest& request, const TokenCallback& on_token) override;

  const UpstreamOptions& options() const { return options_; }

 private:
  GenerationResult complete(const GenerationRequest& request, const TokenCallback& on_token, double timeout_s);
  GenerationResult stream(const GenerationRequest& request, const TokenCallback& on_token, double timeout_s);
  GenerationResult classify(const GenerationRequest& request, const TokenCallback& on_token, double timeout_s);

  UpstreamOptions options_;
  std::unique_ptr<upstream::UpstreamHttp> http_;
  // Echo requests ask for max_tokens 0; once the server rejects 0 (400/422), 1 from then on.
  std::atomic<int> echo_max_tokens_{0};
};

}  // namespace bitdial::serve
