// A GGUF model served by the engine with continuous batching: one worker thread owns every running
// request's Session and, each step, advances all of them in one shared forward pass (prompts of
// newly admitted requests and one token of each decoding request together, model/session_batch.h),
// so N concurrent clients cost about one matmul per weight per step instead of N.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "model/tokenizer/tokenizer.h"
#include "serve/chat_template.h"
#include "serve/generation.h"

namespace bitdial::serve {

struct LocalBackendOptions {
  std::string name;
  std::string path;                  // GGUF file
  int64_t n_ctx = 0;                 // positions per request (prompt + answer); 0: the model's training context
  int max_batch = 16;                // sequences in one forward pass; 1: one at a time (no continuous batching)
  int64_t max_prefill_tokens = 1024; // prompt tokens admitted per step (a longer prompt still goes alone)
  size_t max_queue = 1024;           // requests waiting beyond this are refused (503, the router may fail over)
  int threads = 0;                   // OpenMP threads of the forward pass (0: the process default)
  KvType kv_type = KvType::f16;      // f16: the cache `bitdial eval` uses, so echoed log-probs match it
  std::string chat_template;         // "": detected from tokenizer.chat_template; else a chat_template_name()
};

class LocalBackend : public Backend {
 public:
  // Loads and validates the model (bitdial::Error naming the file) and starts the worker.
  explicit LocalBackend(LocalBackendOptions options);
  // Finishes every admitted and queued request, then stops the worker.
  ~LocalBackend() override;
  LocalBackend(const LocalBackend&) = delete;
  LocalBackend& operator=(const LocalBackend&) = delete;

  const std::string& name() const override { return options_.name; }
  std::string describe() const override { return "local:" + options_.path; }
  GenerationResult generate(const GenerationRequest& request, const TokenCallback& on_token) override;

  const LlamaModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  ChatTemplateKind chat_template() const { return template_; }
  int64_t n_ctx() const { return n_ctx_; }

  struct Stats {
    int64_t steps = 0;           // forward passes
    int64_t sequence_steps = 0;  // sum over steps of the sequences in them (batching factor = this / steps)
    int64_t max_sequences = 0;   // most sequences one step carried
  };
  Stats stats() const;

 private:
  struct Job;
  struct Seq;
  void worker_loop();
  void admit(std::deque<std::shared_ptr<Job>>& incoming);
  void step();
  void finish(const std::shared_ptr<Job>& job);
  void fail_job(const std::shared_ptr<Job>& job, std::exception_ptr e);
  std::shared_ptr<Job> prepare(const GenerationRequest& request, const TokenCallback& on_token) const;

  LocalBackendOptions options_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ChatTemplateKind template_ = ChatTemplateKind::plain;
  int64_t n_ctx_ = 0;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  Stats stats_;                             // guarded by mu_
  std::vector<std::shared_ptr<Job>> active_;  // worker thread only
  std::thread worker_;
};

}  // namespace bitdial::serve
