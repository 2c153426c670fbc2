#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace bitdial {
namespace {

// Chunk of the gradient-norm sum: partial sums are per chunk, so the grouping of additions (and the
// result's bits) is fixed by the tensor sizes, not by how OpenMP splits the loop.
constexpr int64_t kNormChunk = 4096;

// Below this many elements a tensor is processed on one thread (the parallel region costs more).
constexpr int64_t kParallelMin = 1 << 15;

std::optional<NonFiniteValue> find_nonfinite(const ParamSet& params, bool grads) {
  for (const Param& p : params.params) {
    const std::vector<float>& xs = grads ? p.grad : p.value;
    for (size_t i = 0; i < xs.size(); ++i)
      if (!std::isfinite(xs[i])) return NonFiniteValue{p.name, static_cast<int64_t>(i), xs[i]};
  }
  return std::nullopt;
}

}  // namespace

void validate_adamw_config(const AdamWConfig& c) {
  if (!(c.beta1 >= 0.0 && c.beta1 < 1.0)) fail("AdamW beta1 ", c.beta1, " is not in [0, 1)");
  if (!(c.beta2 >= 0.0 && c.beta2 < 1.0)) fail("AdamW beta2 ", c.beta2, " is not in [0, 1)");
  if (!(c.eps > 0.0 && std::isfinite(c.eps))) fail("AdamW eps ", c.eps, " is not a positive number");
  if (!(c.weight_decay >= 0.0 && std::isfinite(c.weight_decay))) fail("AdamW weight decay ", c.weight_decay, " is not >= 0");
}

AdamWState make_adamw_state(const ParamSet& params) {
  AdamWState s;
  for (const Param& p : params.params) {
    s.m.emplace_back(static_cast<size_t>(p.numel()), 0.0f);
    s.v.emplace_back(static_cast<size_t>(p.numel()), 0.0f);
  }
  return s;
}

void check_adamw_state(const AdamWState& s, const ParamSet& params) {
  if (s.m.size() != params.params.size() || s.v.size() != params.params.size())
    fail("optimiser state has ", s.m.size(), " first and ", s.v.size(), " second moments for ", params.params.size(),
         " parameter tensors");
  if (s.step < 0) fail("optimiser step count ", s.step, " is negative");
  for (size_t i = 0; i < params.params.size(); ++i) {
    const Param& p = params.params[i];
    const size_t n = static_cast<size_t>(p.numel());
    if (p.value.size() != n || p.grad.size() != n)
      fail("parameter ", p.name, " holds ", p.value.size(), " values and ", p.grad.size(), " gradients for shape ", n);
    if (s.m[i].size() != n || s.v[i].size() != n)
      fail("optimiser moments of ", p.name, " hold ", s.m[i].size(), " and ", s.v[i].size(), " values, the tensor ", n);
  }
}

void adamw_step(ParamSet& params, AdamWState& state, const AdamWConfig& c, double lr) {
  check_adamw_state(state, params);
  if (!std::isfinite(lr) || lr < 0.0) fail("learning rate ", lr, " is not a finite non-negative number");
  state.step += 1;
  const double t = static_cast<double>(state.step);
  const double bias1 = 1.0 - std::pow(c.beta1, t);  // m_hat = m / bias1  (Adam, Kingma & Ba 2015, Algorithm 1)
  const double bias2 = 1.0 - std::pow(c.beta2, t);  // v_hat = v / bias2
  for (size_t k = 0; k < params.params.size(); ++k) {
    Param& p = params.params[k];
    float* value = p.value.data();
    const float* grad = p.grad.data();
    float* m = state.m[k].data();
    float* v = state.v[k].data();
    const double keep = p.decay ? 1.0 - lr * c.weight_decay : 1.0;
    const int64_t n = p.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const double g = grad[i];
      m[i] = static_cast<float>(c.beta1 * m[i] + (1.0 - c.beta1) * g);
      v[i] = static_cast<float>(c.beta2 * v[i] + (1.0 - c.beta2) * g * g);
      const double m_hat = static_cast<double>(m[i]) / bias1;
      const double v_hat = static_cast<double>(v[i]) / bias2;
      value[i] = static_cast<float>(value[i] * keep - lr * m_hat / (std::sqrt(v_hat) + c.eps));
    }
  }
}

void validate_lr_schedule(const LrSchedule& s) {
  if (!(std::isfinite(s.peak_lr) && s.peak_lr > 0.0)) fail("peak learning rate ", s.peak_lr, " is not a positive number");
  if (!(std::isfinite(s.min_lr) && s.min_lr >= 0.0 && s.min_lr <= s.peak_lr))
    fail("minimum learning rate ", s.min_lr, " is not in [0, peak ", s.peak_lr, "]");
  if (s.total_steps <= 0) fail("total steps ", s.total_steps, " is not positive");
  if (s.warmup_steps < 0 || s.warmup_steps > s.total_steps)
    fail("warm-up steps ", s.warmup_steps, " is not in [0, total steps ", s.total_steps, "]");
}

double lr_at(const LrSchedule& s, int64_t step) {
  if (step < s.warmup_steps) return s.peak_lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (step >= s.total_steps) return s.min_lr;
  const double progress = static_cast<double>(step - s.warmup_steps) / static_cast<double>(s.total_steps - s.warmup_steps);
  return s.min_lr + (s.peak_lr - s.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

void scale_grads(ParamSet& params, float scale) {
  for (Param& p : params.params) {
    float* g = p.grad.data();
    const int64_t n = static_cast<int64_t>(p.grad.size());
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) g[i] *= scale;
  }
}

double grad_norm(const ParamSet& params) {
  double total = 0.0;
  std::vector<double> partial;
  for (const Param& p : params.params) {
    const float* g = p.grad.data();
    const int64_t n = static_cast<int64_t>(p.grad.size());
    const int64_t chunks = (n + kNormChunk - 1) / kNormChunk;
    partial.assign(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
      double sum = 0.0;
      const int64_t end = std::min(n, (c + 1) * kNormChunk);
      for (int64_t i = c * kNormChunk; i < end; ++i) sum += static_cast<double>(g[i]) * g[i];
      partial[static_cast<size_t>(c)] = sum;
    }
    for (double s : partial) total += s;
  }
  return std::sqrt(total);
}

double clip_grad_norm(ParamSet& params, double max_norm) {
  const double norm = grad_norm(params);
  if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm) scale_grads(params, static_cast<float>(max_norm / norm));
  return norm;
}

std::optional<NonFiniteValue> find_nonfinite_grad(const ParamSet& params) { return find_nonfinite(params, true); }
std::optional<NonFiniteValue> find_nonfinite_value(const ParamSet& params) { return find_nonfinite(params, false); }

void check_step_finite(double loss, const ParamSet& params, int64_t step) {
  if (!std::isfinite(loss)) fail("step ", step, ": loss is ", loss, "; stopping before the update");
  if (const auto bad = find_nonfinite_grad(params))
    fail("step ", step, ": gradient of ", bad->tensor, " is ", bad->value, " at element ", bad->index,
         "; stopping before the update");
}

}  // namespace bitdial
