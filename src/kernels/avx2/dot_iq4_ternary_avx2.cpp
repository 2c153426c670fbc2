// AVX2 kernels for iq4_xs, tq1_0 and tq2_0 weights against Q8_K activations (the rest of the Q8_K
// family is in dot_kquant_avx2.cpp). iq4_xs looks its grid up with a byte shuffle; ternary trits
// t in 0..2 are multiplied as unsigned codes and sum(a) (from bsums) is taken back for the t - 1.
#include <immintrin.h>

#include <cstring>

#include "blocks/nonlinear_quants.h"
#include "blocks/ternary_quants.h"
#include "kernels/avx2/kquant_tile_avx2.h"

namespace bitdial::avx2 {
namespace {

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

// iq4_xs: sub-block C is chunk C; its 32 codes are the low then the high nibbles of qs[16C .. 16C + 15].
// Grid values are signed (-127..113), so mul() uses maddubs(|g|, a * sign(g)): |g| * |a| <= 127 * 127
// keeps every pair sum below 2^15.
struct IQ4XS {
  using Block = BlockIQ4_XS;
  static constexpr bool kScaled = true;
  static constexpr bool kHasMin = false;
  struct Codes {
    __m256i magnitude;  // |grid value|, unsigned
    __m256i value;      // grid value, signed
  };
  const uint8_t* qs;
  __m256i scales;
  float d, dmin;

  // ls_s = (nibble s of scales_l) | (bits 2s..2s+1 of scales_h) << 4: both spread to one byte per
  // sub-block by shift-and-mask steps that halve the field width each time.
  void load(const Block& b) {
    uint32_t low_word;
    std::memcpy(&low_word, b.scales_l, 4);
    uint64_t lo = low_word;
    lo = (lo | lo << 16) & 0x0000ffff0000ffffull;
    lo = (lo | lo << 8) & 0x00ff00ff00ff00ffull;
    lo = (lo | lo << 4) & 0x0f0f0f0f0f0f0f0full;
    uint64_t hi = b.scales_h;
    hi = (hi | hi << 24) & 0x000000ff000000ffull;
    hi = (hi | hi << 12) & 0x000f000f000f000full;
    hi = (hi | hi << 6) & 0x0303030303030303ull;
    const __m128i ls = _mm_cvtsi64_si128(static_cast<long long>(lo | hi << 4));
    scales = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_sub_epi8(ls, _mm_set1_epi8(32))));
    d = _cvtsh_ss(b.d);
    dmin = 0.0f;
    qs = b.qs;
  }
  template <int C>
  Codes codes() const {
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4Grid)));
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * C)));
    const __m256i index = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), bytes(15));
    const __m256i value = _mm256_shuffle_epi8(grid, index);
    return {_mm256_abs_epi8(value), value};
  }
  static __m256i mul(const Codes& q, __m256i a) {
    return _mm256_maddubs_epi16(q.magnitude, _mm256_sign_epi8(a, q.value));
  }
  template <int C>
  __m256i scale() const { return scale32<C>(scales); }
  __m256i finish(__m256i sum, __m256i) const { return sum; }
  __m256i min_sum(__m256i) const { return _mm256_setzero_si256(); }
};

// Ternary blocks: products summed in int16 lanes (8 chunks * 2 * 2 * 127 < 2^15), then sum(a) is
// subtracted lane-wise through bsums (only the lane total matters: every lane has the same scale d).
inline __m256i ternary_finish(__m256i sum16, __m256i bsums) {
  return _mm256_madd_epi16(_mm256_sub_epi16(sum16, bsums), _mm256_set1_epi16(1));
}

// tq2_0: trit of value 128h + 32k + l is bits 2k..2k+1 of qs[32h + l]: chunk C = 4h + k.
struct TQ2 {
  using Block = BlockTQ2_0;
  static constexpr bool kScaled = false;
  static constexpr bool kHasMin = false;
  const uint8_t* qs;
  float d, dmin;

