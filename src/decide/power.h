// Statistical power of the evaluation set for each accuracy-like floor: the smallest drop it could
// detect at 80 % power (two-sided alpha 0.05), whether that is within what the floor allows, and how
// many examples would be. A floor the data cannot resolve passes or fails by noise; this says so.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/floors.h"

namespace bitdial {

constexpr double kPowerZAlpha = 1.959963984540054;   // Phi^-1(0.975): two-sided alpha = 0.05
constexpr double kPowerZBeta = 0.8416212335729143;   // Phi^-1(0.80): power = 80 %
constexpr double kPowerZ = kPowerZAlpha + kPowerZBeta;  // 2.8015852...

// Absolute floor on a proportion (accuracy >= 0.89), one-sample normal approximation:
//   MDE = kPowerZ * sqrt(v / n),  v = max(p (1 - p), n / (n + 1)^2)
// The floor on v is p clamped to [1/(n+1), n/(n+1)], as if one more example had gone the other
// way: an observed 0 % or 100 % does not mean zero variance (and n = 1 gives p = 0.5, not 0).
// Infinity when n == 0.
double min_detectable_proportion(int64_t n, double p);

// Paired delta floor (accuracy_delta >= -0.01), McNemar-style normal approximation: the per-example
// difference d in {-1, 0, 1} has variance <= P(d != 0) = the discordant rate, so
//   MDE = kPowerZ * sqrt(r / n),  r = max(discordant_rate, 1 / n)
// The 1/n floor treats "no discordant pair seen" as "at most one in n": 0 would claim any drop is
// detectable from n examples. Infinity when n == 0.
double min_detectable_paired(int64_t n, double discordant_rate);

// The smallest n whose MDE (same formulas, same p or rate) is <= drop; drop must be > 0. Assumes the
// observed p / discordant rate stays the same on a larger set.
int64_t examples_needed_proportion(double p, double drop);
int64_t examples_needed_paired(double discordant_rate, double drop);

// What the sweep knows about the examples behind one floor's key (the slice's examples for a
// slice floor); power_inputs() (decide/sweep_results.h) fills it from the eval summaries.
struct PowerInput {
  int64_t n = 0;                          // examples scored by both models
  std::optional<double> observed;         // absolute floors: the proportion p in the variance (0.5 when unknown: the largest)
  std::optional<double> baseline;         // absolute floors: the baseline's value, to derive the allowed drop
  std::optional<double> discordant_rate;  // delta floors: the largest (b + c) / n over the candidates
};

struct PowerCheck {
  std::string floor;                      // Floor::text
  std::string key;
  bool paired = false;                    // a _delta floor (McNemar formula), else one-sample
  int64_t n = 0;
  std::optional<double> proportion;       // one-sample: the p used (observed, or 0.5 when unknown)
  std::optional<double> discordant_rate;  // paired: the observed rate (before the 1/n floor)
  std::optional<double> min_detectable_drop;  // null when n == 0 or, paired, the rate is unknown
  std::optional<double> allowed_drop;     // > 0, or null when the floor allows no drop / it is unknown
  std::optional<bool> sufficient;         // MDE <= allowed drop; null without both
  std::optional<int64_t> n_needed;        // examples for sufficiency; with allowed_drop
  std::string warning;                    // "" when sufficient
};

// Whether power is reported for a floor: its metric is accuracy_like.
bool floor_has_power(const Floor& floor);

// The power of one accuracy-like floor. The allowed drop: delta floors, the distance of 0 (no change
// from the baseline) to the threshold in the floor's direction (>= -0.01 allows 0.01); absolute
// floors, the baseline's margin against the floor (baseline 0.92, >= 0.89 allows 0.03).
PowerCheck check_power(const Floor& floor, const PowerInput& input);

// Every accuracy-like floor in order; inputs by Floor::key (a missing key counts as n = 0).
std::vector<PowerCheck> check_power(const std::vector<Floor>& floors, const std::map<std::string, PowerInput>& inputs);

// results.json "power": [{"floor","n","discordant_rate","proportion","min_detectable_drop",
// "allowed_drop","sufficient","n_needed","warning"}]; unknowns are null, warning null when sufficient.
nlohmann::ordered_json power_json(const std::vector<PowerCheck>& checks);

}  // namespace bitdial
