#include "train/param_set.h"

#include <algorithm>

namespace bitdial {

Param* ParamSet::find(const std::string& name) {
  for (Param& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

const Param* ParamSet::find(const std::string& name) const {
  for (const Param& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

void ParamSet::zero_grads() {
  for (Param& p : params) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

int64_t ParamSet::numel() const {
  int64_t n = 0;
  for (const Param& p : params) n += p.numel();
  return n;
}

}  // namespace bitdial
