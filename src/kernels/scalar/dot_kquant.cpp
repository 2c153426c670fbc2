// Placeholder while the kquant family is written: answers no type, so matmul decodes such rows to
// floats and uses the F32 kernel.
#include "kernels/dot_families.h"

namespace bitdial {

const DotKernel* scalar_kquant_kernel(TensorType) { return nullptr; }

}  // namespace bitdial
