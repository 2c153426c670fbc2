// Per-site second moments of the matrix inputs, H = sum_t x_t x_t^T over the calibration tokens: the
// Hessian of the layer-wise reconstruction error ||W X^T - Q X^T||^2 that GPTQ minimises (Frantar et
// al. 2022, Section 3). One H per input site, shared by every weight that reads it (q/k/v, gate/up).
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/activation_observer.h"
#include "model/llama_model.h"

namespace bitdial {

struct SiteHessian {
  Eigen::MatrixXd h;     // (cols, cols) sum over tokens of x x^T, symmetric
  int64_t n_tokens = 0;  // tokens accumulated
};

class HessianCollector : public ActivationObserver {
 public:
  // Collects only the sites (site, layer) that feed at least one name in `weights` (GGUF names), so
  // memory is what those sites need: 8 * cols^2 bytes each, plus one 4 * cols^2 float buffer.
  explicit HessianCollector(const std::set<std::string>& weights);
  void on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) override;

  // The Hessian of the input that `weight` multiplies, or null when none was collected for it.
  const SiteHessian* find(const std::string& weight) const;
  // Bytes held by all collected Hessians.
  size_t bytes() const;

 private:
  std::set<std::string> wanted_;
  std::map<std::pair<int, int64_t>, SiteHessian> sites_;  // (site, layer) -> H
  std::map<std::string, std::pair<int, int64_t>> site_of_;  // weight -> its (site, layer)
  std::vector<float> batch_;  // (cols, cols) one call's float X^T X, kept to spare a large allocation per call
};

}  // namespace bitdial
