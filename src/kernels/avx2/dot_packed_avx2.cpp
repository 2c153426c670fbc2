// AVX2 dot kernels for q4_0 and q8_0 weights packed 8 rows at a time (kernels/packed_rows.h)
// against Q8 activations, and for packed q4_K and q6_K against Q8_K activations. Each 32-byte
// register holds 4 codes of each of 8 rows, the activation's matching 4 codes are broadcast to all 8
// lanes, and after a block lane r holds row r's exact integer dot product: one convert and one FMA
// serve 8 rows. The plain kernels (dot_legacy_avx2.cpp, dot_kquant_avx2.cpp) need both per row,
// plus a horizontal sum at the end.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/dot_families.h"
#include "kernels/packed_rows.h"

namespace bitdial {
namespace {

// Tokens per register tile: RN float accumulators, RN int16 or int32 partial sums, 4 weight
// registers. 4 fits the 16 ymm registers.
constexpr int kPackedTokens = 4;
// How far ahead of the block being decoded the one-token kernel prefetches its weights. On the
// 2-core EPYC VM, 512 to 3072 gave the same decode speed when the machine read ~34 GB/s; when it
// read ~60 GB/s, 1536 decoded q4_0 at 61-64 t/s against 54-55 at 512 (bitdial bench, tg128).
constexpr int64_t kPrefetchBytes = 1536;
// Activation rows are taken in chunks of about this many bytes so they stay in L2 while the
// groups of weight rows pass over them.
constexpr int64_t kActChunkBytes = 192 * 1024;

// Asks for the weight bytes kPrefetchBytes past a block, one request per cache line of its size:
// consecutive blocks then cover every line of the stream.
template <class Block>
inline void prefetch_ahead(const Block& blk) {
  const char* p = reinterpret_cast<const char*>(&blk) + kPrefetchBytes;
  for (size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

inline __m256i broadcast_4_codes(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

struct Tile {
  int64_t nb;
  const uint8_t* group;          // the packed group's nb blocks
  const ActBlockQ8* acts[kPackedTokens];
  const float* ad[kPackedTokens];    // the activation rows' scales (act_q8_scales)
  const int32_t* aq[kPackedTokens];  // and code sums (act_q8_code_sums)
  float* y;                      // y[t * ldy + r], r < 8
  int64_t ldy;
};

// q4_0: per block and token, sum over the 8 code groups of maddubs(codes, activation) in int16
// (each lane adds 8 pairs of at most 15 * 127, |sum| <= 30480, no overflow), one madd to int32,
// minus 8 * (sum of the activation codes) for the codes' offset of 8 - exact integers throughout -,
// then acc += float(sum) * (d_w d_a). Every lane goes through the same steps in the same order
// whatever RN is, so a row's result does not depend on the tile shape or the batch.
template <int RN, bool kPrefetch>
void micro_q4_0(const Tile& m) {
  const auto* blocks = reinterpret_cast<const BlockQ4_0x8*>(m.group);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < m.nb; ++b) {
    const BlockQ4_0x8& blk = blocks[b];
    if constexpr (kPrefetch) prefetch_ahead(blk);
    __m256i sum[RN];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256i p0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 64 * h));
      const __m256i p1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 64 * h + 32));
      const __m256i w0 = _mm256_and_si256(p0, low);
      const __m256i w1 = _mm256_and_si256(_mm256_srli_epi16(p0, 4), low);
      const __m256i w2 = _mm256_and_si256(p1, low);
      const __m256i w3 = _mm256_and_si256(_mm256_srli_epi16(p1, 4), low);
#pragma GCC unroll 4
      for (int t = 0; t < RN; ++t) {
        const int8_t* a = m.acts[t][b].qs + 16 * h;
        const __m256i s01 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, broadcast_4_codes(a)),
                                             _mm256_maddubs_epi16(w1, broadcast_4_codes(a + 4)));
        const __m256i s23 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, broadcast_4_codes(a + 8)),
                                             _mm256_maddubs_epi16(w3, broadcast_4_codes(a + 12)));
        const __m256i s = _mm256_add_epi16(s01, s23);
        sum[t] = h == 0 ? s : _mm256_add_epi16(sum[t], s);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
