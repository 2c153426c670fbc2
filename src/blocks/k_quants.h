// The 256-value super-block k-quant types q2_K .. q6_K: sub-block scales quantized against a super-block scale.
// Each block struct below gives its formula and bits per weight; the _row functions follow the
// DequantizeRowFn / QuantizeRowFn contracts in blocks/traits.h.
//
// Layouts are the GGUF/ggml ones, byte for byte (files written here load in llama.cpp). Every
// super-block holds 256 values; "element i" below means value i of the super-block. fp16 fields
// are IEEE binary16 bit patterns (core/fp16.h). Decoders evaluate in float, in exactly the order
// written in each formula (no fused multiply-add), so output is bit-identical to ggml's.
#pragma once

#include <cstdint>

namespace bitdial {

// Values per k-quant super-block.
inline constexpr int kQK_K = 256;

// q2_K, 2.625 bits/weight. 16 sub-blocks of 16 values, each with a 4-bit scale and a 4-bit min:
//   y = (d * sc[s]) * q - (dmin * m[s]),  q in 0..3,  s = i / 16
// scales[s] = sc[s] | m[s] << 4. Element i = 128h + 32j + l (h < 2, j < 4, l < 32) is bits 2j..2j+1
// of qs[32h + l].
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;     // fp16 super-scale of the sub-block scales
  uint16_t dmin;  // fp16 super-scale of the sub-block mins
};
static_assert(sizeof(BlockQ2_K) == 84);

// q3_K, 3.4375 bits/weight. 16 sub-blocks of 16 values, each with a signed 6-bit scale:
//   y = (d * (sc[s] - 32)) * q,  q = (low 2 bits | high bit << 2) - 4 in -4..3,  s = i / 16
// Element i = 128h + 32j + l: low bits are bits 2j..2j+1 of qs[32h + l], the high bit is bit 4h + j
// of hmask[l]. scales packs sixteen 6-bit values (sc in 0..63) into 12 bytes: the low nibble of
// sc[s] is scales[s] & 15 for s < 8 and scales[s - 8] >> 4 for s >= 8; the top two bits are bits
// 2(s/4)..2(s/4)+1 of scales[8 + s%4].
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;  // fp16 super-scale
};
static_assert(sizeof(BlockQ3_K) == 110);

// q4_K, 4.5 bits/weight. 8 sub-blocks of 32 values, each with a 6-bit scale and a 6-bit min:
//   y = (d * sc[s]) * q - (dmin * m[s]),  q in 0..15,  s = i / 32
// Element i = 64c + 32k + l (c < 4, k < 2, l < 32) is nibble k of qs[32c + l]. scales packs the
// sixteen 6-bit values into 12 bytes (see pack_scale_min_k4 in k_quants.cpp):
//   s < 4:  sc = scales[s] & 63,  m = scales[s + 4] & 63
//   s >= 4: sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4,  m = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4
struct BlockQ4_K {
  uint16_t d;     // fp16 super-scale of the sub-block scales
  uint16_t dmin;  // fp16 super-scale of the sub-block mins
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

// q5_K, 5.5 bits/weight. As q4_K with a fifth code bit:
//   y = (d * sc[s]) * q - (dmin * m[s]),  q = nibble | high bit << 4 in 0..31,  s = i / 32
// Element i = 64c + 32k + l: the nibble is nibble k of qs[32c + l], the high bit is bit 2c + k of qh[l].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

// q6_K, 6.5625 bits/weight. 16 sub-blocks of 16 values, each with a signed 8-bit scale:
//   y = (d * scales[s]) * q,  q = (nibble | 2 high bits << 4) - 32 in -32..31,  s = i / 16
// Element i = 128h + 32j + l (h < 2, j < 4, l < 32): the nibble is the low (j < 2) or high (j >= 2)
// nibble of ql[64h + 32(j % 2) + l]; the high bits are bits 2j..2j+1 of qh[32h + l].
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;  // fp16 super-scale
};
static_assert(sizeof(BlockQ6_K) == 210);

// Sub-block j (0..7) of a q4_K / q5_K block: its 6-bit scale and min from the 12-byte packing.
void unpack_scale_min_k4(int j, const uint8_t* scales, int* sc, int* m);
// Sub-block s (0..15) of a q3_K block: its 6-bit scale with the +32 bias still in (0..63).
int q3_scale(const uint8_t* scales, int s);

void dequantize_row_q2_k(const void* blocks, float* out, int64_t n);
void quantize_row_q2_k(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q3_k(const void* blocks, float* out, int64_t n);
void quantize_row_q3_k(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q4_k(const void* blocks, float* out, int64_t n);
void quantize_row_q4_k(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q5_k(const void* blocks, float* out, int64_t n);
void quantize_row_q5_k(const float* in, void* blocks, int64_t n, const float* importance);
void dequantize_row_q6_k(const void* blocks, float* out, int64_t n);
void quantize_row_q6_k(const float* in, void* blocks, int64_t n, const float* importance);

}  // namespace bitdial
