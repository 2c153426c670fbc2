// bitdial distill CONFIG.yaml [--resume] [--threads N] [--steps N] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/train_cli.h"
#include "core/tensor_type.h"
#include "train/distill.h"
#include "train/train_log.h"
#include "train/train_setup.h"

namespace bitdial::cli {

int run_distill(int argc, char** argv) {
  CLI::App app{
      "Knowledge distillation (Hinton et al. 2015): train a student (a fresh shape, or model.init) on a\n"
      "teacher model's softened next-token distributions, mixed with the hard next-token loss. The teacher\n"
      "must use the student's tokenizer (checked token by token) and cover train.seq_len. Everything else\n"
      "is `bitdial train`: checkpoints, --resume, held-out evaluation (plain cross-entropy, comparable with\n"
      "train runs) and the export in output.type. For a quantized student use `bitdial qat` with a\n"
      "distill: section. Progress goes to stderr; the summary (or --json) to stdout.\n"
      "\n"
      "config: a `bitdial train` config (see bitdial train --help) plus:\n"
      "  distill:  teacher: MODEL.gguf (required), temperature: T (default 1, in (0, 100]),\n"
      "            hard_weight: A (weight of the hard loss, default 0, in [0, 1])\n"
      "\n"
      "example config (docs/qat.md):\n"
      "  model: {n_embd: 48, n_layer: 2, n_head: 4, n_ff: 128, n_ctx: 256, tied_embeddings: true}\n"
      "  tokenizer: {from: triage.gguf}\n"
      "  data: {text: data/train.txt, heldout: data/heldout.txt}\n"
      "  train: {steps: 800, batch: 16, seq_len: 64, lr: 3e-3, warmup: 50}\n"
      "  output: {model: triage-small.gguf}\n"
      "  distill: {teacher: triage.gguf, temperature: 2, hard_weight: 0.5}\n"
      "\n"
      "examples:\n"
      "  bitdial distill triage-small.yaml\n"
      "  bitdial distill triage-small.yaml --resume --threads 8",
      "bitdial distill"};
  TrainArgs args;
  add_train_args(app, args,
                 {"distillation config (YAML)", "continue from output.checkpoint (same config and teacher needed)",
                  "total updates (overrides train.steps)",
                  "print the result as JSON (docs/qat.md) instead of the summary line"});
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  check_train_args(args);
  DistillConfig cfg = load_distill_config(args.config_path);
  apply_train_args(args, cfg.train);
  PreparedTraining prep = prepare_training(cfg.train, args.resume);
  TrainRun& run = prep.run;
  run.export_options.description =
      "distilled by bitdial distill (" + std::filesystem::path(args.config_path).filename().string() + ")";
  const Teacher teacher = load_teacher(cfg.distill.teacher, run.vocab);
  const SynthSpec& s = run.params.spec;
  std::fprintf(stderr,
               "distill: student %.3f M params (%lld dim, %lld layers), teacher %s (%.3f M params), temperature %g, "
               "hard_weight %g\n"
               "distill: %s\n",
               static_cast<double>(run.params.numel()) / 1e6, static_cast<long long>(s.n_embd),
               static_cast<long long>(s.n_layer), teacher.identity.c_str(),
               static_cast<double>(teacher.params->numel()) / 1e6, cfg.distill.weights.temperature,
               cfg.distill.weights.hard_weight, train_data_line(prep).c_str());

  const InterruptibleTraining interruptible;
  const TrainResult r =
      bitdial::run_distill(run, teacher, cfg.distill.weights, interruptible.hooks, interruptible.progress());

  if (args.json) {
    nlohmann::ordered_json j = train_result_json(run, r);
    j["distill"] = {{"teacher", cfg.distill.teacher},
                    {"temperature", cfg.distill.weights.temperature},
                    {"hard_weight", cfg.distill.weights.hard_weight}};
    std::printf("%s\n", json_text(j).c_str());
  }
  if (r.interrupted) return report_interrupted("distill", run, r);
  if (!args.json) print_written(run, type_name(run.export_options.type), r.exported->file_bytes, r);
  return 0;
}

}  // namespace bitdial::cli
