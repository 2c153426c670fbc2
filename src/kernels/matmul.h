// Matrix products of stored (possibly quantized) weights with float activations: the one entry
// point the model uses for every linear layer. Weights stay in their GGUF type; each ISA path
// decodes or dots them its own way. The scalar path (kernels/scalar/) is the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"
#include "kernels/dispatch.h"

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
// Float weights multiply x as is; quantized weights multiply x converted to the 8-bit activation
// format of their kernel (kernels/dot_kernel.h), as llama.cpp does. Threads: OpenMP over blocks of
// weight rows; every y element is computed by one thread in a fixed order, so results do not
// depend on the thread count or on n_tokens. Throws bitdial::Error when the type has no decoder.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// The same on a given path (tests compare paths); `isa` must be supported by the CPU.
void matmul_isa(Isa isa, const WeightView& w, const float* x, int64_t n_tokens, float* y);

// The active path's tile kernel for float weights (f32, f16, bf16) times F32 activations, with the
// DotTileFn contract of kernels/dot_kernel.h; attention multiplies the cached K and V with it.
void float_dot_tile(TensorType type, int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const float* x,
                    size_t x_stride, int64_t nt, float* y, int64_t ldy);

}  // namespace bitdial
