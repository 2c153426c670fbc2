// 4-bit types whose codes index a fixed non-uniform grid: iq4_nl (32-value blocks), iq4_xs (256-value super-blocks).
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

void dequantize_row_iq4_nl(const void* blocks, float* out, int64_t n);
void quantize_row_iq4_nl(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_iq4_xs(const void* blocks, float* out, int64_t n);
void quantize_row_iq4_xs(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
