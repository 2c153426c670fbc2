// AVX2 kernels for q2_K .. q6_K weights against Q8_K activations, the AVX2 Q8_K activation converter,
// and the AVX2 table of the Q8_K family. Codes are decoded to unsigned bytes per 32-value chunk and
// multiplied with maddubs; signed codes (q3_K's -4, q6_K's -32) are offset to unsigned and the offset
// taken back through the activation bsums, as are the affine types' minimums.
#include <immintrin.h>

#include <cstring>

#include "blocks/k_quants.h"
#include "kernels/avx2/kquant_tile_avx2.h"
#include "kernels/dot_families.h"

namespace bitdial {
namespace {

using avx2::scale16;
using avx2::scale32;
using avx2::shift_bits;

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of int8 scales as int16 in both lanes: sub-blocks 0..7 (lo) and 8..15 (hi).
inline void split_scales16(__m128i scales_i8, __m256i* lo, __m256i* hi) {
  *lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(scales_i8));
  *hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(scales_i8, 8)));
}

// q2_K: code = bits 2j..2j+1 of qs[32h + l] for value 128h + 32j + l, so chunk C = 4h + j.
struct Q2K {
  using Block = BlockQ2_K;
  static constexpr bool kScaled = true;
  static constexpr bool kHasMin = true;
  const uint8_t* qs;
  __m256i sc_lo, sc_hi, mins;
  float d, dmin;

  void load(const Block& b) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m128i low4 = _mm_set1_epi8(15);
    split_scales16(_mm_and_si128(raw, low4), &sc_lo, &sc_hi);  // 0..15: signed widening is fine
    mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), low4));
    d = half_to_float(b.d);
    dmin = half_to_float(b.dmin);
    qs = b.qs;
  }
  template <int C>
  __m256i codes() const {
    return _mm256_and_si256(shift_bits<2 * (C % 4)>(load32(qs + 32 * (C / 4))), bytes(3));
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  template <int C>
  __m256i scale() const { return scale16<C>(sc_lo, sc_hi); }
  __m256i finish(__m256i sum, __m256i) const { return sum; }
  __m256i min_sum(__m256i bsums) const { return _mm256_madd_epi16(mins, bsums); }
};

// q3_K: unsigned code u = low 2 bits | high bit << 2 in 0..7 (value u - 4); the high bit of chunk
// C = 4h + j is bit C of hmask[l]. finish() takes 4 * sum_s sc_s * bsum_s back.
struct Q3K {
  using Block = BlockQ3_K;
  static constexpr bool kScaled = true;
  static constexpr bool kHasMin = false;
  const uint8_t* qs;
  const uint8_t* hmask;
  __m256i sc_lo, sc_hi, sc_all;
  float d, dmin;

  // The 12-byte packing (see BlockQ3_K) as four 32-bit words: words 0 and 1 hold the low nibbles of
  // sub-blocks 0..7 (low halves) and 8..15 (high halves); word 2 holds 2 high bits per sub-block.
  void load(const Block& b) {
    uint32_t w[3];
    std::memcpy(w, b.scales, 12);
    const uint32_t nib = 0x0f0f0f0fu, two = 0x03030303u;
    const __m128i sc = _mm_setr_epi32(static_cast<int>((w[0] & nib) | (w[2] & two) << 4),
                                      static_cast<int>((w[1] & nib) | ((w[2] >> 2) & two) << 4),
                                      static_cast<int>(((w[0] >> 4) & nib) | ((w[2] >> 4) & two) << 4),
                                      static_cast<int>(((w[1] >> 4) & nib) | ((w[2] >> 6) & two) << 4));
    const __m128i biased = _mm_sub_epi8(sc, _mm_set1_epi8(32));  // -32..31
    split_scales16(biased, &sc_lo, &sc_hi);
    sc_all = _mm256_cvtepi8_epi16(biased);
    d = half_to_float(b.d);
    dmin = 0.0f;
    qs = b.qs;
    hmask = b.hmask;
  }
  template <int C>
  __m256i codes() const {
    const __m256i low = _mm256_and_si256(shift_bits<2 * (C % 4)>(load32(qs + 32 * (C / 4))), bytes(3));
    const __m256i high = _mm256_and_si256(shift_bits<C - 2>(load32(hmask)), bytes(4));
    return _mm256_or_si256(low, high);
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  template <int C>
  __m256i scale() const { return scale16<C>(sc_lo, sc_hi); }
  __m256i finish(__m256i sum, __m256i bsums) const {
    return _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(sc_all, bsums), 2));
  }
  __m256i min_sum(__m256i) const { return _mm256_setzero_si256(); }
};

// q4_K / q5_K: chunk C = 2c + k is nibble k of qs[32c + l] (plus bit C of qh[l] as bit 4 for q5_K),
// sub-block C. The 6-bit scales and mins are unpacked with word operations (see BlockQ4_K):
//   sc[0..3] = w0 & 63, m[0..3] = w1 & 63,
//   sc[4..7] = (w2 & 15) | (w0 >> 6) << 4, m[4..7] = (w2 >> 4) | (w1 >> 6) << 4   (bytewise).
template <bool kFifthBit>
struct AffineK4 {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  static constexpr bool kScaled = true;
  static constexpr bool kHasMin = true;
  const uint8_t* qs;
  const uint8_t* qh;
  __m256i scales, mins;
  float d, dmin;

