// Reference C -= A B: C in panels of 64 columns (B's (k, 64) panel stays in cache across the m rows);
// a row's panel is accumulated in a local array over the k terms in order. Contiguous inner loop, which
// the compiler vectorises with SSE2.
#include <algorithm>

#include "kernels/gemm_f32.h"

namespace bitdial {

void gemm_sub_f32_scalar(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float* c, int64_t ldc) {
  constexpr int64_t kPanel = 64;
  for (int64_t c0 = 0; c0 < n; c0 += kPanel) {
    const int64_t nc = std::min(kPanel, n - c0);
    for (int64_t r = 0; r < m; ++r) {
      float acc[kPanel];
      float* cr = c + r * ldc + c0;
      std::copy(cr, cr + nc, acc);
      const float* ar = a + r * lda;
      for (int64_t kk = 0; kk < k; ++kk) {
        const float e = ar[kk];
        const float* bk = b + kk * ldb + c0;
        for (int64_t t = 0; t < nc; ++t) acc[t] -= e * bk[t];
      }
      std::copy(acc, acc + nc, cr);
    }
  }
}

}  // namespace bitdial
