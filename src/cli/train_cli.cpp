#include "cli/train_cli.h"

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "train/train_log.h"

namespace bitdial::cli {

void add_train_args(CLI::App& app, TrainArgs& args, const TrainArgsHelp& help) {
  app.add_option("CONFIG", args.config_path, help.config)->required();
  app.add_flag("--resume", args.resume, help.resume);
  app.add_option("-t,--threads", args.threads, "threads (overrides train.threads; default: all cores)");
  app.add_option("--steps", args.steps, help.steps);
  app.add_flag("--json", args.json, help.json);
}

void check_train_args(const TrainArgs& args) {
  if (args.threads && *args.threads < 1) fail("--threads ", *args.threads, ": need at least 1 thread");
  if (args.steps && *args.steps < 1) fail("--steps ", *args.steps, ": need at least 1 update");
}

void apply_train_args(const TrainArgs& args, TrainConfig& cfg) {
  if (args.threads) cfg.threads = *args.threads;
  if (args.steps) cfg.steps = *args.steps;
}

std::string train_data_line(const PreparedTraining& prep) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld training tokens, %lld held-out tokens; %lld updates of %lld x %lld tokens",
                static_cast<long long>(prep.summary.train_tokens), static_cast<long long>(prep.summary.heldout_tokens),
                static_cast<long long>(prep.run.settings.steps), static_cast<long long>(prep.run.settings.batch),
                static_cast<long long>(prep.run.settings.seq_len));
  return buf;
}

InterruptibleTraining::InterruptibleTraining() {
  hooks.should_stop = [] { return InterruptGuard::raised(); };
}

ProgressSink InterruptibleTraining::progress() {
  return [log = std::make_shared<TrainLog>(stderr)](const TrainEvent& e) { (*log)(e); };
}

int report_interrupted(const std::string& command, const TrainRun& run, const TrainResult& r) {
  std::fprintf(stderr, "bitdial %s: interrupted at step %lld/%lld; %s holds it (continue with --resume)\n", command.c_str(),
               static_cast<long long>(r.steps_done), static_cast<long long>(run.settings.steps), run.checkpoint_path.c_str());
  return 1;
}

void print_written(const TrainRun& run, const std::string& type, uint64_t bytes, const TrainResult& r) {
  std::printf("wrote %s (%s, %llu bytes) and checkpoint %s at step %lld\n", run.output_path.c_str(), type.c_str(),
              static_cast<unsigned long long>(bytes), run.checkpoint_path.c_str(), static_cast<long long>(r.steps_done));
}

}  // namespace bitdial::cli
