// bitdial qat CONFIG.yaml [--resume] [--threads N] [--steps N] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/train_cli.h"
#include "train/qat.h"
#include "train/train_log.h"
#include "train/train_setup.h"

namespace bitdial::cli {

int run_qat(int argc, char** argv) {
  CLI::App app{
      "Quantization-aware fine-tuning: start from a trained model, train with every matrix quantized to\n"
      "the GGUF type it will be exported as and decoded again (that type's own block grid and scale\n"
      "search, recomputed every pass; gradients pass straight through to the float weights), and export a\n"
      "standard GGUF of those types. The exported file decodes to exactly the weights the last pass used,\n"
      "so the held-out loss printed at the end is the file's. The held-out loss at the start is the\n"
      "post-training round-to-nearest quantization of the same model at the same types: the number to\n"
      "beat. Progress goes to stderr; the summary (or --json) to stdout.\n"
      "\n"
      "config: a `bitdial train` config (see bitdial train --help; model.init is required, output.type\n"
      "is not used) plus:\n"
      "  qat:      type: q2_K (every matrix) | preset: Q3_K_M (the per-tensor mix of bitdial quantize),\n"
      "            imatrix: FILE (importance weights, as quantize --imatrix), min_imatrix_tokens: N\n"
      "  distill:  teacher: MODEL.gguf, temperature: T, hard_weight: A   (optional; e.g. the float model)\n"
      "\n"
      "example config (docs/qat.md):\n"
      "  model: {init: triage.gguf}\n"
      "  data: {text: data/train.txt, heldout: data/heldout.txt}\n"
      "  train: {steps: 200, batch: 16, seq_len: 64, lr: 3e-4, eval_every: 100}\n"
      "  output: {model: triage-q2_k-qat.gguf}\n"
      "  qat: {type: q2_K}\n"
      "\n"
      "examples:\n"
      "  bitdial qat triage-qat.yaml\n"
      "  bitdial qat triage-qat.yaml --resume --threads 8\n"
      "  bitdial qat triage-qat.yaml --steps 20 --json > run.json",
      "bitdial qat"};
  TrainArgs args;
  add_train_args(app, args,
                 {"QAT config (YAML)", "continue from output.checkpoint (same config and qat target needed)",
                  "total updates (overrides train.steps)",
                  "print the result as JSON (docs/qat.md) instead of the summary lines"});
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  check_train_args(args);
  QatConfig cfg = load_qat_config(args.config_path);
  apply_train_args(args, cfg.train);
  PreparedTraining prep = prepare_training(cfg.train, args.resume);
  TrainRun& run = prep.run;
  run.export_options.description =
      "quantization-aware fine-tuned by bitdial qat (" + std::filesystem::path(args.config_path).filename().string() + ")";

  std::vector<std::string> warnings;
  const FakeQuantPlan plan = make_qat_plan(run.params, cfg.qat, &warnings);
  for (const std::string& w : warnings) std::fprintf(stderr, "qat: warning: %s\n", w.c_str());
  std::fprintf(stderr, "qat: %s from %s: %zu matrices, %.3f bits/weight%s\n", plan.name.c_str(), cfg.train.init.c_str(),
               plan.tensors.size(), plan.bits_per_weight(), cfg.qat.imatrix.empty() ? "" : ", importance-weighted");
  for (const std::string& f : plan.fallbacks()) std::fprintf(stderr, "qat: fallback %s (rows not whole blocks)\n", f.c_str());
  std::fprintf(stderr, "qat: %s\n", train_data_line(prep).c_str());

  InterruptibleTraining interruptible;
  if (cfg.distill) {
    add_teacher(run, interruptible.hooks, load_teacher(cfg.distill->teacher, run.vocab), cfg.distill->weights);
    std::fprintf(stderr, "qat: distilling from %s (temperature %g, hard_weight %g)\n", cfg.distill->teacher.c_str(),
                 cfg.distill->weights.temperature, cfg.distill->weights.hard_weight);
  }
  const QatResult r = bitdial::run_qat(run, plan, interruptible.hooks, interruptible.progress());

  const auto opt = [](const std::optional<double>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); };
  if (args.json) {
    nlohmann::ordered_json j = train_result_json(run, r.train);
    j["qat"] = {{"target", plan.name},
                {"file_type", plan.file_type},
                {"bits_per_weight", plan.bits_per_weight()},
                {"fallbacks", plan.fallbacks()},
                {"imatrix", cfg.qat.imatrix.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(cfg.qat.imatrix)},
                {"heldout_loss_float", opt(r.float_heldout_loss)}};
    if (r.exported)
      j["model"] = {{"path", run.output_path}, {"type", plan.name}, {"bytes", r.exported->file_bytes},
                    {"tensors", r.exported->plan.tensors.size()}};
    std::printf("%s\n", json_text(j).c_str());
  }
  if (r.train.interrupted) return report_interrupted("qat", run, r.train);
  if (!args.json) {
    if (r.float_heldout_loss && r.train.initial_heldout_loss && r.train.final_heldout_loss)
      std::printf("held-out loss: float %.4f; %s at step %lld %.4f%s; after QAT (the exported file) %.4f\n",
                  *r.float_heldout_loss, plan.name.c_str(), static_cast<long long>(r.train.first_step),
                  *r.train.initial_heldout_loss, r.train.first_step == 0 ? " (post-training round-to-nearest)" : "",
                  *r.train.final_heldout_loss);
    print_written(run, plan.name, r.exported->file_bytes, r.train);
  }
  return 0;
}

}  // namespace bitdial::cli
