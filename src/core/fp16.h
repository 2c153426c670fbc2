// IEEE half (binary16) and bfloat16 conversions, bit-exact and portable (no F16C needed).
// f32 -> half/bf16 rounds to nearest, ties to even; NaN stays NaN, overflow becomes infinity.
#pragma once

#include <cstdint>
#include <cstring>

namespace bitdial {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Branch-free so loops over it vectorise. With w = h << 17 (sign shifted out):
// - normal/inf/nan halves: moving exponent+mantissa down 4 bits lands them in binary32 position with the
//   half's bias (15); adding 224 to the exponent field and multiplying by 2^-112 rebiases to 127 exactly
//   (the product is exact: it only changes the exponent).
// - subnormal halves (exponent 0): the 10 mantissa bits OR-ed under the exponent of 0.5 give
//   0.5 + m * 2^-24 exactly; subtracting 0.5 leaves m * 2^-24, the subnormal's value.
inline float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t two_w = static_cast<uint32_t>(h) << 17;
  const float normal = f32_from_bits((two_w >> 4) + (0xE0u << 23)) * f32_from_bits(0x07800000u);  // 2^-112
  const float subnormal = f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
  // Select with a mask, not a branch: a conditional here stops the vectoriser.
  const uint32_t is_subnormal = 0u - static_cast<uint32_t>(two_w < (1u << 27));
  const uint32_t magnitude = (f32_bits(subnormal) & is_subnormal) | (f32_bits(normal) & ~is_subnormal);
  return f32_from_bits(sign | magnitude);
}

inline uint16_t f32_to_fp16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // nan
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {  // normal half range (>= 2^-14)
    uint32_t m = abs - (112u << 23);  // rebias exponent
    const uint32_t lsb = (m >> 13) & 1u;
    m += 0xfffu + lsb;  // round to nearest even
    return static_cast<uint16_t>(sign | (m >> 13));
  }
  if (abs < 0x33000000u) return sign;  // below half of the smallest subnormal: zero
  // Subnormal half: mantissa = round(|f| * 2^24), ties to even.
  const uint32_t e = abs >> 23;
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24 bits to drop
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet nan
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Rounds through half precision: the value a stored fp16 scale will have when read back.
inline float round_to_fp16(float f) { return fp16_to_f32(f32_to_fp16(f)); }

}  // namespace bitdial
