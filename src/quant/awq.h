// AWQ (Lin et al. 2023, "Activation-aware Weight Quantization", §3.2-3.3): per-input-channel scales s
// searched on calibration activations, applied as W·diag(s) and folded as 1/s into whatever produces the
// input (a norm weight or the rows of the previous matrix) so the float model computes the same function,
// then a per-block weight-clipping search; both minimise the matmul's output error. Works over any block type.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "model/activation_observer.h"
#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/method.h"

namespace bitdial {

struct AwqOptions {
  int n_grid = 20;              // alpha grid: i / (n_grid - 1), i = 0 .. n_grid - 1 (alpha 0 = plain RTN)
  double alpha = -1;            // >= 0: use this exponent for every group instead of searching
  bool clip = true;             // run the clipping search (§3.3's "weight clipping") after scaling
  int n_clip = 20;              // clip ratios 1 down to min_clip_ratio in equal steps
  double min_clip_ratio = 0.5;
  int clip_passes = 1;          // coordinate-descent sweeps over a row's blocks
  int64_t max_tokens = 4096;    // activation rows kept per site and layer (reservoir sample)
  uint64_t seed = 0x417751;     // reservoir sampling
  bool output = true;           // also scale output.weight, folded into output_norm (untied models only)
  int64_t n_seq = 4;            // calibration chunks per forward pass
  // Sequential: layer L is searched on the activations of a model whose layers < L already hold their AWQ
  // scales and quantized weights (one calibration pass per layer, plus one for output.weight), so its
  // statistics include the upstream quantization error. false: one pass over the float model.
  bool sequential = true;
  // With sequential: the target is the float model's output, ||X_fp W^T - X_q Q^T||^2, instead of
  // ||X_q W^T - X_q Q^T||^2 (error-correcting, as in GPTQ's sequential mode).
  bool fp_target = true;
  // With sequential: a second pass per layer, so the FFN groups see the layer's quantized attention.
  bool split_layers = true;
  std::FILE* progress = stderr; // calibration bar and one summary line per layer; nullptr: silent
};

// A matrix being worked on: row-major floats (rows, cols) and the type the writer will encode it in.
struct AwqMatrix {
  std::string name;
  TensorType type = TensorType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;
};

// Whether AWQ searches for `type` with rows of `cols`: a block type bitdial encodes and decodes, whose
// blocks fit the row. F32/F16/BF16 gain nothing from scaling and are left alone.
bool awq_quantizes(TensorType type, int64_t cols);

// The output error the objective of §3.2 measures, over the activations summarised by gram = X^T X
// (cols, cols): sum_r (w_r - q_r)^T G (w_r - q_r) = ||X W^T - X Q^T||_F^2, where
// Q = dequantize(quantize_tensor(w.type, stored, importance null)) · diag(1/s) is what the writer's encoding
// of `stored` computes on an input divided by s. s empty: all ones.
//
// With a float target (AwqTarget non-empty: X_fp the float model's input, X = X_q the quantized upstream's,
// D = X_fp - X_q) the error is ||X_fp W^T - X Q^T||^2 = sum_r d_r^T G d_r + 2 d_r^T C w_r + w_r^T E w_r,
// d_r = w_r - q_r, C = X^T D and E = D^T D (all (cols, cols)).
struct AwqTarget {
  const Eigen::MatrixXd* cross = nullptr;  // C
  const Eigen::MatrixXd* delta = nullptr;  // E
  bool empty() const { return cross == nullptr; }
};

double awq_output_error(const AwqMatrix& w, std::span<const float> stored, const Eigen::MatrixXd& gram,
                        std::span<const float> s = {}, AwqTarget target = {});

// s_c = mean|x_c|^alpha, divided by sqrt(max s · min s) so the scales straddle 1 (§3.2: s = s_X^alpha).
std::vector<float> awq_scales(std::span<const float> mean_abs, double alpha);

struct AwqScaleSearch {
  double alpha = 0;
  std::vector<float> scales;   // (cols): the group's weights become W·diag(s), their input x/s
  std::vector<double> errors;  // summed output error of the group per grid alpha ({0, alpha} when alpha is fixed)
  double error_plain = 0;      // alpha 0 (s = 1): plain RTN
  double error = 0;            // at the chosen alpha; never above error_plain
};

// Grid search of alpha for the matrices that read one input (q/k/v, gate/up, ...): all must have
// cols == mean_abs.size() and awq_quantizes(type). Ties go to the smaller alpha.
AwqScaleSearch awq_search_scales(std::span<const AwqMatrix> group, std::span<const float> mean_abs,
                                 const Eigen::MatrixXd& gram, const AwqOptions& options, AwqTarget target = {});

struct AwqClipSearch {
  double error_before = 0;  // awq_output_error of the unclipped matrix
  double error_after = 0;   // of the clipped one, against the unclipped weights
  int64_t blocks = 0;
  int64_t blocks_clipped = 0;
  double mean_ratio = 1;
};

// Clips w.values in place, each block of the type (per row) to ±ratio·max|w_block| with ratio in
// [min_clip_ratio, 1], choosing per block the ratio that minimises the whole row's output error against
// the unclipped row (coordinate descent over the row's blocks, starting from no clipping, so the error
// never rises). Assumes the type encodes its blocks independently, as every bitdial block codec does.
AwqClipSearch awq_search_clip(AwqMatrix& w, const Eigen::MatrixXd& gram, const AwqOptions& options, AwqTarget target = {});

struct AwqGroupReport {
  int64_t layer = 0;
  MatmulSite site = MatmulSite::attn_in;
  std::vector<std::string> searched;  // the quantized weights the search measured
  std::string skipped;                // why the group was left alone; empty when scaled
  double alpha = 0;
  double error_plain = 0;    // RTN of the original weights
  double error_scaled = 0;   // after scaling
  double error_clipped = 0;  // after scaling and clipping (equal to error_scaled without clipping)
};

struct AwqReport {
  std::vector<AwqGroupReport> groups;
};

// Runs the calibration chunks (once, or with options.sequential once per half-layer on a copy of the model
// holding the already scaled and quantized groups, plus once over the float model for the float target),
// then per layer searches and folds the scales of the groups
//   attn_in  (q, k, v)  -> 1/s into blk.N.attn_norm.weight
//   attn_out (o)        -> 1/s into the rows of blk.N.attn_v.weight (and attn_v.bias): with grouped-query
//                          attention one v row feeds n_head / n_head_kv output columns, so the scales of
//                          those columns are tied (computed from their mean magnitude)
//   ffn_in   (gate, up) -> 1/s into blk.N.ffn_norm.weight
//   ffn_mid  (down)     -> 1/s into the rows of blk.N.ffn_up.weight
//   output_in (output)  -> 1/s into output_norm.weight (options.output; not when output is tied to token_embd)
// then clips every searched matrix. `types` gives each matrix's planned type; a group is skipped when
// none of its matrices is planned as a block type that fits (awq_quantizes) or the previous matrix it
// folds into has no planned type. token_embd is never touched. The result's floats hold every
// matrix that changed (to be encoded with its planned type via quantize_tensor, importance null: the
// search measured exactly that encoding) and the changed norms and biases (written as F32).
MethodResult run_awq(const LlamaModel& model, const CalibrationSet& calib, const std::map<std::string, TensorType>& types,
                     const AwqOptions& options, AwqReport* report = nullptr);

// Puts a MethodResult into a loaded model as the writer would write it (to measure it without a file):
// `encoded` bytes and `floats` matrices encoded with their planned type from `types` replace the weights,
// vectors are copied into the model's norms and biases. Throws bitdial::Error naming an unknown tensor, a
// matrix without a planned type or a size mismatch.
void awq_apply(LlamaModel& model, const MethodResult& result, const std::map<std::string, TensorType>& types);

}  // namespace bitdial
