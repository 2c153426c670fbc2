// What bitdial train, qat and distill share on the command line: the CONFIG, --resume, --threads,
// --steps and --json options and their checks, the data line of the start-up report, Ctrl-C wiring
// with the progress display on stderr, and the closing lines (interrupted, or the files written).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "train/train_config.h"
#include "train/train_loop.h"
#include "train/train_setup.h"

namespace bitdial::cli {

struct TrainArgs {
  std::string config_path;
  bool resume = false, json = false;
  std::optional<int> threads;
  std::optional<int64_t> steps;
};

// The help texts that differ between the commands.
struct TrainArgsHelp {
  std::string config;  // CONFIG
  std::string resume;  // --resume
  std::string steps;   // --steps
  std::string json;    // --json
};

void add_train_args(CLI::App& app, TrainArgs& args, const TrainArgsHelp& help);

// Fails on --threads or --steps below 1; call before the config is read.
void check_train_args(const TrainArgs& args);

// --threads and --steps over the config's train.threads and train.steps.
void apply_train_args(const TrainArgs& args, TrainConfig& cfg);

// "N training tokens, N held-out tokens; N updates of B x L tokens"
std::string train_data_line(const PreparedTraining& prep);

// While alive, SIGINT/SIGTERM stop the run at its next update (hooks.should_stop; see InterruptGuard).
struct InterruptibleTraining {
  InterruptibleTraining();
  InterruptGuard guard;
  TrainHooks hooks;
  // The progress display on stderr (a TrainLog made now, as the run starts).
  static ProgressSink progress();
};

// "bitdial COMMAND: interrupted at step N/M; CKPT holds it (continue with --resume)" on stderr; returns 1.
int report_interrupted(const std::string& command, const TrainRun& run, const TrainResult& r);

// "wrote OUT (TYPE, N bytes) and checkpoint CKPT at step N" on stdout.
void print_written(const TrainRun& run, const std::string& type, uint64_t bytes, const TrainResult& r);

}  // namespace bitdial::cli
