// The register-blocked AVX2 tile shared by the Q8_K-activation kernels (k-quants, iq4_xs, ternary):
// a micro-kernel over M weight rows x N activation rows that decodes each 32-value chunk of a weight
// block once and multiplies it with N activation rows, templated on a per-type Decoder.
// Internal to kernels/avx2/ (compiled with -mavx2 -mfma -mf16c only).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/dot_kernel.h"

namespace bitdial::avx2 {

// A Decoder D describes one weight type against Q8_K activations:
//   using Block = ...;            the 256-value block struct
//   kScaled:  true  -> chunk products are weighted by scale<C>() (int16) into int32 lanes;
//             false -> products are summed in int16 lanes, all weights 1 (ternary: |sum| < 2^15)
//   kHasMin:  true  -> the block also subtracts (dmin * d_a) * min_sum(bsums)
//   void load(const Block&)                     per-block set-up (scales, d, dmin)
//   template <int C> Codes codes() const        chunk C = values 32C .. 32C + 31
//   static __m256i mul(Codes, __m256i a)        int16 pair sums of code * activation (maddubs)
//   template <int C> __m256i scale() const      (kScaled) int16 multipliers for mul's 16 lanes
//   __m256i finish(__m256i sum, __m256i bsums)  int32 lanes of the block's integer sum
//   __m256i min_sum(__m256i bsums) const        (kHasMin) int32 lanes of sum_s m_s * bsum_s
//   float d, dmin;

// Sum of the 8 lanes, always in this order (the tile contract needs one fixed order).
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Shuffle control that broadcasts int16 element Lo over the low 128-bit lane and Hi over the high one.
// Kept in memory (vpshufb takes its control from memory) rather than built in registers, where GCC
// rebuilds them from immediates in every block once registers run short.
struct alignas(32) ShuffleControl {
  uint8_t bytes[32];
};
constexpr ShuffleControl make_int16_pick(int lo, int hi) {
  ShuffleControl c{};
  for (int i = 0; i < 16; ++i) {
    c.bytes[i] = static_cast<uint8_t>(2 * lo + i % 2);
    c.bytes[16 + i] = static_cast<uint8_t>(2 * hi + i % 2);
  }
  return c;
}
template <int Lo, int Hi>
inline constexpr ShuffleControl kInt16Pick = make_int16_pick(Lo, Hi);

template <int Lo, int Hi>
inline __m256i int16_pick() {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(kInt16Pick<Lo, Hi>.bytes));
}

// Chunk C of a type with 16 sub-blocks of 16 values covers sub-blocks 2C (low lane of mul's output)
// and 2C + 1 (high lane); the halves hold the 8 int16 scales of sub-blocks 0..7 / 8..15 in both lanes.
template <int C>
inline __m256i scale16(__m256i lo_half, __m256i hi_half) {
  return _mm256_shuffle_epi8(C < 4 ? lo_half : hi_half, int16_pick<2 * (C % 4), 2 * (C % 4) + 1>());
}

// Chunk C of a type with 8 sub-blocks of 32 values is sub-block C; `scales` holds 8 int16 in both lanes.
template <int C>
inline __m256i scale32(__m256i scales) {
  return _mm256_shuffle_epi8(scales, int16_pick<C, C>());
}

// Shifts every byte's bits right by R (negative: left) within 16-bit lanes; callers mask afterwards.
template <int R>
inline __m256i shift_bits(__m256i v) {
  if constexpr (R > 0) return _mm256_srli_epi16(v, R);
  else if constexpr (R < 0) return _mm256_slli_epi16(v, -R);
  else return v;
}

// Pins an accumulator to a register after each add. Without it GCC re-associates the integer chunk
// sums of a block into a tree, which keeps every chunk's product live at once and spills them all.
inline void pin(__m256i& v) { asm("" : "+x"(v)); }

template <class F, int... C>
inline void for_chunks(F&& f, std::integer_sequence<int, C...>) {
  (f.template operator()<C>(), ...);
}

