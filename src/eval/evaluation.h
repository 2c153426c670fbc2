// `bitdial eval` as a library call: runs a candidate model (and optionally the baseline), each a GGUF
// file or an OpenAI-compatible endpoint, over the user's texts and task files and gathers every figure
// the report shows (perplexity, KL divergence, task accuracy per slice, the paired comparison).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/kv_cache.h"

namespace bitdial {

struct EvalOptions {
  // A GGUF path, or an endpoint "http(s)://host[:port]/v1".
  std::string model;                  // candidate
  std::string baseline;               // "" : none
  // Remote endpoints only: the name the server knows the model by, and the environment variable holding
  // the API key ("" for none). Empty baseline_name / baseline_api_key_env take the candidate's.
  std::string model_name, baseline_name;
  std::string api_key_env, baseline_api_key_env;
  std::vector<std::string> texts;     // plain-text files for perplexity / KL divergence
  std::vector<std::string> tasks;     // task JSONL files
  int64_t n_ctx = 512;                // perplexity chunk length (llama-perplexity's -c)
  // Texts with endpoints: the GGUF whose tokenizer makes the token ids sent (only when neither side is a
  // local model; otherwise the local model's), and the top-K log-probs asked per position (KL bound).
  std::string tokenizer;
  int top_logprobs = 20;
  KvType kv_type = KvType::f16;
  int resamples = 10000;              // bootstrap resamples of the paired accuracy delta
  uint64_t seed = 0;                  // bootstrap seed
  std::FILE* progress = stderr;       // nullptr: silent
};

struct EvalOutput {
  nlohmann::ordered_json summary;            // every figure (schema in docs/eval.md)
  // Per task file: one JSON object per example (candidate and baseline results side by side).
  std::vector<std::vector<nlohmann::ordered_json>> examples;
};

// Throws bitdial::Error for unreadable or invalid inputs (naming file and line), before evaluating
// anything where it can: every task file is parsed, every model loaded and every endpoint probed first.
EvalOutput run_evaluation(const EvalOptions& options);

// The terminal report: one table per text and per task (with slices), figures rounded for reading.
std::string render_eval_table(const nlohmann::ordered_json& summary);

}  // namespace bitdial
