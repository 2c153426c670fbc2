// Floors: the quality bar a user writes before any quantization ("accuracy_delta >= -0.01"). This
// module parses one floor string into a Floor, checks it against a candidate's MetricTable in point
// or confidence-interval mode, and writes the rule list and per-candidate results for results.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/metric_table.h"

namespace bitdial {

enum class FloorOp { at_least, at_most };  // ">=", "<="
enum class FloorMode { point, ci };

std::string_view to_string(FloorOp op);      // ">=" / "<="
std::string_view to_string(FloorMode mode);  // "point" / "ci"

// "point" or "ci"; anything else throws bitdial::Error naming `where` (e.g. "sweep.yaml:9").
FloorMode parse_floor_mode(std::string_view text, std::string_view where);

// One parsed floor. Grammar (whitespace allowed around the tokens):
//   floor  := [ "slice[" TAG "]." ] NAME [ "_delta" ] ( "<=" | ">=" ) NUMBER
// NAME is a kMetricNames entry; "_delta" only where that entry has_delta; "slice[...]" only where it
// is per_slice; TAG is non-empty and holds no ']'. NUMBER is a finite decimal (e.g. -0.01, 2e3).
struct Floor {
  std::string text;    // as written, trimmed; identifies the floor in reports
  std::string key;     // the MetricTable key, e.g. "slice[short].accuracy_delta"
  std::string metric;  // the kMetricNames entry, e.g. "accuracy"
  std::string slice;   // the TAG, "" for the whole task data
  bool delta = false;  // candidate minus baseline
  FloorOp op = FloorOp::at_least;
  double threshold = 0;
};

// The kMetricNames entry called `name`, or nullptr.
const MetricName* find_metric_name(std::string_view name);

// Parses one floor; throws bitdial::Error "WHERE: floor "TEXT": WHAT" on any problem (unknown
// metric, with the closest known names; a bad number; a missing or unsupported operator; ...).
Floor parse_floor(std::string_view text, std::string_view where);

// The outcome of one floor for one table. margin > 0: how much room the floor has; margin < 0: the
// shortfall. In ci mode the bound is the pessimistic end of the 95 % interval (lo for >=, hi for
// <=); without an interval, or in point mode, it is the value itself.
struct FloorResult {
  std::string floor;           // Floor::text
  std::string key;             // Floor::key
  bool missing = false;        // key absent from the table: pass = false, numbers NaN
  bool has_interval = false;   // the metric carried [lo, hi]
  double value = 0, bound = 0, margin = 0;
  bool pass = false;
  std::string note;            // "not measured"; in ci mode "no interval: point estimate used"
};

FloorResult check_floor(const Floor& floor, const MetricTable& table, FloorMode mode);

// Every floor against one table, in the order given.
struct FloorsCheck {
  std::vector<FloorResult> results;
  int failed = 0;             // floors that did not pass, missing ones included
  double total_shortfall = 0; // sum of -margin over failed floors with a finite margin (ranks best-effort)
  bool passes() const { return failed == 0; }
};
FloorsCheck check_floors(const std::vector<Floor>& floors, const MetricTable& table, FloorMode mode);

// results.json "floors": {"mode": ..., "rules": [{"text","key","metric","delta","slice","op","threshold"}]};
// "slice" is null for whole-data floors.
nlohmann::ordered_json floors_json(const std::vector<Floor>& floors, FloorMode mode);

// A candidate's "floors" list: [{"floor","value","bound","pass","margin"[,"note"]}]; numbers that
// could not be measured are null.
nlohmann::ordered_json floor_results_json(const std::vector<FloorResult>& results);

}  // namespace bitdial
