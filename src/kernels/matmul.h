// Matrix products of stored (possibly quantized) weights with float activations: the one entry
// point the model uses for every linear layer. Weights stay in their GGUF type; each ISA path
// decodes or dots them its own way. The scalar path (kernels/scalar/) is the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"

namespace bitdial {

// A 2-D weight as GGUF stores it: `rows` rows of `cols` values (cols = ne[0], the row length),
// each row packed in row_bytes(type, cols) bytes, rows contiguous. Borrowed; never owns data.
struct WeightView {
  TensorType type = TensorType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t row_stride() const { return row_bytes(type, cols); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride(); }
};

// W (rows, cols) @ x (n_tokens, cols)^T -> y (n_tokens, rows): y[t][r] = sum_c W[r][c] * x[t][c].
// Threads: OpenMP over weight rows; every y element is computed by one thread in a fixed order, so
// results do not depend on the thread count or on n_tokens. Throws bitdial::Error when the type
// has no decoder.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);

}  // namespace bitdial
