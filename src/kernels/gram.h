// Gram-matrix accumulation H += X^T X for GPTQ's Hessians (quant/hessian.h): the one O(tokens * cols^2)
// step of calibration, so it gets a register-blocked AVX2 path (kernels/avx2/gram_avx2.cpp). The scalar
// path (kernels/scalar/gram.cpp) is the reference.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace bitdial {

// X (n_tokens, cols) row-major float -> h (cols, cols) row-major float: h[i][j] += sum_t X[t][i] X[t][j]
// for every j <= i (the lower triangle, diagonal included); entries above the diagonal are not touched.
// Sums run in float, so callers keep one call's tokens to a few thousand and add h into a double
// accumulator (hessian.cpp). The order of the sums depends on the path, not on the thread count.
void gram_accumulate(const float* x, int64_t n_tokens, int64_t cols, float* h);

// The same on a given path (tests and benchmarks compare paths); `isa` must be supported by the CPU.
void gram_accumulate_isa(Isa isa, const float* x, int64_t n_tokens, int64_t cols, float* h);

void gram_accumulate_scalar(const float* x, int64_t n_tokens, int64_t cols, float* h);
void gram_accumulate_avx2(const float* x, int64_t n_tokens, int64_t cols, float* h);

}  // namespace bitdial
