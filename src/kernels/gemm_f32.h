// A small float GEMM update, C -= A B: GPTQ's lazy batch update (quant/gptq.cpp), W[:, b1:] -= E U[b0:b1, b1:]
// with E (tile rows, batch) and U's (batch, remaining columns) block, the O(rows * cols^2) step of the
// solve. AVX2 path in kernels/avx2/gemm_f32_avx2.cpp; the scalar path (kernels/scalar/) is the reference.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace bitdial {

// C (m, n) -= A (m, k) B (k, n); all row-major with leading dimensions lda, ldb, ldc (in floats).
// Single-threaded (callers parallelise over independent C rows). Each C element is updated with its
// k terms in order, so a row's result depends only on its own data and the path, never on other rows.
void gemm_sub_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc);

// The same on a given path (tests compare paths); `isa` must be supported by the CPU.
void gemm_sub_f32_isa(Isa isa, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc);

void gemm_sub_f32_scalar(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float* c, int64_t ldc);
void gemm_sub_f32_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                       float* c, int64_t ldc);

}  // namespace bitdial
