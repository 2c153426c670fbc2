// GPTQ, Algorithm 1 of Frantar et al. 2022, with one change for block formats: the grid a column is
// rounded onto belongs to its block, whose scales are chosen by the type's own quantizer (importance =
// diag H) from the error-updated weights when the sweep enters the block. Rows are independent given
// U = chol(H^-1) (every update is W[r, j+1:] -= e_r U[j, j+1:]), so tiles of rows run in parallel,
// each in a fixed order: the bytes do not depend on the thread count.
#include "quant/gptq.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <set>

#include "blocks/tensor_codec.h"
#include "core/error.h"
#include "kernels/gemm_f32.h"
#include "quant/block_grid.h"
#include "quant/hessian.h"

namespace bitdial {
namespace {

constexpr int64_t kTileRows = 16;  // rows per task: U's rows are streamed once per tile
constexpr int kDampRetries = 4;

// Lower Cholesky factor of a (n, n) symmetric positive definite, in place in a's lower triangle (the
// strict upper triangle is left meaningless); false when a pivot is not positive. Right-looking and
// blocked: factor the diagonal block, solve the panel below it, then update the trailing lower
// triangle one block column per task, in parallel. That update is nearly all of the n^3/3 flops, which
// Eigen's own LLT runs on one thread.
bool cholesky_lower_in_place(Eigen::MatrixXd& a) {
  constexpr int64_t kBlock = 128;
  const int64_t n = a.rows();
  for (int64_t k = 0; k < n; k += kBlock) {
    const int64_t nb = std::min(kBlock, n - k), m = n - k - nb;
    Eigen::Ref<Eigen::MatrixXd> a11 = a.block(k, k, nb, nb);
    const Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(a11);  // in place: L11 in a11's lower triangle
    if (llt.info() != Eigen::Success) return false;
    if (m == 0) break;
    auto a21 = a.block(k + nb, k, m, nb);
    a11.triangularView<Eigen::Lower>().transpose().solveInPlace<Eigen::OnTheRight>(a21);  // L21 = A21 L11^-T
    // A22 -= L21 L21^T on and below the diagonal: block column [j, j + w) of A22 from row j down. Always
    // inside a parallel region, so Eigen never splits a product itself (its blocking, and so the
    // rounding, would then depend on the thread count).
    const int64_t n_cb = (m + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t cb = 0; cb < n_cb; ++cb) {
      const int64_t j = cb * kBlock, w = std::min(kBlock, m - j);
      a.block(k + nb + j, k + nb + j, m - j, w).noalias() -= a21.bottomRows(m - j) * a21.middleRows(j, w).transpose();
    }
  }
  return true;
}

// L^-1 for L (n, n) lower triangular (only l's lower triangle is read): column block [c0, c1) of L^-1
// is zero above row c0 and solves L[c0:, c0:] X = I[c0:, c0:c1], so each block is a triangular solve of
// the trailing part only (n^3/3 flops in all, not the n^3 of solving against the whole identity).
// Blocks are independent: OpenMP.
Eigen::MatrixXd lower_triangular_inverse(const Eigen::MatrixXd& l) {
  constexpr int64_t kBlock = 64;
  const int64_t n = l.rows();
  Eigen::MatrixXd inv = Eigen::MatrixXd::Zero(n, n);
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1) if (n >= 256)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t c0 = b * kBlock, w = std::min(kBlock, n - c0);
    auto x = inv.block(c0, c0, n - c0, w);
    x.topRows(w).setIdentity();
    l.bottomRightCorner(n - c0, n - c0).triangularView<Eigen::Lower>().solveInPlace(x);
  }
  return inv;
}

// What every row tile shares: the (permuted) factor and per-column facts.
struct Prepared {
  std::vector<float> u;           // (cols, cols) row-major upper Cholesky factor of (P (H + lambda I) P^T)^-1
  std::vector<int64_t> perm;      // processing order: perm[j] is the column handled j-th
  std::vector<uint8_t> dead;      // per original column: H_ii == 0 (never activated)
  std::vector<float> importance;  // per original column: diag H (0 for dead columns)
};

