#include "kernels/matmul.h"

#include "kernels/dispatch.h"
#include "kernels/scalar/matmul_scalar.h"

namespace bitdial {

// Only the scalar reference exists so far; SIMD paths plug in here, selected by active_isa().
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  switch (active_isa()) {
    case Isa::Scalar:
    case Isa::Avx2:
      matmul_scalar(w, x, n_tokens, y);
      return;
  }
}

}  // namespace bitdial