#pragma GCC unroll 4
    for (int t = 0; t < RN; ++t) {
      const __m256i offset = _mm256_slli_epi32(_mm256_set1_epi32(m.aq[t][b]), 3);
      const __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(sum[t], ones), offset);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(dw, _mm256_set1_ps(m.ad[t][b])), acc[t]);
    }
  }
  for (int t = 0; t < RN; ++t) _mm256_storeu_ps(m.y + t * m.ldy, acc[t]);
}

// q8_0: signed codes, so maddubs gets |w| and the activation takes w's sign (|w| <= 128,
// |a| <= 127: a pair is at most 32512 and fits int16), each group's pairs go to int32 at once.
template <int RN, bool kPrefetch>
void micro_q8_0(const Tile& m) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0x8*>(m.group);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < m.nb; ++b) {
    const BlockQ8_0x8& blk = blocks[b];
    if constexpr (kPrefetch) prefetch_ahead(blk);
    __m256i sum[RN];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * k));
      const __m256i wu = _mm256_sign_epi8(w, w);
#pragma GCC unroll 4
      for (int t = 0; t < RN; ++t) {
        const __m256i a = _mm256_sign_epi8(broadcast_4_codes(m.acts[t][b].qs + 4 * k), w);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wu, a), ones);
        sum[t] = k == 0 ? p : _mm256_add_epi32(sum[t], p);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
#pragma GCC unroll 4
    for (int t = 0; t < RN; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(m.ad[t][b])), acc[t]);
  }
  for (int t = 0; t < RN; ++t) _mm256_storeu_ps(m.y + t * m.ldy, acc[t]);
}

using MicroFn = void (*)(const Tile&);

template <class Policy>
void packed_tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride,
                 int64_t nt, float* y, int64_t ldy) {
  const int64_t nb = n / 32;
  const int64_t row_bytes = static_cast<int64_t>(a_stride);
  const int64_t chunk =
      std::max<int64_t>(kPackedTokens, kActChunkBytes / row_bytes / kPackedTokens * kPackedTokens);
  Tile m{};
  m.nb = nb;
  m.ldy = ldy;
  for (int64_t t0 = 0; t0 < nt; t0 += chunk) {
    const int64_t tc = std::min(chunk, nt - t0);
    for (int64_t r0 = 0; r0 < nr; r0 += kPackedRows) {
      m.group = w + static_cast<size_t>(r0 / kPackedRows) * w_stride;
      for (int64_t tt = 0; tt < tc; tt += kPackedTokens) {
        const int64_t rn = std::min<int64_t>(kPackedTokens, tc - tt);
        for (int64_t t = 0; t < rn; ++t) {
          const uint8_t* row = a + static_cast<size_t>(t0 + tt + t) * a_stride;
          m.acts[t] = reinterpret_cast<const ActBlockQ8*>(row);
          m.ad[t] = act_q8_scales(row, nb);
          m.aq[t] = act_q8_code_sums(row, nb);
        }
        m.y = y + (t0 + tt) * ldy + r0;
        Policy::kMicro[rn - 1](m);
      }
    }
  }
}

struct PackedQ4_0 {
  // One token streams its weights once: the prefetching variant.
  static constexpr std::array<MicroFn, kPackedTokens> kMicro{&micro_q4_0<1, true>, &micro_q4_0<2, false>,
                                                            &micro_q4_0<3, false>, &micro_q4_0<4, false>};
};
struct PackedQ8_0 {
  static constexpr std::array<MicroFn, kPackedTokens> kMicro{&micro_q8_0<1, true>, &micro_q8_0<2, false>,
                                                            &micro_q8_0<3, false>, &micro_q8_0<4, false>};
};

