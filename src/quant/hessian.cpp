// Accumulates H += X^T X per site in double: the sums run over up to millions of tokens, and float
// would lose the small eigenvalues that GPTQ's Cholesky of H^-1 depends on. One call's product (at most
// a few thousand tokens) is formed in float as a symmetric rank-k update — half the multiplications of a
// full product at twice the SIMD width, about 4x faster than a double GEMM — and then added in double.
#include "quant/hessian.h"

#include "core/error.h"

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
  // x: (n_tokens, cols) row-major -> H (cols, cols) += x^T x.
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> xf(x, n_tokens, cols);
  Eigen::MatrixXf batch = Eigen::MatrixXf::Zero(cols, cols);
  batch.selfadjointView<Eigen::Lower>().rankUpdate(xf.transpose());
  s.h += batch.selfadjointView<Eigen::Lower>().toDenseMatrix().cast<double>();
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
