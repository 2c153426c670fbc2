#include "kernels/scalar/matmul_scalar.h"

#include <vector>

#include "blocks/traits.h"
#include "core/error.h"

namespace bitdial {

float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  float lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += a[i + j] * b[i + j];
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  const float s01 = lane[0] + lane[1], s23 = lane[2] + lane[3], s45 = lane[4] + lane[5], s67 = lane[6] + lane[7];
  return ((s01 + s23) + (s45 + s67)) + tail;
}

void matmul_scalar(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const TypeTraits& tr = type_traits(w.type);
  const bool direct = w.type == TensorType::F32;
  if (!direct && tr.dequantize_row == nullptr) fail("matmul: bitdial cannot decode weights of type ", type_name(w.type));
  const int64_t rows = w.rows, cols = w.cols;
  const size_t stride = w.row_stride();
#pragma omp parallel
  {
    // W row r (cols) decoded once, then reused for all n_tokens activations.
    static thread_local std::vector<float> buf;
    if (!direct && buf.size() < static_cast<size_t>(cols)) buf.resize(static_cast<size_t>(cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = w.data + static_cast<size_t>(r) * stride;
      const float* wr = reinterpret_cast<const float*>(src);
      if (!direct) {
        tr.dequantize_row(src, buf.data(), cols);
        wr = buf.data();
      }
      for (int64_t t = 0; t < n_tokens; ++t) y[t * rows + r] = dot_f32_scalar(wr, x + t * cols, cols);
    }
  }
}

}  // namespace bitdial
