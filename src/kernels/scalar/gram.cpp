// Reference Gram accumulation: one rank-1 update of the lower triangle per token, h[i][:i+1] +=
// X[t][i] * X[t][:i+1], in token order. Tokens go in blocks of 64 with the row loop outside, so a row
// of h stays in cache while the block's tokens update it; the inner loop is contiguous, which the
// compiler vectorises with SSE2. OpenMP over rows of h (each row is owned by one thread).
#include <algorithm>

#include "kernels/gram.h"

namespace bitdial {

void gram_accumulate_scalar(const float* x, int64_t n_tokens, int64_t cols, float* h) {
  constexpr int64_t kTokenBlock = 64;
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
    const int64_t t1 = std::min(t0 + kTokenBlock, n_tokens);
#pragma omp parallel for schedule(dynamic, 16) if (cols >= 256)
    for (int64_t i = cols - 1; i >= 0; --i) {  // longest rows first
      float* hi = h + i * cols;
      for (int64_t t = t0; t < t1; ++t) {
        const float* xt = x + t * cols;
        const float a = xt[i];
        for (int64_t j = 0; j <= i; ++j) hi[j] += a * xt[j];
      }
    }
  }
}

}  // namespace bitdial
