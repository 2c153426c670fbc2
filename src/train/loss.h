// Training losses over a batch of logits and their gradients: cross-entropy against target ids, and
// distillation (KL divergence from a teacher's softened distribution, Hinton et al. 2015, "Distilling
// the Knowledge in a Neural Network", section 2) optionally mixed with the hard cross-entropy.
// Row quantities are computed in double whatever T is; threads split rows and the per-row losses are
// summed in row order, so the result does not depend on the thread count.
#pragma once

#include <cstdint>

namespace bitdial {

// Target id of a position that takes no part in the loss (padding, a prompt the model is not
// trained to produce).
constexpr int32_t kIgnoreTarget = -1;

struct LossValue {
  double loss = 0.0;    // mean over counted positions (0 when none is counted)
  int64_t counted = 0;  // positions whose target is not kIgnoreTarget
};

// logits (n, n_vocab), targets (n) in [0, n_vocab) or kIgnoreTarget ->
// loss = mean over counted rows of -log softmax(logits[t])[targets[t]].
// dlogits (n, n_vocab), written unless null: grad_scale * d(loss)/d(logits) =
// grad_scale * (softmax(logits[t]) - onehot(targets[t])) / counted, zero on ignored rows (and everywhere
// when no row is counted). dlogits may be logits itself (each row is read before it is written).
template <class T>
LossValue cross_entropy_loss(const T* logits, const int32_t* targets, int64_t n, int64_t n_vocab, double grad_scale,
                             T* dlogits);

struct DistillWeights {
  float temperature = 1.0f;  // > 0; both distributions are softmax(logits / temperature)
  float hard_weight = 0.0f;  // alpha in [0, 1]: weight of the hard cross-entropy; the KL term gets 1 - alpha
};

// logits (n, n_vocab) of the student, teacher (n, n_vocab) fixed, targets (n) ->
// loss = alpha * CE + (1 - alpha) * temperature^2 * mean_t KL(p_teacher || p_student), with
// p = softmax(logits / temperature) per row and both means over the rows whose target is not
// kIgnoreTarget (padding counts for neither term). The temperature^2 factor keeps the gradient's size
// independent of the temperature.
// dlogits as for cross_entropy_loss: grad_scale / counted * (alpha (softmax(z) - onehot) +
// (1 - alpha) * temperature * (p_student - p_teacher)).
template <class T>
LossValue distillation_loss(const T* logits, const float* teacher, const int32_t* targets, int64_t n, int64_t n_vocab,
                            const DistillWeights& weights, double grad_scale, T* dlogits);

}  // namespace bitdial
