// The size-budget solver (quant/budget_solver.h) and the sensitivity table it works from
// (quant/sensitivity.h): allocations fit the budget, match exhaustive search, and the measured damage of a
// tensor grows as its type gets smaller.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/llama_model.h"
#include "model/synth.h"
#include "quant/budget_solver.h"
#include "quant/calibration.h"
#include "quant/sensitivity.h"
#include "test_support.h"

namespace bitdial {
namespace {

BudgetGroup group(const std::string& name, std::vector<std::pair<uint64_t, double>> opts) {
  BudgetGroup g{name, {name}, {}};
  for (const auto& [b, d] : opts) g.options.push_back(BudgetOption{TensorType::F32, b, d});
  return g;
}

// Exhaustive minimum damage within the budget.
double brute_force(const std::vector<BudgetGroup>& groups, uint64_t budget) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> c(groups.size(), 0);
  for (;;) {
    uint64_t b = 0;
    double d = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      b += groups[g].options[c[g]].bytes;
      d += groups[g].options[c[g]].damage;
    }
    if (b <= budget) best = std::min(best, d);
    size_t g = 0;
    while (g < groups.size() && ++c[g] == groups[g].options.size()) c[g++] = 0;
    if (g == groups.size()) return best;
  }
}

TEST(BudgetSolver, SpendsBytesWhereTheyRemoveMostDamage) {
  // Group a gains 9 per 10 extra bytes, b only 1: with room for one upgrade, a gets it.
  const std::vector<BudgetGroup> groups = {group("a", {{10, 10.0}, {20, 1.0}}), group("b", {{10, 2.0}, {20, 1.0}})};
  const BudgetAllocation a = solve_budget(groups, 30);
  EXPECT_EQ(a.choice, (std::vector<size_t>{1, 0}));
  EXPECT_EQ(a.bytes, 30u);
  EXPECT_DOUBLE_EQ(a.damage, 3.0);
}

TEST(BudgetSolver, NeverExceedsTheBudgetAndMatchesExhaustiveSearchOnHullVertices) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BudgetGroup> groups;
    for (int g = 0; g < 4; ++g) {
      // Convex damage curve over sizes 8, 12, 16, 24, 32 (like q3..q8): each type halves-ish the damage.
      const double scale = std::uniform_real_distribution<double>(0.1, 10.0)(rng);
      groups.push_back(group("g" + std::to_string(g), {{8, scale * 16}, {12, scale * 6}, {16, scale * 2.5}, {24, scale * 1.2}, {32, scale * 0.1}}));
    }
    const uint64_t budget = 32 + std::uniform_int_distribution<uint64_t>(0, 96)(rng);
    const BudgetAllocation a = solve_budget(groups, budget);
    EXPECT_LE(a.bytes, budget);
    const double opt = brute_force(groups, budget);
    EXPECT_GE(a.damage, opt - 1e-9);
    // Within the largest single hull step of the optimum (the greedy's known gap).
    double step = 0;
    for (const BudgetGroup& g : groups) step = std::max(step, g.options[0].damage - g.options[1].damage);
    EXPECT_LE(a.damage, opt + step) << "trial " << trial;
  }
}

TEST(BudgetSolver, RejectsABudgetBelowTheSmallestSize) {
  const std::vector<BudgetGroup> groups = {group("a", {{10, 1.0}, {20, 0.5}}), group("b", {{7, 1.0}})};
  EXPECT_NE(test::error_of([&] { solve_budget(groups, 16); }).find("smallest possible size of these tensors: 17 bytes"),
            std::string::npos);
}

TEST(BudgetSolver, IgnoresDominatedOptions) {
  // Option 1 is larger and worse than option 0: never chosen even with room.
  const std::vector<BudgetGroup> groups = {group("a", {{10, 1.0}, {20, 2.0}, {30, 0.5}})};
  EXPECT_EQ(solve_budget(groups, 25).choice[0], 0u);
  EXPECT_EQ(solve_budget(groups, 30).choice[0], 2u);
}

std::string write_tiny(const test::TempDir& dir) { return test::write_tiny_f32_model(dir, 11, 0.15f); }

TEST(Sensitivity, DamageFallsAsBitsRiseAndOriginalsAreRestored) {
  test::TempDir dir;
  const std::string path = write_tiny(dir);
  const LlamaModel base = LlamaModel::load(path);
  LlamaModel work = LlamaModel::load(path);
  std::vector<int32_t> toks;
  for (int i = 0; i < 96; ++i) toks.push_back(3 + (i * 37) % 300);
  const CalibrationSet calib = calibration_from_tokens(toks, 1, 32, "test tokens");
  const KlReference ref(base, calib);
  EXPECT_NEAR(ref.mean_kl(work), 0.0, 1e-12);
  SensitivityOptions o;
  o.candidates = {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K};  // q4_K cannot hold 64-wide rows
  const std::vector<BudgetGroup> g = measure_sensitivity(work, ref, {"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}, o);
  ASSERT_EQ(g.size(), 2u);
  for (const BudgetGroup& grp : g) {
    ASSERT_EQ(grp.options.size(), 2u) << grp.name;
    EXPECT_EQ(grp.options[0].type, TensorType::Q4_0);
    EXPECT_GT(grp.options[0].damage, grp.options[1].damage) << grp.name;
    EXPECT_LT(grp.options[0].bytes, grp.options[1].bytes);
  }
  EXPECT_NEAR(ref.mean_kl(work), 0.0, 1e-12);  // every weight put back
}

TEST(Sensitivity, KindGroupingQuantizesALayerKindTogether) {
  test::TempDir dir;
  const std::string path = write_tiny(dir);
  const LlamaModel base = LlamaModel::load(path);
  LlamaModel work = LlamaModel::load(path);
  std::vector<int32_t> toks(64, 40);
  const CalibrationSet calib = calibration_from_tokens(toks, 1, 32, "test tokens");
  const KlReference ref(base, calib);
  SensitivityOptions o;
  o.candidates = {TensorType::Q8_0};
  o.grouping = BudgetGrouping::kind;
  const std::vector<BudgetGroup> g =
      measure_sensitivity(work, ref, {"blk.0.attn_q.weight", "blk.1.attn_q.weight", "blk.0.ffn_up.weight"}, o);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].name, "attn_q");
  EXPECT_EQ(g[0].tensors.size(), 2u);
  EXPECT_EQ(g[1].name, "ffn_up");
}

}  // namespace
}  // namespace bitdial