Prepared prepare(const Eigen::MatrixXd& H, int64_t cols, const GptqOptions& o, const std::string& what) {
  if (H.rows() != cols || H.cols() != cols)
    fail(what, ": Hessian is ", H.rows(), "x", H.cols(), ", the weight has ", cols, " columns");
  if (!H.allFinite()) fail(what, ": Hessian has non-finite entries");
  if (!(o.percdamp >= 0)) fail(what, ": percdamp must be >= 0, got ", o.percdamp);
  Prepared p;
  p.dead.resize(cols);
  p.importance.resize(cols);
  for (int64_t i = 0; i < cols; ++i) {
    p.dead[i] = H(i, i) <= 0;
    p.importance[i] = p.dead[i] ? 0.0f : static_cast<float>(H(i, i));
  }
  p.perm.resize(cols);
  std::iota(p.perm.begin(), p.perm.end(), int64_t{0});
  // act-order: the columns with the largest activations first, while most columns are still free to
  // absorb their error. stable_sort keeps ties in column order (deterministic).
  if (o.act_order)
    std::stable_sort(p.perm.begin(), p.perm.end(), [&](int64_t a, int64_t b) { return H(a, a) > H(b, b); });

  Eigen::MatrixXd hp(cols, cols);
  for (int64_t k = 0; k < cols; ++k)
    for (int64_t j = 0; j < cols; ++j) hp(j, k) = H(p.perm[j], p.perm[k]);
  double mean_diag = 0;
  for (int64_t j = 0; j < cols; ++j) {
    if (p.dead[p.perm[j]]) hp(j, j) = 1;  // Algorithm 1's dead-column rule: the column is zeroed anyway
    mean_diag += hp(j, j);
  }
  mean_diag = cols > 0 ? mean_diag / static_cast<double>(cols) : 1.0;
  double damp = o.percdamp * mean_diag;
  for (int attempt = 0; attempt <= kDampRetries; ++attempt, damp = damp > 0 ? damp * 10 : 1e-8 * mean_diag) {
    Eigen::MatrixXd hd = hp;
    hd.diagonal().array() += damp;
    // The upper factor of H^-1 (Section 4, "Cholesky Reformulation"): its row j holds exactly the
    // coefficients Algorithm 1 spreads column j's error with.
    const std::optional<Eigen::MatrixXd> u = gptq_inverse_factor(hd);
    if (!u) continue;
    p.u.resize(static_cast<size_t>(cols * cols));
#pragma omp parallel for schedule(static) if (cols >= 256)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t k = 0; k < cols; ++k) p.u[j * cols + k] = static_cast<float>((*u)(j, k));
    return p;
  }
  fail(what, ": Hessian is not positive definite even with dampening ", damp / 10,
       " (", kDampRetries, " retries from percdamp ", o.percdamp, ")");
}

}  // namespace

std::optional<Eigen::MatrixXd> gptq_inverse_factor(const Eigen::MatrixXd& h) {
  // With J the index reversal and J H J = L L^T (lower Cholesky of the reversed matrix),
  // U = J L^-1 J is upper triangular with a positive diagonal and U^T U = J L^-T L^-1 J = H^-1: by
  // uniqueness it is the upper Cholesky factor of H^-1, for one factorisation and one triangular
  // inverse (2n^3/3 flops) instead of H^-1 and its own factorisation (about 5n^3/3).
  Eigen::MatrixXd l = h.reverse();  // J H J, then its lower Cholesky factor L in place
  if (!cholesky_lower_in_place(l)) return std::nullopt;
  if (!l.diagonal().allFinite() || (l.diagonal().array() <= 0).any()) return std::nullopt;
  Eigen::MatrixXd u = lower_triangular_inverse(l);
  u.reverseInPlace();  // J L^-1 J
  if (!u.allFinite()) return std::nullopt;
  return u;
}

