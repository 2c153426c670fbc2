// Placeholder while the k-quant family is written: answers no type.
#include "kernels/dot_families.h"

namespace bitdial {

const DotKernel* avx2_kquant_kernel(TensorType) { return nullptr; }
void quantize_act_q8k_avx2(const float* x, uint8_t* out, int64_t n) { quantize_act_q8k_scalar(x, out, n); }

}  // namespace bitdial
