// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers", Algorithm 1) onto the grid of any bitdial block type (quant/block_grid.h): the output
// is ordinary GGUF blocks, which llama.cpp and our kernels read like any other file of that type.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/method.h"

namespace bitdial {

struct GptqOptions {
  // Dampening lambda = percdamp * mean(diag H) added to H's diagonal (Section 4, "Cholesky
  // Reformulation": 1 % of the mean diagonal). Raised 10x up to 4 times when H + lambda I is still
  // not positive definite.
  double percdamp = 0.01;
  // Process columns in order of decreasing diag H ("act-order" of the reference code). Block scales are
  // then chosen up front, from the original weights, because a block's columns are no longer visited
  // together; without it each block's scales are chosen from the error-updated weights on entry.
  bool act_order = false;
  // Lazy batch width B (Section 4, "Lazy Batch-Updates"). Rounded up to a multiple of the type's block
  // when neither divides the other, so a block never straddles two batches.
  int64_t batch = 128;
  int n_threads = 0;  // rows in parallel; 0: the OpenMP default. Output is the same for every count.

  // run_gptq only:
  // Quantize layer by layer, collecting each layer's Hessians on the model whose earlier layers are
  // already quantized (as the paper's reference code does): one calibration pass per layer, and only
  // one layer's Hessians in memory. false: one pass on the original model, all Hessians at once.
  bool sequential = true;
  int64_t n_seq = 4;                 // calibration chunks per forward pass
  std::FILE* progress = stderr;      // nullptr: silent
};

// W: (rows, cols) row-major floats. H: (cols, cols) sum of x x^T over the calibration inputs x of W
// (any positive multiple works; dead columns, H_ii = 0, are zeroed in W). Returns rows x
// row_bytes(type, cols) bytes of `type`. Throws bitdial::Error (prefixed with `what`) when the type
// has no grid, cols is not a multiple of its block, or H has the wrong shape or non-finite values.
// Peak memory: about 4 * 8 * cols^2 bytes while H^-1 is factorised, then 4 * cols^2 (U) plus
// 4 * 16 * cols per thread (a tile of 16 rows in float) and the output.
std::vector<uint8_t> gptq_quantize(const float* W, int64_t rows, int64_t cols, const Eigen::MatrixXd& H,
                                   TensorType type, const GptqOptions& options, const std::string& what = "gptq");

// The factor GPTQ spreads errors with: U (n, n) upper triangular with a positive diagonal and
// U^T U = h^-1 (the upper Cholesky factor of h^-1), for h (n, n) symmetric positive definite; nullopt
// when the factorisation fails (h not numerically positive definite). Exposed for tests.
std::optional<Eigen::MatrixXd> gptq_inverse_factor(const Eigen::MatrixXd& h);

// The model-level pass: Hessians per input site from `calib` (q/k/v share one, gate/up share one), then
// every weight named in `types` is GPTQ-quantized into its type. Skipped, left to the caller's RTN: F32,
// F16 and BF16 targets, token_embd.weight (a lookup table, not a matrix product) and the output of a
// tied model (it is token_embd). Throws bitdial::Error naming the weight for unknown weights, types
// without a grid, widths that are not a multiple of the block, or a weight the calibration never fed.
// Memory: the Hessians of one layer in double (sequential) or of all layers (not), plus one weight's
// gptq_quantize working set.
MethodResult run_gptq(const LlamaModel& model, const CalibrationSet& calib, const std::map<std::string, TensorType>& types,
                      const GptqOptions& options = {});

}  // namespace bitdial
