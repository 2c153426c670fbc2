#include "kernels/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <omp.h>

#include "blocks/traits.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/dot_kernel.h"
#include "kernels/packed_rows.h"

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

// One weight of a shared-input product, with its plan and where its converted activations are.
struct Job {
  const WeightView* w;
  float* y;
  Plan plan;
  const uint8_t* act;
  size_t act_stride;
  int64_t n_row_blocks;
  size_t group_stride;   // packed groups, when the packed kernel runs
  int64_t packed_rows;   // rows [0, packed_rows) go through it (0: not packed)
};

// Rows [rb * kRowBlock, +kRowBlock) of one job for every token.
void run_row_block(const Job& j, int64_t rb, int64_t n_tokens, std::vector<float>& decoded) {
  const WeightView& w = *j.w;
  const int64_t rows = w.rows, cols = w.cols;
  const Plan& plan = j.plan;
  int64_t r0 = rb * kRowBlock;
  const int64_t r_end = std::min(r0 + kRowBlock, rows);
  if (r0 < j.packed_rows) {
    const int64_t np = std::min(r_end, j.packed_rows) - r0;
    const uint8_t* groups = w.packed + static_cast<size_t>(r0 / kPackedRows) * j.group_stride;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock)
      plan.kernel.packed_tile(cols, groups, j.group_stride, np, j.act + static_cast<size_t>(t0) * j.act_stride,
                              j.act_stride, std::min(kTokenBlock, n_tokens - t0), j.y + t0 * rows + r0, rows);
    r0 += np;
    if (r0 == r_end) return;
  }
  const int64_t nr = r_end - r0;
  const size_t w_stride = w.row_stride();
  const uint8_t* wb = w.data + static_cast<size_t>(r0) * w_stride;
  size_t stride = w_stride;
  if (plan.decode_rows) {
    const DequantizeRowFn decode = type_traits(w.type).dequantize_row;
    decoded.resize(static_cast<size_t>(kRowBlock * cols));
    for (int64_t r = 0; r < nr; ++r) decode(wb + static_cast<size_t>(r) * w_stride, decoded.data() + r * cols, cols);
    wb = reinterpret_cast<const uint8_t*>(decoded.data());
    stride = static_cast<size_t>(cols) * sizeof(float);
  }
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
    const int64_t nt = std::min(kTokenBlock, n_tokens - t0);
    plan.kernel.tile(cols, wb, stride, nr, j.act + static_cast<size_t>(t0) * j.act_stride, j.act_stride, nt,
                     j.y + t0 * rows + r0, rows);
  }
}

// Weight bytes of one full row block of a job (the unit of work sharing).
int64_t unit_bytes(const Job& j) { return kRowBlock * static_cast<int64_t>(j.w->row_stride()); }

}  // namespace

