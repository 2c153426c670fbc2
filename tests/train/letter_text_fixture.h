// Shared fixtures of the distillation and QAT tests: a text of seeded-random letters (only memorisation
// lowers its loss), a TrainRun whose every batch is that whole text, and a folder with a starting model,
// a text and a config file for the config-parsing tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/synth.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/model_export.h"
#include "train/train_loop.h"

namespace bitdial::test {

inline void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// windows * seq_len + 1 seeded-random letters of a 12-letter alphabet as byte tokens (id 3 + byte).
inline std::vector<int32_t> letter_ids(int windows, int seq_len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids;
  for (int i = 0; i < windows * seq_len + 1; ++i) ids.push_back(3 + 'a' + static_cast<int32_t>(rng() % 12));
  return ids;
}

// `steps` updates at the constant rate `lr` on `ids` with batches of `batch` windows of seq_len; the
// held-out text is the training text (how well the model keeps the fit is the quantity of interest).
inline TrainRun letter_run(const ParamSet& params, std::vector<int32_t> ids, int64_t batch, int64_t seq_len,
                           int64_t steps, double lr, int64_t eval_tokens) {
  TrainRun run;
  run.params = params;
  run.vocab = synth_byte_vocab(kSynthByteVocabMin);
  run.train_ids = std::move(ids);
  run.heldout_ids = run.train_ids;
  run.settings.steps = steps;
  run.settings.batch = batch;
  run.settings.seq_len = seq_len;
  run.settings.schedule = {lr, lr, 0, steps};
  run.settings.eval_tokens = eval_tokens;
  run.fingerprint = "test=1";
  return run;
}

// A folder with init_params(spec, 1) exported in F32 with the byte vocabulary as `model`, train.txt
// (text_bytes of 'a'), and config(yaml) writing `config_name`.
struct ModelConfigDir {
  TempDir dir;
  std::string config_name;
  ModelConfigDir(const SynthSpec& spec, const std::string& model, size_t text_bytes, std::string config)
      : config_name(std::move(config)) {
    ModelExportOptions f32;
    f32.type = TensorType::F32;
    export_llama_gguf(dir.file(model), init_params(spec, 1), synth_byte_vocab(kSynthByteVocabMin), f32);
    write(dir.file("train.txt"), std::string(text_bytes, 'a'));
  }
  std::string config(const std::string& yaml) const {
    write(dir.file(config_name), yaml);
    return dir.file(config_name);
  }
};

}  // namespace bitdial::test
