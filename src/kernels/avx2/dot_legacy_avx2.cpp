// AVX2 dot kernels for the 32-value block types (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl) against Q8
// activations, and the AVX2 Q8 activation converter. Weight codes times activation codes go through
// _mm256_maddubs_epi16 in register tiles of several rows x several tokens (kernels/dot_kernel.h).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "blocks/legacy_quants.h"
#include "blocks/nonlinear_quants.h"
#include "kernels/dot_families.h"

namespace bitdial {
namespace {

// ---- Weight codes: the 32 codes of one block as bytes, in value order (the order of ActBlockQ8::qs).

// Low nibbles of qs[0..15] are values 0..15, high nibbles values 16..31.
inline __m256i nibble_codes(const uint8_t* qs) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(0x0f));
}

// 0x10 in byte j where bit j of the little-endian word qh is set (bit 4 of the 5-bit codes).
inline __m256i high_bit_codes(const uint8_t* qh) {
  int32_t bits;
  std::memcpy(&bits, qh, 4);
  // Byte j receives byte j / 8 of the word, then keeps only bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(bits),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i hit = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
  return _mm256_and_si256(hit, _mm256_set1_epi8(0x10));
}

// Per-type policy. kSigned: codes are signed weights (multiplied with the sign trick), else unsigned
// codes 0..31. The dot of a block is (d d_a) sum(code * a) + kOffsetFactor * c s_a, where the
// offset coefficient c is the block's min m (kHasMin) or its scale d (kOffsetFactor -8 for q4_0's
// codes - 8, -16 for q5_0), and absent when kOffsetFactor is 0.
struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr bool kSigned = false, kHasMin = false;
  static constexpr float kOffsetFactor = -8.0f;
  static __m256i codes(const Block& b) { return nibble_codes(b.qs); }
};

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr bool kSigned = false, kHasMin = true;
  static constexpr float kOffsetFactor = 1.0f;
  static __m256i codes(const Block& b) { return nibble_codes(b.qs); }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr bool kSigned = false, kHasMin = false;
  static constexpr float kOffsetFactor = -16.0f;
  static __m256i codes(const Block& b) { return _mm256_or_si256(nibble_codes(b.qs), high_bit_codes(b.qh)); }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr bool kSigned = false, kHasMin = true;
  static constexpr float kOffsetFactor = 1.0f;
  static __m256i codes(const Block& b) { return _mm256_or_si256(nibble_codes(b.qs), high_bit_codes(b.qh)); }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr bool kSigned = true, kHasMin = false;
  static constexpr float kOffsetFactor = 0.0f;
  static __m256i codes(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
};

struct Iq4Nl {
  using Block = BlockIQ4_NL;
  static constexpr bool kSigned = true, kHasMin = false;
  static constexpr float kOffsetFactor = 0.0f;
  // The nibbles index the 16-entry grid with a byte shuffle (the same table in both 128-bit lanes).
  static __m256i codes(const Block& b) {
    const __m128i grid = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4Grid));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(grid), nibble_codes(b.qs));
  }
};

// ---- Tiles.

// Rows x tokens of one register tile: 12 float accumulators of the 16 ymm registers, each decoded
// weight block used for 3 tokens and each activation block for 4 rows. Token generation (one
// token) streams one row at a time with a software prefetch: measured on llama-1b q4_0, 1 thread,
// 1 row gave 18-19 tokens/s against 8-14 for 2, 4 or 8 interleaved rows.
constexpr int kTileRows = 4;
constexpr int kTileTokens = 3;
constexpr int kGemvRows = 1;
// Activation rows are taken in chunks of about this many bytes, so that they stay in L2 while each
// group of weight rows passes over them.
constexpr int64_t kActChunkBytes = 192 * 1024;

// How far ahead of the block being decoded the token-generation kernel prefetches its weights.
constexpr int64_t kPrefetchBytes = 256;

// Fixed reduction order, shared by every tile shape.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// sum_b c[b] s[b] over buffers zero-padded to a multiple of 8, in 8 lanes then hsum.
inline float dot_padded(const float* c, const float* s, int64_t nb8) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb8; b += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(c + b), _mm256_loadu_ps(s + b), acc);
  return hsum(acc);
}

