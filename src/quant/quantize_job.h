// The whole `bitdial quantize` run beyond plain presets: importance weights from an imatrix, a calibration
// method (GPTQ, AWQ) and the size-budget solver, composed around the streaming writer
// (quant/quantize_model.h). Order: plan the preset -> (budget: measure each tensor's damage per candidate
// type on calibration text, solve, re-plan with the chosen types) -> (method pass on the planned types)
// -> write -> (budget: measure the written file's damage on the same text, against the prediction).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "quant/awq.h"
#include "quant/budget_solver.h"
#include "quant/gptq.h"
#include "quant/quantize_model.h"
#include "quant/sensitivity.h"

namespace bitdial {

enum class QuantMethod { rtn, gptq, awq };
// "rtn" | "gptq" | "awq"; throws bitdial::Error otherwise.
QuantMethod parse_quant_method(const std::string& name);

// The types the solver tries by default: every block type with a scalar codec a general model benefits
// from (no ternary), plus q8_0 and f16 at the top.
std::vector<TensorType> default_budget_candidates();

struct QuantizeJob {
  std::string in, out;
  QuantizeOptions write;            // recipe (preset + overrides), threads, progress, warn, cancelled
  std::string imatrix_path;         // "" : none
  int64_t min_imatrix_tokens = 1;   // entries with fewer tokens are named in a warning and used unweighted
  QuantMethod method = QuantMethod::rtn;
  std::string calib_path;           // required by gptq, awq and budgets
  int64_t calib_ctx = 512;
  int64_t calib_chunks = 0;         // 0: every whole chunk of the text
  std::optional<double> budget_bpw;      // tensor bits / weights, as plan.bits_per_weight()
  std::optional<uint64_t> budget_bytes;  // the whole output file
  std::vector<TensorType> budget_candidates = default_budget_candidates();
  std::optional<BudgetGrouping> budget_grouping;  // default: per tensor up to 64 matrices, else per kind
  int64_t budget_chunks = 8;        // calibration chunks the damage table is measured on
  std::string budget_table_path;    // "" : none; else reuse the table there when its inputs match, save it otherwise
  GptqOptions gptq;
  // GPTQ Hessians layer by layer from the partly quantized model (n_layer calibration passes) or from the
  // unquantized model in one pass. Unset: layer by layer up to kGptqSequentialMaxWeights weights.
  std::optional<bool> gptq_sequential;
  static constexpr uint64_t kGptqSequentialMaxWeights = 200'000'000;
  AwqOptions awq;
  bool dry_run = false;             // plan (and solve a budget) but write nothing
  std::FILE* log = stderr;          // progress bars and stage lines; nullptr: silent
};

struct BudgetReport {
  std::vector<BudgetGroup> table;   // measured damage per group and candidate
  BudgetAllocation allocation;
  uint64_t tensor_budget = 0;       // bytes the adjustable matrices had
  double predicted = 0;             // sum of the chosen options' damage (additivity assumption)
  std::optional<double> measured;   // mean KL of the written file on the same chunks (not in a dry run)
  bool table_reused = false;        // read from budget_table_path instead of measured
  int64_t positions = 0;            // calibration positions the damages are means over
};

struct QuantizeJobResult {
  QuantPlan plan;                   // what was (or would be) written
  uint64_t file_bytes = 0;          // 0 in a dry run
  std::vector<std::string> warnings;
  std::optional<BudgetReport> budget;
  std::string method_summary;       // one line about the method pass, "" for rtn
};

// Throws bitdial::Error with context (file, flag, tensor) on bad input: a method or budget without
// --calib, calibration text shorter than one context, a mismatched imatrix, a budget below the smallest
// possible size, a cancelled run. Nothing is left at `out` on failure.
QuantizeJobResult run_quantize_job(const QuantizeJob& job);

}  // namespace bitdial
