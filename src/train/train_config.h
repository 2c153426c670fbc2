// The YAML config of `bitdial train`: the model (a fresh shape or a GGUF to continue from), the
// tokenizer, the data, the optimiser settings and the outputs. Parsing only checks each field on its
// own (types, ranges, unknown keys, files that must exist); what depends on the data and the tokenizer
// is checked by prepare_training (train/train_setup.h), which names the key and its file:line through
// TrainConfig::where. docs/train.md is the reference for every key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "model/synth.h"
#include "train/token_stream.h"

namespace bitdial {

enum class TrainTokenizerKind {
  byte,        // the built-in byte-level vocabulary (synth_byte_vocab), kSynthByteVocabMin tokens
  bpe,         // a byte-level BPE vocabulary trained on the training text (train/bpe_trainer.h)
  from_model,  // every tokenizer.* key of a GGUF
};

struct TrainConfig {
  std::string path;  // the config file, for messages

  // model: either a shape (spec; n_vocab is taken from the tokenizer) or init (a GGUF to continue from).
  std::string init;          // absolute path; empty: a fresh model of `spec`
  SynthSpec spec;            // fresh model only; n_ctx 0 means "train.seq_len"
  float init_std = 0.02f;    // standard deviation of fresh matrices

  TrainTokenizerKind tokenizer = TrainTokenizerKind::byte;
  bool tokenizer_given = false;     // the config has a tokenizer: key (init models default to their own)
  int64_t bpe_vocab_size = 1024;    // bpe only
  std::string tokenizer_from;       // from_model only: absolute path

  std::vector<std::string> text;     // training text files (absolute)
  std::string tasks;                 // a task file whose examples become training documents (absolute), or empty
  std::vector<std::string> heldout;  // held-out text files (absolute)
  TrainSplit split = TrainSplit::blank_lines;

  int64_t steps = 1000;            // optimiser updates
  int64_t batch = 8;               // sequences per update (split over grad_accum micro-batches)
  int64_t seq_len = 128;           // tokens per sequence
  int64_t grad_accum = 1;          // micro-batches per update; batch must be a multiple of it
  double lr = 1e-3;                // peak learning rate
  std::optional<double> min_lr;    // cosine floor; default lr / 10
  int64_t warmup = 0;              // linear warm-up steps
  double weight_decay = 0.1;       // AdamW decay per unit of learning rate (matrices only)
  double beta1 = 0.9, beta2 = 0.95;
  double clip = 1.0;               // global gradient-norm limit; 0 disables clipping
  uint64_t seed = 1;               // weights and data order
  int threads = 0;                 // 0: all cores (OpenMP default)
  int64_t eval_every = 100;        // held-out evaluation period in steps; 0: only at start and end
  int64_t eval_tokens = 32768;     // held-out tokens evaluated each time (the first ones of the stream)
  int64_t checkpoint_every = 200;  // checkpoint period in steps; 0: only at the end (and on interrupt)

  std::string output_model;                  // the exported GGUF (absolute)
  TensorType output_type = TensorType::F32;  // matrices of the exported model
  std::string output_checkpoint;             // absolute; default: <output_model without .gguf>.ckpt.gguf

  // "train.yaml:12" of each key that was given, by dotted name ("train.seq_len", "model.n_ctx"), so
  // checks made later can point at the line; where() falls back to the file name.
  std::map<std::string, std::string> lines;
  std::string where(const std::string& key) const;
};

// Reads and checks the config. Throws bitdial::Error "<file>:<line>: <what>" naming the key: YAML
// syntax, an unknown key (with the allowed ones listed), a wrong type or range, a file that does not
// exist, model.init together with shape keys, a missing output.model or data.text / data.tasks.
// Relative paths are relative to the config's folder. `extra_sections` names further top-level
// sections another command reads itself (qat:, distill:): they are allowed, and when `extra` is given
// the ones present are stored there by name.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& extra_sections = {},
                              std::map<std::string, YAML::Node>* extra = nullptr);

const char* train_tokenizer_name(TrainTokenizerKind kind);  // "byte" | "bpe" | "from"

}  // namespace bitdial
