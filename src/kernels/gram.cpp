#include "kernels/gram.h"

namespace bitdial {

void gram_accumulate_isa(Isa isa, const float* x, int64_t n_tokens, int64_t cols, float* h) {
  if (isa == Isa::Avx2)
    gram_accumulate_avx2(x, n_tokens, cols, h);
  else
    gram_accumulate_scalar(x, n_tokens, cols, h);
}

void gram_accumulate(const float* x, int64_t n_tokens, int64_t cols, float* h) {
  gram_accumulate_isa(active_isa(), x, n_tokens, cols, h);
}

}  // namespace bitdial
