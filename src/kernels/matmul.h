// Matrix products of stored (possibly quantized) weights with float activations: the one entry
// point the model uses for every linear layer. Weights stay in their GGUF type; each ISA path
// decodes or dots them its own way. The scalar path (kernels/scalar/) is the reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

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
  // The same rows packed 8 at a time for the active path's packed kernel (kernels/packed_rows.h):
  // groups of the first rows / 8 * 8 rows, packed_group_bytes apart; null when not packed. matmul
  // reads these instead of data; everything else (row decoders, the quantizer) reads data.
  const uint8_t* packed = nullptr;

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

// w's rows packed for the active path's packed kernel (pack_rows), or empty when the path has none
// for w's type, when the matrix has fewer than 8 rows, or when BITDIAL_REPACK=0 (for comparing).
// The caller keeps the buffer alive and points w.packed at it.
std::vector<uint8_t> pack_for_matmul(const WeightView& w);

// Several weights applied to the same x (q, k and v; gate and up): x is converted once per
// activation format and one parallel loop covers the row blocks of all of them, so a decode step
// pays one thread wake-up and one barrier instead of one per weight. Every y is bitwise what
// matmul would give. All weights must have x's row length.
struct MatmulOut {
  const WeightView* w;
  float* y;  // (n_tokens, w->rows)
};
void matmul_shared_input(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens);
void matmul_shared_input_isa(Isa isa, std::span<const MatmulOut> outs, const float* x, int64_t n_tokens);

// The active path's tile kernel for float weights (f32, f16, bf16) times F32 activations, with the
// DotTileFn contract of kernels/dot_kernel.h; attention multiplies the cached K and V with it.
void float_dot_tile(TensorType type, int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const float* x,
                    size_t x_stride, int64_t nt, float* y, int64_t ldy);

}  // namespace bitdial
