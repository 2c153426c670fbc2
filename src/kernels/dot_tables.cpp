#include "kernels/dot_families.h"
#include "core/error.h"

namespace bitdial {
namespace {

const DotKernel kNoKernel{};

}  // namespace

size_t act_row_bytes(ActFormat fmt, int64_t n) {
  const auto count = static_cast<size_t>(n / act_block_size(fmt));
  switch (fmt) {
    case ActFormat::F32: return count * sizeof(float);
    case ActFormat::Q8:
      return count * sizeof(ActBlockQ8) + 3 * static_cast<size_t>(act_q8_padded(static_cast<int64_t>(count))) * sizeof(float);
    case ActFormat::Q8_K: return count * sizeof(ActBlockQ8K);
  }
  return 0;
}

void finish_act_q8_row(uint8_t* row, int64_t nb) {
  const auto* blocks = reinterpret_cast<const ActBlockQ8*>(row);
  auto* d = reinterpret_cast<float*>(row + static_cast<size_t>(nb) * sizeof(ActBlockQ8));
  float* s = d + act_q8_padded(nb);
  auto* q = reinterpret_cast<int32_t*>(s + act_q8_padded(nb));
  for (int64_t b = 0; b < act_q8_padded(nb); ++b) {
    d[b] = b < nb ? blocks[b].d : 0.0f;
    s[b] = b < nb ? blocks[b].s : 0.0f;
    int32_t sum = 0;
    if (b < nb)
      for (int8_t v : blocks[b].qs) sum += v;
    q[b] = sum;
  }
}

int64_t act_block_size(ActFormat fmt) {
  switch (fmt) {
    case ActFormat::F32: return 1;
    case ActFormat::Q8: return 32;
    case ActFormat::Q8_K: return 256;
  }
  return 1;
}

const DotKernel& scalar_dot_kernel(TensorType type) {
  if (const DotKernel* k = scalar_float_kernel(type)) return *k;
  if (const DotKernel* k = scalar_legacy_kernel(type)) return *k;
  if (const DotKernel* k = scalar_kquant_kernel(type)) return *k;
  return kNoKernel;
}

const DotKernel& avx2_dot_kernel(TensorType type) {
  if (const DotKernel* k = avx2_float_kernel(type)) return *k;
  if (const DotKernel* k = avx2_legacy_kernel(type)) return *k;
  if (const DotKernel* k = avx2_kquant_kernel(type)) return *k;
  return kNoKernel;
}

QuantizeActFn scalar_quantize_act(ActFormat fmt) {
  switch (fmt) {
    case ActFormat::F32: return nullptr;
    case ActFormat::Q8: return quantize_act_q8_scalar;
    case ActFormat::Q8_K: return quantize_act_q8k_scalar;
  }
  return nullptr;
}

QuantizeActFn avx2_quantize_act(ActFormat fmt) {
  switch (fmt) {
    case ActFormat::F32: return nullptr;
    case ActFormat::Q8: return quantize_act_q8_avx2;
    case ActFormat::Q8_K: return quantize_act_q8k_avx2;
  }
  return nullptr;
}

}  // namespace bitdial
