// The importance matrix: per matmul weight, the mean squared activation of each input column over the
// calibration tokens (E[x_c^2]), which weights each column's rounding error when a row is quantized
// (blocks/traits.h QuantizeRowFn `importance`). Collected with an ActivationObserver, stored as GGUF
// (layout in docs/imatrix.md).
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

class Imatrix {
 public:
  // Weight name -> statistics, for every matrix the model multiplies by.
  std::map<std::string, ImatrixEntry> entries;
  std::string calib_source;   // calibration file the statistics came from
  std::string model_source;   // model file they were collected on
  int64_t n_ctx = 0;
  int64_t n_chunks = 0;

  const ImatrixEntry* find(const std::string& weight) const;

  // Writes atomically (temporary name + rename). Throws bitdial::Error on I/O failure.
  void save(const std::string& path) const;
  // Throws bitdial::Error "<path>: ..." when the file is not an imatrix GGUF or an entry is malformed.
  static Imatrix load(const std::string& path);
};

// Observer that accumulates an Imatrix for every weight fed by each site.
class ImatrixCollector : public ActivationObserver {
 public:
  explicit ImatrixCollector(const LlamaModel& model);
  void on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) override;
  Imatrix& result() { return imatrix_; }

 private:
  const LlamaModel& model_;
  Imatrix imatrix_;
};

// Weights of `model` whose entry is missing, has the wrong column count, or saw fewer than
// min_tokens tokens: one line each ("blk.3.ffn_down.weight: no activations").
std::vector<std::string> imatrix_coverage_problems(const Imatrix& imatrix, const LlamaModel& model, int64_t min_tokens);

}  // namespace bitdial
