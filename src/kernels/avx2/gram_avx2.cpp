// AVX2+FMA Gram accumulation, GEMM-style: for each block of kTokenBlock tokens, X's columns are packed
// twice (panels of 6 for broadcasting, panels of 16 for vector loads), then a 6 x 16 micro-kernel holds
// a tile of h in 12 ymm accumulators: per token 2 loads, 6 broadcasts, 12 FMAs, so it is FMA-bound.
// A 16-column panel of one token block is 16 KiB (stays in L1 while a thread walks the 6-row panels
// down the column); tiles wholly above the diagonal are skipped. OpenMP over 16-column panels; every
// h element is summed by one thread in token order, so results do not depend on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/gram.h"

namespace bitdial {
namespace {

constexpr int64_t kTokenBlock = 256;
constexpr int64_t kMr = 6, kNr = 16;

// acc (6 x 16) = sum over kc tokens of a[t][r] * b[t][c]; a: kc x 6 floats, b: kc x 16 floats.
// Result rows go to out (6 x 16, row-major).
inline void micro_6x16(const float* a, const float* b, int64_t kc, float* out) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t t = 0; t < kc; ++t, a += kMr, b += kNr) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 r = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(r, b0, c00), c01 = _mm256_fmadd_ps(r, b1, c01);
    r = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(r, b0, c10), c11 = _mm256_fmadd_ps(r, b1, c11);
    r = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(r, b0, c20), c21 = _mm256_fmadd_ps(r, b1, c21);
    r = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(r, b0, c30), c31 = _mm256_fmadd_ps(r, b1, c31);
    r = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(r, b0, c40), c41 = _mm256_fmadd_ps(r, b1, c41);
    r = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(r, b0, c50), c51 = _mm256_fmadd_ps(r, b1, c51);
  }
  _mm256_storeu_ps(out + 0, c00), _mm256_storeu_ps(out + 8, c01);
  _mm256_storeu_ps(out + 16, c10), _mm256_storeu_ps(out + 24, c11);
  _mm256_storeu_ps(out + 32, c20), _mm256_storeu_ps(out + 40, c21);
  _mm256_storeu_ps(out + 48, c30), _mm256_storeu_ps(out + 56, c31);
  _mm256_storeu_ps(out + 64, c40), _mm256_storeu_ps(out + 72, c41);
  _mm256_storeu_ps(out + 80, c50), _mm256_storeu_ps(out + 88, c51);
}

// h[i0 + r][j0 + c] += tile[r][c] where the element is in range and on or below the diagonal.
inline void add_tile(const float* tile, int64_t i0, int64_t j0, int64_t cols, float* h) {
  if (j0 + kNr - 1 <= i0 && i0 + kMr <= cols && j0 + kNr <= cols) {
    for (int64_t r = 0; r < kMr; ++r) {
      float* hr = h + (i0 + r) * cols + j0;
      _mm256_storeu_ps(hr, _mm256_add_ps(_mm256_loadu_ps(hr), _mm256_loadu_ps(tile + r * kNr)));
      _mm256_storeu_ps(hr + 8, _mm256_add_ps(_mm256_loadu_ps(hr + 8), _mm256_loadu_ps(tile + r * kNr + 8)));
    }
    return;
  }
  for (int64_t r = 0; r < kMr && i0 + r < cols; ++r) {
    const int64_t i = i0 + r, jn = std::min(kNr, std::min(cols, i + 1) - j0);
    for (int64_t c = 0; c < jn; ++c) h[i * cols + j0 + c] += tile[r * kNr + c];
  }
}

}  // namespace

void gram_accumulate_avx2(const float* x, int64_t n_tokens, int64_t cols, float* h) {
  if (n_tokens <= 0 || cols <= 0) return;
  const int64_t n_ib = (cols + kMr - 1) / kMr, n_jb = (cols + kNr - 1) / kNr;
  const int64_t kc_max = std::min(kTokenBlock, n_tokens);
  // a: n_ib panels of (kc, 6); b: n_jb panels of (kc, 16); zero past cols. Plain C allocation: no
  // standard-library template is instantiated here with AVX2 flags (the linker could pick that copy for
  // generic code).
  auto floats = [](int64_t n) {
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 31) / 32 * 32;
    void* p = std::aligned_alloc(32, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<float*>(p);
  };
  float* const a = floats(n_ib * kMr * kc_max);
  float* const b = floats(n_jb * kNr * kc_max);
#pragma omp parallel if (cols >= 64)
  {
    alignas(32) float tile[kMr * kNr];
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
      const int64_t kc = std::min(kTokenBlock, n_tokens - t0);
#pragma omp for schedule(static)
      for (int64_t ib = 0; ib < n_ib; ++ib) {
        float* p = a + ib * kMr * kc;
        for (int64_t t = 0; t < kc; ++t)
          for (int64_t r = 0; r < kMr; ++r) {
            const int64_t i = ib * kMr + r;
            p[t * kMr + r] = i < cols ? x[(t0 + t) * cols + i] : 0.0f;
          }
      }
#pragma omp for schedule(static)
      for (int64_t jb = 0; jb < n_jb; ++jb) {
        float* p = b + jb * kNr * kc;
        for (int64_t t = 0; t < kc; ++t) {
          const float* xt = x + (t0 + t) * cols + jb * kNr;
          const int64_t n = std::min(kNr, cols - jb * kNr);
          for (int64_t c = 0; c < kNr; ++c) p[t * kNr + c] = c < n ? xt[c] : 0.0f;
        }
      }
      // Panels in order: the first (longest) columns start first, which balances the triangle.
#pragma omp for schedule(dynamic, 1)
      for (int64_t jb = 0; jb < n_jb; ++jb) {
        const int64_t j0 = jb * kNr;
        for (int64_t ib = j0 / kMr; ib < n_ib; ++ib) {
          micro_6x16(a + ib * kMr * kc, b + jb * kNr * kc, kc, tile);
          add_tile(tile, ib * kMr, j0, cols, h);
        }
      }
    }
  }
  std::free(a);
  std::free(b);
}

}  // namespace bitdial
