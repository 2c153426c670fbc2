// The measured damage table saved as JSON, so solving the same model for several budgets (or after a
// failed write) measures once. The file records what the numbers depend on — model, calibration text,
// chunks, imatrix, grouping, candidates — and is only reused when all of them match.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "quant/budget_solver.h"

namespace bitdial {

struct BudgetTableKey {
  std::string model;        // path and size of the input model
  std::string calib;        // path and size of the calibration text
  int64_t n_ctx = 0;
  int64_t n_chunks = 0;
  std::string imatrix;      // path and size, "" without
  std::string grouping;     // "tensor" | "kind"
  std::string candidates;   // comma-separated type names
  int64_t positions = 0;    // positions the damages are means over
};

// "path (N bytes)"; "" for an empty path.
std::string file_identity(const std::string& path);

// Writes atomically. Throws bitdial::Error on I/O failure.
void save_budget_table(const std::string& path, const BudgetTableKey& key, const std::vector<BudgetGroup>& table);
// The table when `path` exists and its key equals `key`; nullopt when the file is absent or made for other
// inputs. Throws bitdial::Error "<path>: ..." when it exists but is not a valid table.
std::optional<std::vector<BudgetGroup>> load_budget_table(const std::string& path, const BudgetTableKey& key);

}  // namespace bitdial
