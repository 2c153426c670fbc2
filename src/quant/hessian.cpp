// Accumulates H += X^T X per site in double: the sums run over up to millions of tokens, and float
// would lose the small eigenvalues that GPTQ's Cholesky of H^-1 depends on. One call's product (at most
// a few thousand tokens) is formed in float by the Gram kernel (kernels/gram.h: lower triangle only,
// AVX2 when the CPU has it, multithreaded) and then added in double to both triangles.
#include "quant/hessian.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/gram.h"

namespace bitdial {

HessianCollector::HessianCollector(const std::set<std::string>& weights) : wanted_(weights) {}

void HessianCollector::on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens,
                                       int64_t cols) {
  if (site == MatmulSite::output_in) layer = -1;  // one output site, whatever layer the caller passes
  const std::pair<int, int64_t> key{static_cast<int>(site), layer};
  auto it = sites_.find(key);
  if (it == sites_.end()) {
    bool needed = false;
    for (const std::string& w : matmul_site_weights(site, layer)) {
      if (wanted_.count(w) == 0) continue;
      needed = true;
      site_of_[w] = key;
    }
    if (!needed) return;
    it = sites_.emplace(key, SiteHessian{Eigen::MatrixXd::Zero(cols, cols), 0}).first;
  }
  SiteHessian& s = it->second;
  if (s.h.rows() != cols)
    fail("hessian: site of layer ", layer, " changed width from ", s.h.rows(), " to ", cols, " columns");
  // x: (n_tokens, cols) row-major -> batch (cols, cols) row-major, lower triangle = x^T x.
  std::vector<float>& batch = batch_;
  batch.assign(static_cast<size_t>(cols * cols), 0.0f);
  gram_accumulate(x, n_tokens, cols, batch.data());
  // batch[c][r] (r <= c) is H(r, c) and H(c, r). In 64 x 64 blocks, so that both the column-major H
  // and the row-major batch are read along lines whichever triangle is being filled.
  constexpr int64_t kB = 64;
  double* hd = s.h.data();
  const int64_t nb = (cols + kB - 1) / kB;
#pragma omp parallel for schedule(dynamic, 1) if (cols >= 256)
  for (int64_t cb = 0; cb < nb; ++cb) {
    const int64_t c0 = cb * kB, c1 = std::min(cols, c0 + kB);
    for (int64_t c = c0; c < c1; ++c) {  // upper triangle and diagonal of columns c0..c1: contiguous
      const float* bc = batch.data() + c * cols;
      double* hc = hd + c * cols;
      for (int64_t r = 0; r <= c; ++r) hc[r] += bc[r];
    }
    for (int64_t r0 = c0; r0 < cols; r0 += kB)  // lower triangle: H(r, c) = batch[r][c], r > c
      for (int64_t c = c0; c < c1; ++c) {
        double* hc = hd + c * cols;
        for (int64_t r = std::max(r0, c + 1); r < std::min(cols, r0 + kB); ++r) hc[r] += batch[r * cols + c];
      }
  }
  s.n_tokens += n_tokens;
}

const SiteHessian* HessianCollector::find(const std::string& weight) const {
  const auto w = site_of_.find(weight);
  if (w == site_of_.end()) return nullptr;
  const auto s = sites_.find(w->second);
  return s == sites_.end() ? nullptr : &s->second;
}

size_t HessianCollector::bytes() const {
  size_t total = 0;
  for (const auto& [key, s] : sites_) total += static_cast<size_t>(s.h.size()) * sizeof(double);
  return total;
}

}  // namespace bitdial
