// Per-type code accessors on the packed GGUF layouts (documented on the block structs in blocks/) and
// the (a_i, b_i) of each position from the block's stored scales. Each `line` function evaluates the
// scales with the same float expression as that type's decoder, so code_value() == dequantize_row().
#include "quant/block_grid.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blocks/k_quants.h"
#include "blocks/legacy_quants.h"
#include "blocks/nonlinear_quants.h"
#include "blocks/ternary_quants.h"
#include "blocks/traits.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {

// value_i(c) = a * L[c] (+ b when affine).
struct PositionLine {
  float a = 0;
  float b = 0;
  bool affine = false;
};

struct GridType {
  TensorType type;
  int block_size;
  int n_codes;
  int offset;  // uniform types: L[c] = c - offset
  bool iq4;    // L[c] = kIq4Grid[c]
  PositionLine (*line)(const uint8_t* block, int i);
  int (*get)(const uint8_t* block, int i);
  void (*set)(uint8_t* block, int i, int code);
};

namespace {

// ---- shared bit-field helpers -------------------------------------------------------------------

// Nibble j of a 32-value run stored as in q4_0: low nibbles of qs[0..15], then the high nibbles.
int get_nibble32(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }
void set_nibble32(uint8_t* qs, int j, int v) {
  if (j < 16) qs[j] = static_cast<uint8_t>((qs[j] & 0xf0) | (v & 15));
  else qs[j - 16] = static_cast<uint8_t>((qs[j - 16] & 0x0f) | (v & 15) << 4);
}
int get_bits(const uint8_t* p, int shift, int mask) { return (*p >> shift) & mask; }
void set_bits(uint8_t* p, int shift, int mask, int v) {
  *p = static_cast<uint8_t>((*p & ~(mask << shift)) | (v & mask) << shift);
}

template <class B>
const B& blk(const uint8_t* p) {
  return *reinterpret_cast<const B*>(p);
}
template <class B>
B& blk(uint8_t* p) {
  return *reinterpret_cast<B*>(p);
}

PositionLine scaled(float a) { return {a, 0.0f, false}; }
PositionLine affine(float a, float b) { return {a, b, true}; }

// ---- legacy 32-value types (blocks/legacy_quants.h) ---------------------------------------------

template <class B>
PositionLine line_sym(const uint8_t* p, int) { return scaled(fp16_to_f32(blk<B>(p).d)); }
template <class B>
PositionLine line_affine(const uint8_t* p, int) {
  return affine(fp16_to_f32(blk<B>(p).d), fp16_to_f32(blk<B>(p).m));
}
template <class B>
int get_q4(const uint8_t* p, int i) { return get_nibble32(blk<B>(p).qs, i); }
template <class B>
void set_q4(uint8_t* p, int i, int c) { set_nibble32(blk<B>(p).qs, i, c); }
// 5-bit codes: nibble as q4, bit 4 of value j in bit j of the little-endian word qh.
template <class B>
int get_q5(const uint8_t* p, int i) {
  return get_nibble32(blk<B>(p).qs, i) | get_bits(&blk<B>(p).qh[i / 8], i % 8, 1) << 4;
}
template <class B>
void set_q5(uint8_t* p, int i, int c) {
  set_nibble32(blk<B>(p).qs, i, c);
  set_bits(&blk<B>(p).qh[i / 8], i % 8, 1, c >> 4);
}
int get_q8_0(const uint8_t* p, int i) { return blk<BlockQ8_0>(p).qs[i] + 127; }
void set_q8_0(uint8_t* p, int i, int c) { blk<BlockQ8_0>(p).qs[i] = static_cast<int8_t>(c - 127); }

// ---- k-quants (blocks/k_quants.h): element i = 128h + 32j + l for the 16-value sub-block types ----

PositionLine line_q2_k(const uint8_t* p, int i) {
  const auto& b = blk<BlockQ2_K>(p);
  const int s = i / 16;
  return affine(fp16_to_f32(b.d) * (b.scales[s] & 15), -(fp16_to_f32(b.dmin) * (b.scales[s] >> 4)));
}
int get_q2_k(const uint8_t* p, int i) {
  return get_bits(&blk<BlockQ2_K>(p).qs[32 * (i / 128) + i % 32], 2 * ((i % 128) / 32), 3);
}
void set_q2_k(uint8_t* p, int i, int c) {
  set_bits(&blk<BlockQ2_K>(p).qs[32 * (i / 128) + i % 32], 2 * ((i % 128) / 32), 3, c);
}

PositionLine line_q3_k(const uint8_t* p, int i) {
  const auto& b = blk<BlockQ3_K>(p);
  return scaled(fp16_to_f32(b.d) * (q3_scale(b.scales, i / 16) - 32));
}
// Code = low 2 bits | high bit << 2 (level = code - 4); the high bit is bit 4h + j of hmask[l].
int get_q3_k(const uint8_t* p, int i) {
  const auto& b = blk<BlockQ3_K>(p);
  const int h = i / 128, j = (i % 128) / 32, l = i % 32;
  return get_bits(&b.qs[32 * h + l], 2 * j, 3) | get_bits(&b.hmask[l], 4 * h + j, 1) << 2;
}
void set_q3_k(uint8_t* p, int i, int c) {
  auto& b = blk<BlockQ3_K>(p);
  const int h = i / 128, j = (i % 128) / 32, l = i % 32;
  set_bits(&b.qs[32 * h + l], 2 * j, 3, c);
  set_bits(&b.hmask[l], 4 * h + j, 1, c >> 2);
}

// q4_K / q5_K: element i = 64c + 32k + l is nibble k of qs[32c + l] (q5_K: bit 2c + k of qh[l]).
template <class B>
PositionLine line_k4(const uint8_t* p, int i) {
  const auto& b = blk<B>(p);
  int sc, m;
  unpack_scale_min_k4(i / 32, b.scales, &sc, &m);
  return affine(fp16_to_f32(b.d) * sc, -(fp16_to_f32(b.dmin) * m));
}
template <class B>
int get_k4_nibble(const uint8_t* p, int i) {
  return get_bits(&blk<B>(p).qs[32 * (i / 64) + i % 32], 4 * ((i % 64) / 32), 15);
}
template <class B>
void set_k4_nibble(uint8_t* p, int i, int c) {
  set_bits(&blk<B>(p).qs[32 * (i / 64) + i % 32], 4 * ((i % 64) / 32), 15, c);
}
int get_q5_k(const uint8_t* p, int i) {
  const int bit = 2 * (i / 64) + (i % 64) / 32;
  return get_k4_nibble<BlockQ5_K>(p, i) | get_bits(&blk<BlockQ5_K>(p).qh[i % 32], bit, 1) << 4;
}
void set_q5_k(uint8_t* p, int i, int c) {
  const int bit = 2 * (i / 64) + (i % 64) / 32;
  set_k4_nibble<BlockQ5_K>(p, i, c);
  set_bits(&blk<BlockQ5_K>(p).qh[i % 32], bit, 1, c >> 4);
}

PositionLine line_q6_k(const uint8_t* p, int i) {
  const auto& b = blk<BlockQ6_K>(p);
  return scaled(fp16_to_f32(b.d) * b.scales[i / 16]);
}
// Nibble: low (j < 2) or high (j >= 2) of ql[64h + 32(j % 2) + l]; bits 4..5 at 2j of qh[32h + l].
int get_q6_k(const uint8_t* p, int i) {
  const auto& b = blk<BlockQ6_K>(p);
  const int h = i / 128, j = (i % 128) / 32, l = i % 32;
  return get_bits(&b.ql[64 * h + 32 * (j % 2) + l], 4 * (j / 2), 15) | get_bits(&b.qh[32 * h + l], 2 * j, 3) << 4;
}
void set_q6_k(uint8_t* p, int i, int c) {
  auto& b = blk<BlockQ6_K>(p);
  const int h = i / 128, j = (i % 128) / 32, l = i % 32;
  set_bits(&b.ql[64 * h + 32 * (j % 2) + l], 4 * (j / 2), 15, c);
  set_bits(&b.qh[32 * h + l], 2 * j, 3, c >> 4);
}

// ---- iq4 (blocks/nonlinear_quants.h) and tq2_0 (blocks/ternary_quants.h) ------------------------

PositionLine line_iq4_xs(const uint8_t* p, int i) {
  const auto& b = blk<BlockIQ4_XS>(p);
  const int ib = i / 32;
  const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((b.scales_h >> (2 * ib)) & 3) << 4;
  return scaled(fp16_to_f32(b.d) * static_cast<float>(ls - 32));
}
int get_iq4_xs(const uint8_t* p, int i) { return get_nibble32(blk<BlockIQ4_XS>(p).qs + 16 * (i / 32), i % 32); }
void set_iq4_xs(uint8_t* p, int i, int c) { set_nibble32(blk<BlockIQ4_XS>(p).qs + 16 * (i / 32), i % 32, c); }

PositionLine line_tq2_0(const uint8_t* p, int) { return scaled(fp16_to_f32(blk<BlockTQ2_0>(p).d)); }
int get_tq2_0(const uint8_t* p, int i) {
  return get_bits(&blk<BlockTQ2_0>(p).qs[32 * (i / 128) + i % 32], 2 * ((i % 128) / 32), 3);
}
void set_tq2_0(uint8_t* p, int i, int c) {
  set_bits(&blk<BlockTQ2_0>(p).qs[32 * (i / 128) + i % 32], 2 * ((i % 128) / 32), 3, c);
}

constexpr GridType kGridTypes[] = {
    {TensorType::Q4_0, 32, 16, 8, false, line_sym<BlockQ4_0>, get_q4<BlockQ4_0>, set_q4<BlockQ4_0>},
    {TensorType::Q4_1, 32, 16, 0, false, line_affine<BlockQ4_1>, get_q4<BlockQ4_1>, set_q4<BlockQ4_1>},
    {TensorType::Q5_0, 32, 32, 16, false, line_sym<BlockQ5_0>, get_q5<BlockQ5_0>, set_q5<BlockQ5_0>},
    {TensorType::Q5_1, 32, 32, 0, false, line_affine<BlockQ5_1>, get_q5<BlockQ5_1>, set_q5<BlockQ5_1>},
    // -127..127 like the encoder: a symmetric range keeps sign-flipping dot kernels exact.
    {TensorType::Q8_0, 32, 255, 127, false, line_sym<BlockQ8_0>, get_q8_0, set_q8_0},
    {TensorType::Q2_K, 256, 4, 0, false, line_q2_k, get_q2_k, set_q2_k},
    {TensorType::Q3_K, 256, 8, 4, false, line_q3_k, get_q3_k, set_q3_k},
    {TensorType::Q4_K, 256, 16, 0, false, line_k4<BlockQ4_K>, get_k4_nibble<BlockQ4_K>, set_k4_nibble<BlockQ4_K>},
    {TensorType::Q5_K, 256, 32, 0, false, line_k4<BlockQ5_K>, get_q5_k, set_q5_k},
    {TensorType::Q6_K, 256, 64, 32, false, line_q6_k, get_q6_k, set_q6_k},
    {TensorType::IQ4_NL, 32, 16, 0, true, line_sym<BlockIQ4_NL>, get_q4<BlockIQ4_NL>, set_q4<BlockIQ4_NL>},
    {TensorType::IQ4_XS, 256, 16, 0, true, line_iq4_xs, get_iq4_xs, set_iq4_xs},
    {TensorType::TQ2_0, 256, 3, 1, false, line_tq2_0, get_tq2_0, set_tq2_0},
};

const GridType* find_grid_type(TensorType type) {
  for (const GridType& t : kGridTypes)
    if (t.type == type) return &t;
  return nullptr;
}

float level(const GridType& t, int c) {
  return t.iq4 ? static_cast<float>(kIq4Grid[c]) : static_cast<float>(c - t.offset);
}

// The decoder's expression: a * L (+ b), one rounding per operation (no FMA: generic x86-64 flags).
float eval(const GridType& t, const PositionLine& ln, int c) {
  const float v = ln.a * level(t, c);
  return ln.affine ? v + ln.b : v;
}

// The code whose level is nearest t (ties: the lower code), over the level table.
int nearest_level(const GridType& t, double target) {
  if (!t.iq4) {
    const double c = std::nearbyint(std::clamp(target, -1e6, 1e6)) + t.offset;
    return static_cast<int>(std::clamp(c, 0.0, static_cast<double>(t.n_codes - 1)));
  }
  int best = 0;
  for (int c = 1; c < t.n_codes; ++c)
    if (std::fabs(kIq4Grid[c] - target) < std::fabs(kIq4Grid[best] - target)) best = c;
  return best;
}

}  // namespace

