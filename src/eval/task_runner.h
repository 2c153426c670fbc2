// Runs a task file's examples on a model: classification by the log-likelihood of each choice,
// generation by greedy decoding and a match against the target. Each example gives one result row
// (an error row when it cannot be scored); rows are then counted overall and per tag.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/task_file.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial {

struct TaskRunOptions {
  KvType kv_type = KvType::f16;
  int64_t n_ctx = 0;  // 0: the model's training context
  // Spread run()'s examples over the OpenMP threads, one Session (KV cache) each, instead of splitting
  // each forward pass. A small model's pass is too short to split well: every parallel region is a
  // barrier, and on a busy machine those barriers, not arithmetic, set the time. auto_: across
  // examples while the per-thread caches take at most 256 MiB in all.
  enum class Parallel { auto_, examples, within_example } parallel = Parallel::auto_;
};

struct ExampleResult {
  int64_t line = 0;
  std::string id;
  std::vector<std::string> tags;
  TaskKind kind = TaskKind::classification;
  std::string error;  // non-empty: the example could not be scored; the fields below are unset
  bool ok() const { return error.empty(); }

  // classification
  std::vector<double> choice_logliks;       // sum of log p (nats) of each choice's continuation tokens
  std::vector<double> choice_logliks_norm;  // the same divided by the choice's length in bytes
  std::vector<int64_t> choice_tokens;       // continuation tokens per choice
  int64_t label = -1;
  int64_t predicted = -1;       // argmax of choice_logliks (first on ties)
  int64_t predicted_norm = -1;  // argmax of choice_logliks_norm
  bool correct_norm = false;
  // softmax over choice_logliks: probability of `predicted`, and its lead over the runner-up
  double confidence = 0;
  double margin = 0;

  // generation (and `correct` for both kinds: classification by raw log-likelihood)
  bool correct = false;
  std::string output;            // the generated text, end-of-generation token excluded
  int64_t n_generated = 0;       // tokens chosen, end-of-generation token included
  double first_token_prob = 0;   // probability of the first chosen token
  double mean_token_prob = 0;    // mean probability of every chosen token (eog included)
};

// Counts for one slice (all examples, or those carrying one tag). Accuracies are over scored
// examples only (errors excluded and counted apart); 0 when none was scored.
struct SliceStats {
  std::string tag;  // "" for the overall slice
  int64_t n = 0;            // examples in the slice
  int64_t n_errors = 0;
  int64_t n_classification = 0;  // scored ones
  int64_t n_generation = 0;      // scored ones
  int64_t n_correct = 0;         // classification by raw loglik + generation
  int64_t n_correct_norm = 0;    // classification by normalised loglik + generation
  int64_t n_classification_correct = 0;
  int64_t n_classification_correct_norm = 0;
  int64_t n_generation_correct = 0;

  int64_t n_scored() const { return n - n_errors; }
  double accuracy() const;       // n_correct / n_scored
  double accuracy_norm() const;  // n_correct_norm / n_scored
};

struct TaskReport {
  std::string task_name;
  std::vector<ExampleResult> examples;  // file order
  SliceStats overall;
  std::vector<SliceStats> slices;  // one per tag, sorted by tag
};

// Counts rows overall and per tag.
void aggregate(TaskReport& report);

// Splits the token sequences of prompt and prompt+choice at their longest common prefix: the
// continuation is what the full text adds after it. See task_runner.cpp for why.
struct ChoiceTokens {
  std::vector<int32_t> context;
  std::vector<int32_t> continuation;
};
ChoiceTokens split_choice_tokens(const std::vector<int32_t>& prompt_tokens, const std::vector<int32_t>& full_tokens);

class TaskRunner {
 public:
  // The model must outlive the runner. Holds, per thread, a Session of the full context for generation
  // and, for classification, one Session per choice sized to the example (their caches at most 256 MiB
  // in all): an example's choices go through one forward pass (model/session_batch.h), the prompt
  // they share evaluated once. Scores are bitwise those of each choice evaluated alone.
  TaskRunner(const LlamaModel& model, TaskRunOptions options = {});

  // Scores one example; a bitdial::Error (prompt longer than the context, ...) becomes an error row.
  ExampleResult run_example(const TaskExample& ex, const TaskHeader& header);

  // All examples, then aggregate(); rows in file order and bitwise the same for any thread count and
  // either parallel mode (the engine's logits do not depend on the thread count). on_progress(done,
  // total) is called after each example, from one thread at a time.
  TaskReport run(const TaskFile& file, const std::function<void(size_t, size_t)>& on_progress = nullptr);

  // log p(continuation | context) summed over the continuation, in nats, with the context (which
  // starts with BOS when the tokenizer adds one) and continuation (>= 1 token) evaluated in one batch;
  // bitwise the value the same sequence gets batched with others (a classification example's choices).
  // Exposed for tests.
  double continuation_loglik(const std::vector<int32_t>& context, const std::vector<int32_t>& continuation);

  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  // One thread's sessions.
  struct Worker {
    std::unique_ptr<Session> full;                   // the runner's context: generation
    std::vector<std::unique_ptr<Session>> choices;   // classification: choices evaluated in one batch
  };
  ExampleResult run_example_in(Worker& w, const TaskExample& ex, const TaskHeader& header) const;
  // Summed log-likelihood of each (context, continuation) pair: as many pairs per forward pass as
  // w.choices' cache budget allows, their common leading tokens evaluated once and copied.
  std::vector<double> continuation_logliks(Worker& w, const std::vector<ChoiceTokens>& pairs) const;
  void score_classification(Worker& w, const TaskExample& ex, const TaskHeader& header, ExampleResult& r) const;
  void score_generation(Session& s, const TaskExample& ex, ExampleResult& r) const;
  bool parallel_over_examples(int n_threads) const;
  int64_t context_size() const { return workers_[0].full->n_ctx(); }
  double cache_bytes(int64_t n_ctx) const;  // K and V of one Session holding n_ctx positions

  const LlamaModel& model_;
  TaskRunOptions options_;
  Tokenizer tokenizer_;
  std::vector<Worker> workers_;  // [0] always; one per thread made by run() when it spreads examples
};

}  // namespace bitdial
