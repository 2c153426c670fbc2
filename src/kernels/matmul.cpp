#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "blocks/traits.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/dot_kernel.h"

namespace bitdial {
namespace {

// Work unit: kRowBlock weight rows (a few KiB to tens of KiB, kept in L1/L2 while every token
// chunk passes over them) x kTokenBlock tokens (their activations stay in L2 across row blocks).
constexpr int64_t kRowBlock = 16;
constexpr int64_t kTokenBlock = 48;
// Products smaller than this many multiply-adds run on the calling thread: waking the OpenMP team
// costs more than it saves (stories260K's 64 x 64 layers), and on a loaded machine much more.
constexpr int64_t kParallelMinMacs = int64_t{1} << 18;

struct Plan {
  DotKernel kernel;
  QuantizeActFn quantize_act = nullptr;
  bool decode_rows = false;  // no dot kernel for the type: decode rows to f32 and use the F32 kernel
};

Plan plan_for(Isa isa, TensorType type) {
  Plan p;
  const DotKernel* k = isa == Isa::Avx2 ? &avx2_dot_kernel(type) : nullptr;
  const bool avx2 = k != nullptr && k->tile != nullptr;
  if (!avx2) k = &scalar_dot_kernel(type);
  if (k->tile == nullptr) {
    if (type_traits(type).dequantize_row == nullptr) fail("matmul: bitdial cannot decode weights of type ", type_name(type));
    p.decode_rows = true;
    k = isa == Isa::Avx2 ? &avx2_dot_kernel(TensorType::F32) : &scalar_dot_kernel(TensorType::F32);
  }
  p.kernel = *k;
  if (p.kernel.act != ActFormat::F32)
    p.quantize_act = avx2 ? avx2_quantize_act(p.kernel.act) : scalar_quantize_act(p.kernel.act);
  return p;
}

}  // namespace

void matmul_isa(Isa isa, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const Plan plan = plan_for(isa, w.type);
  const int64_t rows = w.rows, cols = w.cols;
  if (cols % act_block_size(plan.kernel.act) != 0)
    fail("matmul: row length ", cols, " is not a multiple of the activation block ", act_block_size(plan.kernel.act));

  const bool parallel = rows * cols * n_tokens >= kParallelMinMacs;
  // Activations in the kernel's format, converted once for all rows.
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  size_t act_stride = static_cast<size_t>(cols) * sizeof(float);
  static thread_local std::vector<uint8_t> act_buf;
  if (plan.quantize_act != nullptr) {
    act_stride = act_row_bytes(plan.kernel.act, cols);
    act_buf.resize(act_stride * static_cast<size_t>(n_tokens));
    uint8_t* out = act_buf.data();
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t t = 0; t < n_tokens; ++t) plan.quantize_act(x + t * cols, out + static_cast<size_t>(t) * act_stride, cols);
    act = act_buf.data();
  }

  const int64_t n_row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  const size_t w_stride = w.row_stride();
  const DequantizeRowFn decode = type_traits(w.type).dequantize_row;
#pragma omp parallel if (parallel)
  {
    static thread_local std::vector<float> decoded;  // kRowBlock decoded rows when decode_rows
    if (plan.decode_rows) decoded.resize(static_cast<size_t>(kRowBlock * cols));
#pragma omp for schedule(static)
    for (int64_t rb = 0; rb < n_row_blocks; ++rb) {
      const int64_t r0 = rb * kRowBlock, nr = std::min(kRowBlock, rows - r0);
      const uint8_t* wb = w.data + static_cast<size_t>(r0) * w_stride;
      size_t stride = w_stride;
      if (plan.decode_rows) {
        for (int64_t r = 0; r < nr; ++r) decode(wb + static_cast<size_t>(r) * w_stride, decoded.data() + r * cols, cols);
        wb = reinterpret_cast<const uint8_t*>(decoded.data());
        stride = static_cast<size_t>(cols) * sizeof(float);
      }
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
        const int64_t nt = std::min(kTokenBlock, n_tokens - t0);
        plan.kernel.tile(cols, wb, stride, nr, act + static_cast<size_t>(t0) * act_stride, act_stride, nt,
                         y + t0 * rows + r0, rows);
      }
    }
  }
}

void float_dot_tile(TensorType type, int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const float* x,
                    size_t x_stride, int64_t nt, float* y, int64_t ldy) {
  const DotKernel& k = active_isa() == Isa::Avx2 ? avx2_dot_kernel(type) : scalar_dot_kernel(type);
  BITDIAL_ASSERT(k.tile != nullptr && k.act == ActFormat::F32);
  k.tile(n, w, w_stride, nr, reinterpret_cast<const uint8_t*>(x), x_stride, nt, y, ldy);
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) { matmul_isa(active_isa(), w, x, n_tokens, y); }

}  // namespace bitdial
