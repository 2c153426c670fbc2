// The reference matmul: decode each weight row once into floats, then dot it against every token.
// It is the specification the SIMD paths are tested against.
#pragma once

#include <cstdint>

#include "kernels/matmul.h"

namespace bitdial {

// a (n) . b (n) -> float, accumulated in 8 independent float lanes (i mod 8) plus a tail, then
// summed pairwise: a fixed order, so the result is reproducible. Rounding error is bounded by
// (n / 8 + 4) * eps * sum |a_i b_i| (each lane sums at most n / 8 + 1 products).
float dot_f32_scalar(const float* a, const float* b, int64_t n);

// W (rows, cols) @ x (n_tokens, cols)^T -> y (n_tokens, rows); see matmul() in kernels/matmul.h.
// F32 rows are read in place; other types are decoded with blocks/traits' dequantize_row into a
// per-thread buffer of cols floats, once per row per call (so a prompt batch reuses each decode).
void matmul_scalar(const WeightView& w, const float* x, int64_t n_tokens, float* y);

}  // namespace bitdial