namespace {

// One tile of rows [r0, r0 + nr): Algorithm 1 with lazy batch updates, in float as the paper's
// reference code (U is float; the weights are float).
void quantize_tile(const float* W, int64_t r0, int64_t nr, int64_t cols, const Prepared& p, const BlockGrid& grid,
                   int64_t batch, bool act_order, uint8_t* out, size_t row_bytes) {
  const int bs = grid.block_size();
  const size_t bb = grid.block_bytes();
  auto block = [&](int64_t r, int64_t k) { return out + static_cast<size_t>(r0 + r) * row_bytes + k * bb; };
  // w (nr, cols): the tile's weights in processing order, error-updated in place.
  std::vector<float> w(static_cast<size_t>(nr * cols));
  for (int64_t r = 0; r < nr; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t c = p.perm[j];
      w[r * cols + j] = p.dead[c] ? 0.0f : W[(r0 + r) * cols + c];
    }
  std::vector<float> x(bs);
  if (act_order) {
    // Scales up front from the original (dead-zeroed) weights: a block's columns are spread over the
    // whole sweep, so there is no moment when all of them are error-updated and still unrounded.
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t k = 0; k < cols / bs; ++k) {
        for (int t = 0; t < bs; ++t) x[t] = p.dead[k * bs + t] ? 0.0f : W[(r0 + r) * cols + k * bs + t];
        grid.choose_scales(x.data(), p.importance.data() + k * bs, block(r, k));
      }
  }
  // err (nr, batch): the batch's scaled errors e = (w - q) / U_jj, the A of the lazy update.
  std::vector<float> err(static_cast<size_t>(nr * batch));
  for (int64_t b0 = 0; b0 < cols; b0 += batch) {
    const int64_t b1 = std::min(b0 + batch, cols);
    for (int64_t j = b0; j < b1; ++j) {
      const int64_t c = p.perm[j], k = c / bs;
      const int pos = static_cast<int>(c % bs);
      if (!act_order && pos == 0) {
        // Entering block k: its columns j..j+bs-1 carry every earlier column's error (they lie in
        // this batch, or the batch starts here), so the scales fit the weights GPTQ will round.
        for (int64_t r = 0; r < nr; ++r)
          grid.choose_scales(w.data() + r * cols + j, p.importance.data() + c, block(r, k));
      }
      const float* uj = p.u.data() + j * cols;
      const float d = uj[j];
      for (int64_t r = 0; r < nr; ++r) {
        float* wr = w.data() + r * cols;
        const float q = grid.round(block(r, k), pos, wr[j]);
        const float e = (wr[j] - q) / d;
        err[r * batch + (j - b0)] = e;
        for (int64_t t = j + 1; t < b1; ++t) wr[t] -= e * uj[t];
      }
    }
    // Lazy batch update: W[:, b1:] -= E (nr, b1 - b0) U[b0:b1, b1:].
    gemm_sub_f32(nr, cols - b1, b1 - b0, err.data(), batch, p.u.data() + b0 * cols + b1, cols, w.data() + b1, cols);
  }
}

// Layer index of "blk.N.*", -1 for anything else (output.weight runs after the last layer).
int64_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::strtoll(name.c_str() + 4, nullptr, 10);
}

}  // namespace

std::vector<uint8_t> gptq_quantize(const float* W, int64_t rows, int64_t cols, const Eigen::MatrixXd& H,
                                   TensorType type, const GptqOptions& options, const std::string& what) {
  if (!BlockGrid::supports(type)) fail(what, ": GPTQ has no rounding grid for type ", type_name(type));
  const BlockGrid grid = BlockGrid::for_type(type);
  const int bs = grid.block_size();
  if (rows < 0 || cols <= 0) fail(what, ": bad shape ", rows, "x", cols);
  if (cols % bs != 0) fail(what, ": ", cols, " columns are not a multiple of the ", type_name(type), " block (", bs, ")");
  if (options.batch <= 0) fail(what, ": batch must be positive, got ", options.batch);
  int64_t batch = options.batch;
  if (batch % bs != 0 && bs % batch != 0) batch = (batch + bs - 1) / bs * bs;

  const Prepared p = prepare(H, cols, options, what);
  const size_t rb = row_bytes(type, cols);
  std::vector<uint8_t> out(static_cast<size_t>(rows) * rb);
  const int64_t n_tiles = (rows + kTileRows - 1) / kTileRows;
  const int threads = options.n_threads > 0 ? options.n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int64_t r0 = t * kTileRows;
    quantize_tile(W, r0, std::min(kTileRows, rows - r0), cols, p, grid, batch, options.act_order, out.data(), rb);
  }
  return out;
}

