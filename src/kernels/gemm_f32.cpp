#include "kernels/gemm_f32.h"

namespace bitdial {

void gemm_sub_f32_isa(Isa isa, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc) {
  if (isa == Isa::Avx2)
    gemm_sub_f32_avx2(m, n, k, a, lda, b, ldb, c, ldc);
  else
    gemm_sub_f32_scalar(m, n, k, a, lda, b, ldb, c, ldc);
}

void gemm_sub_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc) {
  gemm_sub_f32_isa(active_isa(), m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace bitdial
