// Ternary types, weights in {-1, 0, +1} times a per-block scale: tq1_0 (base-3 packed), tq2_0 (2-bit packed).
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

// Both types: 256 values, x_j = (t_j - 1) * d with trit t_j in {0, 1, 2}; d is IEEE fp16 bits.

// Five trits per byte, most significant first: a byte holds the fixed-point fraction
// ceil(v * 256 / 243) of the base-3 number v = t0 t1 t2 t3 t4, and trit k is recovered as
// ((byte * 3^k) mod 256) * 3 >> 8. Values 0..159 are trit j / 32 of qs[j % 32]; values 160..239 are
// trit (j - 160) / 16 of qs[32 + (j - 160) % 16]; values 240..255 are trit (j - 240) / 4 of
// qh[(j - 240) % 4] (the fifth trit of each qh byte is unused, zero).
// 54 bytes / 256 values = 1.6875 bits per weight.
struct BlockTQ1_0 {
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

// Four 2-bit trits per byte: value j of each 128-value half h = j / 128 sits in byte
// qs[32 h + j % 32] at bit 2 * ((j % 128) / 32). 66 bytes / 256 values = 2.0625 bits per weight.
struct BlockTQ2_0 {
  uint8_t qs[64];
  uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

void dequantize_row_tq1_0(const void* blocks, float* out, int64_t n);
void quantize_row_tq1_0(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_tq2_0(const void* blocks, float* out, int64_t n);
void quantize_row_tq2_0(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