// Per-thread buffers reused across calls (tiles run concurrently on matmul's threads).
struct Scratch {
  std::vector<float> wd;       // [row of group][nb8] weight scales d, zero-padded
  std::vector<float> wc;       // [row of group][nb8] offset coefficients (m) for the _1 types
  std::vector<float> scales;   // [row][token of tile][nb8] products d_w d_a of one tile
  std::vector<uint8_t> codes;  // [row of group][nb][32] decoded codes
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// What one micro-kernel call reads. Rows and tokens are relative to the group and chunk buffers.
struct MicroArgs {
  int64_t nb, nb8;
  const uint8_t* const* rows;     // RM weight row pointers
  const ActBlockQ8* const* acts;  // RN activation rows
  float* wd;                      // scales of the group's rows, row stride nb8 (zero-padded)
  float* wc;                      // offset coefficients (wd, or the mins), row stride nb8
  const float* const* as;         // RN activation-sum rows (nb8 each)
  const float* const* ad;         // RN activation-scale rows (nb8 each), predecoded tiles only
  float* scales;                  // room for RM * RN * nb8 floats, predecoded tiles only
  // The group's decoded codes and scales (prepared once for many tokens), or null: the kernel
  // decodes in the loop and writes wd / wc itself as it streams the rows (token generation).
  const uint8_t* codes;
  float* y;                       // y[t * ldy + r] for the tile's (r, t)
  int64_t ldy;
};

// The RM x RN register tile. Every (r, t) goes through the same operations in the same order
// whatever RM, RN and kPredecoded are (decoding is exact integer work, d_w d_a is one rounded
// product wherever it is computed), so results do not depend on the tile shape: per block,
// acc += float(madd(maddubs(codes, a), 1)) * (d_w d_a) in 8 lanes.
template <class T, int RM, int RN, bool kPredecoded>
void micro(const MicroArgs& m) {
  using Block = typename T::Block;
  const int64_t nb = m.nb, nb8 = m.nb8;
  // Local copies: the code loads below may alias anything, which would otherwise force these (and
  // the accumulators) back to memory on every block. Fully unrolled loops keep acc in registers.
  const Block* rows[RM];
  const ActBlockQ8* acts[RN];
#pragma GCC unroll 8
  for (int r = 0; r < RM; ++r) rows[r] = reinterpret_cast<const Block*>(m.rows[r]);
#pragma GCC unroll 8
  for (int t = 0; t < RN; ++t) acts[t] = m.acts[t];
  const uint8_t* codes = m.codes;
  float* wd = m.wd;
  float* wc = m.wc;
  // Predecoded tiles take the scale products from a table made here, 8 blocks per multiply,
  // rather than one multiply per row, token and block in the loop.
  float* scales = m.scales;
  if constexpr (kPredecoded) {
    for (int r = 0; r < RM; ++r)
      for (int t = 0; t < RN; ++t)
        for (int64_t b = 0; b < nb8; b += 8)
          _mm256_storeu_ps(scales + (r * RN + t) * nb8 + b,
                           _mm256_mul_ps(_mm256_loadu_ps(wd + r * nb8 + b), _mm256_loadu_ps(m.ad[t] + b)));
  }
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[RM][RN];
#pragma GCC unroll 8
  for (int r = 0; r < RM; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < RN; ++t) acc[r][t] = _mm256_setzero_ps();

  for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 8
    for (int r = 0; r < RM; ++r) {
      __m256i w;
      [[maybe_unused]] __m256 dw;
      if constexpr (kPredecoded) {
        w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + (r * nb + b) * 32));
      } else {
        const Block& blk = rows[r][b];
        // Weights stream from memory once per token: ask for them kPrefetchBytes ahead.
        _mm_prefetch(reinterpret_cast<const char*>(&blk) + kPrefetchBytes, _MM_HINT_T0);
        w = T::codes(blk);
        dw = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<int16_t>(blk.d)));
        _mm_store_ss(wd + r * nb8 + b, _mm256_castps256_ps128(dw));
        if constexpr (T::kHasMin) wc[r * nb8 + b] = _cvtsh_ss(blk.m);
      }
      // maddubs wants an unsigned left operand: signed codes give |w| there and their sign to a.
      const __m256i wu = T::kSigned ? _mm256_sign_epi8(w, w) : w;
