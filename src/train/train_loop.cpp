#include "train/train_loop.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/token_stream.h"

namespace bitdial {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Sets the OpenMP thread count for the run and puts the previous one back afterwards.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : previous_(omp_get_max_threads()), set_(threads > 0) {
    if (set_) omp_set_num_threads(threads);
  }
  ~ThreadScope() {
    if (set_) omp_set_num_threads(previous_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
  bool set_;
};

std::vector<std::pair<std::string, std::string>> fingerprint_words(const std::string& fp) {
  std::vector<std::pair<std::string, std::string>> words;
  std::istringstream in(fp);
  std::string w;
  while (in >> w) {
    const size_t eq = w.find('=');
    words.emplace_back(w.substr(0, eq), eq == std::string::npos ? "" : w.substr(eq + 1));
  }
  return words;
}

// Names the first setting that differs between the checkpoint's run and this one.
void check_fingerprint(const std::string& path, const std::string& saved, const std::string& current) {
  if (saved == current) return;
  const auto a = fingerprint_words(saved), b = fingerprint_words(current);
  for (const auto& [key, value] : b) {
    std::string old = "(absent)";
    for (const auto& [k, v] : a)
      if (k == key) old = v;
    if (old != value)
      fail(path, ": cannot resume: the checkpoint was made with ", key, "=", old, ", the config now gives ", key, "=",
           value, " (restore the setting, or start over without --resume)");
  }
  fail(path, ": cannot resume: the checkpoint was made by a different training config (fingerprint '", saved, "')");
}

// A smoothed loss for display: exponential moving average with the start-up bias removed.
struct LossAverage {
  static constexpr double kBeta = 0.9;
  double ema = 0.0, weight = 0.0;
  double add(double loss) {
    ema = kBeta * ema + (1.0 - kBeta) * loss;
    weight = kBeta * weight + (1.0 - kBeta);
    return ema / weight;
  }
};

}  // namespace

void validate_train_settings(const TrainSettings& s, const SynthSpec& spec) {
  if (s.steps < 1) fail("train.steps must be >= 1, not ", s.steps);
  if (s.batch < 1) fail("train.batch must be >= 1, not ", s.batch);
  if (s.seq_len < 1) fail("train.seq_len must be >= 1, not ", s.seq_len);
  if (s.seq_len > spec.n_ctx)
    fail("train.seq_len ", s.seq_len, " is longer than the model's context n_ctx ", spec.n_ctx);
  if (s.grad_accum < 1) fail("train.grad_accum must be >= 1, not ", s.grad_accum);
  if (s.batch % s.grad_accum != 0) fail("train.batch ", s.batch, " is not a multiple of train.grad_accum ", s.grad_accum);
  if (s.schedule.total_steps != s.steps)
    fail("the learning-rate schedule lasts ", s.schedule.total_steps, " steps, the run ", s.steps);
  validate_lr_schedule(s.schedule);
  validate_adamw_config(s.adamw);
  if (!std::isfinite(s.clip)) fail("train.clip must be finite");
  if (s.eval_every < 0) fail("train.eval_every must be >= 0, not ", s.eval_every);
  if (s.eval_tokens < 1) fail("train.eval_tokens must be >= 1, not ", s.eval_tokens);
  if (s.checkpoint_every < 0) fail("train.checkpoint_every must be >= 0, not ", s.checkpoint_every);
}

double heldout_loss(const ParamSet& params, const std::vector<TrainBatch>& batches, TrainWorkspace& ws,
                    const WeightTransform& transform) {
  double sum = 0.0;
  int64_t counted = 0;
  for (const TrainBatch& b : batches) {
    const LossValue v = forward_loss(params, b, LossSpec{}, ws, transform);
    sum += v.loss * static_cast<double>(v.counted);
    counted += v.counted;
  }
  return counted > 0 ? sum / static_cast<double>(counted) : 0.0;
}

TrainResult run_training(const TrainRun& run, const TrainHooks& hooks, const ProgressSink& sink) {
  const Clock::time_point begin = Clock::now();
  const TrainSettings& s = run.settings;
  const SynthSpec& spec = run.params.spec;
  validate_train_settings(s, spec);
  if (run.vocab.size != spec.n_vocab)
    fail("the vocabulary has ", run.vocab.size, " tokens, the model ", spec.n_vocab);
  if (run.resume && run.checkpoint_path.empty()) fail("resuming needs a checkpoint path");
  const ThreadScope threads(run.threads);

  TrainResult r;
  r.params = run.params;
  r.params.zero_grads();
  AdamWState optim = make_adamw_state(r.params);
  WindowSampler sampler(static_cast<int64_t>(run.train_ids.size()), s.seq_len, s.seed);
  if (sampler.windows_per_epoch() < s.batch)
    fail("the training data has ", run.train_ids.size(), " tokens: ", sampler.windows_per_epoch(), " sequences of ",
         s.seq_len, ", fewer than one update's batch of ", s.batch, " (add text, or lower train.batch or train.seq_len)");

  // The step the file at checkpoint_path holds, for the error message of a diverging run; -1: none yet.
  int64_t saved_step = -1;
  uint64_t tokens_seen = 0;
  if (run.resume) {
    if (!std::filesystem::exists(run.checkpoint_path))
      fail(run.checkpoint_path, ": no checkpoint to resume from (run without --resume to start)");
    TrainCheckpoint ck = read_checkpoint(run.checkpoint_path, spec);
    check_fingerprint(run.checkpoint_path, ck.progress.config_fingerprint, run.fingerprint);
    if (ck.progress.seed != s.seed)
      fail(run.checkpoint_path, ": cannot resume: the checkpoint's seed is ", ck.progress.seed, ", the config's ", s.seed);
    if (ck.optim.step > s.steps)
      fail(run.checkpoint_path, ": the checkpoint is at step ", ck.optim.step, ", past train.steps ", s.steps);
    try {
      sampler.restore(ck.progress.rng_state, ck.progress.data_cursor);
    } catch (const Error& e) {
      fail(run.checkpoint_path, ": ", e.what());
    }
    r.params = std::move(ck.params);
    optim = std::move(ck.optim);
    tokens_seen = ck.progress.tokens_seen;
    saved_step = optim.step;
  }
  r.first_step = optim.step;

  const int64_t micro = s.batch / s.grad_accum;
  const std::vector<TrainBatch> heldout =
      run.heldout_ids.empty() ? std::vector<TrainBatch>{} : heldout_batches(run.heldout_ids, s.seq_len, micro, s.eval_tokens);
  TrainWorkspace ws;
  auto evaluate = [&]() -> std::optional<double> {
    if (heldout.empty()) return std::nullopt;
    return heldout_loss(r.params, heldout, ws, hooks.transform);
  };
  auto save = [&]() {
    TrainProgress p;
    p.seed = s.seed;
    p.tokens_seen = tokens_seen;
    p.data_cursor = sampler.cursor();
    p.rng_state = sampler.rng_words();
    p.config_fingerprint = run.fingerprint;
    write_checkpoint(run.checkpoint_path, r.params, optim, p, run.vocab);
    saved_step = optim.step;
  };
  // Adds where the run stands to an error that stops it mid-way.
  auto stopped = [&](const Error& e) -> Error {
    if (run.checkpoint_path.empty()) return Error(concat(e.what(), " (no checkpoint path: nothing was saved)"));
    if (saved_step < 0) return Error(concat(e.what(), " (no checkpoint written yet)"));
    return Error(concat(e.what(), " (", run.checkpoint_path, " keeps step ", saved_step, ")"));
  };

  r.initial_heldout_loss = evaluate();
  TrainEvent ev;
  ev.total_steps = s.steps;
  ev.first_step = r.first_step;
  if (sink) {
    ev.kind = TrainEvent::Kind::start;
    ev.step = optim.step;
    ev.heldout_loss = r.initial_heldout_loss;
    ev.heldout_step = optim.step;
    ev.elapsed_seconds = seconds_since(begin);
    sink(ev);
  }

  const Clock::time_point loop_begin = Clock::now();
  LossAverage average;
  std::optional<double> last_heldout = r.initial_heldout_loss;
  int64_t last_heldout_step = optim.step;
  std::vector<float> teacher_logits;
  std::vector<int64_t> starts(static_cast<size_t>(micro));
  while (optim.step < s.steps) {
    const Clock::time_point t0 = Clock::now();
    const int64_t update = optim.step + 1;  // 1-based, as displayed
    r.params.zero_grads();
    double loss_sum = 0.0;
    for (int64_t a = 0; a < s.grad_accum; ++a) {
      for (int64_t& st : starts) st = sampler.next();
      const TrainBatch batch = make_window_batch(run.train_ids, s.seq_len, starts);
      LossSpec loss;
      loss.grad_scale = 1.0 / static_cast<double>(s.grad_accum);
      if (hooks.teacher) {
        hooks.teacher(batch, teacher_logits);
        loss.teacher_logits = teacher_logits;
        loss.distill = hooks.distill;
      }
      loss_sum += forward_backward(r.params, batch, loss, ws, hooks.transform);
    }
    const double loss = loss_sum / static_cast<double>(s.grad_accum);
    const double lr = lr_at(s.schedule, optim.step);
    double norm = 0.0;
    try {
      check_step_finite(loss, r.params, update);
      norm = clip_grad_norm(r.params, s.clip);
      adamw_step(r.params, optim, s.adamw, lr);
      if (const auto bad = find_nonfinite_value(r.params))
        fail("step ", update, ": the update made ", bad->tensor, " ", bad->value, " at element ", bad->index,
             " (learning rate ", lr, " too high?)");
    } catch (const Error& e) {
      throw stopped(e);
    }
    tokens_seen += static_cast<uint64_t>(s.batch * s.seq_len);
    r.train_seconds += seconds_since(t0);
    r.losses.push_back(loss);
    r.smoothed_loss = average.add(loss);

    const bool last = optim.step == s.steps;
    ev = TrainEvent{};
    ev.kind = TrainEvent::Kind::step;
    ev.step = optim.step;
    ev.total_steps = s.steps;
    ev.first_step = r.first_step;
    ev.loss = loss;
    ev.smoothed_loss = r.smoothed_loss;
    ev.lr = lr;
    ev.grad_norm = norm;
    if (last || (s.eval_every > 0 && optim.step % s.eval_every == 0)) {
      ev.heldout_loss = evaluate();
      ev.heldout_step = optim.step;
      last_heldout = ev.heldout_loss;
      last_heldout_step = optim.step;
    }
    // The final checkpoint is written after the loop, once.
    if (!run.checkpoint_path.empty() && !last && s.checkpoint_every > 0 && optim.step % s.checkpoint_every == 0) {
      save();
      ev.checkpointed = true;
    }
    const bool stop = !last && hooks.should_stop && hooks.should_stop();
    if (sink) {
      const double done = static_cast<double>(optim.step - r.first_step);
      ev.tokens_per_second = r.train_seconds > 0 ? done * static_cast<double>(s.batch * s.seq_len) / r.train_seconds : 0.0;
      ev.elapsed_seconds = seconds_since(begin);
      ev.eta_seconds = seconds_since(loop_begin) / done * static_cast<double>(s.steps - optim.step);
      sink(ev);
    }
    if (stop) {
      r.interrupted = true;
      break;
    }
  }

  r.steps_done = optim.step;
  r.tokens_seen = tokens_seen;
  r.final_heldout_loss = last_heldout;
  r.final_heldout_step = last_heldout_step;
  const int64_t done = r.steps_done - r.first_step;
  if (r.train_seconds > 0)
    r.tokens_per_second = static_cast<double>(done) * static_cast<double>(s.batch * s.seq_len) / r.train_seconds;
  if (!run.checkpoint_path.empty()) {
    if (saved_step != optim.step) save();
    r.checkpoint_written = true;
  }
  if (!r.interrupted && !run.output_path.empty())
    r.exported = export_llama_gguf(run.output_path, r.params, run.vocab, run.export_options);
  r.seconds = seconds_since(begin);
  if (sink) {
    ev = TrainEvent{};
    ev.kind = TrainEvent::Kind::done;
    ev.step = r.steps_done;
    ev.total_steps = s.steps;
    ev.first_step = r.first_step;
    ev.smoothed_loss = r.smoothed_loss;
    ev.heldout_loss = r.final_heldout_loss;
    ev.heldout_step = r.final_heldout_step;
    ev.tokens_per_second = r.tokens_per_second;
    ev.elapsed_seconds = r.seconds;
    ev.checkpointed = r.checkpoint_written;
    sink(ev);
  }
  return r;
}

}  // namespace bitdial
