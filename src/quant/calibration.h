// Calibration text for the quantizer: the text tokenized once and cut into chunks of n_ctx tokens, each
// starting with BOS (the llama-perplexity convention, eval/perplexity.h), and a driver that runs the
// chunks through the model with an ActivationObserver attached — what imatrix, GPTQ and AWQ learn from.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "model/activation_observer.h"
#include "model/llama_model.h"

namespace bitdial {

struct CalibrationSet {
  std::string source;                       // the text file, for messages
  int64_t n_ctx = 0;
  int64_t n_text_tokens = 0;                // tokens in the whole text
  std::vector<std::vector<int32_t>> chunks; // each exactly n_ctx tokens
  int64_t n_tokens() const { return static_cast<int64_t>(chunks.size()) * n_ctx; }
};

// Reads and tokenizes `path` with the model's tokenizer. max_chunks > 0 keeps only the first ones.
// Throws bitdial::Error "<path>: ..." when the file cannot be read, n_ctx < 2, or the text is shorter
// than one context ("calibration text shorter than one context: N tokens, n_ctx M").
CalibrationSet load_calibration(const LlamaModel& model, const std::string& path, int64_t n_ctx, int64_t max_chunks = 0);
// The same from tokens already in memory (source names them in errors).
CalibrationSet calibration_from_tokens(const std::vector<int32_t>& tokens, int32_t bos, int64_t n_ctx,
                                       const std::string& source, int64_t max_chunks = 0);

struct CalibrationRunOptions {
  int64_t n_seq = 4;                     // chunks per forward pass
  std::FILE* progress = stderr;          // nullptr: silent
  std::string label = "calibrate";
};

// Evaluates the chunks n_seq at a time (one forward pass per batch, all positions), with `observer`
// (may be null) attached; then calls on_chunk(chunk index, its logits (n_ctx, n_vocab)) for each chunk of
// the batch when given, and after_batch(tokens done so far) when given.
void for_each_calibration_batch(const LlamaModel& model, const CalibrationSet& calib, int64_t n_seq,
                                ActivationObserver* observer,
                                const std::function<void(int64_t, std::vector<float>&)>& on_chunk,
                                const std::function<void(int64_t)>& after_batch = {});

// Evaluates every chunk (all positions, so the output projection sees every token too) with `observer`
// attached. The observer sees several chunks' tokens concatenated per call.
void run_calibration(const LlamaModel& model, const CalibrationSet& calib, ActivationObserver& observer,
                     const CalibrationRunOptions& options = {});

}  // namespace bitdial