// ---- q4_K and q6_K against Q8_K activations.

template <class Block>
struct TileK {
  int64_t nb;
  const Block* group;
  const ActBlockQ8K* acts[kPackedTokens];
  float* y;
  int64_t ldy;
};

// The 4 int16 pairs (bs(2p), bs(2p+1)) of a Q8_K block's 32-value sums bs(s) = bsums[2s] + bsums[2s+1],
// each broadcast to all lanes: pair p for madd with the weights' min pairs.
inline void sub_block_sum_pairs(const ActBlockQ8K& a, __m256i out[4]) {
  const __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)),
                                       _mm256_set1_epi16(1));  // int32 bs(0..3) | bs(4..7)
  // packs works within 128-bit lanes: dwords 0, 1 of the low lane are (bs0, bs1), (bs2, bs3); of the
  // high lane (bs4, bs5), (bs6, bs7). Every |bs| <= 32 * 127 fits int16.
  const __m256i pairs = _mm256_packs_epi32(bs, bs);
  out[0] = _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(0));
  out[1] = _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(1));
  out[2] = _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(4));
  out[3] = _mm256_permutevar8x32_epi32(pairs, _mm256_set1_epi32(5));
}

// Per block and token: for each sub-block s, the 8 maddubs of its 4 code groups summed in int16 (at
// most 8 * 2 * 15 * 127 = 30480), then madd with the rows' scales sc(r, s) (both int16 halves of
// lane r hold it) to int32 and summed over s (at most 8 * 63 * 60960 < 2^31); the mins' term
// sum_s m(r, s) bs(s) by madd of the min pairs with the activation's sum pairs. Then
// acc += float(sum) (d_r d_a) - float(min term) (dmin_r d_a). Same steps for every tile shape.
template <int RN, bool kPrefetch>
void micro_q4_k(const TileK<BlockQ4_Kx8>& m) {
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < m.nb; ++b) {
    const BlockQ4_Kx8& blk = m.group[b];
    __m256i isum[RN];
#pragma GCC unroll 1
    for (int s = 0; s < 8; ++s) {
      if constexpr (kPrefetch)
        for (int k = 0; k < 2; ++k)
          _mm_prefetch(reinterpret_cast<const char*>(blk.qs + 128 * s) + kPrefetchBytes + 64 * k, _MM_HINT_T0);
      __m256i sum16[RN];
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * (4 * s + g)));
        const __m256i w0 = _mm256_and_si256(p, low);
        const __m256i w1 = _mm256_and_si256(_mm256_srli_epi16(p, 4), low);
#pragma GCC unroll 4
        for (int t = 0; t < RN; ++t) {
          const int8_t* a = m.acts[t][b].qs + 32 * s + 8 * g;
          const __m256i v = _mm256_add_epi16(_mm256_maddubs_epi16(w0, broadcast_4_codes(a)),
                                             _mm256_maddubs_epi16(w1, broadcast_4_codes(a + 4)));
          sum16[t] = g == 0 ? v : _mm256_add_epi16(sum16[t], v);
        }
      }
      const __m256i sc32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.sc[s])));
      const __m256i sc = _mm256_or_si256(sc32, _mm256_slli_epi32(sc32, 16));
#pragma GCC unroll 4
      for (int t = 0; t < RN; ++t) {
        const __m256i v = _mm256_madd_epi16(sum16[t], sc);
        isum[t] = s == 0 ? v : _mm256_add_epi32(isum[t], v);
      }
    }
    __m256i mins[4];
    for (int p = 0; p < 4; ++p) mins[p] = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.m[p])));
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.dmin)));
#pragma GCC unroll 4
    for (int t = 0; t < RN; ++t) {
      const ActBlockQ8K& a = m.acts[t][b];
      __m256i pairs[4];
      sub_block_sum_pairs(a, pairs);
      const __m256i msum = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(mins[0], pairs[0]), _mm256_madd_epi16(mins[1], pairs[1])),
                                            _mm256_add_epi32(_mm256_madd_epi16(mins[2], pairs[2]), _mm256_madd_epi16(mins[3], pairs[3])));
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc[t]);
    }
  }
  for (int t = 0; t < RN; ++t) _mm256_storeu_ps(m.y + t * m.ldy, acc[t]);
}