bool BlockGrid::supports(TensorType type) { return find_grid_type(type) != nullptr; }

BlockGrid BlockGrid::for_type(TensorType type) {
  const GridType* t = find_grid_type(type);
  if (t == nullptr) fail("block grid: type ", type_name(type), " has no rounding grid (GPTQ supports q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs tq2_0)");
  BITDIAL_ASSERT(t->block_size == type_info(type).block_size);
  BITDIAL_ASSERT(type_traits(type).quantize_row != nullptr && type_traits(type).dequantize_row != nullptr);
  return BlockGrid(t);
}

TensorType BlockGrid::type() const { return t_->type; }
int BlockGrid::block_size() const { return t_->block_size; }
size_t BlockGrid::block_bytes() const { return type_info(t_->type).block_bytes; }
int BlockGrid::n_codes() const { return t_->n_codes; }

void BlockGrid::choose_scales(const float* x, const float* importance, void* block) const {
  type_traits(t_->type).quantize_row(x, block, t_->block_size, importance);
}

float BlockGrid::code_value(const void* block, int i, int code) const {
  BITDIAL_ASSERT(i >= 0 && i < t_->block_size && code >= 0 && code < t_->n_codes);
  return eval(*t_, t_->line(static_cast<const uint8_t*>(block), i), code);
}

