// How much each tensor (or group of tensors) hurts when quantized alone: the baseline's logits on the
// calibration chunks are kept once, then for every (group, candidate type) the group's weights are swapped
// in quantized (LlamaModel::replace_weight), the chunks re-run and the mean KL divergence from the
// baseline recorded. The table feeds the size-budget solver (quant/budget_solver.h).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "model/llama_model.h"
#include "quant/budget_solver.h"
#include "quant/calibration.h"

namespace bitdial {

// The baseline's logits at every position of every calibration chunk, held in memory
// (chunks x n_ctx x n_vocab floats: cap the chunks for large vocabularies).
class KlReference {
 public:
  KlReference(const LlamaModel& base, const CalibrationSet& calib, int64_t n_seq = 4);
  // Mean over every position of every chunk of KL(P_base || P_cand), nats (eval/perplexity.h direction).
  double mean_kl(const LlamaModel& cand) const;
  int64_t n_chunks() const { return static_cast<int64_t>(calib_.chunks.size()); }
  int64_t n_positions() const { return static_cast<int64_t>(calib_.chunks.size()) * calib_.n_ctx; }
  uint64_t bytes() const;

 private:
  const CalibrationSet& calib_;
  int64_t n_seq_;
  int64_t n_vocab_;
  std::vector<std::vector<float>> logits_;  // per chunk: (n_ctx, n_vocab)
};

// Encodes one weight of `model` (decoded from its current type) into `type`, with optional per-column
// importance. The same call the GGUF writer makes, so measured and written tensors are identical.
std::vector<uint8_t> encode_weight(const LlamaModel& model, const std::string& name, TensorType type,
                                   const std::vector<float>* importance);

enum class BudgetGrouping {
  tensor,  // every matrix is its own group
  kind,    // one group per kind across layers (attn_q, attn_k, ..., ffn_down, token_embd, output)
};

struct SensitivityOptions {
  std::vector<TensorType> candidates;  // types to try; those whose block does not divide a row are skipped
  BudgetGrouping grouping = BudgetGrouping::tensor;
  const std::map<std::string, std::vector<float>>* importance = nullptr;  // imatrix mean squares per weight
  // Called after each measurement: (done, total).
  std::function<void(size_t, size_t)> progress;
};

// Measures every (group, candidate) of `tensors` on `work` (a second copy of the baseline model, restored
// after each measurement). Throws bitdial::Error naming a tensor none of the candidates can hold.
std::vector<BudgetGroup> measure_sensitivity(LlamaModel& work, const KlReference& reference,
                                             const std::vector<std::string>& tensors, const SensitivityOptions& options);

}  // namespace bitdial
