// The forward and backward pass of a whole LLaMA-family model ("llama" arch: normal rope, no biases)
// for training, templated on the element type: float is what train/train_model.h runs, double the
// reference that the whole-model gradient check differentiates numerically. Parameters are addressed
// by their index in a ParamSet (train/param_set.h), resolved once by GGUF name, so a double copy of a
// ParamSet's values runs through exactly the code the float path runs.
//
//   x0 = token_embd[tokens]
//   per layer: x += Wo attention(rope(Wq n), rope(Wk n), Wv n), n = rms_norm(x) * attn_norm
//              x += W_down (silu(W_gate n) * W_up n),            n = rms_norm(x) * ffn_norm
//   logits = W_out (rms_norm(x) * output_norm)      (W_out = token_embd when the embeddings are tied)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/synth.h"
#include "train/loss.h"
#include "train/param_set.h"

namespace bitdial {

// One batch of training sequences, all of one length. Every sequence starts at position 0.
struct TrainBatch {
  int64_t n_seq = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> tokens;   // (n_seq, seq_len) row-major input ids in [0, n_vocab)
  std::vector<int32_t> targets;  // (n_seq, seq_len): the id to predict at each position, or kIgnoreTarget
};

// What the loss is. Plain cross-entropy on the targets unless teacher_logits is given (distillation).
struct LossSpec {
  // Distillation: the teacher's logits for the batch, (n_seq * seq_len, n_vocab) row-major, e.g. from
  // forward_logits of the teacher model on the same batch. Empty: cross-entropy only.
  std::span<const float> teacher_logits;
  DistillWeights distill;  // temperature and hard-label weight alpha, used with teacher_logits
  // Gradients are those of grad_scale * loss: 1 / k when k micro-batches are accumulated into one step.
  double grad_scale = 1.0;
};

// Indices into ParamSet::params of one layer's tensors.
struct LayerParamIds {
  size_t attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
};

// Indices into ParamSet::params of every tensor the pass reads; output == token_embd when tied.
struct ModelParamIds {
  size_t token_embd = 0;
  std::vector<LayerParamIds> layers;
  size_t output_norm = 0;
  size_t output = 0;
};

// Finds every tensor of params.spec's shape by GGUF name and checks its shape and value size. Throws
// bitdial::Error naming the first missing or misshapen tensor, or an arch other than "llama".
ModelParamIds model_param_ids(const ParamSet& params);

// The parameters one pass reads and (backward) adds gradients into, by ParamSet index.
template <class T>
struct ModelTensors {
  const SynthSpec* spec = nullptr;
  const ModelParamIds* ids = nullptr;
  std::vector<const T*> values;  // one per ParamSet entry, numel() elements each
  std::vector<T*> grads;         // same; may be empty for a forward-only pass
};

// Activations of the last forward pass, kept for the backward pass, and the backward's buffers.
// Reused across calls: sized on first use for a batch shape, reallocated only when it grows.
template <class T>
struct ModelActivations {
  struct Layer {
    std::vector<T> x_in, xn_attn, rms_attn;  // residual in (n, d), its norm (n, d), 1/rms (n)
    std::vector<T> q, k, v;                  // (n, q_dim), (n, kv_dim), (n, kv_dim); q, k after rope
    std::vector<T> probs, att;               // attention weights (AttentionShape::probs_size()), out (n, q_dim)
    std::vector<T> x_mid, xn_ffn, rms_ffn;   // residual after attention (n, d), its norm, 1/rms
    std::vector<T> gate, up, act;            // (n, n_ff) each; act = silu(gate) * up
  };
  std::vector<Layer> layers;
  std::vector<T> x_final, xn_final, rms_final;  // (n, d), (n, d), (n)
  std::vector<T> logits;                        // (n, n_vocab)
  std::vector<T> dlogits, dx, dxn, dq, dk, dv, datt, dgate, dup, dact, tmp;
  std::vector<T> linear_scratch, attention_scratch;
};

// Checks a batch against the model shape (and, when targets_needed, its targets, and the loss spec's
// teacher logits and weights). Throws bitdial::Error "<what>: ..." naming the sequence and position.
void validate_train_batch(const SynthSpec& spec, const TrainBatch& batch, const LossSpec* loss, const char* what);

// Forward pass over batch.tokens: fills acts (acts.logits included). Targets are not read.
template <class T>
void model_forward(const ModelTensors<T>& m, const TrainBatch& batch, ModelActivations<T>& acts);

// The loss of acts.logits (from model_forward on the same batch) and, when backward, its gradient added
// into m.grads. Returns the mean loss (train/loss.h).
template <class T>
LossValue model_loss_backward(const ModelTensors<T>& m, const TrainBatch& batch, const LossSpec& loss,
                              ModelActivations<T>& acts, bool backward);

}  // namespace bitdial
