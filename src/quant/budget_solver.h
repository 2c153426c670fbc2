// Size-budget allocation: given, for each tensor group, the measured damage (mean KL divergence on
// calibration text) of each candidate type and its size, pick one type per group so the total size fits
// the budget and the summed damage is as small as possible — a multiple-choice knapsack, solved on each
// group's lower convex hull with marginal-efficiency upgrades (the Lagrangian relaxation's path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial {

struct BudgetOption {
  TensorType type = TensorType::F32;
  uint64_t bytes = 0;   // the group's size in this type
  double damage = 0;    // predicted damage when only this group is quantized to this type (>= 0)
};

struct BudgetGroup {
  std::string name;                  // a tensor name, or a group label
  std::vector<std::string> tensors;  // the tensors that take the chosen type together
  std::vector<BudgetOption> options; // at least one
};

struct BudgetAllocation {
  std::vector<size_t> choice;  // per group: index into its options
  uint64_t bytes = 0;          // sum of the chosen options' bytes
  double damage = 0;           // sum of the chosen options' damage (the additive prediction)
};

// Minimises the summed damage subject to sum(bytes) <= budget. Starts from each group's smallest option
// and repeatedly applies the upgrade with the largest damage reduction per extra byte along the groups'
// lower convex hulls (the solutions of min damage + lambda * bytes for decreasing lambda); then spends
// what is left on the best single upgrade off the hull that still fits. Exact whenever the budget falls
// on a hull vertex; otherwise within one group's hull step of the optimum.
// Throws bitdial::Error when a group has no options or the budget is below the smallest possible size
// (naming that size).
BudgetAllocation solve_budget(const std::vector<BudgetGroup>& groups, uint64_t budget);

}  // namespace bitdial