#pragma GCC unroll 8
      for (int t = 0; t < RN; ++t) {
        const ActBlockQ8& ab = acts[t][b];
        __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.qs));
        if constexpr (T::kSigned) av = _mm256_sign_epi8(av, w);
        // Pairs of products fit int16: |code| <= 31 (unsigned) or 128 (signed), |a| <= 127.
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wu, av), ones);
        __m256 scale;
        if constexpr (kPredecoded) scale = _mm256_broadcast_ss(scales + (r * RN + t) * nb8 + b);
        else scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(&ab.d));
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[r][t]);
      }
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < RN; ++t) {
      float v = hsum(acc[r][t]);
      if constexpr (T::kOffsetFactor != 0.0f)
        v = std::fma(T::kOffsetFactor, dot_padded(wc + r * nb8, m.as[t], nb8), v);
      m.y[t * m.ldy + r] = v;
    }
  }
}

using MicroFn = void (*)(const MicroArgs&);

template <class T, int RM, bool kPredecoded, int... Tokens>
constexpr std::array<MicroFn, sizeof...(Tokens)> micro_row(std::integer_sequence<int, Tokens...>) {
  return {&micro<T, RM, Tokens + 1, kPredecoded>...};
}

// kGemm[rm - 1][rn - 1]: predecoded tiles; kGemv[rm - 1]: one token, codes decoded in the loop.
template <class T>
struct MicroTable {
  template <int... Rows>
  static constexpr std::array<std::array<MicroFn, kTileTokens>, sizeof...(Rows)> gemm(
      std::integer_sequence<int, Rows...>) {
    return {micro_row<T, Rows + 1, true>(std::make_integer_sequence<int, kTileTokens>())...};
  }
  template <int... Rows>
  static constexpr std::array<MicroFn, sizeof...(Rows)> gemv(std::integer_sequence<int, Rows...>) {
    return {&micro<T, Rows + 1, 1, false>...};
  }
  static constexpr auto kGemm = gemm(std::make_integer_sequence<int, kTileRows>());
  static constexpr auto kGemv = gemv(std::make_integer_sequence<int, kGemvRows>());
};

// Loop order: token chunks (L2-sized), then groups of rows (their codes decoded once per chunk and
// reused by every token tile), then register tiles of tokens. One token: groups of kGemvRows rows stream through the
// in-loop decoding kernel, touching each weight byte once.
template <class T>
void dot_tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride,
              int64_t nt, float* y, int64_t ldy) {
  using Block = typename T::Block;
  const int64_t nb = n / 32, nb8 = (nb + 7) / 8 * 8;
  const int64_t chunk = std::max<int64_t>(
      kTileTokens, kActChunkBytes / (nb * static_cast<int64_t>(sizeof(ActBlockQ8))) / kTileTokens * kTileTokens);
  const auto grow = [](auto& v, int64_t size) {
    if (v.size() < static_cast<size_t>(size)) v.resize(static_cast<size_t>(size));
  };
  Scratch& s = scratch();
  grow(s.wd, std::max(kTileRows, kGemvRows) * nb8);
  if (T::kHasMin) grow(s.wc, std::max(kTileRows, kGemvRows) * nb8);
  if (nt > 1) {
    grow(s.scales, kTileRows * kTileTokens * nb8);
    grow(s.codes, kTileRows * nb * 32);
  }

  const uint8_t* rows[std::max(kTileRows, kGemvRows)];
  const ActBlockQ8* acts[kTileTokens];
  const float* as[kTileTokens] = {};
  const float* ad[kTileTokens] = {};
  MicroArgs m{nb, nb8, rows, acts, s.wd.data(), T::kHasMin ? s.wc.data() : s.wd.data(), as, ad, s.scales.data(),
              nullptr, nullptr, ldy};

  for (int64_t t0 = 0; t0 < nt; t0 += chunk) {
    const int64_t tc = std::min(chunk, nt - t0);
    const bool gemv = tc == 1;
    const int64_t group_rows = gemv ? kGemvRows : kTileRows;
    m.codes = gemv ? nullptr : s.codes.data();
    for (int64_t r0 = 0; r0 < nr; r0 += group_rows) {
      const int64_t rm = std::min(group_rows, nr - r0);
      for (int64_t r = 0; r < rm; ++r) {
        rows[r] = w + static_cast<size_t>(r0 + r) * w_stride;
        const auto* blocks = reinterpret_cast<const Block*>(rows[r]);
        float* wd = m.wd + r * nb8;
        float* wc = m.wc + r * nb8;
        std::fill(wd + nb, wd + nb8, 0.0f);
        std::fill(wc + nb, wc + nb8, 0.0f);
        if (gemv) continue;  // the gemv kernel fills wd / wc as it goes
        for (int64_t b = 0; b < nb; ++b) wd[b] = _cvtsh_ss(blocks[b].d);
        if constexpr (T::kHasMin)
          for (int64_t b = 0; b < nb; ++b) wc[b] = _cvtsh_ss(blocks[b].m);
        uint8_t* codes = s.codes.data() + r * nb * 32;
        for (int64_t b = 0; b < nb; ++b)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + b * 32), T::codes(blocks[b]));
      }
      for (int64_t tt = 0; tt < tc; tt += kTileTokens) {
        const int64_t rn = std::min<int64_t>(kTileTokens, tc - tt);
        for (int64_t t = 0; t < rn; ++t) {
          const uint8_t* row = a + static_cast<size_t>(t0 + tt + t) * a_stride;
          acts[t] = reinterpret_cast<const ActBlockQ8*>(row);
          as[t] = act_q8_sums(row, nb);  // the row's zero-padded d and s arrays (kernels/dot_kernel.h)
          ad[t] = act_q8_scales(row, nb);
        }
        m.y = y + (t0 + tt) * ldy + r0;
        if (gemv) MicroTable<T>::kGemv[rm - 1](m);
        else MicroTable<T>::kGemm[rm - 1][rn - 1](m);
      }
    }
  }
}

