// Test doubles for HTTP clients: a local server that answers POSTs to one path with a handler, a port
// that refuses connections, the whitespace tokenizer the fake OpenAI endpoints use, and an OpenAI
// completions endpoint backed by a real local model (exact echoed log-probs for token-id prompts).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "model/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial::test {

// Serves POST `path` on 127.0.0.1 (any free port) from a background thread; requests are handled one at
// a time (the handler needs no locking of its own).
class LocalHttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  LocalHttpServer(const std::string& path, Handler handler);
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;
  // "http://127.0.0.1:<port>/v1"
  std::string url() const;

 private:
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  int port_ = 0;
};

// A bound socket that never listens: connecting is refused, and no other process can take the port.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  const std::string& url() const { return url_; }  // "http://127.0.0.1:<port>/v1"

 private:
  int fd_ = -1;
  std::string url_;
};

// POST /v1/completions answered like vLLM answers {"prompt": [token ids], "echo": true, "max_tokens": 0,
// "logprobs": K}: the model evaluates the ids in one Session pass (f16 cache, as the local evaluation),
// and each echoed token carries log p(token | previous ones) from a double log-softmax of the logits and
// the K most likely tokens of the full row (ties: lower id first). The first token has null log-probs.
// String prompts are refused (HTTP 400): the tests that use this server send ids only. The knobs make
// the misbehaving servers the client must detect.
class ModelCompletionServer {
 public:
  enum class Spelling { vocab, token_id, piece };  // "▁the", "token_id:42", " the"
  explicit ModelCompletionServer(const LlamaModel& model);
  std::string url() const { return http_.url(); }

  Spelling spelling = Spelling::vocab;
  int max_logprobs = 20;                // a larger "logprobs" is HTTP 400, as vLLM's default limit
  bool no_logprobs = false;             // "logprobs": null in the answer
  bool reject_max_tokens_zero = false;  // HTTP 400 for max_tokens 0, then one generated token is appended
  int extra_tokens = 0;                 // echo this many BOS tokens in front: a server that tokenizes anew
  int32_t shift_ids = 0;                // spell token i as id (i + shift) % n_vocab: another vocabulary
  int n_requests = 0;

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  std::string spell(int32_t id) const;

  const LlamaModel& model_;
  Tokenizer tokenizer_;
  LocalHttpServer http_;
};

// Whitespace run + non-whitespace run: "The cat" -> "The", " cat".
std::vector<std::string> split_words(const std::string& text);

}  // namespace bitdial::test