// q6_K, per block and token, for each sub-block s: its 4 code vectors (0..63) from 3 loads; maddubs of
// 2 code vectors summed in int16 (at most 2 * 2 * 63 * 128 = 32256; 4 would overflow), each of the 2
// sums madd with the rows' scale sc(r, s) (in both int16 halves of lane r) to int32. The codes' offset
// of 32 is taken off per pair of sub-blocks by madd of the rows' scale pairs times 32 (|32 sc| <= 4096
// fits int16) with the activation's 16-value sum pair (bsums[2p], bsums[2p + 1]). All exact: a partial
// sum is at most 256 * 63 * 128 * 128 + 32 * 16 * 128 * 2048 = 398M < 2^31 in magnitude. Then
// acc += float(sum) (d_r d_a): the same steps for every tile shape. No software prefetch: a group's
// blocks are read front to back as one stream, which the hardware prefetcher follows (one token,
// 4096 and 16384 rows x 4096: prefetching 512 to 4096 bytes ahead was not faster).
template <int RN>
void micro_q6_k(const TileK<BlockQ6_Kx8>& m) {
  const __m256i six = _mm256_set1_epi8(0x3f);
  // vpshufb controls (byte indices within each 128-bit lane) that copy the low / high int16 of every
  // int32 lane into both its halves.
  const __m256i pick_lo = _mm256_setr_epi32(0x01000100, 0x05040504, 0x09080908, 0x0d0c0d0c, 0x01000100, 0x05040504,
                                            0x09080908, 0x0d0c0d0c);
  const __m256i pick_hi = _mm256_setr_epi32(0x03020302, 0x07060706, 0x0b0a0b0a, 0x0f0e0f0e, 0x03020302, 0x07060706,
                                            0x0b0a0b0a, 0x0f0e0f0e);
  __m256 acc[RN];
  for (int t = 0; t < RN; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < m.nb; ++b) {
    const BlockQ6_Kx8& blk = m.group[b];
    __m256i isum[RN];
#pragma GCC unroll 1
    for (int p = 0; p < 8; ++p) {
      const __m256i sc_pair = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.sc[p])));
      const __m256i offset_sc = _mm256_slli_epi16(sc_pair, 5);
#pragma GCC unroll 4
      for (int t = 0; t < RN; ++t) {
        int32_t bs;
        std::memcpy(&bs, m.acts[t][b].bsums + 2 * p, 4);
        const __m256i v = _mm256_madd_epi16(offset_sc, _mm256_set1_epi32(bs));
        isum[t] = p == 0 ? _mm256_sub_epi32(_mm256_setzero_si256(), v) : _mm256_sub_epi32(isum[t], v);
      }
#pragma GCC unroll 2
      for (int k = 0; k < 2; ++k) {
        const int s = 2 * p + k;
        const uint8_t* q = blk.q + 96 * s;
        const __m256i ra = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
        const __m256i rb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32));
        const __m256i rc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64));
        const __m256i w0 = _mm256_and_si256(ra, six);
        const __m256i w1 = _mm256_and_si256(rb, six);
        const __m256i w2 = _mm256_and_si256(rc, six);
        // 16-bit shifts: the bits a byte takes over from its neighbour fall outside the masks.
        const __m256i w3 = _mm256_or_si256(
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ra, 2), _mm256_set1_epi8(0x30)),
                            _mm256_and_si256(_mm256_srli_epi16(rb, 4), _mm256_set1_epi8(0x0c))),
            _mm256_and_si256(_mm256_srli_epi16(rc, 6), _mm256_set1_epi8(0x03)));
        const __m256i sc = _mm256_shuffle_epi8(sc_pair, k == 0 ? pick_lo : pick_hi);
