#include "train/grad_ops.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bitdial {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// Column slices that threads own when a reduction runs over rows (embedding and norm-weight
// gradients): each column's rows are summed by one thread in row order.
constexpr int64_t kColumnChunk = 16;

template <class T>
T sigmoid(T g) {
  return T(1) / (T(1) + std::exp(-g));
}

}  // namespace

template <class T>
void embedding_forward(const T* table, int64_t d, const int32_t* ids, int64_t n, T* out) {
#pragma omp parallel for schedule(static) if (n * d >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) std::copy_n(table + static_cast<int64_t>(ids[t]) * d, d, out + t * d);
}

template <class T>
void embedding_backward(const T* dout, const int32_t* ids, int64_t n, int64_t d, T* dtable) {
  const int64_t n_chunks = (d + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (n * d >= kParallelMin)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t i0 = c * kColumnChunk, i1 = std::min(d, i0 + kColumnChunk);
    for (int64_t t = 0; t < n; ++t) {
      T* dst = dtable + static_cast<int64_t>(ids[t]) * d;
      const T* src = dout + t * d;
      for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
    }
  }
}

template <class T>
void rms_norm_forward(const T* x, const T* w, int64_t n, int64_t d, float eps, T* y, T* inv_rms) {
#pragma omp parallel for schedule(static) if (n * d >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    const T* xr = x + t * d;
    double ss = 0.0;
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i] * xr[i]);
    const T mean = static_cast<T>(ss / static_cast<double>(d));
    const T r = T(1) / std::sqrt(mean + static_cast<T>(eps));
    inv_rms[t] = r;
    T* yr = y + t * d;
    for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * r * w[i];
  }
}

template <class T>
void rms_norm_backward(const T* x, const T* w, const T* inv_rms, const T* dy, int64_t n, int64_t d, T* dx, T* dw) {
  const bool parallel = n * d >= kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < n; ++t) {
    const T* xr = x + t * d;
    const T* gr = dy + t * d;
    const T r = inv_rms[t];
    // y_i = x_i r w_i with dr/dx_j = -r^3 x_j / d.
    double dot = 0.0;  // sum_i dy_i w_i x_i
    for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(gr[i] * w[i] * xr[i]);
    const T coef = static_cast<T>(dot) * r * r * r / static_cast<T>(d);
    T* out = dx + t * d;
    for (int64_t i = 0; i < d; ++i) out[i] += gr[i] * w[i] * r - xr[i] * coef;
  }
  const int64_t n_chunks = (d + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t i0 = c * kColumnChunk, i1 = std::min(d, i0 + kColumnChunk);
    T acc[kColumnChunk] = {};
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] += dy[t * d + i] * x[t * d + i] * inv_rms[t];
    for (int64_t i = i0; i < i1; ++i) dw[i] += acc[i - i0];
  }
}

RopeTable rope_angles(int64_t seq_len, int64_t head_dim, float rope_base) {
  BITDIAL_ASSERT(head_dim > 0 && head_dim % 2 == 0 && seq_len > 0);
  LlamaHparams hp;
  hp.rope_base = rope_base;
  hp.rope_dim = head_dim;
  hp.head_dim = head_dim;
  hp.rope_freq_scale = 1.0f;
  return rope_table(hp, {}, 0, seq_len);
}

namespace {

// Rotates every head's pairs by +angle (forward) or -angle (backward: the transpose).
template <class T>
void rope_rotate(T* x, int64_t n_rows, int64_t seq_len, int64_t n_heads, int64_t head_dim, const RopeTable& table,
                 T sign) {
  const int64_t half = table.half;
  BITDIAL_ASSERT(half * 2 == head_dim && static_cast<int64_t>(table.cos.size()) >= seq_len * half);
#pragma omp parallel for schedule(static) if (n_rows * n_heads * head_dim >= kParallelMin)
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t pos = r % seq_len;
    const float* c = table.cos.data() + pos * half;
    const float* s = table.sin.data() + pos * half;
    for (int64_t h = 0; h < n_heads; ++h) {
      T* v = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const T a = v[2 * i], b = v[2 * i + 1];
        const T ci = static_cast<T>(c[i]), si = sign * static_cast<T>(s[i]);
        v[2 * i] = a * ci - b * si;
        v[2 * i + 1] = a * si + b * ci;
      }
    }
  }
}

}  // namespace

template <class T>
void rope_forward(T* x, int64_t n_rows, int64_t seq_len, int64_t n_heads, int64_t head_dim, const RopeTable& table) {
  rope_rotate(x, n_rows, seq_len, n_heads, head_dim, table, T(1));
}

template <class T>
void rope_backward(T* dx, int64_t n_rows, int64_t seq_len, int64_t n_heads, int64_t head_dim, const RopeTable& table) {
  rope_rotate(dx, n_rows, seq_len, n_heads, head_dim, table, T(-1));
}

template <class T>
void swiglu_forward(const T* gate, const T* up, int64_t n, T* act) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) act[i] = gate[i] / (T(1) + std::exp(-gate[i])) * up[i];
}

template <class T>
void swiglu_backward(const T* gate, const T* up, const T* dact, int64_t n, T* dgate, T* dup) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i], s = sigmoid(g);
    dup[i] = dact[i] * g * s;
    dgate[i] = dact[i] * up[i] * s * (T(1) + g * (T(1) - s));
  }
}

#define BITDIAL_GRAD_OPS_INSTANTIATE(T)                                                                 \
  template void embedding_forward<T>(const T*, int64_t, const int32_t*, int64_t, T*);                   \
  template void embedding_backward<T>(const T*, const int32_t*, int64_t, int64_t, T*);                  \
  template void rms_norm_forward<T>(const T*, const T*, int64_t, int64_t, float, T*, T*);               \
  template void rms_norm_backward<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, T*, T*); \
  template void rope_forward<T>(T*, int64_t, int64_t, int64_t, int64_t, const RopeTable&);              \
  template void rope_backward<T>(T*, int64_t, int64_t, int64_t, int64_t, const RopeTable&);             \
  template void swiglu_forward<T>(const T*, const T*, int64_t, T*);                                     \
  template void swiglu_backward<T>(const T*, const T*, const T*, int64_t, T*, T*);
BITDIAL_GRAD_OPS_INSTANTIATE(float)
BITDIAL_GRAD_OPS_INSTANTIATE(double)
#undef BITDIAL_GRAD_OPS_INSTANTIATE

}  // namespace bitdial
