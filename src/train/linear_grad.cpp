#include "train/linear_grad.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>

#include "kernels/gemm_f32.h"

namespace bitdial {
namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMinMacs = int64_t{1} << 18;

// src (rows, cols) -> dst (cols, rows) = -src^T, in 32 x 32 tiles so both sides stay in cache.
template <class T>
void transpose_negated(const T* src, int64_t rows, int64_t cols, T* dst) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelMinMacs / 4)
  for (int64_t rt = 0; rt < row_tiles; ++rt)
    for (int64_t ct = 0; ct < col_tiles; ++ct) {
      const int64_t r1 = std::min(rows, (rt + 1) * kTile), c1 = std::min(cols, (ct + 1) * kTile);
      for (int64_t r = rt * kTile; r < r1; ++r)
        for (int64_t c = ct * kTile; c < c1; ++c) dst[c * rows + r] = -src[r * cols + c];
    }
}

template <class T>
void gemm_sub_rows(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                   int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    gemm_sub_f32(m, n, k, a, lda, b, ldb, c, ldc);
  } else {
    // The reference: each C row accumulates its k terms in order.
    for (int64_t r = 0; r < m; ++r) {
      T* cr = c + r * ldc;
      for (int64_t kk = 0; kk < k; ++kk) {
        const T e = a[r * lda + kk];
        const T* bk = b + kk * ldb;
        for (int64_t j = 0; j < n; ++j) cr[j] -= e * bk[j];
      }
    }
  }
}

}  // namespace

template <class T>
void gemm_sub_parallel(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                       int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const bool parallel = m * n * k >= kParallelMinMacs;
  // Row blocks: a multiple of the AVX2 micro-kernel's 6 rows, about four per thread so uneven
  // progress evens out. A row's result does not depend on the block it falls in.
  const int64_t threads = parallel ? omp_get_max_threads() : 1;
  const int64_t block = std::max<int64_t>(6, (m + 4 * threads - 1) / (4 * threads) / 6 * 6);
  const int64_t n_blocks = (m + block - 1) / block;
#pragma omp parallel for schedule(dynamic) if (parallel && n_blocks > 1)
  for (int64_t ib = 0; ib < n_blocks; ++ib) {
    const int64_t r0 = ib * block, rows = std::min(block, m - r0);
    gemm_sub_rows(rows, n, k, a + r0 * lda, lda, b, ldb, c + r0 * ldc, ldc);
  }
}

template <class T>
void linear_forward(const T* x, const T* w, int64_t n, int64_t in, int64_t out, T* y, std::vector<T>& scratch) {
  // y = 0 - x (-W^T): the kernel subtracts, so it gets the weight transposed and negated (in, out).
  scratch.resize(static_cast<size_t>(in * out));
  transpose_negated(w, out, in, scratch.data());
  std::fill(y, y + n * out, T(0));
  gemm_sub_parallel(n, out, in, x, in, scratch.data(), out, y, out);
}

template <class T>
void linear_backward(const T* x, const T* w, const T* dy, int64_t n, int64_t in, int64_t out, T* dx, T* dw,
                     std::vector<T>& scratch) {
  scratch.resize(static_cast<size_t>(2 * n * out));
  T* neg_dy_t = scratch.data();          // (out, n) = -dy^T
  T* neg_dy = scratch.data() + n * out;  // (n, out) = -dy
  transpose_negated(dy, n, out, neg_dy_t);
  // dw (out, in) -= (-dy^T) (out, n) x (n, in)
  gemm_sub_parallel(out, in, n, neg_dy_t, n, x, in, dw, in);
  if (dx == nullptr) return;
#pragma omp parallel for schedule(static) if (n * out >= kParallelMinMacs / 4)
  for (int64_t i = 0; i < n * out; ++i) neg_dy[i] = -dy[i];
  // dx (n, in) -= (-dy) (n, out) W (out, in)
  gemm_sub_parallel(n, in, out, neg_dy, out, w, in, dx, in);
}

template void gemm_sub_parallel<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                                       int64_t);
template void gemm_sub_parallel<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                        double*, int64_t);
template void linear_forward<float>(const float*, const float*, int64_t, int64_t, int64_t, float*, std::vector<float>&);
template void linear_forward<double>(const double*, const double*, int64_t, int64_t, int64_t, double*,
                                     std::vector<double>&);
template void linear_backward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, float*,
                                     float*, std::vector<float>&);
template void linear_backward<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t, double*,
                                      double*, std::vector<double>&);

}  // namespace bitdial
