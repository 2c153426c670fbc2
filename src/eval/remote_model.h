// A model served behind an OpenAI-compatible endpoint (vLLM, TGI, llama-server), scored through
// /v1/completions with echo + log-probs, so a model too big for this machine is evaluated like a file.
// Every failure (bad URL, unreachable host, HTTP error, a body without log-probs) is a bitdial::Error naming the URL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace httplib {
class Client;
}

namespace bitdial {

struct RemoteOptions {
  int connect_timeout_s = 10;
  int read_timeout_s = 300;  // a long prompt on a busy server can take minutes before the first byte
};

// One request at a time: use one RemoteModel per thread.
class RemoteModel {
 public:
  // Log-likelihood of `continuation` after `context` (nats), as a local model's task scorer computes it.
  struct ContinuationScore {
    double loglik = 0;                  // sum of token_logprobs
    int64_t n_tokens = 0;               // continuation tokens as the server tokenized them
    std::vector<double> token_logprobs;
    std::vector<bool> token_greedy;     // was each token the server's top-1 choice at its position
    bool greedy() const;                // every continuation token was top-1 (lm-eval's "is_greedy")
  };

  struct Generation {
    std::string text;                   // the completion only, prompt excluded
    std::vector<std::string> tokens;    // empty when the server sent no log-probs for generations
    std::vector<double> token_logprobs;
    std::string finish_reason;          // "stop", "length", … as the server reports it
  };

  struct TokenLogprob {
    std::string token;                  // as the server spells it (may be byte-level BPE, e.g. "Ġthe")
    std::optional<double> logprob;      // none for the first token: nothing precedes it
    std::vector<std::pair<std::string, double>> top;  // top-k alternatives, most likely first
  };
  struct TextLogprobs {
    std::vector<TokenLogprob> tokens;
  };

  // base_url: "http(s)://host[:port][/path]", normally ending in /v1; requests go to {base_url}/completions.
  // api_key_env names the environment variable holding the bearer token ("" for none). Only validates:
  // nothing is sent until the first request (see probe()).
  static RemoteModel connect(const std::string& base_url, const std::string& model_name,
                             const std::string& api_key_env, const RemoteOptions& options = {});

  RemoteModel(RemoteModel&&) noexcept;
  RemoteModel& operator=(RemoteModel&&) noexcept;
  ~RemoteModel();

  // Fails unless the endpoint answers and supports echo + log-probs; a cheap check before a long run.
  void probe();

  // Continuation tokens are those covering any character of `continuation` in the echoed prompt
  // context + continuation; a token straddling the boundary counts as continuation.
  ContinuationScore score_continuation(const std::string& context, const std::string& continuation);

  // Greedy (temperature 0) completion of up to max_tokens tokens.
  Generation generate(const std::string& prompt, int max_tokens);

  // Per-token log-probs of `text` with the top_k alternatives at each position (perplexity, approximate KL).
  TextLogprobs score_text(const std::string& text, int top_k);

  // The same for a prompt given as token ids (the OpenAI completions API accepts an array of integers;
  // vLLM and llama-server do), so the server evaluates exactly the tokens a local tokenizer made: one
  // entry per id, in order (a generated token, when max_tokens had to be 1, is dropped). Throws, naming
  // the URL, when the echo has another number of tokens than ids were sent. top_k >= 1.
  TextLogprobs score_tokens(const std::vector<int32_t>& ids, int top_k);

  std::string describe() const;  // "remote:<model>@<base_url>"
  const std::string& base_url() const { return base_url_; }
  const std::string& model_name() const { return model_name_; }

 private:
  RemoteModel() = default;
  struct Echo;
  Echo request_echo(const std::string& prompt, int top_k);
  // POSTs an echo request (prompt: a string or an array of ids) and returns choices[0].logprobs.
  nlohmann::json post_echo(const nlohmann::json& prompt, int top_k);
  std::string post_completions(const std::string& body, int* http_status);

  std::string base_url_;     // as given, trailing '/' removed
  std::string path_prefix_;  // "/v1"
  std::string model_name_;
  RemoteOptions options_;
  std::unique_ptr<httplib::Client> client_;
  // Echo requests ask for max_tokens 0 (only the prompt is scored); a server that rejects 0 gets 1 from
  // then on, and the one generated token is dropped by its text_offset.
  int echo_max_tokens_ = 0;
};

}  // namespace bitdial
