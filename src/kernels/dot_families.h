// Internal to kernels/: each family file answers for its own weight types (null for others), and
// the per-ISA tables (dot_tables.cpp) ask the families in turn.
#pragma once

#include "kernels/dot_kernel.h"

namespace bitdial {

// f32, f16, bf16 weights with F32 activations.
const DotKernel* scalar_float_kernel(TensorType type);
const DotKernel* avx2_float_kernel(TensorType type);
// q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl weights with Q8 activations.
const DotKernel* scalar_legacy_kernel(TensorType type);
const DotKernel* avx2_legacy_kernel(TensorType type);
// q4_0, q8_0, q4_K and q6_K weights packed 8 rows at a time (kernels/packed_rows.h): DotKernel::packed_tile.
void packed_tile_q4_0_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy);
void packed_tile_q8_0_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy);
void packed_tile_q4_k_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy);
void packed_tile_q6_k_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy);
// q2_K .. q6_K, iq4_xs, tq1_0, tq2_0 weights with Q8_K activations.
const DotKernel* scalar_kquant_kernel(TensorType type);
const DotKernel* avx2_kquant_kernel(TensorType type);

// The reference F32 dot product (summation order documented in scalar/dot_float.cpp); attention
// uses it too so its products follow the same order as the matmuls.
float dot_f32_reference(const float* w, const float* x, int64_t n);

// Activation converters (scalar/act_quant.cpp; AVX2 versions in the avx2 family files).
void quantize_act_q8_scalar(const float* x, uint8_t* out, int64_t n);
void quantize_act_q8k_scalar(const float* x, uint8_t* out, int64_t n);
void quantize_act_q8_avx2(const float* x, uint8_t* out, int64_t n);
void quantize_act_q8k_avx2(const float* x, uint8_t* out, int64_t n);

}  // namespace bitdial
