// The importance matrix: per matmul weight, the mean squared activation of each input column over the
// calibration tokens (E[x_c^2]), which weights each column's rounding error when a row is quantized
// (blocks/traits.h QuantizeRowFn `importance`). Collected with an ActivationObserver, stored as GGUF
// in llama.cpp's imatrix layout plus bitdial's model identity keys (docs/imatrix.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/activation_observer.h"
#include "model/llama_model.h"

namespace bitdial {

struct ImatrixEntry {
  std::vector<double> sum_sq;  // (cols) sum over tokens of x_c^2
  int64_t n_tokens = 0;        // tokens seen
  // E[x_c^2] per column as floats (zero where no token was seen).
  std::vector<float> mean_sq() const;
};

// The shape of the model the statistics were collected on; empty/zero when the file does not say
// (imatrix files written by llama.cpp carry no model identity).
struct ImatrixModelId {
  std::string arch;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  bool known() const { return !arch.empty(); }
};

class Imatrix {
 public:
  // Weight name -> statistics, for every matrix the model multiplies by.
  std::map<std::string, ImatrixEntry> entries;
  std::string calib_source;   // calibration file the statistics came from
  std::string model_source;   // model file they were collected on
  int64_t n_ctx = 0;
  int64_t n_chunks = 0;
  ImatrixModelId model;

  const ImatrixEntry* find(const std::string& weight) const;

  // Writes atomically (temporary name + rename). Throws bitdial::Error on I/O failure.
  void save(const std::string& path) const;
  // Throws bitdial::Error "<path>: ..." when the file is not an imatrix GGUF or an entry is malformed.
  static Imatrix load(const std::string& path);
};

// The model's identity as recorded in an imatrix file.
ImatrixModelId imatrix_model_id(const LlamaModel& model);

// The GGUF names of the matrices whose inputs an imatrix covers, in model order: per layer q k v o
// gate up down, then the output projection ("output.weight", or "token_embd.weight" for a tied model,
// whose output multiplies by the embedding table). An untied token_embd is a lookup, not a product.
std::vector<std::string> imatrix_weight_names(const LlamaModel& model);

// Observer that accumulates an Imatrix for every weight fed by each site.
class ImatrixCollector : public ActivationObserver {
 public:
  explicit ImatrixCollector(const LlamaModel& model);
  void on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) override;
  Imatrix& result() { return imatrix_; }

 private:
  const LlamaModel& model_;
  std::string output_name_;       // what MatmulSite::output_in feeds
  std::vector<double> scratch_;   // (cols) this call's sums, shared by the weights of one site
  Imatrix imatrix_;
};

// Weights of `model` whose entry is missing, has the wrong column count, or saw fewer than
// min_tokens tokens: one line each ("blk.3.ffn_down.weight: no activations").
std::vector<std::string> imatrix_coverage_problems(const Imatrix& imatrix, const LlamaModel& model, int64_t min_tokens);

// Whether `imatrix` (read from imatrix_path) belongs to `model`: a recorded model identity that
// differs, entries naming matrices the model does not have or with another column count, and model
// matrices without an entry. One line each; empty when they match.
std::vector<std::string> imatrix_model_mismatches(const Imatrix& imatrix, const LlamaModel& model);
// Throws bitdial::Error "<imatrix_path>: does not match model <model>: <first problem> (+N more)"
// when imatrix_model_mismatches is not empty — what `quantize --imatrix` calls before using it.
void check_imatrix_for_model(const Imatrix& imatrix, const LlamaModel& model, const std::string& imatrix_path);

}  // namespace bitdial
