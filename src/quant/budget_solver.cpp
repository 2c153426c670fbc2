#include "quant/budget_solver.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace bitdial {
namespace {

// Indices of a group's options on the lower convex hull of (bytes, damage), by increasing bytes and
// strictly decreasing damage. Options dominated by a smaller, no-worse one never appear.
std::vector<size_t> lower_hull(const std::vector<BudgetOption>& opts) {
  std::vector<size_t> idx(opts.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    if (opts[a].bytes != opts[b].bytes) return opts[a].bytes < opts[b].bytes;
    if (opts[a].damage != opts[b].damage) return opts[a].damage < opts[b].damage;
    return a < b;
  });
  std::vector<size_t> hull;
  for (const size_t i : idx) {
    if (!hull.empty() && opts[i].damage >= opts[hull.back()].damage) continue;  // dominated
    if (!hull.empty() && opts[i].bytes == opts[hull.back()].bytes) continue;
    // Pop points that lie on or above the segment from hull[-2] to i (they are never a Lagrangian optimum).
    while (hull.size() >= 2) {
      const BudgetOption& a = opts[hull[hull.size() - 2]];
      const BudgetOption& b = opts[hull.back()];
      const BudgetOption& c = opts[i];
      const double cross = (static_cast<double>(b.bytes) - static_cast<double>(a.bytes)) * (c.damage - a.damage) -
                           (b.damage - a.damage) * (static_cast<double>(c.bytes) - static_cast<double>(a.bytes));
      if (cross <= 0) hull.pop_back();
      else break;
    }
    hull.push_back(i);
  }
  return hull;
}

}  // namespace

BudgetAllocation solve_budget(const std::vector<BudgetGroup>& groups, uint64_t budget) {
  BudgetAllocation a;
  std::vector<std::vector<size_t>> hulls;
  std::vector<size_t> pos(groups.size(), 0);  // position on each hull
  for (const BudgetGroup& g : groups) {
    if (g.options.empty()) fail("budget: tensor group '", g.name, "' has no candidate types");
    hulls.push_back(lower_hull(g.options));
    const BudgetOption& o = g.options[hulls.back()[0]];
    a.choice.push_back(hulls.back()[0]);
    a.bytes += o.bytes;
  }
  if (a.bytes > budget)
    fail("budget of ", budget, " bytes is below the smallest possible size of these tensors: ", a.bytes, " bytes");

  // Hull walk: the next step of each group has a damage-per-byte slope; take the steepest that fits.
  // Slopes along one hull are non-increasing, so skipping a step that does not fit loses nothing on that
  // group's later steps only if they are larger — they are, so such a group is finished.
  std::vector<bool> done(groups.size(), false);
  for (;;) {
    size_t best = groups.size();
    double best_rate = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      if (done[g] || pos[g] + 1 >= hulls[g].size()) continue;
      const BudgetOption& cur = groups[g].options[hulls[g][pos[g]]];
      const BudgetOption& nxt = groups[g].options[hulls[g][pos[g] + 1]];
      const uint64_t extra = nxt.bytes - cur.bytes;
      if (a.bytes + extra > budget) {
        done[g] = true;
        continue;
      }
      const double rate = (cur.damage - nxt.damage) / static_cast<double>(extra);
      if (best == groups.size() || rate > best_rate) {
        best = g;
        best_rate = rate;
      }
    }
    if (best == groups.size()) break;
    const BudgetOption& cur = groups[best].options[hulls[best][pos[best]]];
    ++pos[best];
    const BudgetOption& nxt = groups[best].options[hulls[best][pos[best]]];
    a.bytes += nxt.bytes - cur.bytes;
    a.choice[best] = hulls[best][pos[best]];
  }

  // Leftover: the single change of one group (to any option, hull or not) that lowers damage most and fits.
  for (;;) {
    size_t bg = groups.size(), bo = 0;
    double gain = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const BudgetOption& cur = groups[g].options[a.choice[g]];
      for (size_t o = 0; o < groups[g].options.size(); ++o) {
        const BudgetOption& alt = groups[g].options[o];
        if (a.bytes - cur.bytes + alt.bytes > budget) continue;
        if (cur.damage - alt.damage > gain) {
          gain = cur.damage - alt.damage;
          bg = g;
          bo = o;
        }
      }
    }
    if (bg == groups.size()) break;
    a.bytes = a.bytes - groups[bg].options[a.choice[bg]].bytes + groups[bg].options[bo].bytes;
    a.choice[bg] = bo;
  }
  for (size_t g = 0; g < groups.size(); ++g) a.damage += groups[g].options[a.choice[g]].damage;
  return a;
}

}  // namespace bitdial
