// `bitdial sweep`: quantize the baseline at every configured rung, evaluate every candidate against
// it on the user's text and task data, benchmark it with the traffic's request shape, price it on the
// target hardware, check the floors, choose the passing candidate with the smallest serving cost, and
// write results.json, decision.md, report.html and serve.yaml into the output folder.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace bitdial {

struct SweepOptions {
  std::string config_path;
  std::string out_dir;  // "" : "<config stem>.sweep" next to the config
  // The output folder already holds another config's sweep: without resume that is an error (its
  // decision would be replaced); with it, its cache is reused and its outputs replaced.
  bool resume = false;
  int threads = -1;                    // -1: the config's (0 = all cores)
  std::FILE* log = stderr;             // stage lines, progress; nullptr: silent
  std::function<bool()> cancelled;     // polled between and inside long stages
};

struct SweepOutcome {
  std::string dir;
  std::string chosen;       // "" when none passed
  std::string best_effort;  // "" when one was chosen
  int stages_computed = 0, stages_cached = 0;
  double seconds = 0;
};

// Throws bitdial::Error (config errors with file:line, unreadable models, cancelled runs). Every
// finished stage stays in DIR/cache, so running again resumes where it stopped.
SweepOutcome run_sweep(const SweepOptions& options);

}  // namespace bitdial
