// Quantization-aware fine-tuning (`bitdial qat`): the training loop (train/train_loop.h) run from a
// trained model with every matrix fake-quantized to the GGUF type it will be exported as
// (train/fake_quant.h, straight-through gradients), optionally distilled from a teacher, then exported
// as a standard GGUF of those types that decodes to exactly the weights the last pass trained on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/distill.h"
#include "train/fake_quant.h"
#include "train/train_loop.h"

namespace bitdial {

// The config's `qat:` section: {type: q2_K} (one type for every matrix, as export_llama_gguf writes it)
// or {preset: Q3_K_M} (the per-tensor mix of `bitdial quantize --type`), optionally imatrix: FILE
// (importance weights for the quantizer, as `bitdial quantize --imatrix`) and min_imatrix_tokens: N.
struct QatSpec {
  std::optional<TensorType> type;  // exactly one of type and preset
  std::string preset;
  std::string imatrix;             // absolute path, or empty
  int64_t min_imatrix_tokens = 1;  // entries that saw fewer tokens are used unweighted
};

// Throws bitdial::Error "<file>:<line>: ..." for an unknown key, both or neither of type and preset, an
// unknown type or preset, a type bitdial cannot encode, or an imatrix file that does not exist.
QatSpec parse_qat_section(const YamlFields& c, const YAML::Node& n);

// The config of `bitdial qat`: a `bitdial train` config (model.init: the trained model to start from)
// with a `qat:` section and optionally a `distill:` section (a teacher, usually the float model itself).
// model.init is required (QAT fine-tunes a trained model); output.type is not allowed: the exported
// types are the qat section's.
struct QatConfig {
  TrainConfig train;
  QatSpec qat;
  std::optional<DistillSpec> distill;
};
QatConfig load_qat_config(const std::string& path);

// The plan for `params` (fake_quant_plan by type or preset) with the imatrix's importance when one is
// given; lines about matrices left unweighted go to `warnings`. Throws bitdial::Error naming the
// imatrix file when it belongs to another model (an entry for no planned matrix, another column count,
// or a recorded model shape that differs).
FakeQuantPlan make_qat_plan(const ParamSet& params, const QatSpec& spec, std::vector<std::string>* warnings = nullptr);

struct QatResult {
  // The loop's result. With the transform on held-out passes too, initial_heldout_loss is the loss of
  // the starting model quantized post-training with the same plan (round-to-nearest with the type's
  // scale search, importance-weighted when given): the baseline QAT must beat; final_heldout_loss
  // is the loss of the exported model.
  TrainResult train;
  // run.params (the model QAT starts from) without fake quantization, on the same held-out batches:
  // the gap to initial_heldout_loss is what post-training quantization costs. Unset without held-out data.
  std::optional<double> float_heldout_loss;
  std::optional<FakeQuantExportResult> exported;  // set when run.output_path was written
};

// run_training with hooks.transform = make_fake_quant(plan) (hooks.teacher and the rest are kept), then,
// unless interrupted, export_fake_quant_gguf to run.output_path (run.export_options.type is not used;
// its description is). The plan's name and importance are appended to run.fingerprint, so resuming
// with another target is refused. Throws bitdial::Error when hooks already has a transform, a plan that
// does not match run.params, and as run_training and export_fake_quant_gguf.
QatResult run_qat(const TrainRun& run, const FakeQuantPlan& plan, TrainHooks hooks = {}, const ProgressSink& sink = {});

}  // namespace bitdial
