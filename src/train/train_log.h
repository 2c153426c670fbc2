// The progress display of a training run (a ProgressSink), following core/progress.h's conventions:
// on a terminal one line redrawn at most every 0.1 s; otherwise plain lines at most every 5 s. Lines
// with a held-out evaluation or a checkpoint are always printed and kept, so a log shows the whole
// held-out curve; the run's start and end get a line each.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "train/train_loop.h"

namespace bitdial {

// "step 120/1000 loss 2.3412 held-out 2.4101 lr 9.80e-04 12.3k tok/s elapsed 0m10s eta 1m20s"
// (loss: the smoothed one; held-out: `heldout`, the latest evaluation, when known).
std::string format_train_step(const TrainEvent& e, std::optional<double> heldout);

// `bitdial train --json` (docs/train.md "JSON output"): the run's outcome, per-update losses included.
nlohmann::ordered_json train_result_json(const TrainRun& run, const TrainResult& result);

class TrainLog {
 public:
  // tty: redraw one line (default: whether `out` is a terminal).
  explicit TrainLog(std::FILE* out = stderr);
  TrainLog(std::FILE* out, bool tty);
  void operator()(const TrainEvent& e);

 private:
  std::FILE* out_;
  bool tty_;
  bool open_line_ = false;  // a redrawn line without its newline yet
  std::optional<double> heldout_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace bitdial
