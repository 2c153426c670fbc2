#include "train/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace bitdial {
namespace {

// Below this many logits a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// log sum_i exp(x[i] * inv_temp), in double.
template <class X>
double log_sum_exp(const X* x, int64_t n, double inv_temp) {
  double mx = static_cast<double>(x[0]) * inv_temp;
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]) * inv_temp);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) * inv_temp - mx);
  return mx + std::log(sum);
}

int64_t count_targets(const int32_t* targets, int64_t n, int64_t n_vocab) {
  int64_t counted = 0;
  for (int64_t t = 0; t < n; ++t) {
    BITDIAL_ASSERT(targets[t] == kIgnoreTarget || (targets[t] >= 0 && targets[t] < n_vocab));
    counted += targets[t] != kIgnoreTarget;
  }
  return counted;
}

// Runs row_loss(t, grad_row_scale) over every row (in parallel), summing the returned per-row losses
// in row order; ignored rows get zero gradients. grad_row_scale = grad_scale / counted.
template <class T, class RowLoss>
LossValue mean_over_rows(const int32_t* targets, int64_t n, int64_t n_vocab, double grad_scale, T* dlogits,
                         RowLoss row_loss) {
  LossValue out;
  out.counted = count_targets(targets, n, n_vocab);
  std::vector<double> per_row(static_cast<size_t>(n), 0.0);
  const double g = out.counted > 0 ? grad_scale / static_cast<double>(out.counted) : 0.0;
#pragma omp parallel for schedule(static) if (n * n_vocab >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    if (targets[t] == kIgnoreTarget) {
      if (dlogits != nullptr) std::fill(dlogits + t * n_vocab, dlogits + (t + 1) * n_vocab, T(0));
      continue;
    }
    per_row[static_cast<size_t>(t)] = row_loss(t, g);
  }
  double sum = 0.0;
  for (double v : per_row) sum += v;
  out.loss = out.counted > 0 ? sum / static_cast<double>(out.counted) : 0.0;
  return out;
}

}  // namespace

template <class T>
LossValue cross_entropy_loss(const T* logits, const int32_t* targets, int64_t n, int64_t n_vocab, double grad_scale,
                             T* dlogits) {
  return mean_over_rows(targets, n, n_vocab, grad_scale, dlogits, [&](int64_t t, double g) {
    const T* z = logits + t * n_vocab;
    const int32_t target = targets[t];
    const double lse = log_sum_exp(z, n_vocab, 1.0);
    const double nll = lse - static_cast<double>(z[target]);
    if (dlogits != nullptr) {
      T* dz = dlogits + t * n_vocab;
      for (int64_t i = 0; i < n_vocab; ++i)
        dz[i] = static_cast<T>(g * (std::exp(static_cast<double>(z[i]) - lse) - (i == target ? 1.0 : 0.0)));
    }
    return nll;
  });
}

template <class T>
LossValue distillation_loss(const T* logits, const float* teacher, const int32_t* targets, int64_t n, int64_t n_vocab,
                            const DistillWeights& weights, double grad_scale, T* dlogits) {
  BITDIAL_ASSERT(weights.temperature > 0.0f && weights.hard_weight >= 0.0f && weights.hard_weight <= 1.0f);
  const double temp = weights.temperature, inv_temp = 1.0 / temp;
  const double alpha = weights.hard_weight;
  return mean_over_rows(targets, n, n_vocab, grad_scale, dlogits, [&](int64_t t, double g) {
    const T* z = logits + t * n_vocab;
    const float* zt = teacher + t * n_vocab;
    const int32_t target = targets[t];
    const double lse = log_sum_exp(z, n_vocab, 1.0);          // hard term, temperature 1
    const double lse_s = log_sum_exp(z, n_vocab, inv_temp);   // softened student
    const double lse_t = log_sum_exp(zt, n_vocab, inv_temp);  // softened teacher
    double kl = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
      const double log_pt = static_cast<double>(zt[i]) * inv_temp - lse_t;
      const double log_ps = static_cast<double>(z[i]) * inv_temp - lse_s;
      kl += std::exp(log_pt) * (log_pt - log_ps);
    }
    const double ce = lse - static_cast<double>(z[target]);
    if (dlogits != nullptr) {
      T* dz = dlogits + t * n_vocab;
      for (int64_t i = 0; i < n_vocab; ++i) {
        const double hard = std::exp(static_cast<double>(z[i]) - lse) - (i == target ? 1.0 : 0.0);
        const double soft = std::exp(static_cast<double>(z[i]) * inv_temp - lse_s) -
                            std::exp(static_cast<double>(zt[i]) * inv_temp - lse_t);
        dz[i] = static_cast<T>(g * (alpha * hard + (1.0 - alpha) * temp * soft));
      }
    }
    return alpha * ce + (1.0 - alpha) * temp * temp * kl;
  });
}

template LossValue cross_entropy_loss<float>(const float*, const int32_t*, int64_t, int64_t, double, float*);
template LossValue cross_entropy_loss<double>(const double*, const int32_t*, int64_t, int64_t, double, double*);
template LossValue distillation_loss<float>(const float*, const float*, const int32_t*, int64_t, int64_t,
                                            const DistillWeights&, double, float*);
template LossValue distillation_loss<double>(const double*, const float*, const int32_t*, int64_t, int64_t,
                                             const DistillWeights&, double, double*);

}  // namespace bitdial
