#include "decide/power.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace bitdial {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The smallest n >= lo with mde(n) <= drop, for mde decreasing in n: double from lo until it holds,
// then bisect. Sharing mde() with the check keeps "n_needed examples are sufficient" exact.
template <class Mde>
int64_t smallest_sufficient_n(int64_t lo, double drop, Mde mde) {
  BITDIAL_ASSERT(drop > 0);
  lo = std::max<int64_t>(lo, 1);
  if (mde(lo) <= drop) {
    // The closed-form start may overshoot by rounding; step back while the previous n also holds.
    while (lo > 1 && mde(lo - 1) <= drop) --lo;
    return lo;
  }
  int64_t hi = lo;
  while (mde(hi) > drop) {
    lo = hi;
    BITDIAL_ASSERT(hi < (int64_t{1} << 52));
    hi *= 2;
  }
  while (hi - lo > 1) {  // invariant: mde(lo) > drop >= mde(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (mde(mid) <= drop ? hi : lo) = mid;
  }
  return hi;
}

std::string one_decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

}  // namespace

double min_detectable_proportion(int64_t n, double p) {
  if (n <= 0) return kInf;
  const double nn = static_cast<double>(n);
  const double v = std::max(p * (1 - p), nn / ((nn + 1) * (nn + 1)));
  return kPowerZ * std::sqrt(v / nn);
}

double min_detectable_paired(int64_t n, double discordant_rate) {
  if (n <= 0) return kInf;
  const double nn = static_cast<double>(n);
  return kPowerZ * std::sqrt(std::max(discordant_rate, 1 / nn) / nn);
}

int64_t examples_needed_proportion(double p, double drop) {
  const double start = kPowerZ * kPowerZ * p * (1 - p) / (drop * drop);
  return smallest_sufficient_n(static_cast<int64_t>(std::ceil(std::min(start, 1e15))), drop,
                               [p](int64_t n) { return min_detectable_proportion(n, p); });
}

int64_t examples_needed_paired(double discordant_rate, double drop) {
  const double start = kPowerZ * kPowerZ * discordant_rate / (drop * drop);
  return smallest_sufficient_n(static_cast<int64_t>(std::ceil(std::min(start, 1e15))), drop,
                               [discordant_rate](int64_t n) { return min_detectable_paired(n, discordant_rate); });
}

bool floor_has_power(const Floor& floor) {
  const MetricName* m = find_metric_name(floor.metric);
  return m && m->accuracy_like;
}

PowerCheck check_power(const Floor& floor, const PowerInput& in) {
  PowerCheck c;
  c.floor = floor.text;
  c.key = floor.key;
  c.paired = floor.delta;
  c.n = in.n;
  const bool at_least = floor.op == FloorOp::at_least;
  const std::string change = at_least ? "drop" : "rise";
  const std::string prefix = floor.slice.empty() ? "" : "slice " + floor.slice + ": ";

  if (c.paired) {
    c.discordant_rate = in.discordant_rate;
    if (in.n > 0 && in.discordant_rate) c.min_detectable_drop = min_detectable_paired(in.n, *in.discordant_rate);
    // No change from the baseline is delta 0; the floor allows the distance from 0 to its threshold.
    const double allowed = at_least ? -floor.threshold : floor.threshold;
    if (allowed > 0) c.allowed_drop = allowed;
  } else {
    c.proportion = in.observed.value_or(0.5);
    if (in.n > 0) c.min_detectable_drop = min_detectable_proportion(in.n, *c.proportion);
    if (in.baseline) {
      const double allowed = at_least ? *in.baseline - floor.threshold : floor.threshold - *in.baseline;
      if (allowed > 0) c.allowed_drop = allowed;
    }
  }

  if (in.n <= 0) {
    c.warning = prefix + "no examples: the floor cannot be tested";
    return c;
  }
  if (!c.min_detectable_drop) {
    c.warning = prefix + "discordant rate unknown: no power estimate";
    return c;
  }
  const std::string detects = prefix + std::to_string(in.n) + " examples detect a " + change + " of " +
                              one_decimal(100 * *c.min_detectable_drop) + " points at 80 % power";
  if (!c.allowed_drop) {
    if (c.paired) {
      c.warning = detects + "; the floor allows no " + change + ", which no finite evaluation set can confirm";
    } else if (in.baseline) {
      c.warning = detects + "; the baseline itself (" + one_decimal(100 * *in.baseline) +
                  " %) does not clear the floor, so it allows no " + change;
    } else {
      c.warning = detects + "; baseline " + floor.metric + " unknown, so no verdict";
    }
    return c;
  }
  c.n_needed = c.paired ? examples_needed_paired(*in.discordant_rate, *c.allowed_drop)
                        : examples_needed_proportion(*c.proportion, *c.allowed_drop);
  c.sufficient = *c.min_detectable_drop <= *c.allowed_drop;
  if (!*c.sufficient) {
    c.warning = detects + "; the floor allows " + one_decimal(100 * *c.allowed_drop) +
                " — add examples (about " + std::to_string(*c.n_needed) + " needed)";
  }
  return c;
}

std::vector<PowerCheck> check_power(const std::vector<Floor>& floors, const std::map<std::string, PowerInput>& inputs) {
  std::vector<PowerCheck> out;
  for (const Floor& f : floors) {
    if (!floor_has_power(f)) continue;
    const auto it = inputs.find(f.key);
    out.push_back(check_power(f, it == inputs.end() ? PowerInput{} : it->second));
  }
  return out;
}

nlohmann::ordered_json power_json(const std::vector<PowerCheck>& checks) {
  const auto opt = [](const auto& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const PowerCheck& c : checks) {
    out.push_back({{"floor", c.floor},
                   {"n", c.n},
                   {"discordant_rate", opt(c.discordant_rate)},
                   {"proportion", opt(c.proportion)},
                   {"min_detectable_drop", opt(c.min_detectable_drop)},
                   {"allowed_drop", opt(c.allowed_drop)},
                   {"sufficient", opt(c.sufficient)},
                   {"n_needed", opt(c.n_needed)},
                   {"warning", c.warning.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.warning)}});
  }
  return out;
}

}  // namespace bitdial
