// Weights repacked for matrix products: 8 consecutive rows of a q4_0, q8_0, q4_K or q6_K matrix
// interleaved block by block, so one 32-byte register holds 4 codes of each of the 8 rows and the
// integer dot products of 8 rows come out as the 8 lanes of one register (one convert and one FMA
// per 8 rows instead of one per row). Internal to bitdial: never written to files; packing is exact
// and reversible. q4_0, q8_0 and q6_K take the same bytes as the plain rows; q4_K 2.8 % more (its
// 6-bit scales and mins are stored as bytes, ready for the multiply).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"

namespace bitdial {

inline constexpr int64_t kPackedRows = 8;

// 8 q4_0 blocks (rows r0..r0+7, same column block): value (r, j) = f16(d[r]) * (code(r, j) - 8).
// qs is 4 groups g of 32 bytes; byte 4 r + i of group g holds code(r, 8 g + i) in its low nibble
// and code(r, 8 g + 4 + i) in its high nibble (i < 4). So group g's low nibbles are codes
// 8g..8g+3 of every row and its high nibbles codes 8g+4..8g+7. 144 bytes / 256 values = 4.5 bpw.
struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 144);

// 8 q8_0 blocks: value (r, j) = f16(d[r]) * q(r, j). qs is 8 groups k of 32 bytes; byte 4 r + i of
// group k holds q(r, 4 k + i). 272 bytes / 256 values = 8.5 bpw.
struct BlockQ8_0x8 {
  uint16_t d[8];
  int8_t qs[256];
};
static_assert(sizeof(BlockQ8_0x8) == 272);

// 8 q4_K blocks (rows r0..r0+7, same 256 columns): value (r, j) = f16(d[r]) sc[s][r] code(r, j)
// - f16(dmin[r]) m(r, s), s = j / 32 the sub-block. qs is 32 groups g of 32 bytes laid out like
// q4_0's: byte 4 r + i of group g holds code(r, 8 g + i) in its low nibble and code(r, 8 g + 4 + i)
// in its high nibble; sub-block s is groups 4 s .. 4 s + 3. m is stored in pairs of sub-blocks:
// m[p][2 r + k] = m(r, 2 p + k). 1184 bytes / 2048 values = 4.625 bpw (8 plain blocks: 1152).
struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t sc[8][8];  // [sub-block][row]
  uint8_t m[4][16];  // [pair of sub-blocks][2 row + which of the pair]
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4_Kx8) == 1184);

// 8 q6_K blocks (rows r0..r0+7, same 256 columns): value (r, j) = f16(d[r]) sc(r, s) (code(r, j) - 32),
// s = j / 16 the sub-block, code in 0..63. q is 16 groups s of 96 bytes, one per sub-block, read as 3
// registers A, B, C of 32 bytes: bits 0..5 of byte 4 r + i of A, B, C hold code(r, 16 s + i),
// code(r, 16 s + 4 + i), code(r, 16 s + 8 + i), and their bits 6..7 hold bits 4..5, 2..3, 0..1 of
// code(r, 16 s + 12 + i). So the 4 code vectors of a sub-block come out of 3 loads with 3 masks and
// 3 shift-mask pairs. Scales are stored in pairs of sub-blocks for madd: sc[p][2 r + k] = sc(r, 2 p + k).
// 1680 bytes / 2048 values = 6.5625 bpw, the same bytes as 8 plain blocks.
struct BlockQ6_Kx8 {
  uint16_t d[8];
  int8_t sc[8][16];  // [pair of sub-blocks][2 row + which of the pair]
  uint8_t q[1536];
};
static_assert(sizeof(BlockQ6_Kx8) == 1680);

// Types with a packed layout (q4_0, q8_0, q4_K, q6_K).
bool has_packed_layout(TensorType type);

// Bytes of one packed group of 8 rows of `cols` values.
size_t packed_group_bytes(TensorType type, int64_t cols);

// Packs rows [8 g, 8 g + 8) of a plain matrix (rows `row_stride` bytes apart) into group g of out,
// for every complete group g < rows / 8; the rows after the last complete group are not packed.
// Multithreaded over groups (OpenMP). Asserts has_packed_layout(type).
void pack_rows(TensorType type, const uint8_t* plain, size_t row_stride, int64_t rows, int64_t cols, uint8_t* out);

// The inverse for one group: writes its 8 plain rows (tests, and the reference path of the tile).
void unpack_group(TensorType type, const uint8_t* group, int64_t cols, uint8_t* plain, size_t row_stride);

}  // namespace bitdial
