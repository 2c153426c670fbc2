// The trainer's update rule: AdamW with decoupled weight decay, a warm-up + cosine learning-rate
// schedule, global gradient-norm clipping, gradient-accumulation scaling and the NaN/Inf checks that
// stop a diverging run. Every result is deterministic (independent of the OpenMP thread count), and
// the optimiser state is plain data so checkpoints (train/checkpoint.h) can save and restore it exactly.
//
// One training step, in the order the trainer calls these:
//   backward over `accum` micro-batches (grads add up) -> scale_grads(params, 1.0 / accum)
//   -> check_step_finite(loss, params, step) -> clip_grad_norm(params, max_norm)
//   -> adamw_step(params, state, config, lr_at(schedule, state.step)) -> params.zero_grads()
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/param_set.h"

namespace bitdial {

// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2) in the
// PyTorch parameterisation: the decay is multiplied by the step's learning rate,
//   theta <- theta * (1 - lr * weight_decay) - lr * m_hat / (sqrt(v_hat) + eps),
// so the paper's lambda is weight_decay * lr_max and its schedule multiplier eta_t is lr / lr_max.
struct AdamWConfig {
  double beta1 = 0.9;         // first-moment decay
  double beta2 = 0.999;       // second-moment decay
  double eps = 1e-8;          // added to sqrt(v_hat), in gradient units
  double weight_decay = 0.0;  // per unit of learning rate; applied only to params with Param::decay
};

// Throws bitdial::Error naming the first field out of range (betas in [0, 1), eps > 0, decay >= 0).
void validate_adamw_config(const AdamWConfig& config);

// Everything AdamW carries from one step to the next. m[i] and v[i] belong to ParamSet::params[i]
// and hold its numel() floats in the same layout as Param::value.
struct AdamWState {
  int64_t step = 0;                   // updates applied so far (t of the paper after the update)
  std::vector<std::vector<float>> m;  // first moments (running mean of the gradient)
  std::vector<std::vector<float>> v;  // second moments (running mean of the squared gradient)
};

// Zero moments shaped like `params`, step 0.
AdamWState make_adamw_state(const ParamSet& params);

// Throws bitdial::Error when the state does not belong to `params` (tensor count or a tensor's size).
void check_adamw_state(const AdamWState& state, const ParamSet& params);

// One update of every parameter from its gradient with learning rate `lr`; increments state.step.
// Moments are updated in double and stored as float; the parameter update is computed in double from
// the stored (float) moments, so the state after a checkpoint round trip reproduces the run exactly.
void adamw_step(ParamSet& params, AdamWState& state, const AdamWConfig& config, double lr);

// Linear warm-up, then cosine decay (Loshchilov & Hutter, "SGDR", ICLR 2017, eq. 5, one cycle).
struct LrSchedule {
  double peak_lr = 1e-3;      // reached by the last warm-up step
  double min_lr = 0.0;        // the cosine's floor, held from total_steps on
  int64_t warmup_steps = 0;   // steps 0 .. warmup_steps-1 ramp up to peak_lr
  int64_t total_steps = 1;    // the step at which the cosine reaches min_lr
};

// Throws bitdial::Error naming the field: rates finite, 0 <= min_lr <= peak_lr, 0 <= warmup_steps <=
// total_steps, total_steps > 0.
void validate_lr_schedule(const LrSchedule& schedule);

// The learning rate of the update with 0-based index `step` (state.step before adamw_step):
//   step < warmup:          peak * (step + 1) / warmup
//   warmup <= step < total: min + (peak - min) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2
//   step >= total:          min
double lr_at(const LrSchedule& schedule, int64_t step);

// Multiplies every gradient by `scale` (1 / accumulation steps turns summed micro-batch gradients into
// their mean).
void scale_grads(ParamSet& params, float scale);

// The L2 norm of all gradients together, summed in double over fixed 4096-element chunks that are then
// added in tensor and chunk order: the same bits whatever the thread count.
double grad_norm(const ParamSet& params);

// Global-norm clipping (Pascanu et al. 2013, section 3.2): when the norm exceeds max_norm, every
// gradient is multiplied by max_norm / norm. Returns the norm before clipping. max_norm <= 0 disables
// clipping; a non-finite norm leaves the gradients alone (check_step_finite stops the run).
double clip_grad_norm(ParamSet& params, double max_norm);

// The first NaN or Inf in a parameter set: which tensor, which element, its value.
struct NonFiniteValue {
  std::string tensor;
  int64_t index = 0;
  float value = 0.0f;
};
std::optional<NonFiniteValue> find_nonfinite_grad(const ParamSet& params);
std::optional<NonFiniteValue> find_nonfinite_value(const ParamSet& params);

// Throws bitdial::Error when the loss or any gradient is NaN/Inf: "step 12: loss is nan" or
// "step 12: gradient of blk.0.attn_q.weight is inf at element 37". The trainer stops on it, before
// the update, so the last checkpoint stays the last good one.
void check_step_finite(double loss, const ParamSet& params, int64_t step);

}  // namespace bitdial
