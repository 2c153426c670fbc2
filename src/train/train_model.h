// The trainer's entry points for one batch: forward and backward pass over a ParamSet (gradients added
// into Param::grad), the forward pass alone for logits (a distillation teacher, inspection) or a
// held-out loss, and the hook quantization-aware training uses to run the pass on fake-quantized
// weights. fp32 with OpenMP; results are bitwise the same for any thread count.
#pragma once

#include <functional>
#include <vector>

#include "train/loss.h"
#include "train/model_pass.h"
#include "train/param_set.h"

namespace bitdial {

// QAT hook (straight-through estimator). When given, it is called once per matrix (every 2-D
// parameter: token_embd, the attention and feed-forward matrices, output; never the norms) at the
// start of each pass, in ParamSet order, on the calling thread, with `effective` holding a copy of
// p.value. It rewrites `effective` in place (e.g. quantize then dequantize to the target type) and
// must leave p.numel() values there. The pass then runs entirely on the effective weights, and the
// gradient with respect to each effective matrix is added to p.grad unchanged, as if the transform
// were the identity: d(loss)/d(master) := d(loss)/d(effective). With tied embeddings the one effective
// token_embd serves both the lookup and the output projection. Master values are never modified.
using WeightTransform = std::function<void(const Param& p, std::vector<float>& effective)>;

// Buffers reused across passes: the activations the backward pass needs and the transformed copies of
// the weights. Floats held, for n = n_seq * seq_len tokens: per layer n (4 n_embd + 2 q_dim + 2 kv_dim +
// 3 n_ff + 2) activations plus n_seq * n_head * seq_len^2 attention weights; 2 n n_vocab for the logits
// and their gradient; one copy of the matrices when a WeightTransform is given. One pass at a time.
struct TrainWorkspace {
  ModelActivations<float> activations;
  std::vector<std::vector<float>> effective;  // per ParamSet entry: the transformed matrix, or empty
};

// Runs the model on batch.tokens, computes the loss (LossSpec: cross-entropy on batch.targets, or
// distillation from teacher logits) and ADDS the gradient of loss.grad_scale * loss to every
// Param::grad (an empty grad is first sized and zeroed), so gradient accumulation over micro-batches
// is repeated calls with grad_scale 1/k and one zero_grads() per optimizer step. Returns the mean loss
// over the counted targets (0 when every target is kIgnoreTarget; gradients are then zero).
// Throws bitdial::Error for a parameter set that does not match params.spec (a missing or misshapen
// tensor, an arch other than "llama"), an invalid batch (token or target out of range, sizes, a
// sequence longer than spec.n_ctx), invalid teacher logits or distillation weights, or a transform
// that changes a matrix's size.
double forward_backward(ParamSet& params, const TrainBatch& batch, const LossSpec& loss, TrainWorkspace& ws,
                        const WeightTransform& transform = {});

// The forward pass alone: logits (n_seq * seq_len, n_vocab) row-major for every position of
// batch.tokens (batch.targets are not read). Errors as for forward_backward.
std::vector<float> forward_logits(const ParamSet& params, const TrainBatch& batch, TrainWorkspace& ws,
                                  const WeightTransform& transform = {});

// The loss forward_backward would return, without gradients (held-out evaluation), and the number of
// targets it averages over, so several batches' losses can be combined as a token-weighted mean.
LossValue forward_loss(const ParamSet& params, const TrainBatch& batch, const LossSpec& loss, TrainWorkspace& ws,
                       const WeightTransform& transform = {});

}  // namespace bitdial
