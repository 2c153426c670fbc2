// Plain scalar element types (f32, f16, bf16, integer and f64 tensors)
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

void dequantize_row_f32(const void* blocks, float* out, int64_t n);
void quantize_row_f32(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_f16(const void* blocks, float* out, int64_t n);
void quantize_row_f16(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_bf16(const void* blocks, float* out, int64_t n);
void quantize_row_bf16(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_i8(const void* blocks, float* out, int64_t n);
void dequantize_row_i16(const void* blocks, float* out, int64_t n);
void dequantize_row_i32(const void* blocks, float* out, int64_t n);
void dequantize_row_i64(const void* blocks, float* out, int64_t n);
void dequantize_row_f64(const void* blocks, float* out, int64_t n);

}  // namespace bitdial
