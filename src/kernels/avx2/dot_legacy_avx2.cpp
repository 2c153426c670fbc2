// Placeholder while the legacy family is written: answers no type.
#include "kernels/dot_families.h"

namespace bitdial {

const DotKernel* avx2_legacy_kernel(TensorType) { return nullptr; }
void quantize_act_q8_avx2(const float* x, uint8_t* out, int64_t n) { quantize_act_q8_scalar(x, out, n); }

}  // namespace bitdial
