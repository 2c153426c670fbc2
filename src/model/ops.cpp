#include "model/ops.h"

#include <algorithm>
#include <cmath>

namespace bitdial {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;

}  // namespace

void rms_norm(const float* x, const float* weight, int64_t n, int64_t d, float eps, float* out) {
#pragma omp parallel for schedule(static) if (n * d >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    const float* xr = x + t * d;
    // Squares rounded to float, summed in double; mean and scale in float: llama.cpp's order, so
    // fp16 KV-cache rounding downstream makes the same decisions.
    double ss = 0.0;
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(ss / static_cast<double>(d));
    const float scale = 1.0f / std::sqrt(mean + eps);
    float* o = out + t * d;
    for (int64_t i = 0; i < d; ++i) o[i] = xr[i] * scale * weight[i];
  }
}

RopeTable rope_table(const LlamaHparams& hp, const std::vector<float>& freq_factors, int64_t pos0, int64_t n) {
  RopeTable tab;
  tab.half = hp.rope_dim / 2;
  tab.cos.resize(static_cast<size_t>(n * tab.half));
  tab.sin.resize(tab.cos.size());
  // Angles in float, the frequency advanced by repeated multiplication, as llama.cpp computes them
  // (bit-for-bit agreement keeps fp16 KV-cache rounding decisions identical).
  const float theta_scale = std::pow(hp.rope_base, -2.0f / static_cast<float>(hp.rope_dim));
  for (int64_t t = 0; t < n; ++t) {
    float theta = static_cast<float>(pos0 + t);
    for (int64_t i = 0; i < tab.half; ++i) {
      const float ff = freq_factors.empty() ? 1.0f : freq_factors[static_cast<size_t>(i)];
      const float angle = hp.rope_freq_scale * (theta / ff);
      tab.cos[static_cast<size_t>(t * tab.half + i)] = std::cos(angle);
      tab.sin[static_cast<size_t>(t * tab.half + i)] = std::sin(angle);
      theta *= theta_scale;
    }
  }
  return tab;
}

void rope_apply(float* x, int64_t n, int64_t n_heads, int64_t head_dim, RopeMode mode, const RopeTable& table) {
  const int64_t half = table.half;
  for (int64_t t = 0; t < n; ++t) {
    const float* c = table.cos.data() + t * half;
    const float* s = table.sin.data() + t * half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t ia = mode == RopeMode::normal ? 2 * i : i;
        const int64_t ib = mode == RopeMode::normal ? 2 * i + 1 : i + half;
        const float a = v[ia], b = v[ib];
        v[ia] = a * c[i] - b * s[i];
        v[ib] = a * s[i] + b * c[i];
      }
    }
  }
}

void softmax_inplace(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_inplace(float* gate, const float* up, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

LogSoftmax log_softmax_of(const float* row, int64_t n) {
  double mx = row[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(row[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return {mx, std::log(sum)};
}

}  // namespace bitdial
