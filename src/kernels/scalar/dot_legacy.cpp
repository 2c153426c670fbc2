// Placeholder while the legacy family is written: answers no type, so matmul decodes such rows to
// floats and uses the F32 kernel.
#include "kernels/dot_families.h"

namespace bitdial {

const DotKernel* scalar_legacy_kernel(TensorType) { return nullptr; }

}  // namespace bitdial