void matmul_shared_input_isa(Isa isa, std::span<const MatmulOut> outs, const float* x, int64_t n_tokens) {
  if (outs.empty()) return;
  const int64_t cols = outs[0].w->cols;
  std::vector<Job> jobs;
  jobs.reserve(outs.size());
  int64_t macs = 0;
  for (const MatmulOut& o : outs) {
    BITDIAL_ASSERT(o.w->cols == cols);
    Job j{o.w, o.y, plan_for(isa, o.w->type), nullptr, 0, 0, 0, 0};
    if (cols % act_block_size(j.plan.kernel.act) != 0)
      fail("matmul: row length ", cols, " is not a multiple of the activation block ", act_block_size(j.plan.kernel.act));
    j.n_row_blocks = (o.w->rows + kRowBlock - 1) / kRowBlock;
    // Packed groups start at multiples of 8 rows, and so does every row block (kRowBlock % 8 == 0):
    // a row always goes through the same kernel whatever the thread count.
    static_assert(kRowBlock % kPackedRows == 0);
    if (o.w->packed != nullptr && j.plan.kernel.packed_tile != nullptr && !j.plan.decode_rows) {
      j.group_stride = packed_group_bytes(o.w->type, cols);
      j.packed_rows = o.w->rows / kPackedRows * kPackedRows;
    }
    macs += o.w->rows * cols * n_tokens;
    jobs.push_back(j);
  }
  const bool parallel = macs >= kParallelMinMacs;

  // Activations in each kernel's format, converted once per format for all the weights. One token
  // converts on the calling thread: a parallel loop of one item only adds a barrier.
  static thread_local std::vector<uint8_t> act_buf[3];
  const ActFormat formats[3] = {ActFormat::F32, ActFormat::Q8, ActFormat::Q8_K};
  for (int f = 0; f < 3; ++f) {
    Job* first = nullptr;
    for (Job& j : jobs)
      if (j.plan.kernel.act == formats[f] && first == nullptr) first = &j;
    if (first == nullptr) continue;
    const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
    size_t stride = static_cast<size_t>(cols) * sizeof(float);
    if (first->plan.quantize_act != nullptr) {
      const QuantizeActFn quantize = first->plan.quantize_act;
      stride = act_row_bytes(formats[f], cols);
      act_buf[f].resize(stride * static_cast<size_t>(n_tokens));
      uint8_t* out = act_buf[f].data();
#pragma omp parallel for schedule(static) if (parallel && n_tokens > 1)
      for (int64_t t = 0; t < n_tokens; ++t) quantize(x + t * cols, out + static_cast<size_t>(t) * stride, cols);
      act = out;
    }
    for (Job& j : jobs)
      if (j.plan.kernel.act == formats[f]) {
        j.act = act;
        j.act_stride = stride;
      }
  }

  // One parallel region over the row blocks of all the weights in turn, handed out as chunks of
  // contiguous weight bytes (not block counts: q4_K_M mixes q4_K and q6_K rows, 1.46x apart). The
  // chunks shrink - each a 2 x threads-th of what is left, down to 1/64 of the total - and threads take
  // the next one when they finish theirs: a thread the machine slows down (other work, a memory
  // stall) takes fewer, instead of the others waiting for it at the barrier. Which thread computes a
  // row never changes its result.
  int64_t total_bytes = 0;
  for (const Job& j : jobs) total_bytes += j.n_row_blocks * unit_bytes(j);
  const int64_t nth = parallel ? omp_get_max_threads() : 1;
  static thread_local std::vector<int64_t> bounds;
  bounds.assign(1, 0);
  for (int64_t done = 0; done < total_bytes;) {
    const int64_t c = std::max<int64_t>({(total_bytes - done) / (2 * nth), total_bytes / 64, 1});
    done = std::min(total_bytes, done + c);
    bounds.push_back(done);
  }
  const int64_t n_chunks = static_cast<int64_t>(bounds.size()) - 1;
  const int64_t* chunk_at = bounds.data();
#pragma omp parallel if (parallel)
  {
    static thread_local std::vector<float> decoded;  // kRowBlock decoded rows when decode_rows
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < n_chunks; ++ch) {
      // A block belongs to the chunk whose byte range [lo, hi) holds its first byte.
      const int64_t lo = chunk_at[ch], hi = chunk_at[ch + 1];
      int64_t base = 0;
      for (const Job& j : jobs) {
        const int64_t c = unit_bytes(j);
        const auto first_at_or_after = [&](int64_t at) {
          return std::clamp<int64_t>((at - base + c - 1) / c, 0, j.n_row_blocks);
        };
        if (hi > base && lo < base + j.n_row_blocks * c)
          for (int64_t rb = first_at_or_after(lo), end = first_at_or_after(hi); rb < end; ++rb)
            run_row_block(j, rb, n_tokens, decoded);
        base += j.n_row_blocks * c;
      }
    }
  }
}

void matmul_isa(Isa isa, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const MatmulOut out{&w, y};
  matmul_shared_input_isa(isa, std::span<const MatmulOut>(&out, 1), x, n_tokens);
}

std::vector<uint8_t> pack_for_matmul(const WeightView& w) {
  if (!has_packed_layout(w.type) || w.rows < kPackedRows || w.cols % 32 != 0) return {};
  const char* env = std::getenv("BITDIAL_REPACK");
  if (env != nullptr && std::strcmp(env, "0") == 0) return {};
  const DotKernel& k = active_isa() == Isa::Avx2 ? avx2_dot_kernel(w.type) : scalar_dot_kernel(w.type);
  if (k.packed_tile == nullptr) return {};
  std::vector<uint8_t> out(static_cast<size_t>(w.rows / kPackedRows) * packed_group_bytes(w.type, w.cols));
  pack_rows(w.type, w.data, w.row_stride(), w.rows, w.cols, out.data());
  return out;
}

void float_dot_tile(TensorType type, int64_t n, const uint8_t* w, size_t w_stride, int64_t nr, const float* x,
                    size_t x_stride, int64_t nt, float* y, int64_t ldy) {
  const DotKernel& k = active_isa() == Isa::Avx2 ? avx2_dot_kernel(type) : scalar_dot_kernel(type);
  BITDIAL_ASSERT(k.tile != nullptr && k.act == ActFormat::F32);
  k.tile(n, w, w_stride, nr, reinterpret_cast<const uint8_t*>(x), x_stride, nt, y, ldy);
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) { matmul_isa(active_isa(), w, x, n_tokens, y); }

void matmul_shared_input(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens) {
  matmul_shared_input_isa(active_isa(), outs, x, n_tokens);
}

}  // namespace bitdial
