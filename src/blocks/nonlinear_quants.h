// 4-bit types whose codes index a fixed non-uniform grid: iq4_nl (32-value blocks), iq4_xs (256-value super-blocks).
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

// The 16 grid values, a non-uniform 4-bit codebook denser near zero (where weights concentrate).
inline constexpr int8_t kIq4Grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Nibble layout as q4_0: value j of each 32-value (sub-)block is the low nibble of qs[j] for j < 16,
// the high nibble of qs[j - 16] otherwise. d is IEEE fp16 bits.

// x_j = d * kIq4Grid[q_j]. 18 bytes / 32 values = 4.5 bits per weight.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// 256 values in 8 sub-blocks of 32. Sub-block b has a 6-bit scale ls_b = (low nibble b of scales_l,
// i.e. byte b/2, high nibble when b is odd) | (bits 2b..2b+1 of scales_h) << 4, and
// x_j = (d * (ls_b - 32)) * kIq4Grid[q_j] with the product in brackets rounded to f32 first.
// qs[16 b .. 16 b + 15] hold sub-block b. 136 bytes / 256 values = 4.25 bits per weight.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

void dequantize_row_iq4_nl(const void* blocks, float* out, int64_t n);
void quantize_row_iq4_nl(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_iq4_xs(const void* blocks, float* out, int64_t n);
void quantize_row_iq4_xs(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