const DotKernel kQ4_0{ActFormat::Q8, dot_tile<Q4_0>, packed_tile_q4_0_avx2};
const DotKernel kQ4_1{ActFormat::Q8, dot_tile<Q4_1>};
const DotKernel kQ5_0{ActFormat::Q8, dot_tile<Q5_0>};
const DotKernel kQ5_1{ActFormat::Q8, dot_tile<Q5_1>};
const DotKernel kQ8_0{ActFormat::Q8, dot_tile<Q8_0>, packed_tile_q8_0_avx2};
const DotKernel kIq4Nl{ActFormat::Q8, dot_tile<Iq4Nl>};

}  // namespace

const DotKernel* avx2_legacy_kernel(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return &kQ4_0;
    case TensorType::Q4_1: return &kQ4_1;
    case TensorType::Q5_0: return &kQ5_0;
    case TensorType::Q5_1: return &kQ5_1;
    case TensorType::Q8_0: return &kQ8_0;
    case TensorType::IQ4_NL: return &kIq4Nl;
    default: return nullptr;
  }
}

// Same bytes as quantize_act_q8_scalar: max is exact in any order (and _mm256_max_ps(|x|, m)
// keeps m for a NaN x, as fmax does), d and 1/d are the same scalar divisions, x * (1/d) is one
// rounded product, _mm256_round_ps rounds ties to even like nearbyintf, the code sum is exact.
void quantize_act_q8_avx2(const float* x, uint8_t* out, int64_t n) {
  auto* blocks = reinterpret_cast<ActBlockQ8*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // packs interleaves 4-value groups of its inputs per 128-bit lane; this puts them back in order.
  const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      amax = _mm256_max_ps(_mm256_and_ps(v[i], abs_mask), amax);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d >= kMinActScale ? 1.0f / d : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[i], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i sum4 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(sum4), _mm256_extracti128_si256(sum4, 1));
    sum = _mm_add_epi32(sum, _mm_unpackhi_epi64(sum, sum));
    sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 1));
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    ActBlockQ8& blk = blocks[b];
    blk.d = d;
    blk.s = d * static_cast<float>(_mm_cvtsi128_si32(sum));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs), _mm256_permutevar8x32_epi32(packed, unshuffle));
  }
  finish_act_q8_row(out, n / 32);
}

}  // namespace bitdial
