// Ternary types, weights in {-1, 0, +1} times a per-block scale: tq1_0 (base-3 packed), tq2_0 (2-bit packed).
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

void dequantize_row_tq1_0(const void* blocks, float* out, int64_t n);
void quantize_row_tq1_0(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_tq2_0(const void* blocks, float* out, int64_t n);
void quantize_row_tq2_0(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
