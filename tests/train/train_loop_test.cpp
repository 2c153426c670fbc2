// run_training (train/train_loop.h) on a tiny byte-level model and the demo's ticket text: it lowers the
// held-out loss and exports a model the engine loads; an interrupted run resumed from its checkpoint
// makes bit for bit the updates of an uninterrupted one; thread counts do not change a bit; a diverging
// run stops with an error and leaves the last checkpoint's bytes alone; resuming under another config
// names what changed; the hooks run as documented.
#include "train/train_loop.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "model/llama_model.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/token_stream.h"
#include "train/train_log.h"
#include "train/triage_data.h"

namespace bitdial {
namespace {

using test::contains;

using test::error_of;
using test::TempDir;


struct Corpus {
  std::vector<int32_t> train, heldout;
};

// The demo's tickets (small counts), one document per example, byte tokenizer.
const Corpus& corpus() {
  static const Corpus c = [] {
    TriageOptions o;
    o.train_examples = 300;
    o.heldout_examples = 30;
    o.calib_examples = 0;
    o.eval_per_style = 1;
    o.eval_rare = 0;
    const TriageDataset d = generate_triage(o);
    const Tokenizer tok = tokenizer_from_vocab(synth_byte_vocab(kSynthByteVocabMin));
    Corpus out;
    for (const std::string& doc : split_documents(render_triage_text(d.train), TrainSplit::blank_lines))
      append_document(tok, doc, out.train);
    for (const std::string& doc : split_documents(render_triage_text(d.heldout), TrainSplit::blank_lines))
      append_document(tok, doc, out.heldout);
    return out;
  }();
  return c;
}

SynthSpec tiny_spec(int64_t n_embd = 16) {
  SynthSpec s;
  s.name = "loop-test";
  s.n_embd = n_embd;
  s.n_layer = 1;
  s.n_head = 2;
  s.n_head_kv = 2;
  s.n_ff = 32;
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = 32;
  return s;
}

TrainRun tiny_run(const TempDir& dir, int64_t steps, int64_t n_embd = 16) {
  TrainRun run;
  run.params = init_params(tiny_spec(n_embd), 3, 0.05f);
  run.vocab = synth_byte_vocab(kSynthByteVocabMin);
  run.train_ids = corpus().train;
  run.heldout_ids = corpus().heldout;
  TrainSettings& s = run.settings;
  s.steps = steps;
  s.batch = 4;
  s.seq_len = 32;
  s.schedule.peak_lr = 1e-2;
  s.schedule.min_lr = 1e-3;
  s.schedule.warmup_steps = 3;
  s.schedule.total_steps = steps;
  s.adamw.beta2 = 0.95;
  s.adamw.weight_decay = 0.1;
  s.seed = 11;
  s.eval_every = 10;
  s.eval_tokens = 512;
  run.checkpoint_path = dir.file("ckpt.gguf");
  run.output_path = dir.file("model.gguf");
  run.export_options.type = TensorType::F32;
  run.fingerprint = "version=1 lr=0.01 batch=4";
  run.threads = 1;
  return run;
}

bool same_values(const ParamSet& a, const ParamSet& b) {
  if (a.params.size() != b.params.size()) return false;
  for (size_t i = 0; i < a.params.size(); ++i)
    if (a.params[i].value != b.params[i].value) return false;
  return true;
}

TEST(TrainLoop, ThirtyStepsLowerTheHeldoutLossAndExportALoadableModel) {
  TempDir dir;
  const TrainRun run = tiny_run(dir, 30);
  std::vector<TrainEvent> events;
  const TrainResult r = run_training(run, {}, [&](const TrainEvent& e) { events.push_back(e); });
  ASSERT_TRUE(r.initial_heldout_loss && r.final_heldout_loss);
  EXPECT_NEAR(*r.initial_heldout_loss, std::log(static_cast<double>(kSynthByteVocabMin)), 0.3);
  EXPECT_LT(*r.final_heldout_loss, *r.initial_heldout_loss - 1.5)
      << "initial " << *r.initial_heldout_loss << " final " << *r.final_heldout_loss;
  EXPECT_EQ(r.losses.size(), 30u);
  EXPECT_EQ(r.steps_done, 30);
  EXPECT_EQ(r.tokens_seen, 30u * 4 * 32);
  EXPECT_FALSE(r.interrupted);
  EXPECT_TRUE(r.checkpoint_written);
  // Events: start, 30 steps (held-out at 10, 20, 30), done.
  ASSERT_EQ(events.size(), 32u);
  EXPECT_EQ(events.front().kind, TrainEvent::Kind::start);
  EXPECT_EQ(events.back().kind, TrainEvent::Kind::done);
  int evaluations = 0;
  for (const TrainEvent& e : events) evaluations += e.kind == TrainEvent::Kind::step && e.heldout_loss.has_value();
  EXPECT_EQ(evaluations, 3);
  EXPECT_DOUBLE_EQ(events[1].lr, 1e-2 / 3);  // first warm-up step
  ASSERT_TRUE(r.exported.has_value());
  const LlamaModel m = LlamaModel::load(run.output_path);
  EXPECT_EQ(m.hparams().n_embd, 16);
  EXPECT_EQ(m.hparams().n_vocab, kSynthByteVocabMin);
}

// Stops after `n` updates, as SIGINT would.
TrainHooks stop_after(int n) {
  TrainHooks h;
  auto count = std::make_shared<int>(0);
  h.should_stop = [count, n] { return ++*count >= n; };
  return h;
}

TEST(TrainLoop, ResumeGivesTheIdenticalLossCurve) {
  TempDir a, b;
  TrainRun straight = tiny_run(a, 20);
  straight.settings.grad_accum = 2;        // two micro-batches of 2 per update
  straight.settings.checkpoint_every = 7;  // periodic checkpoints must not disturb anything
  const TrainResult full = run_training(straight);

  TrainRun first = tiny_run(b, 20);
  first.settings = straight.settings;
  const TrainResult part1 = run_training(first, stop_after(10));
  ASSERT_TRUE(part1.interrupted);
  EXPECT_EQ(part1.steps_done, 10);
  EXPECT_FALSE(part1.exported.has_value());
  EXPECT_FALSE(std::filesystem::exists(first.output_path));

  TrainRun second = first;
  second.resume = true;
  second.threads = 2;  // a resumed run may use other threads and still match
  const TrainResult part2 = run_training(second);
  EXPECT_EQ(part2.first_step, 10);
  ASSERT_EQ(part2.losses.size(), 10u);
  std::vector<double> joined = part1.losses;
  joined.insert(joined.end(), part2.losses.begin(), part2.losses.end());
  ASSERT_EQ(joined.size(), full.losses.size());
  for (size_t i = 0; i < joined.size(); ++i) EXPECT_EQ(joined[i], full.losses[i]) << "update " << i + 1;  // bitwise
  EXPECT_TRUE(same_values(part2.params, full.params));
  EXPECT_EQ(part2.tokens_seen, full.tokens_seen);
  EXPECT_EQ(part2.final_heldout_loss, full.final_heldout_loss);
  EXPECT_TRUE(read_file(first.checkpoint_path) == read_file(straight.checkpoint_path)) << "checkpoints differ";
  EXPECT_TRUE(read_file(first.output_path) == read_file(straight.output_path)) << "exported models differ";

  // A finished run resumed again applies no update and exports the same model.
  const TrainResult again = run_training(second);
  EXPECT_TRUE(again.losses.empty());
  EXPECT_EQ(again.steps_done, 20);
  EXPECT_TRUE(read_file(first.output_path) == read_file(straight.output_path)) << "re-exported model differs";
}

TEST(TrainLoop, OneAndTwoThreadsGiveTheSameBits) {
  TempDir a, b;
  TrainRun one = tiny_run(a, 8), two = tiny_run(b, 8);
  two.threads = 2;
  const TrainResult r1 = run_training(one), r2 = run_training(two);
  EXPECT_EQ(r1.losses, r2.losses);
  EXPECT_EQ(r1.final_heldout_loss, r2.final_heldout_loss);
  EXPECT_TRUE(same_values(r1.params, r2.params));
}

TEST(TrainLoop, DivergingRunStopsAndKeepsTheLastCheckpointsBytes) {
  TempDir dir;
  TrainRun run = tiny_run(dir, 20);
  run.settings.schedule.peak_lr = 1e30;
  run.settings.schedule.min_lr = 1e30;
  run.settings.schedule.warmup_steps = 0;
  run.settings.checkpoint_every = 1;
  std::string saved;
  int64_t saved_step = -1;
  const std::string e = error_of([&] {
    run_training(run, {}, [&](const TrainEvent& ev) {
      if (ev.checkpointed && ev.kind == TrainEvent::Kind::step) {
        saved = read_file(run.checkpoint_path);
        saved_step = ev.step;
      }
    });
  });
  ASSERT_GE(saved_step, 1) << e;
  EXPECT_TRUE(contains(e, "step " + std::to_string(saved_step + 1) + ": ")) << e;
  EXPECT_TRUE(contains(e, "nan") || contains(e, "inf")) << e;
  EXPECT_TRUE(contains(e, "keeps step " + std::to_string(saved_step))) << e;
  EXPECT_TRUE(read_file(run.checkpoint_path) == saved) << "the last good checkpoint was changed";
  EXPECT_FALSE(std::filesystem::exists(run.output_path));
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(f.path().filename(), "ckpt.gguf") << "left behind: " << f.path();
}

TEST(TrainLoop, ResumeUnderAnotherConfigNamesWhatChanged) {
  TempDir dir;
  const TrainRun run = tiny_run(dir, 4);
  run_training(run);
  TrainRun other = run;
  other.resume = true;
  other.fingerprint = "version=1 lr=0.02 batch=4";
  EXPECT_TRUE(contains(error_of([&] { run_training(other); }), "made with lr=0.01, the config now gives lr=0.02"));
  other = tiny_run(dir, 4, 32);
  other.resume = true;
  EXPECT_TRUE(contains(error_of([&] { run_training(other); }), "llama.embedding_length is 16, config expects 32"));
  other = run;
  other.resume = true;
  other.settings.seed = 12;
  EXPECT_TRUE(contains(error_of([&] { run_training(other); }), "checkpoint's seed is 11, the config's 12"));
  other = run;
  other.resume = true;
  other.checkpoint_path = dir.file("none.gguf");
  EXPECT_TRUE(contains(error_of([&] { run_training(other); }), "no checkpoint to resume from"));
}

TEST(TrainLoop, SettingsThatCannotWorkAreRejected) {
  TempDir dir;
  TrainRun run = tiny_run(dir, 4);
  run.settings.seq_len = 64;  // n_ctx 32
  EXPECT_TRUE(contains(error_of([&] { run_training(run); }), "seq_len 64 is longer than the model's context n_ctx 32"));
  run = tiny_run(dir, 4);
  run.train_ids.resize(100);  // 3 windows of 32, batch 4
  EXPECT_TRUE(contains(error_of([&] { run_training(run); }), "fewer than one update's batch of 4"));
  run = tiny_run(dir, 4);
  run.settings.batch = 3;
  run.settings.grad_accum = 2;
  EXPECT_TRUE(contains(error_of([&] { run_training(run); }), "not a multiple of train.grad_accum"));
}

TEST(TrainLoop, HooksRunOncePerPassAndPerMicroBatch) {
  TempDir dir;
  TrainRun run = tiny_run(dir, 3);
  run.settings.grad_accum = 2;
  run.settings.eval_every = 0;  // held-out at start and end only
  run.checkpoint_path.clear();
  run.output_path.clear();
  const ParamSet teacher = init_params(tiny_spec(), 99, 0.05f);
  TrainWorkspace teacher_ws;
  int teacher_calls = 0, transform_calls = 0;
  TrainHooks h;
  h.teacher = [&](const TrainBatch& b, std::vector<float>& logits) {
    ++teacher_calls;
    EXPECT_EQ(b.n_seq, 2);
    logits = forward_logits(teacher, b, teacher_ws);
  };
  h.distill.temperature = 2.0f;
  h.transform = [&](const Param&, std::vector<float>&) { ++transform_calls; };
  const TrainResult r = run_training(run, h);
  EXPECT_EQ(teacher_calls, 3 * 2);
  // 9 matrices per pass (token_embd, 7 per layer, output); passes: 6 micro-batches + 2 evaluations of
  // 8 held-out batches each (eval_tokens 512 = 16 windows of 32, 2 per micro-batch).
  const int heldout_batches_per_eval = 8;
  EXPECT_EQ(transform_calls, 9 * (6 + 2 * heldout_batches_per_eval));
  EXPECT_FALSE(r.checkpoint_written);
  EXPECT_FALSE(r.exported.has_value());
}

TEST(TrainLog, StepLineShowsLossHeldoutRateAndEta) {
  TrainEvent e;
  e.step = 120;
  e.total_steps = 1000;
  e.smoothed_loss = 2.34119;
  e.lr = 9.8e-4;
  e.tokens_per_second = 12345;
  e.elapsed_seconds = 10;
  e.eta_seconds = 80;
  EXPECT_EQ(format_train_step(e, 2.41009),
            "step 120/1000 loss 2.3412 held-out 2.4101 lr 9.80e-04 12.3k tok/s elapsed 0m10s eta 1m20s");
  EXPECT_EQ(format_train_step(e, std::nullopt), "step 120/1000 loss 2.3412 lr 9.80e-04 12.3k tok/s elapsed 0m10s eta 1m20s");
}

std::string printed(const std::vector<TrainEvent>& events) {
  std::FILE* f = std::tmpfile();
  TrainLog log(f, false);
  for (const TrainEvent& e : events) log(e);
  std::rewind(f);
  std::string s;
  for (int ch; (ch = std::fgetc(f)) != EOF;) s += static_cast<char>(ch);
  std::fclose(f);
  return s;
}

TEST(TrainLog, PlainLogKeepsEvaluationsAndCheckpointsAndRateLimitsTheRest) {
  TrainEvent start;
  start.kind = TrainEvent::Kind::start;
  start.total_steps = 10;
  start.heldout_loss = 5.5;
  TrainEvent quiet;  // within 5 s of the start: not printed
  quiet.step = 1;
  quiet.total_steps = 10;
  TrainEvent eval = quiet;
  eval.step = 2;
  eval.heldout_loss = 4.25;
  TrainEvent ckpt = quiet;
  ckpt.step = 3;
  ckpt.checkpointed = true;
  TrainEvent done;
  done.kind = TrainEvent::Kind::done;
  done.step = 3;
  done.total_steps = 10;
  done.smoothed_loss = 4.5;
  done.heldout_loss = 4.25;
  done.heldout_step = 2;
  const std::string s = printed({start, quiet, eval, ckpt, done});
  EXPECT_EQ(s.find("step 1/10"), std::string::npos) << s;
  EXPECT_TRUE(contains(s, "train: starting at step 0/10, held-out loss 5.5000\n")) << s;
  EXPECT_TRUE(contains(s, "train: step 2/10 loss 0.0000 held-out 4.2500")) << s;
  EXPECT_TRUE(contains(s, "train: step 3/10 loss 0.0000 held-out 4.2500 lr")) << s;  // the latest held-out
  EXPECT_TRUE(contains(s, "[checkpoint]\n")) << s;
  EXPECT_TRUE(contains(s, "train: stopped at step 3/10, loss 4.5000, held-out 4.2500 (evaluated at step 2)")) << s;
}

}  // namespace
}  // namespace bitdial