#pragma GCC unroll 4
        for (int t = 0; t < RN; ++t) {
          const int8_t* a = m.acts[t][b].qs + 16 * s;
          const __m256i v01 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, broadcast_4_codes(a)),
                                               _mm256_maddubs_epi16(w1, broadcast_4_codes(a + 4)));
          const __m256i v23 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, broadcast_4_codes(a + 8)),
                                               _mm256_maddubs_epi16(w3, broadcast_4_codes(a + 12)));
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(v01, sc), _mm256_madd_epi16(v23, sc)));
        }
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
#pragma GCC unroll 4
    for (int t = 0; t < RN; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(m.acts[t][b].d)), acc[t]);
  }
  for (int t = 0; t < RN; ++t) _mm256_storeu_ps(m.y + t * m.ldy, acc[t]);
}

template <class Block>
using MicroKFn = void (*)(const TileK<Block>&);
constexpr std::array<MicroKFn<BlockQ4_Kx8>, kPackedTokens> kMicroQ4K{&micro_q4_k<1, true>, &micro_q4_k<2, false>,
                                                                    &micro_q4_k<3, false>, &micro_q4_k<4, false>};
constexpr std::array<MicroKFn<BlockQ6_Kx8>, kPackedTokens> kMicroQ6K{&micro_q6_k<1>, &micro_q6_k<2>, &micro_q6_k<3>,
                                                                    &micro_q6_k<4>};

// The tile driver of the Q8_K-activation types: token chunks that stay in L2, groups of 8 rows, then
// register tiles of up to kPackedTokens tokens.
template <class Block>
void packed_tile_k(const std::array<MicroKFn<Block>, kPackedTokens>& micro, int64_t n, const uint8_t* w,
                   size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride, int64_t nt, float* y, int64_t ldy) {
  const int64_t chunk = std::max<int64_t>(
      kPackedTokens, kActChunkBytes / static_cast<int64_t>(a_stride) / kPackedTokens * kPackedTokens);
  TileK<Block> m{};
  m.nb = n / 256;
  m.ldy = ldy;
  for (int64_t t0 = 0; t0 < nt; t0 += chunk) {
    const int64_t tc = std::min(chunk, nt - t0);
    for (int64_t r0 = 0; r0 < nr; r0 += kPackedRows) {
      m.group = reinterpret_cast<const Block*>(w + static_cast<size_t>(r0 / kPackedRows) * w_stride);
      for (int64_t tt = 0; tt < tc; tt += kPackedTokens) {
        const int64_t rn = std::min<int64_t>(kPackedTokens, tc - tt);
        for (int64_t t = 0; t < rn; ++t)
          m.acts[t] = reinterpret_cast<const ActBlockQ8K*>(a + static_cast<size_t>(t0 + tt + t) * a_stride);
        m.y = y + (t0 + tt) * ldy + r0;
        micro[rn - 1](m);
      }
    }
  }
}

}  // namespace

void packed_tile_q4_k_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy) {
  packed_tile_k(kMicroQ4K, n, w, w_stride, nr, a, a_stride, nt, y, ldy);
}

void packed_tile_q6_k_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy) {
  packed_tile_k(kMicroQ6K, n, w, w_stride, nr, a, a_stride, nt, y, ldy);
}

void packed_tile_q4_0_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy) {
  packed_tile<PackedQ4_0>(n, w, w_stride, nr, a, a_stride, nt, y, ldy);
}

void packed_tile_q8_0_avx2(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                           size_t a_stride, int64_t nt, float* y, int64_t ldy) {
  packed_tile<PackedQ8_0>(n, w, w_stride, nr, a, a_stride, nt, y, ldy);
}

}  // namespace bitdial
