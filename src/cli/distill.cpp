// bitdial distill CONFIG.yaml [--resume] [--threads N] [--steps N] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
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
  std::string config_path;
  bool resume = false, json = false;
  std::optional<int> threads;
  std::optional<int64_t> steps;
  app.add_option("CONFIG", config_path, "distillation config (YAML)")->required();
  app.add_flag("--resume", resume, "continue from output.checkpoint (same config and teacher needed)");
  app.add_option("-t,--threads", threads, "threads (overrides train.threads; default: all cores)");
  app.add_option("--steps", steps, "total updates (overrides train.steps)");
  app.add_flag("--json", json, "print the result as JSON (docs/qat.md) instead of the summary line");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (threads && *threads < 1) fail("--threads ", *threads, ": need at least 1 thread");
  if (steps && *steps < 1) fail("--steps ", *steps, ": need at least 1 update");
  DistillConfig cfg = load_distill_config(config_path);
  if (threads) cfg.train.threads = *threads;
  if (steps) cfg.train.steps = *steps;
  PreparedTraining prep = prepare_training(cfg.train, resume);
  TrainRun& run = prep.run;
  run.export_options.description =
      "distilled by bitdial distill (" + std::filesystem::path(config_path).filename().string() + ")";
  const Teacher teacher = load_teacher(cfg.distill.teacher, run.vocab);
  const SynthSpec& s = run.params.spec;
  std::fprintf(stderr,
               "distill: student %.3f M params (%lld dim, %lld layers), teacher %s (%.3f M params), temperature %g, "
               "hard_weight %g\n"
               "distill: %lld training tokens, %lld held-out tokens; %lld updates of %lld x %lld tokens\n",
               static_cast<double>(run.params.numel()) / 1e6, static_cast<long long>(s.n_embd),
               static_cast<long long>(s.n_layer), teacher.identity.c_str(),
               static_cast<double>(teacher.params->numel()) / 1e6, cfg.distill.weights.temperature,
               cfg.distill.weights.hard_weight, static_cast<long long>(prep.summary.train_tokens),
               static_cast<long long>(prep.summary.heldout_tokens), static_cast<long long>(run.settings.steps),
               static_cast<long long>(run.settings.batch), static_cast<long long>(run.settings.seq_len));

  const InterruptGuard guard;
  TrainHooks hooks;
  hooks.should_stop = [] { return InterruptGuard::raised(); };
  TrainLog log(stderr);
  const TrainResult r = bitdial::run_distill(run, teacher, cfg.distill.weights, hooks, [&](const TrainEvent& e) { log(e); });

  if (json) {
    nlohmann::ordered_json j = train_result_json(run, r);
    j["distill"] = {{"teacher", cfg.distill.teacher},
                    {"temperature", cfg.distill.weights.temperature},
                    {"hard_weight", cfg.distill.weights.hard_weight}};
    std::printf("%s\n", json_text(j).c_str());
  }
  if (r.interrupted) {
    std::fprintf(stderr, "bitdial distill: interrupted at step %lld/%lld; %s holds it (continue with --resume)\n",
                 static_cast<long long>(r.steps_done), static_cast<long long>(run.settings.steps), run.checkpoint_path.c_str());
    return 1;
  }
  if (!json)
    std::printf("wrote %s (%s, %llu bytes) and checkpoint %s at step %lld\n", run.output_path.c_str(),
                type_name(run.export_options.type), static_cast<unsigned long long>(r.exported->file_bytes),
                run.checkpoint_path.c_str(), static_cast<long long>(r.steps_done));
  return 0;
}

}  // namespace bitdial::cli
