// The rounding grid of one packed block of a GGUF type once its scales are fixed: the values each
// position can take and a way to set one position's code. GPTQ (quant/gptq.h) picks a block's scales
// with the type's own quantizer, then rounds column by column onto this grid, so its output is an
// ordinary block of that type that every decoder and kernel reads unchanged.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_type.h"

namespace bitdial {

struct GridType;  // per-type layout accessors (block_grid.cpp)

// With a block's scales fixed, position i decodes code c (0 <= c < n_codes) to
//   value_i(c) = a_i * L[c] + b_i
// where L is the type's level table (c - offset for the uniform types, kIq4Grid[c] for iq4_nl/iq4_xs)
// and a_i, b_i come from the block's (super-)block scales and mins. Values are produced with exactly
// the decoder's float expression, so round() returns what dequantize_row will decode, bit for bit.
class BlockGrid {
 public:
  // Types with a grid: q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs tq2_0.
  static bool supports(TensorType type);
  // Throws bitdial::Error naming the type when it has no grid here.
  static BlockGrid for_type(TensorType type);

  TensorType type() const;
  int block_size() const;     // values per block: 32 or 256
  size_t block_bytes() const;
  int n_codes() const;        // codes per position (q8_0: 255, the encoder's symmetric -127..127)

  // Writes a whole block for x[0..block_size) with the type's own quantizer (blocks/traits.h), weighted
  // by importance[0..block_size) (null: plain squared error). Its scales are what round() then keeps.
  void choose_scales(const float* x, const float* importance, void* block) const;

  // Sets position i's code to the representable value nearest x (ties keep the lower |level|
  // candidate found first) and returns that value as the decoder produces it.
  float round(void* block, int i, float x) const;

  // The value position i decodes to now.
  float value(const void* block, int i) const;

  // The value position i would decode to with code c, without changing the block.
  float code_value(const void* block, int i, int code) const;

 private:
  explicit BlockGrid(const GridType* t) : t_(t) {}
  const GridType* t_;
};

}  // namespace bitdial
