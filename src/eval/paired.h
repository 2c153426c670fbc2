// Paired comparison of a candidate against the baseline on the same task examples: agreement,
// the examples that flipped in each direction, the accuracy delta with a seeded bootstrap 95 %
// interval and McNemar's exact p-value, overall and per slice (tag).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/statistics.h"
#include "eval/task_runner.h"

namespace bitdial {

struct PairedSlice {
  std::string tag;                   // "" for overall
  int64_t n = 0;                     // examples scored by both models (error rows excluded)
  int64_t n_errors = 0;              // examples that were an error row in either model
  Proportion agreement;              // same prediction (classification: predicted choice; generation: same output)
  double accuracy_base = 0, accuracy_cand = 0;
  BootstrapDelta delta;              // accuracy(cand) - accuracy(base), 95 % percentile bootstrap
  int64_t base_right_cand_wrong = 0; // McNemar's b
  int64_t base_wrong_cand_right = 0; // McNemar's c
  double mcnemar_p = 1;
  std::vector<std::string> flipped_to_wrong;  // ids: baseline right, candidate wrong
  std::vector<std::string> flipped_to_right;  // ids: baseline wrong, candidate right
};

struct PairedReport {
  PairedSlice overall;
  std::vector<PairedSlice> slices;  // one per tag, sorted by tag
};

// base and cand must hold results for the same examples in the same order (same ids); throws
// bitdial::Error otherwise. `correct` is the raw-score correctness (ExampleResult::correct).
PairedReport compare_paired(const TaskReport& base, const TaskReport& cand, int resamples = kBootstrapResamples,
                            uint64_t seed = 0);

}  // namespace bitdial
