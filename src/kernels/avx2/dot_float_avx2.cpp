// AVX2/FMA/F16C dot products for f32, f16 and bf16 weights with F32 activations. Every (row,
// token) value follows the summation order of the scalar reference (scalar/dot_float.cpp) lane
// for lane, so both paths give identical bits; tiles of 4 rows x 3 tokens reuse each loaded
// weight vector three times and each activation vector four times.
#include <immintrin.h>

#include <type_traits>

#include "kernels/dot_families.h"

namespace bitdial {
namespace {

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p, std::false_type /*fp16*/) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load8(const uint16_t* p, std::true_type /*bf16*/) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

struct F32W {
  using Elem = float;
  static __m256 load(const float* p) { return load8(p); }
  static float one(const float* p) { return *p; }
};
struct F16W {
  using Elem = uint16_t;
  static __m256 load(const uint16_t* p) { return load8(p, std::false_type{}); }
  static float one(const uint16_t* p) { return _cvtsh_ss(*p); }
};
struct BF16W {
  using Elem = uint16_t;
  static __m256 load(const uint16_t* p) { return load8(p, std::true_type{}); }
  static float one(const uint16_t* p) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(*p) << 16))); }
};

// Lanes (j, j + 4) -> t; (t0 + t2) + (t1 + t3): the reference's fold for n % 8 == 0.
inline float fold8(__m256 v) {
  __m128 t = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  t = _mm_add_ss(t, _mm_movehdup_ps(t));
  return _mm_cvtss_f32(t);
}

// Token generation streams one weight row at a time (measured: no gain from interleaving rows).
constexpr int kGemvRows = 1;

// RM rows x RN tokens, n % 8 == 0, one 8-lane FMA accumulator per (row, token).
template <typename W, int RM, int RN>
void micro8(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  using Elem = typename W::Elem;
  const Elem* wr[RM];
  const float* xr[RN];
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const Elem*>(w + static_cast<size_t>(r) * w_stride);
  for (int t = 0; t < RN; ++t) xr[t] = reinterpret_cast<const float*>(a + static_cast<size_t>(t) * a_stride);
  __m256 acc[RM][RN];
  for (int r = 0; r < RM; ++r)
    for (int t = 0; t < RN; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    __m256 xv[RN];
    for (int t = 0; t < RN; ++t) xv[t] = _mm256_loadu_ps(xr[t] + i);
    for (int r = 0; r < RM; ++r) {
      // One token: the weights stream from memory once, so fetch them ahead.
      if constexpr (RN == 1) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + i) + 512, _MM_HINT_T0);
      const __m256 wv = W::load(wr[r] + i);
      for (int t = 0; t < RN; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < RM; ++r)
    for (int t = 0; t < RN; ++t) y[t * ldy + r] = fold8(acc[r][t]);
}

// The reference order for n % 8 != 0 (four 8-lane groups over 32-value steps, double tail).
template <typename W>
float dot_odd(const typename W::Elem* w, const float* x, int64_t n) {
  __m256 g[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const int64_t np = n - n % 32;
  for (int64_t i = 0; i < np; i += 32)
    for (int k = 0; k < 4; ++k) g[k] = _mm256_fmadd_ps(W::load(w + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), g[k]);
  const __m256 s = _mm256_add_ps(_mm256_add_ps(g[0], g[2]), _mm256_add_ps(g[1], g[3]));
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  t = _mm_hadd_ps(t, t);
  t = _mm_hadd_ps(t, t);
  double sum = static_cast<double>(_mm_cvtss_f32(t));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(W::one(w + i) * x[i]);
  return static_cast<float>(sum);
}

template <typename W, int RM, int RN>
void run_rows(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride, float* y,
              int64_t ldy) {
  int64_t r = 0;
  for (; r + RM <= nr; r += RM) micro8<W, RM, RN>(n, w + r * w_stride, w_stride, a, a_stride, y + r, ldy);
  for (; r < nr; ++r) micro8<W, 1, RN>(n, w + r * w_stride, w_stride, a, a_stride, y + r, ldy);
}

template <typename W>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, size_t a_stride, int64_t nt,
          float* y, int64_t ldy) {
  using Elem = typename W::Elem;
  if (n % 8 != 0) {
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t r = 0; r < nr; ++r)
        y[t * ldy + r] = dot_odd<W>(reinterpret_cast<const Elem*>(w + r * w_stride),
                                    reinterpret_cast<const float*>(a + t * a_stride), n);
    return;
  }
  int64_t t = 0;
  for (; t + 3 <= nt; t += 3) run_rows<W, 4, 3>(n, w, w_stride, nr, a + t * a_stride, a_stride, y + t * ldy, ldy);
  if (nt - t == 2) run_rows<W, 4, 2>(n, w, w_stride, nr, a + t * a_stride, a_stride, y + t * ldy, ldy);
  if (nt - t == 1) run_rows<W, kGemvRows, 1>(n, w, w_stride, nr, a + t * a_stride, a_stride, y + t * ldy, ldy);
}

const DotKernel kF32{ActFormat::F32, tile<F32W>};
const DotKernel kF16{ActFormat::F32, tile<F16W>};
const DotKernel kBF16{ActFormat::F32, tile<BF16W>};

}  // namespace

const DotKernel* avx2_float_kernel(TensorType type) {
  switch (type) {
    case TensorType::F32: return &kF32;
    case TensorType::F16: return &kF16;
    case TensorType::BF16: return &kBF16;
    default: return nullptr;
  }
}

}  // namespace bitdial
