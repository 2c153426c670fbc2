// The element-wise and per-row pieces of the LLaMA forward pass (everything but matrix products,
// which go through kernels/matmul.h). All activations are row-major float (n_tokens, width).
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_model.h"

namespace bitdial {

// x (n, d) -> out (n, d): out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight (d). Sum in double.
void rms_norm(const float* x, const float* weight, int64_t n, int64_t d, float eps, float* out);

// Rotation angles for positions pos0 .. pos0 + n - 1: cos and sin, each (n, rope_dim / 2), with
// theta_i(pos) = pos * freq_scale * base^(-2i / rope_dim) / freq_factor_i (factor 1 when none given).
struct RopeTable {
  int64_t half = 0;  // rope_dim / 2
  std::vector<float> cos, sin;
};
RopeTable rope_table(const LlamaHparams& hp, const std::vector<float>& freq_factors, int64_t pos0, int64_t n);

// x (n, n_heads * head_dim), rotated in place: in each head the first rope_dim dims are paired
// per `mode` and each pair (a, b) becomes (a cos - b sin, a sin + b cos); the rest stay as they are.
void rope_apply(float* x, int64_t n, int64_t n_heads, int64_t head_dim, RopeMode mode, const RopeTable& table);

// x (n) -> softmax(x) in place; subtracts the max first so exp never overflows.
void softmax_inplace(float* x, int64_t n);

// log softmax of one logits row, in double: at(row[i]) = row[i] - max - log(sum exp(row - max)).
// Evaluation and serving both score tokens with it, so their log-probs agree to the bit.
struct LogSoftmax {
  double max = 0;
  double log_sum = 0;
  double at(float logit) const { return static_cast<double>(logit) - max - log_sum; }
};
LogSoftmax log_softmax_of(const float* row, int64_t n);

// gate (n), up (n) -> gate = silu(gate) * up, with silu(g) = g / (1 + exp(-g)) (SwiGLU).
void swiglu_inplace(float* gate, const float* up, int64_t n);

}  // namespace bitdial
