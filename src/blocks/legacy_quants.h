// The 32-value block types with one scale (and, for the _1 types, a min): q4_0, q4_1, q5_0, q5_1, q8_0.
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
#pragma once

#include <cstdint>

namespace bitdial {

// Value j of a 32-value block has its low 4 bits in qs[j % 16], the low nibble for j < 16 and the
// high nibble for j >= 16. The 5-bit types keep bit 4 of value j in bit j of the little-endian
// 32-bit word qh. d and m are IEEE fp16 bits. Structs are read in host order (little-endian hosts).

// x_j = (q_j - 8) * d, q_j in 0..15. 18 bytes / 32 values = 4.5 bits per weight.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x_j = q_j * d + m, q_j in 0..15. 20 bytes / 32 values = 5 bits per weight.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

// x_j = (q_j - 16) * d, q_j in 0..31. 22 bytes / 32 values = 5.5 bits per weight.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

// x_j = q_j * d + m, q_j in 0..31. 24 bytes / 32 values = 6 bits per weight.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// x_j = qs[j] * d, qs[j] a signed byte (the encoder uses -127..127). 34 bytes / 32 values = 8.5 bits per weight.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

void dequantize_row_q4_0(const void* blocks, float* out, int64_t n);
void quantize_row_q4_0(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q4_1(const void* blocks, float* out, int64_t n);
void quantize_row_q4_1(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q5_0(const void* blocks, float* out, int64_t n);
void quantize_row_q5_0(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q5_1(const void* blocks, float* out, int64_t n);
void quantize_row_q5_1(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q8_0(const void* blocks, float* out, int64_t n);
void quantize_row_q8_0(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