  void load(const Block& b) {
    d = _cvtsh_ss(b.d);
    dmin = 0.0f;
    qs = b.qs;
  }
  template <int C>
  __m256i codes() const {
    return _mm256_and_si256(shift_bits<2 * (C % 4)>(load32(qs + 32 * (C / 4))), bytes(3));
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  __m256i finish(__m256i sum, __m256i bsums) const { return ternary_finish(sum, bsums); }
  __m256i min_sum(__m256i) const { return _mm256_setzero_si256(); }
};

// tq1_0 (layout on BlockTQ1_0): trit k of byte q is floor(3 * y / 256) with y = q * 3^k mod 256.
// Chunks 0..4 are trit C of qs[0..31]; chunk 5 is trits 0 | 1 of qs[32..47] (low | high lane),
// chunk 6 trits 2 | 3, chunk 7 trit 4 of qs[32..47] | trits 0..3 of qh[0..3] (4 bytes each).
struct TQ1 {
  using Block = BlockTQ1_0;
  static constexpr bool kScaled = false;
  static constexpr bool kHasMin = false;
  const uint8_t* qs;
  uint32_t qh;
  float d, dmin;

  void load(const Block& b) {
    d = _cvtsh_ss(b.d);
    dmin = 0.0f;
    qs = b.qs;
    std::memcpy(&qh, b.qh, 4);
  }
  // v * m mod 256 per byte, with the multiplier m per 16-bit lane: even bytes from the low byte of
  // the 16-bit product, odd bytes from the product of the lane with its even byte cleared.
  static __m256i mul_bytes(__m256i v, __m256i m) {
    const __m256i even = _mm256_and_si256(_mm256_mullo_epi16(v, m), _mm256_set1_epi16(0x00ff));
    const __m256i odd = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi16(static_cast<short>(0xff00))), m);
    return _mm256_or_si256(even, odd);
  }
  // floor(3y / 256) = (y >= 86) + (y >= 171), with the unsigned compares done signed on y - 128.
  static __m256i trit(__m256i y) {
    const __m256i s = _mm256_xor_si256(y, bytes(0x80));
    const __m256i ge86 = _mm256_cmpgt_epi8(s, bytes(85 - 128));
    const __m256i ge171 = _mm256_cmpgt_epi8(s, bytes(170 - 128));
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
  }
  template <int C>
  __m256i codes() const {
    if constexpr (C == 0) {
      return trit(load32(qs));
    } else if constexpr (C < 5) {
      constexpr int kPow3[5] = {1, 3, 9, 27, 81};
      return trit(mul_bytes(load32(qs), _mm256_set1_epi16(kPow3[C])));
    } else {
      const __m128i tail = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 32));
      const __m256i both = _mm256_broadcastsi128_si256(tail);
      if constexpr (C == 5) {
        return trit(mul_bytes(both, _mm256_setr_m128i(_mm_set1_epi16(1), _mm_set1_epi16(3))));
      } else if constexpr (C == 6) {
        return trit(mul_bytes(both, _mm256_setr_m128i(_mm_set1_epi16(9), _mm_set1_epi16(27))));
      } else {
        const __m256i v = _mm256_setr_m128i(tail, _mm_set1_epi32(static_cast<int>(qh)));
        return trit(mul_bytes(v, _mm256_setr_epi16(81, 81, 81, 81, 81, 81, 81, 81, 1, 1, 3, 3, 9, 9, 27, 27)));
      }
    }
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  __m256i finish(__m256i sum, __m256i bsums) const { return ternary_finish(sum, bsums); }
  __m256i min_sum(__m256i) const { return _mm256_setzero_si256(); }
};

const DotKernel kIQ4XS{ActFormat::Q8_K, tile<IQ4XS>};
const DotKernel kTQ1{ActFormat::Q8_K, tile<TQ1>};
const DotKernel kTQ2{ActFormat::Q8_K, tile<TQ2>};

}  // namespace

const DotKernel* iq4_ternary_kernel(TensorType type) {
  switch (type) {
    case TensorType::IQ4_XS: return &kIQ4XS;
    case TensorType::TQ1_0: return &kTQ1;
    case TensorType::TQ2_0: return &kTQ2;
    default: return nullptr;
  }
}

}  // namespace bitdial::avx2