// y[t * ldy + r] for r < M, t < N over nb blocks. Every accumulator (r, t) sees the same operations in
// the same order whatever M and N are, so tiles of any shape give bit-identical values.
template <class D, int M, int N>
void micro(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y,
           int64_t ldy) {
  __m256 acc[M][N];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    if constexpr (N == 1) {
      // One token: the weights stream from memory once, so fetch the block after next ahead.
      using Block = typename D::Block;
      for (int r = 0; r < M; ++r)
        for (size_t off = 0; off < sizeof(Block); off += 64)
          _mm_prefetch(reinterpret_cast<const char*>(w + static_cast<size_t>(r) * w_stride + (ib + 2) * sizeof(Block)) + off,
                       _MM_HINT_T0);
    }
    D dec[M];
    for (int r = 0; r < M; ++r)
      dec[r].load(reinterpret_cast<const typename D::Block*>(w + static_cast<size_t>(r) * w_stride)[ib]);
    const ActBlockQ8K* act[N];
    for (int t = 0; t < N; ++t)
      act[t] = reinterpret_cast<const ActBlockQ8K*>(a + static_cast<size_t>(t) * a_stride) + ib;
    __m256i sum[M][N];
    for (auto& row : sum)
      for (auto& v : row) v = _mm256_setzero_si256();
    for_chunks(
        [&]<int C>() {
          for (int r = 0; r < M; ++r) {
            const auto codes = dec[r].template codes<C>();
            if constexpr (D::kScaled) {
              const __m256i sc = dec[r].template scale<C>();
              for (int t = 0; t < N; ++t) {
                const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[t]->qs + 32 * C));
                sum[r][t] = _mm256_add_epi32(sum[r][t], _mm256_madd_epi16(D::mul(codes, av), sc));
                pin(sum[r][t]);
              }
            } else {
              for (int t = 0; t < N; ++t) {
                const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[t]->qs + 32 * C));
                sum[r][t] = _mm256_add_epi16(sum[r][t], D::mul(codes, av));
                pin(sum[r][t]);
              }
            }
          }
        },
        std::make_integer_sequence<int, 8>{});
    for (int r = 0; r < M; ++r) {
      for (int t = 0; t < N; ++t) {
        const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[t]->bsums));
        const __m256 total = _mm256_cvtepi32_ps(dec[r].finish(sum[r][t], bsums));
        acc[r][t] = _mm256_fmadd_ps(total, _mm256_set1_ps(dec[r].d * act[t]->d), acc[r][t]);
        if constexpr (D::kHasMin) {
          const __m256 mins = _mm256_cvtepi32_ps(dec[r].min_sum(bsums));
          acc[r][t] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(dec[r].dmin * act[t]->d), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < M; ++r)
    for (int t = 0; t < N; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

using MicroFn = void (*)(int64_t, const uint8_t*, size_t, const uint8_t*, size_t, float*, int64_t);

// Micro-kernel shapes: 2 rows x 4 tokens when there are several tokens (each decoded chunk feeds 4
// tokens; 8 int32 sums and 8 float accumulators, the most that 16 ymm registers hold next to codes
// and scales); 1 row x 1 token for token generation (nt == 1), which streams weights from memory:
// measured on 4096 x 4096, interleaving several rows' streams was never faster and for q6_K (210-byte
// blocks) 3x slower than reading one row after another.
inline constexpr int kMaxRows = 2;
inline constexpr int kMaxTokens = 4;

template <class D, int... I>
constexpr auto micro_table(std::integer_sequence<int, I...>) {
  return std::array<MicroFn, sizeof...(I)>{&micro<D, I / kMaxTokens + 1, I % kMaxTokens + 1>...};
}

// The DotTileFn for decoder D: walks the nr x nt tile in micro-kernel steps, edges included.
template <class D>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride, int64_t nt,
          float* y, int64_t ldy) {
  static constexpr auto kTable = micro_table<D>(std::make_integer_sequence<int, kMaxRows * kMaxTokens>{});
  const int64_t nb = n / 256;
  const int64_t step_r = nt == 1 ? 1 : kMaxRows;
  const int64_t step_t = nt == 1 ? 1 : kMaxTokens;
  for (int64_t r = 0; r < nr; r += step_r) {
    const int64_t m = std::min(step_r, nr - r);
    for (int64_t t = 0; t < nt; t += step_t) {
      const int64_t k = std::min(step_t, nt - t);
      kTable[(m - 1) * kMaxTokens + (k - 1)](nb, w + static_cast<size_t>(r) * w_stride, w_stride,
                                              a + static_cast<size_t>(t) * a_stride, a_stride, y + t * ldy + r, ldy);
    }
  }
}

// iq4_xs, tq1_0 and tq2_0 kernels (dot_iq4_ternary_avx2.cpp); null for other types.
const DotKernel* iq4_ternary_kernel(TensorType type);

}  // namespace bitdial::avx2
