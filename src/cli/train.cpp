// bitdial train CONFIG.yaml [--resume] [--threads N] [--steps N] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/train_cli.h"
#include "core/tensor_type.h"
#include "train/train_config.h"
#include "train/train_log.h"
#include "train/train_setup.h"

namespace bitdial::cli {

int run_train(int argc, char** argv) {
  CLI::App app{
      "Train a small LLaMA-family model on the CPU from a YAML config, and export it as a GGUF that\n"
      "`bitdial eval`, `run`, `serve` and llama.cpp load. Every update is deterministic for a seed (any\n"
      "thread count); checkpoints hold weights, AdamW moments and the data position, so --resume\n"
      "continues with exactly the updates an uninterrupted run makes. Ctrl-C stops at the next update\n"
      "with a checkpoint. A NaN/Inf loss, gradient or weight stops the run with an error and leaves the\n"
      "last good checkpoint untouched. Progress goes to stderr; the summary (or --json) to stdout.\n"
      "Idle OpenMP threads sleep (OMP_WAIT_POLICY=passive) unless OMP_WAIT_POLICY is set: spinning\n"
      "threads cost a third of the speed when other work shares the cores.\n"
      "\n"
      "config (docs/train.md has every key and default):\n"
      "  model:      n_embd, n_layer, n_head, n_ff [, n_head_kv, n_ctx, rope_base, rms_eps, tied_embeddings,\n"
      "              init_std, name]   or   init: MODEL.gguf (continue training a model)\n"
      "  tokenizer:  byte | bpe | {bpe: {vocab_size: N}} | {from: MODEL.gguf}   (default: byte, or init's)\n"
      "  data:       text: FILE or [FILES], tasks: F.jsonl (prompt + label), heldout: FILE(S),\n"
      "              split: blank_lines | file   (how text files become documents)\n"
      "  train:      steps, batch, seq_len, grad_accum, lr, min_lr, warmup, weight_decay, beta1, beta2,\n"
      "              clip, seed, threads, eval_every, eval_tokens, checkpoint_every\n"
      "  output:     model: OUT.gguf, type: f32|f16|q8_0|..., checkpoint: CKPT.gguf\n"
      "\n"
      "example config (the demo's tickets: ~1 minute on 2 cores, 56 % on tasks.jsonl):\n"
      "  model: {n_embd: 64, n_layer: 2, n_head: 4, n_ff: 172, n_ctx: 256, tied_embeddings: true}\n"
      "  tokenizer: {bpe: {vocab_size: 1024}}\n"
      "  data: {text: data/train.txt, heldout: data/heldout.txt}\n"
      "  train: {steps: 800, batch: 16, seq_len: 64, lr: 3e-3, warmup: 50, eval_every: 400}\n"
      "  output: {model: triage.gguf}\n"
      "\n"
      "examples:\n"
      "  bitdial triage-data data && bitdial train triage.yaml\n"
      "  bitdial train triage.yaml --resume --threads 8\n"
      "  bitdial train triage.yaml --steps 20 --json > run.json",
      "bitdial train"};
  TrainArgs args;
  add_train_args(app, args,
                 {"training config (YAML)",
                  "continue from output.checkpoint (same config needed: shape, data and optimiser settings are checked)",
                  "total updates (overrides train.steps; with --resume, extends or shortens the schedule)",
                  "print the result as JSON (docs/train.md) instead of the summary line"});
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  check_train_args(args);
  TrainConfig cfg = load_train_config(args.config_path);
  apply_train_args(args, cfg);
  const PreparedTraining prep = prepare_training(cfg, args.resume);
  const TrainRun& run = prep.run;
  const SynthSpec& spec = run.params.spec;
  std::fprintf(stderr,
               "train: %s: %.3f M params (%lld dim, %lld layers, %lld/%lld heads, ffn %lld, ctx %lld), tokenizer %s\n"
               "train: %lld documents, %s\n",
               spec.name.c_str(), static_cast<double>(run.params.numel()) / 1e6, static_cast<long long>(spec.n_embd),
               static_cast<long long>(spec.n_layer), static_cast<long long>(spec.n_head),
               static_cast<long long>(spec.n_head_kv), static_cast<long long>(spec.n_ff), static_cast<long long>(spec.n_ctx),
               prep.summary.tokenizer.c_str(), static_cast<long long>(prep.summary.documents), train_data_line(prep).c_str());

  const InterruptibleTraining interruptible;
  const TrainResult r = run_training(run, interruptible.hooks, interruptible.progress());

  if (args.json) std::printf("%s\n", json_text(train_result_json(run, r)).c_str());
  if (r.interrupted) return report_interrupted("train", run, r);
  if (!args.json) print_written(run, type_name(run.export_options.type), r.exported->file_bytes, r);
  return 0;
}

}  // namespace bitdial::cli