  void load(const Block& b) {
    uint32_t w[3];
    std::memcpy(w, b.scales, 12);
    const uint32_t six = 0x3f3f3f3fu, nib = 0x0f0f0f0fu, two = 0x03030303u;
    const __m128i v = _mm_setr_epi32(static_cast<int>(w[0] & six),
                                     static_cast<int>((w[2] & nib) | ((w[0] >> 6) & two) << 4),
                                     static_cast<int>(w[1] & six),
                                     static_cast<int>(((w[2] >> 4) & nib) | ((w[1] >> 6) & two) << 4));
    scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
    const __m128i m = _mm_srli_si128(v, 8);
    mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));  // m_s twice: pairs with bsums 2s, 2s + 1
    d = half_to_float(b.d);
    dmin = half_to_float(b.dmin);
    qs = b.qs;
    if constexpr (kFifthBit) qh = b.qh;
  }
  template <int C>
  __m256i codes() const {
    const __m256i nibble = _mm256_and_si256(shift_bits<4 * (C % 2)>(load32(qs + 32 * (C / 2))), bytes(15));
    if constexpr (kFifthBit) {
      return _mm256_or_si256(nibble, _mm256_and_si256(shift_bits<C - 4>(load32(qh)), bytes(16)));
    } else {
      return nibble;
    }
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  template <int C>
  __m256i scale() const { return scale32<C>(scales); }
  __m256i finish(__m256i sum, __m256i) const { return sum; }
  __m256i min_sum(__m256i bsums) const { return _mm256_madd_epi16(mins, bsums); }
};

// q6_K: unsigned code u = nibble | 2 high bits << 4 in 0..63 (value u - 32). Chunk C = 4h + j: the
// nibble is the low (j < 2) or high nibble of ql[64h + 32(j % 2) + l], the high bits are bits
// 2j..2j+1 of qh[32h + l]. finish() takes 32 * sum_s sc_s * bsum_s back.
struct Q6K {
  using Block = BlockQ6_K;
  static constexpr bool kScaled = true;
  static constexpr bool kHasMin = false;
  const uint8_t* ql;
  const uint8_t* qh;
  __m256i sc_lo, sc_hi, sc_all;
  float d, dmin;

  void load(const Block& b) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    split_scales16(raw, &sc_lo, &sc_hi);
    sc_all = _mm256_cvtepi8_epi16(raw);
    d = half_to_float(b.d);
    dmin = 0.0f;
    ql = b.ql;
    qh = b.qh;
  }
  template <int C>
  __m256i codes() const {
    constexpr int h = C / 4, j = C % 4;
    const __m256i low = _mm256_and_si256(shift_bits<4 * (j / 2)>(load32(ql + 64 * h + 32 * (j % 2))), bytes(15));
    const __m256i high = _mm256_and_si256(shift_bits<2 * j - 4>(load32(qh + 32 * h)), bytes(0x30));
    return _mm256_or_si256(low, high);
  }
  static __m256i mul(__m256i q, __m256i a) { return _mm256_maddubs_epi16(q, a); }
  template <int C>
  __m256i scale() const { return scale16<C>(sc_lo, sc_hi); }
  __m256i finish(__m256i sum, __m256i bsums) const {
    return _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(sc_all, bsums), 5));
  }
  __m256i min_sum(__m256i) const { return _mm256_setzero_si256(); }
};

const DotKernel kQ2K{ActFormat::Q8_K, avx2::tile<Q2K>};
const DotKernel kQ3K{ActFormat::Q8_K, avx2::tile<Q3K>};
const DotKernel kQ4K{ActFormat::Q8_K, avx2::tile<AffineK4<false>>, packed_tile_q4_k_avx2};
const DotKernel kQ5K{ActFormat::Q8_K, avx2::tile<AffineK4<true>>};
const DotKernel kQ6K{ActFormat::Q8_K, avx2::tile<Q6K>, packed_tile_q6_k_avx2};

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

const DotKernel* avx2_kquant_kernel(TensorType type) {
  switch (type) {
    case TensorType::Q2_K: return &kQ2K;
    case TensorType::Q3_K: return &kQ3K;
    case TensorType::Q4_K: return &kQ4K;
    case TensorType::Q5_K: return &kQ5K;
    case TensorType::Q6_K: return &kQ6K;
    default: return avx2::iq4_ternary_kernel(type);
  }
}

// Byte-identical to quantize_act_q8k_scalar: the same scalar d and 1 / d, x * id rounded to nearest
// even by _mm256_round_ps, and bsums summed exactly (via sad on the codes biased by +128).
void quantize_act_q8k_avx2(const float* x, uint8_t* out, int64_t n) {
  auto* blocks = reinterpret_cast<ActBlockQ8K*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undoes the packs' lane interleave
  for (int64_t b = 0; b < n / 256; ++b) {
    const float* xb = x + b * 256;
    ActBlockQ8K& blk = blocks[b];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) amax = _mm256_max_ps(amax, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * i), abs_mask));
    const float d = hmax(amax) / 127.0f;
    const float id = d >= kMinActScale ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    for (int c = 0; c < 8; ++c) {
      __m256i q32[4];
      for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + 32 * c + 8 * k), vid);
        q32[k] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
      const __m256i q16a = _mm256_packs_epi32(q32[0], q32[1]);
      const __m256i q16b = _mm256_packs_epi32(q32[2], q32[3]);
      const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs + 32 * c), q8);
      // sad gives four sums of 8 biased bytes; a sub-block of 16 is two of them, minus 16 * 128.
      const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q8, _mm256_set1_epi8(static_cast<char>(0x80))),
                                          _mm256_setzero_si256());
      const __m256i pairs = _mm256_add_epi64(sad, _mm256_srli_si256(sad, 8));
      blk.bsums[2 * c] = static_cast<int16_t>(_mm256_extract_epi64(pairs, 0) - 2048);
      blk.bsums[2 * c + 1] = static_cast<int16_t>(_mm256_extract_epi64(pairs, 2) - 2048);
    }
    blk.d = d;
  }
}

}  // namespace bitdial
