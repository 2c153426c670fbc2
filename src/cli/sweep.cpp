// bitdial sweep CONFIG.yaml [-o DIR] [--resume] [-t THREADS]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "decide/sweep.h"

namespace bitdial::cli {
int run_sweep(int argc, char** argv) {
  CLI::App app{
      "The main job: quantize the baseline at every configured rung (presets x methods, budget points),\n"
      "evaluate every candidate (and existing files or endpoints) against it on your text and task data,\n"
      "benchmark each with your traffic's request shape, price it on the target hardware, check your\n"
      "floors, and choose the passing candidate with the smallest serving cost. Writes DIR/results.json,\n"
      "DIR/decision.md, DIR/report.html and DIR/serve.yaml. Every finished stage is cached in DIR/cache\n"
      "under the digest of its inputs: an interrupted sweep resumes where it stopped, and adding a\n"
      "candidate computes only that one. Config reference: docs/sweep.md.\n\n"
      "examples:\n"
      "  bitdial sweep sweep.yaml\n"
      "  bitdial sweep examples/stories/sweep.yaml -o /tmp/stories-sweep -t 2\n"
      "  bitdial sweep sweep.yaml -o out --resume      # reuse out/ although the config changed",
      "bitdial sweep"};
  std::string config, out_dir;
  bool resume = false;
  int threads = -1;
  app.add_option("CONFIG", config, "sweep configuration (YAML)")->required();
  app.add_option("-o,--out", out_dir, "output folder (default: CONFIG's name with .sweep, next to it)");
  app.add_flag("--resume", resume, "reuse an output folder made by another version of the config (its cache stays valid)");
  app.add_option("-t,--threads", threads, "threads (default: the config's, else all cores)");
  CLI11_PARSE_OR_RETURN(app, argc, argv);
  if (threads < -1) threads = -1;

  SweepOptions o;
  o.config_path = config;
  o.out_dir = out_dir;
  o.resume = resume;
  o.threads = threads;
  // Ctrl-C stops at the next check: the stage in progress leaves nothing, finished ones stay cached.
  SweepOutcome r;
  {
    const InterruptGuard guard;
    o.cancelled = [] { return InterruptGuard::raised(); };
    r = run_sweep(o);
  }
  if (!r.chosen.empty()) {
    std::printf("chosen: %s\n", r.chosen.c_str());
  } else {
    std::printf("no candidate holds every floor; best effort: %s\n", r.best_effort.c_str());
  }
  std::printf("stages: %d computed, %d cached; %.1f s\n", r.stages_computed, r.stages_cached, r.seconds);
  std::printf("report: %s/report.html\ndecision: %s/decision.md\nresults: %s/results.json\nserve config: %s/serve.yaml\n",
              r.dir.c_str(), r.dir.c_str(), r.dir.c_str(), r.dir.c_str());
  return 0;
}

}  // namespace bitdial::cli