MethodResult run_gptq(const LlamaModel& model, const CalibrationSet& calib, const std::map<std::string, TensorType>& types,
                      const GptqOptions& options) {
  // Targets grouped by layer (output after the last), validated before any calibration runs.
  const std::vector<std::string> names = model.weight_names();
  const std::set<std::string> known(names.begin(), names.end());
  std::map<int64_t, std::vector<std::string>> groups;
  for (const auto& [name, type] : types) {
    if (name == "token_embd.weight" || type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16)
      continue;
    if (known.count(name) == 0) {
      if (name == "output.weight" && model.weight(name) != nullptr) continue;  // tied: it is token_embd
      fail("gptq: ", name, ": no such weight in the model");
    }
    const WeightView* v = model.weight(name);
    if (!BlockGrid::supports(type)) fail("gptq: ", name, ": GPTQ has no rounding grid for type ", type_name(type));
    const int64_t bs = type_info(type).block_size;
    if (v->cols % bs != 0)
      fail("gptq: ", name, ": ", v->cols, " columns are not a multiple of the ", type_name(type), " block (", bs, ")");
    const int64_t layer = layer_of(name);
    groups[layer < 0 ? model.hparams().n_layer : layer].push_back(name);
  }
  if (groups.empty()) return {};
  // Sequential: one group per calibration pass on `work`, whose earlier layers already hold their
  // quantized weights. Otherwise one pass over the original model for all groups.
  std::vector<std::vector<std::string>> passes;
  if (options.sequential) {
    for (auto& [layer, g] : groups) passes.push_back(g);
  } else {
    passes.emplace_back();
    for (auto& [layer, g] : groups) passes.back().insert(passes.back().end(), g.begin(), g.end());
  }

  MethodResult result;
  LlamaModel work = model;
  CalibrationRunOptions run_opts;
  run_opts.n_seq = options.n_seq;
  run_opts.progress = options.progress;
  for (size_t pass = 0; pass < passes.size(); ++pass) {
    const std::vector<std::string>& targets = passes[pass];
    HessianCollector collector(std::set<std::string>(targets.begin(), targets.end()));
    run_opts.label = "gptq " + std::to_string(pass + 1) + "/" + std::to_string(passes.size());
    run_calibration(work, calib, collector, run_opts);
    for (const std::string& name : targets) {
      const auto t0 = std::chrono::steady_clock::now();
      const SiteHessian* h = collector.find(name);
      if (h == nullptr || h->n_tokens == 0) fail("gptq: ", name, ": the calibration never fed this weight");
      const WeightView& v = *model.weight(name);
      const TensorType type = types.at(name);
      const std::vector<float> wf = dequantize_tensor(v.type, v.data, v.rows * v.cols, v.cols, name);
      std::vector<uint8_t> bytes = gptq_quantize(wf.data(), v.rows, v.cols, h->h, type, options, "gptq: " + name);
      if (options.sequential) work.replace_weight(name, type, bytes);
      if (options.progress != nullptr) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(options.progress, "gptq: %s %s %lldx%lld (%lld tokens, Hessians %.1f MiB) %.2f s\n", name.c_str(),
                     type_name(type), static_cast<long long>(v.rows), static_cast<long long>(v.cols),
                     static_cast<long long>(h->n_tokens), collector.bytes() / 1048576.0, s);
      }
      result.encoded[name] = std::move(bytes);
    }
  }
  return result;
}

}  // namespace bitdial
