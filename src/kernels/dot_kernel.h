// Per-type dot-product kernels: how one ISA multiplies stored weight rows with activation rows.
// Quantized weights are multiplied with activations converted once per matmul into an 8-bit
// activation format (integer products, one float scale per block), as llama.cpp does; float
// weights use float activations. Each ISA provides one table; the scalar table is the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"

namespace bitdial {

// Activation formats a kernel consumes. Blocks are internal to bitdial (never written to files).
enum class ActFormat {
  F32,   // plain floats
  Q8,    // ActBlockQ8 per 32 values, then the blocks' d, s and code sums again as arrays (see below)
  Q8_K,  // ActBlockQ8K per 256 values
};

// x_j ~ d * qs[j], with s = d * sum(qs) so that weight types with an offset or a minimum
// (q4_0's -8, q4_1's m) fold it in without touching qs. 40 bytes / 32 values.
struct ActBlockQ8 {
  float d;
  float s;
  int8_t qs[32];
};
static_assert(sizeof(ActBlockQ8) == 40);

// A Q8 activation row of nb blocks: the nb ActBlockQ8, then their scales d and their sums s again as
// two float arrays, then the exact integer sums of their codes (sum of qs) as an int32 array, each
// of act_q8_padded(nb) entries (zero past nb). Tile kernels load these 8 at a time; gathering them
// out of the 40-byte blocks again for every group of weight rows took ~12 % of a Q4_0 prompt pass.
// The packed q4_0 / q8_0 kernels fold the weight offset in exactly with the code sums.
inline int64_t act_q8_padded(int64_t nb) { return (nb + 7) / 8 * 8; }
inline const float* act_q8_scales(const uint8_t* row, int64_t nb) {
  return reinterpret_cast<const float*>(row + static_cast<size_t>(nb) * sizeof(ActBlockQ8));
}
inline const float* act_q8_sums(const uint8_t* row, int64_t nb) { return act_q8_scales(row, nb) + act_q8_padded(nb); }
inline const int32_t* act_q8_code_sums(const uint8_t* row, int64_t nb) {
  return reinterpret_cast<const int32_t*>(act_q8_sums(row, nb) + act_q8_padded(nb));
}
// Writes the three arrays from the row's blocks (every Q8 converter ends with it).
void finish_act_q8_row(uint8_t* row, int64_t nb);

// x_j ~ d * qs[j]; bsums[i] = sum of qs[16 i .. 16 i + 15] (k-quant sub-block minimums use them).
// 292 bytes / 256 values.
struct ActBlockQ8K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(ActBlockQ8K) == 292);

// Bytes one activation row of n values takes in `fmt` (n a multiple of the format's block).
size_t act_row_bytes(ActFormat fmt, int64_t n);
// Values per block of `fmt` (1 for F32).
int64_t act_block_size(ActFormat fmt);

// Converts n floats into `fmt` (out holds act_row_bytes(fmt, n)). Q8 formats: d = max|x| / 127,
// qs = x * (1 / d) rounded to nearest, ties to even; a block with d < kMinActScale (all zero, or so
// tiny that 1 / d would overflow) gets qs = 0.
inline constexpr float kMinActScale = 1e-30f;
using QuantizeActFn = void (*)(const float* x, uint8_t* out, int64_t n);

// y[t * ldy + r] = dot(weight row r, activation row t) for r < nr, t < nt. Weight rows are
// `w_stride` bytes apart, activation rows `a_stride` bytes apart; n is the row length (a multiple
// of the weight type's block size). Contract: the value written for (r, t) must not depend on
// nr, nt or the position of (r, t) in the tile (each is summed in one fixed order), so matmul
// results are the same whatever the thread count and the batch size.
using DotTileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy);

struct DotKernel {
  ActFormat act = ActFormat::F32;
  DotTileFn tile = nullptr;  // null: this ISA has no kernel for the type
  // The same products for weights packed 8 rows at a time (kernels/packed_rows.h): w points at
  // groups w_stride bytes apart and nr is a multiple of 8. Null: no packed kernel on this ISA.
  // Same contract as tile (results independent of nr, nt and position), though not bitwise equal
  // to tile's: a row is always computed by the one kernel its layout selects.
  DotTileFn packed_tile = nullptr;
};

// The scalar reference kernels (kernels/scalar/), one per weight type; tile is null where bitdial
// has no kernel (matmul then decodes rows to floats).
const DotKernel& scalar_dot_kernel(TensorType type);
QuantizeActFn scalar_quantize_act(ActFormat fmt);

// The AVX2/FMA/F16C kernels (kernels/avx2/); call only when the CPU has them. tile is null where
// no AVX2 kernel exists (matmul then uses the scalar one).
const DotKernel& avx2_dot_kernel(TensorType type);
QuantizeActFn avx2_quantize_act(ActFormat fmt);

}  // namespace bitdial
