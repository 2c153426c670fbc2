#include "train/attention_grad.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bitdial {
namespace {

// Below this many multiply-adds (per pass) a parallel region costs more than it saves.
constexpr int64_t kParallelMinMacs = int64_t{1} << 16;

template <class T>
T dot(const T* a, const T* b, int64_t n) {
  T s = T(0);
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y (n) += alpha x (n)
template <class T>
void axpy(T alpha, const T* x, int64_t n, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <class T>
T inv_sqrt_head_dim(int64_t head_dim) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

void check_shape(const AttentionShape& s) {
  BITDIAL_ASSERT(s.n_seq > 0 && s.seq_len > 0 && s.n_head > 0 && s.n_head_kv > 0 && s.head_dim > 0);
  BITDIAL_ASSERT(s.n_head % s.n_head_kv == 0);
}

}  // namespace

template <class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* probs) {
  check_shape(s);
  const int64_t L = s.seq_len, hd = s.head_dim, qd = s.q_dim(), kvd = s.kv_dim();
  const int64_t group = s.n_head / s.n_head_kv;
  const T scale = inv_sqrt_head_dim<T>(hd);
  const bool parallel = s.n_seq * s.n_head * L * L * hd >= kParallelMinMacs;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t b = 0; b < s.n_seq; ++b)
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t kvh = h / group;
      for (int64_t t = 0; t < L; ++t) {
        T* p = probs + ((b * s.n_head + h) * L + t) * L;
        const T* qt = q + (b * L + t) * qd + h * hd;
        // scores[j] = q_t . k_j / sqrt(head_dim) for j <= t, then softmax over them.
        T mx = T(0);
        for (int64_t j = 0; j <= t; ++j) {
          p[j] = dot(qt, k + (b * L + j) * kvd + kvh * hd, hd) * scale;
          mx = j == 0 || p[j] > mx ? p[j] : mx;
        }
        double sum = 0.0;
        for (int64_t j = 0; j <= t; ++j) {
          p[j] = std::exp(p[j] - mx);
          sum += static_cast<double>(p[j]);
        }
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j <= t; ++j) p[j] *= inv;
        std::fill(p + t + 1, p + L, T(0));
        // out_t = sum_j p[j] v_j
        T* o = out + (b * L + t) * qd + h * hd;
        std::fill(o, o + hd, T(0));
        for (int64_t j = 0; j <= t; ++j) axpy(p[j], v + (b * L + j) * kvd + kvh * hd, hd, o);
      }
    }
}

template <class T>
void attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* probs, const T* dout,
                        T* dq, T* dk, T* dv, std::vector<T>& scratch) {
  check_shape(s);
  const int64_t L = s.seq_len, hd = s.head_dim, qd = s.q_dim(), kvd = s.kv_dim(), n = s.n_rows();
  const int64_t group = s.n_head / s.n_head_kv;
  const T scale = inv_sqrt_head_dim<T>(hd);
  // Per query head: the gradient it sends to its K/V head's rows, (n_rows, q_dim) each, summed over
  // the group in head order afterwards so no two threads ever add into one element.
  scratch.assign(static_cast<size_t>(2 * n * qd), T(0));
  T* dk_head = scratch.data();
  T* dv_head = scratch.data() + n * qd;
  const bool parallel = s.n_seq * s.n_head * L * L * hd >= kParallelMinMacs;
#pragma omp parallel if (parallel)
  {
    std::vector<T> ds(static_cast<size_t>(L));  // dL/dscore of one query row (scale folded in)
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < s.n_seq; ++b)
      for (int64_t h = 0; h < s.n_head; ++h) {
        const int64_t kvh = h / group;
        for (int64_t t = 0; t < L; ++t) {
          const T* p = probs + ((b * s.n_head + h) * L + t) * L;
          const T* go = dout + (b * L + t) * qd + h * hd;
          const T* qt = q + (b * L + t) * qd + h * hd;
          // dp[j] = dout_t . v_j; softmax: ds[j] = p[j] (dp[j] - sum_i p[i] dp[i]).
          double weighted = 0.0;
          for (int64_t j = 0; j <= t; ++j) {
            ds[j] = dot(go, v + (b * L + j) * kvd + kvh * hd, hd);
            weighted += static_cast<double>(p[j] * ds[j]);
          }
          const T mean_dp = static_cast<T>(weighted);
          for (int64_t j = 0; j <= t; ++j) ds[j] = p[j] * (ds[j] - mean_dp) * scale;
          T* gq = dq + (b * L + t) * qd + h * hd;
          std::fill(gq, gq + hd, T(0));
          for (int64_t j = 0; j <= t; ++j) {
            const int64_t row = b * L + j;
            axpy(ds[j], k + row * kvd + kvh * hd, hd, gq);
            axpy(ds[j], qt, hd, dk_head + row * qd + h * hd);
            axpy(p[j], go, hd, dv_head + row * qd + h * hd);
          }
        }
      }
      // dk, dv of K/V head g: the group's query heads in order.
#pragma omp for schedule(static)
    for (int64_t row = 0; row < n; ++row)
      for (int64_t g = 0; g < s.n_head_kv; ++g) {
        T* gk = dk + row * kvd + g * hd;
        T* gv = dv + row * kvd + g * hd;
        std::fill(gk, gk + hd, T(0));
        std::fill(gv, gv + hd, T(0));
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          axpy(T(1), dk_head + row * qd + h * hd, hd, gk);
          axpy(T(1), dv_head + row * qd + h * hd, hd, gv);
        }
      }
  }
}

template void attention_forward<float>(const AttentionShape&, const float*, const float*, const float*, float*, float*);
template void attention_forward<double>(const AttentionShape&, const double*, const double*, const double*, double*,
                                        double*);
template void attention_backward<float>(const AttentionShape&, const float*, const float*, const float*, const float*,
                                        const float*, float*, float*, float*, std::vector<float>&);
template void attention_backward<double>(const AttentionShape&, const double*, const double*, const double*,
                                         const double*, const double*, double*, double*, double*, std::vector<double>&);

}  // namespace bitdial
