// The trainer's data path: text and task files cut into documents, tokenized once into one id stream
// (each document framed by the tokenizer's BOS / EOS), and a seeded sampler that deals the stream's
// windows out in a shuffled order, one epoch after another. The sampler's whole state is three
// integers, saved in checkpoints (TrainProgress), so a resumed run draws exactly the batches the
// uninterrupted run would have drawn.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/synth.h"
#include "model/tokenizer/tokenizer.h"
#include "train/model_pass.h"

namespace bitdial {

struct TaskFile;

// How a text file is cut into documents.
enum class TrainSplit {
  blank_lines,  // one document per run of non-blank lines (a paragraph; one example per paragraph)
  file,         // each file is one document, byte for byte
};

// The tokenizer bitdial's engine would build from a model file carrying `vocab`'s tokenizer.* keys.
// Throws bitdial::Error "<vocab.source>: <key>: <what>" on malformed metadata.
Tokenizer tokenizer_from_vocab(const SynthVocab& vocab);

// blank_lines: lines holding only spaces, tabs or '\r' separate documents; a document is its lines
// joined by '\n' (no trailing newline). file: {text} (nothing when text is empty).
std::vector<std::string> split_documents(std::string_view text, TrainSplit split);

// A task file's examples as training documents, in file order: prompt (few-shot + template) +
// choice_prefix + the label's choice for classification, prompt + target for generation, so the model
// learns exactly the continuation `bitdial eval` scores.
std::vector<std::string> task_documents(const TaskFile& tasks);

// Appends one document's ids: encode(doc) with BOS when the vocabulary asks for one, then EOS when
// the vocabulary has one that differs from BOS (a "gpt2" vocabulary's <|endoftext|> is both, and one
// between documents is enough).
void append_document(const Tokenizer& tokenizer, std::string_view doc, std::vector<int32_t>& ids);

// SplitMix64 (Steele, Lea & Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014):
// one 64-bit word of state, fully specified, so a checkpoint stores it exactly.
struct SplitMix64 {
  uint64_t state = 0;
  uint64_t next();
  // Uniform in [0, n) by rejection (no modulo bias); n > 0.
  uint64_t below(uint64_t n);
};

// Windows of seq_len + 1 tokens (inputs and next-token targets) cut from a stream of n_tokens ids.
// Each epoch draws an offset in [0, slack] (slack = n_tokens - 1 - windows * seq_len < seq_len) and a
// permutation of the epoch's `windows` non-overlapping windows; next() deals them in that order and
// starts the next epoch when one runs out. Same (n_tokens, seq_len, seed) -> same sequence everywhere.
class WindowSampler {
 public:
  // Throws bitdial::Error when the stream has fewer than seq_len + 1 tokens.
  WindowSampler(int64_t n_tokens, int64_t seq_len, uint64_t seed);

  int64_t windows_per_epoch() const { return static_cast<int64_t>(order_.size()); }
  // Index in the stream of the next window's first token.
  int64_t next();

  // The state to save: the RNG word the current epoch was drawn from and the epoch number
  // (TrainProgress::rng_state), and the window index within the epoch (TrainProgress::data_cursor).
  std::vector<uint64_t> rng_words() const { return {epoch_rng_, epoch_}; }
  uint64_t cursor() const { return cursor_; }
  // Continues from a saved state. Throws bitdial::Error when the words are not two or the cursor is
  // past the epoch's end.
  void restore(const std::vector<uint64_t>& rng_words, uint64_t cursor);

 private:
  void start_epoch();  // draws offset and order from rng_, which it advances
  int64_t n_tokens_, seq_len_;
  SplitMix64 rng_;
  uint64_t epoch_rng_ = 0;  // rng_ before this epoch's draws
  uint64_t epoch_ = 0;
  uint64_t cursor_ = 0;
  int64_t offset_ = 0;
  std::vector<int64_t> order_;  // window indices in dealing order
};

// A batch of n_seq windows: sequence i's tokens are ids[starts[i] .. + seq_len), its targets the ids
// one position later. Asserts every window lies inside the stream.
TrainBatch make_window_batch(const std::vector<int32_t>& ids, int64_t seq_len, const std::vector<int64_t>& starts);

// Held-out evaluation batches: consecutive non-overlapping windows from the stream's start, at most
// max(1, max_tokens / seq_len) of them, n_seq per batch (the last batch may hold fewer). A stream
// shorter than one window gives one window of ids.size() - 1 tokens. Throws bitdial::Error when the
// stream has fewer than 2 tokens.
std::vector<TrainBatch> heldout_batches(const std::vector<int32_t>& ids, int64_t seq_len, int64_t n_seq,
                                        int64_t max_tokens);

}  // namespace bitdial
