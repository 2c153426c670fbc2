// The training loop shared by `bitdial train`, `qat` and `distill`: batches from a token stream,
// gradient accumulation, clipping, NaN/Inf stops, AdamW with a warm-up + cosine schedule, held-out
// evaluation, atomic checkpoints with exact resume, and the final export. What differs between the
// three commands comes in through TrainHooks (a weight transform, a teacher); everything else is here.
//
// One step (update number s, 0-based, learning rate lr_at(schedule, s)):
//   zero grads; for each of grad_accum micro-batches (batch / grad_accum windows from the sampler):
//     forward_backward with grad_scale 1 / grad_accum (teacher logits first, when a teacher is given)
//   loss = mean of the micro-batch losses -> check_step_finite -> clip_grad_norm(clip)
//   -> adamw_step -> weights checked finite -> held-out evaluation / checkpoint when due.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/synth.h"
#include "train/model_export.h"
#include "train/optimizer.h"
#include "train/param_set.h"
#include "train/train_model.h"

namespace bitdial {

// The numbers of a run (train_setup.h fills them from the config; docs/train.md explains each).
struct TrainSettings {
  int64_t steps = 1;             // total optimiser updates of the run (the schedule's length)
  int64_t batch = 1;             // sequences per update
  int64_t seq_len = 2;           // tokens per sequence
  int64_t grad_accum = 1;        // micro-batches per update; batch % grad_accum == 0
  LrSchedule schedule;           // total_steps == steps
  AdamWConfig adamw;
  double clip = 1.0;             // global gradient-norm limit; <= 0: none
  uint64_t seed = 0;             // the data sampler's seed (weights are seeded by whoever made params)
  int64_t eval_every = 0;        // held-out loss every N updates (and at the start and end); 0: start and end only
  int64_t eval_tokens = 32768;   // held-out tokens per evaluation
  int64_t checkpoint_every = 0;  // checkpoint every N updates (and always at the end); 0: end only
};

// Everything a run needs, prepared up front (train/train_setup.h for `bitdial train`).
struct TrainRun {
  ParamSet params;                     // starting weights (fresh, or decoded from a model); copied, not modified
  SynthVocab vocab;                    // written into checkpoints and the exported model; size == params.spec.n_vocab
  std::vector<int32_t> train_ids;      // the training stream (train/token_stream.h)
  std::vector<int32_t> heldout_ids;    // the held-out stream; empty: no held-out loss
  TrainSettings settings;
  std::string checkpoint_path;         // empty: no checkpoints (and no resume)
  bool resume = false;                 // continue from checkpoint_path instead of starting at step 0
  // Identifies everything that must not change across a resume (shape, data, optimiser settings):
  // "key=value" words separated by spaces; on resume the first differing key is named.
  std::string fingerprint;
  std::string output_path;             // the exported model; empty: no export
  ModelExportOptions export_options;
  int threads = 0;                     // OpenMP threads for the run; 0: leave the current setting
};

// How qat and distill change the loop. Every hook is optional; the defaults give plain training.
struct TrainHooks {
  // QAT: applied to every matrix at the start of every pass, training and held-out alike
  // (straight-through estimator; see WeightTransform in train/train_model.h). The held-out loss is then
  // the loss of the transformed (e.g. quantized) model, the number QAT wants to lower.
  WeightTransform transform;
  // Distillation: called once per micro-batch, before the student's pass, with the exact batch the
  // student sees; it must fill `logits` with the teacher's (n_seq * seq_len, n_vocab) logits, row-major
  // (e.g. forward_logits of a teacher ParamSet, or an engine). The loss is then distillation_loss with
  // `distill` (train/loss.h). The held-out loss stays plain cross-entropy on the next token, so it is
  // comparable between train, qat and distill runs. The buffer is reused across calls.
  std::function<void(const TrainBatch& batch, std::vector<float>& logits)> teacher;
  DistillWeights distill;
  // Polled after every update: true stops the run there with a checkpoint (when checkpoint_path is
  // set) and no export; TrainResult::interrupted says so. The CLI wires SIGINT to it.
  std::function<bool()> should_stop;
};

// What the sink is told. `start` once (after the optional resume and the first held-out evaluation),
// `step` after every update (rate-limiting the display is the sink's job), `done` once at the end.
struct TrainEvent {
  enum class Kind { start, step, done };
  Kind kind = Kind::step;
  int64_t step = 0;          // updates applied so far (after this one, for `step`)
  int64_t total_steps = 0;   // TrainSettings::steps
  int64_t first_step = 0;    // updates already applied when this invocation started (> 0 after resume)
  double loss = 0;           // this update's training loss (mean over its micro-batches); step only
  double smoothed_loss = 0;  // exponential moving average of `loss` (bias-corrected, beta 0.9)
  std::optional<double> heldout_loss;  // step: set when an evaluation ran just now; done: the latest one
  int64_t heldout_step = 0;            // the step heldout_loss was evaluated at
  double lr = 0;             // learning rate of this update
  double grad_norm = 0;      // global gradient norm before clipping
  double tokens_per_second = 0;  // training tokens / training time of this invocation (evaluation excluded)
  double elapsed_seconds = 0;    // since run_training began
  double eta_seconds = 0;        // remaining updates at this invocation's mean update time (evaluations included)
  bool checkpointed = false;     // a checkpoint was written after this update
};
using ProgressSink = std::function<void(const TrainEvent&)>;

struct TrainResult {
  ParamSet params;                   // the final weights
  int64_t first_step = 0;            // updates already applied when this invocation started
  int64_t steps_done = 0;            // updates applied at the end (settings.steps unless interrupted)
  std::vector<double> losses;        // training loss of each update of this invocation, in order
  std::optional<double> initial_heldout_loss;  // at the start of this invocation
  std::optional<double> final_heldout_loss;    // the latest evaluation (at the end unless interrupted)
  int64_t final_heldout_step = 0;              // the step final_heldout_loss was evaluated at
  double smoothed_loss = 0;
  uint64_t tokens_seen = 0;          // training tokens of the whole run (resumed ones included)
  double train_seconds = 0;          // wall time of this invocation's updates (evaluations excluded)
  double tokens_per_second = 0;      // this invocation's training tokens / train_seconds
  double seconds = 0;                // wall time of run_training
  bool interrupted = false;          // should_stop ended the run early
  bool checkpoint_written = false;   // checkpoint_path holds the state at steps_done
  std::optional<ModelExportResult> exported;  // set when output_path was written
};

// Runs (or, with run.resume, continues) the training. Resuming reads run.checkpoint_path, checks its
// shape against run.params.spec and its fingerprint and seed against run's, and continues from its
// weights, optimiser state and data position: the updates that follow are bit for bit those of an
// uninterrupted run, for any thread count. A checkpoint already at settings.steps only re-exports.
// Throws bitdial::Error with the step and the last good checkpoint named when the loss, a gradient or
// a weight turns NaN/Inf (no checkpoint is written after that point: the previous one stays intact),
// and on invalid settings, data shorter than one batch, a bad checkpoint or a hook's error.
TrainResult run_training(const TrainRun& run, const TrainHooks& hooks = {}, const ProgressSink& sink = {});

// Checks settings against each other and the model: batch, seq_len (<= spec.n_ctx), grad_accum,
// schedule, AdamW. Throws bitdial::Error naming the field. run_training calls it first.
void validate_train_settings(const TrainSettings& settings, const SynthSpec& spec);

// The token-weighted mean cross-entropy of `batches` (after `transform`), for held-out evaluation.
double heldout_loss(const ParamSet& params, const std::vector<TrainBatch>& batches, TrainWorkspace& ws,
                    const WeightTransform& transform = {});

}  // namespace bitdial
