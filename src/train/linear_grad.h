// Linear layers of the training pass, y = x W^T, and their gradients: the matrix products that take
// nearly all of a training step's time. The float path runs kernels/gemm_f32.h (AVX2 where the CPU
// has it) over blocks of output rows split among OpenMP threads; the double path is a plain loop nest
// with the same term order, the reference the gradient checks differentiate. Every output element is
// computed by one thread with its terms in a fixed order, so results never depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace bitdial {

// x (n, in), W (out, in) -> y (n, out) = x W^T, written. scratch: reused buffer (any contents).
template <class T>
void linear_forward(const T* x, const T* w, int64_t n, int64_t in, int64_t out, T* y, std::vector<T>& scratch);

// dy (n, out) -> dx (n, in) += dy W (skipped when dx is null) and dw (out, in) += dy^T x, the n token
// terms of each element added in order t = 0 .. n-1 onto its current value.
template <class T>
void linear_backward(const T* x, const T* w, const T* dy, int64_t n, int64_t in, int64_t out, T* dx, T* dw,
                     std::vector<T>& scratch);

// C (m, n) -= A (m, k) B (k, n), row-major with leading dimensions lda, ldb, ldc: each C element's k
// terms subtracted in order onto its current value, rows split among threads. The primitive both
// functions above are made of.
template <class T>
void gemm_sub_parallel(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                       int64_t ldc);

}  // namespace bitdial