float BlockGrid::value(const void* block, int i) const {
  BITDIAL_ASSERT(i >= 0 && i < t_->block_size);
  const auto* p = static_cast<const uint8_t*>(block);
  return eval(*t_, t_->line(p, i), t_->get(p, i));
}

float BlockGrid::round(void* block, int i, float x) const {
  BITDIAL_ASSERT(i >= 0 && i < t_->block_size);
  auto* p = static_cast<uint8_t*>(block);
  const GridType& t = *t_;
  const PositionLine ln = t.line(p, i);
  // First guess from the real-valued level (x - b) / a; the decoded values are monotone in the code,
  // so the exact nearest is the guess or one of its neighbours once float rounding is accounted for.
  // A zero (or non-finite) scale makes every code decode alike: take the level nearest zero.
  const double target = (ln.a != 0.0f && std::isfinite(ln.a)) ? (static_cast<double>(x) - (ln.affine ? ln.b : 0.0f)) / ln.a : 0.0;
  const int guess = nearest_level(t, std::isfinite(target) ? target : 0.0);
  int best = guess;
  float best_v = eval(t, ln, guess);
  double best_err = std::fabs(static_cast<double>(x) - best_v);
  for (int c : {guess - 1, guess + 1}) {
    if (c < 0 || c >= t.n_codes) continue;
    const float v = eval(t, ln, c);
    const double err = std::fabs(static_cast<double>(x) - v);
    if (err < best_err) best = c, best_v = v, best_err = err;
  }
  t.set(p, i, best);
  return best_v;
}

}  // namespace bitdial
