// From a `bitdial train` config to a ready TrainRun: reads and tokenizes the data, builds or loads the
// tokenizer and the starting weights, and checks the config against what it found (context length,
// vocabulary, dimensions, enough tokens for one batch), naming the key and its file:line.
#pragma once

#include <cstdint>
#include <string>

#include "train/train_config.h"
#include "train/train_loop.h"

namespace bitdial {

// What prepare_training found, for the command's opening lines.
struct TrainDataSummary {
  int64_t documents = 0;       // training documents (text paragraphs or files, task examples)
  int64_t train_tokens = 0;    // ids in the training stream
  int64_t heldout_tokens = 0;  // ids in the held-out stream
  std::string tokenizer;       // "byte (354 tokens)", "bpe (1024 tokens, trained)", "from m.gguf (512 tokens)"
};

struct PreparedTraining {
  TrainRun run;
  TrainDataSummary summary;
};

// Builds the run (run.resume = resume). Throws bitdial::Error "<file>:<line>: <what>" naming the key
// when a shape does not fit the data or the tokenizer: train.seq_len beyond the context, n_embd not a
// multiple of n_head (or n_head of n_head_kv, or an odd head size), a tokenizer whose size differs from
// model.init's vocabulary, a bpe vocab_size the text cannot reach, or training text too short for one
// batch; and "<file>: <what>" for unreadable data or models.
PreparedTraining prepare_training(const TrainConfig& cfg, bool resume);

}  // namespace bitdial
