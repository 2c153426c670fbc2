// AVX2+FMA C -= A B: a 6 x 16 micro-kernel keeps a tile of C in 12 ymm registers over all k terms (per
// term 2 loads of B's row, 6 broadcasts of A's column, 12 FMAs). Strips of 16 columns outside, row blocks
// inside, so B's (k, 16) strip (8 KiB at k = 128) stays in L1 for the whole column of tiles. Columns past
// the last multiple of 16 take a scalar loop.
#include <immintrin.h>

#include <algorithm>

#include "kernels/gemm_f32.h"

namespace bitdial {
namespace {

template <int Mr>
inline void micro_sub(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
  __m256 acc[Mr][2];
#pragma GCC unroll 6
  for (int r = 0; r < Mr; ++r) {
    acc[r][0] = _mm256_loadu_ps(c + r * ldc);
    acc[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m256 b0 = _mm256_loadu_ps(b + kk * ldb), b1 = _mm256_loadu_ps(b + kk * ldb + 8);
#pragma GCC unroll 6
    for (int r = 0; r < Mr; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * lda + kk);
      acc[r][0] = _mm256_fnmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fnmadd_ps(ar, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < Mr; ++r) {
    _mm256_storeu_ps(c + r * ldc, acc[r][0]);
    _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
  }
}

}  // namespace

void gemm_sub_f32_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                       float* c, int64_t ldc) {
  const int64_t n16 = n / 16 * 16;
  for (int64_t j0 = 0; j0 < n16; j0 += 16)
    for (int64_t i0 = 0; i0 < m; i0 += 6) {
      const float* ai = a + i0 * lda;
      float* ci = c + i0 * ldc + j0;
      switch (std::min<int64_t>(6, m - i0)) {
        case 6: micro_sub<6>(k, ai, lda, b + j0, ldb, ci, ldc); break;
        case 5: micro_sub<5>(k, ai, lda, b + j0, ldb, ci, ldc); break;
        case 4: micro_sub<4>(k, ai, lda, b + j0, ldb, ci, ldc); break;
        case 3: micro_sub<3>(k, ai, lda, b + j0, ldb, ci, ldc); break;
        case 2: micro_sub<2>(k, ai, lda, b + j0, ldb, ci, ldc); break;
        default: micro_sub<1>(k, ai, lda, b + j0, ldb, ci, ldc); break;
      }
    }
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = n16; j < n; ++j) {
      float s = c[r * ldc + j];
      for (int64_t kk = 0; kk < k; ++kk) s -= a[r * lda + kk] * b[kk * ldb + j];
      c[r * ldc + j] = s;
    }
}

}  // namespace bitdial
