// `bitdial triage-data` and `bitdial train` from the command line: reproducible demo data, a tiny run
// that lowers the held-out loss and exports a model `bitdial eval` and `run` load, a resume that
// extends the run, and one-line errors naming file:line or the changed setting.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;
using test::contains;

using json = nlohmann::json;
using test::run_bitdial;


const std::string kSmallData =
    " --train-examples 200 --heldout-examples 20 --calib-examples 5 --eval-per-style 2 --eval-rare 2";

std::string config_text(const std::string& lr) {
  // n_ctx 512: the eval task's long tickets must fit the context (training uses seq_len 32).
  return "model: {n_embd: 16, n_layer: 1, n_head: 2, n_ff: 32, n_ctx: 512}\n"
         "tokenizer: byte\n"
         "data:\n  text: data/train.txt\n  heldout: data/heldout.txt\n"
         "train:\n  steps: 12\n  batch: 4\n  seq_len: 32\n  lr: " + lr + "\n  warmup: 2\n"
         "  eval_every: 6\n  eval_tokens: 256\n  checkpoint_every: 5\n"
         "output:\n  model: out.gguf\n  type: f16\n";
}

struct Workspace {
  test::TempDir dir;
  std::string config = dir.file("train.yaml");
  Workspace() {
    const auto r = run_bitdial("triage-data '" + dir.file("data") + "'" + kSmallData);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(config) << config_text("0.01");
  }
};

TEST(TriageDataCli, WritesTheFourFilesReproducibly) {
  test::TempDir dir;
  const auto a = run_bitdial("triage-data '" + dir.file("a") + "' --seed 3" + kSmallData);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_TRUE(contains(a.out, "200 training")) << a.out;
  ASSERT_EQ(run_bitdial("triage-data '" + dir.file("b") + "' --seed 3" + kSmallData).exit_code, 0);
  for (const char* f : {"train.txt", "tasks.jsonl", "heldout.txt", "calib.txt"})
    EXPECT_EQ(read_file(dir.file(std::string("a/") + f)), read_file(dir.file(std::string("b/") + f))) << f;
  const auto bad = run_bitdial("triage-data '" + dir.file("c") + "' --train-examples -1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
}

TEST(TrainCli, TrainsExportsAndTheModelEvaluates) {
  Workspace w;
  const auto r = run_bitdial("train '" + w.config + "' --json --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "train: starting at step 0/12, held-out loss")) << r.err;
  EXPECT_TRUE(contains(r.err, "train: done at step 12/12")) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["steps_done"], 12);
  EXPECT_EQ(j["losses"].size(), 12u);
  EXPECT_LT(j["heldout_loss_final"].get<double>(), j["heldout_loss_initial"].get<double>() - 0.5) << r.out;
  EXPECT_EQ(j["model"]["type"], "f16");
  const std::string model = w.dir.file("out.gguf");
  EXPECT_EQ(j["model"]["path"], model);
  EXPECT_TRUE(std::filesystem::exists(w.dir.file("out.ckpt.gguf")));

  const auto eval = run_bitdial("eval -m '" + model + "' --task '" + w.dir.file("data/tasks.jsonl") + "' -t 1 --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_TRUE(contains(eval.out, "accuracy")) << eval.out;
  const auto gen = run_bitdial("run -m '" + model + "' -p 'Ticket: refund please' -n 4 --temp 0 -t 1");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;

  // --resume with more steps continues from the checkpoint at 12.
  const auto more = run_bitdial("train '" + w.config + "' --resume --steps 15 --json --threads 1");
  ASSERT_EQ(more.exit_code, 0) << more.err;
  const json m = json::parse(more.out);
  EXPECT_EQ(m["first_step"], 12);
  EXPECT_EQ(m["steps_done"], 15);
  EXPECT_EQ(m["losses"].size(), 3u);
  EXPECT_TRUE(contains(more.err, "train: resuming at step 12/15")) << more.err;
}

TEST(TrainCli, ResumeUnderAChangedConfigIsAOneLineError) {
  Workspace w;
  ASSERT_EQ(run_bitdial("train '" + w.config + "' --steps 2").exit_code, 0);
  std::ofstream(w.config) << config_text("0.02");
  const auto r = run_bitdial("train '" + w.config + "' --resume --steps 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1 + 2) << r.err;  // the two opening lines, then the error
  EXPECT_TRUE(contains(r.err, "bitdial train: error: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "made with lr=0.01, the config now gives lr=0.02")) << r.err;
}

TEST(TrainCli, ConfigErrorsNameFileAndLine) {
  Workspace w;
  std::ofstream(w.config) << config_text("0.01") << "  checkpoints: 3\n";
  const auto r = run_bitdial("train '" + w.config + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, w.config + ":18: unknown key 'checkpoints' in output")) << r.err;
  const auto missing = run_bitdial("train '" + w.dir.file("nope.yaml") + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(count_lines(missing.err), 1) << missing.err;
}

// The environment of the commands run_bitdial starts, restored when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TrainCli, StartsWithAPassiveOpenMpWaitUnlessTheUserChose) {
  // libgomp prints its settings at start-up under OMP_DISPLAY_ENV=verbose; a passive policy shows
  // as a spin count of 0. train starts twice (the second time with the policy set).
  ScopedEnv display("OMP_DISPLAY_ENV", "verbose");
  ScopedEnv policy("OMP_WAIT_POLICY", nullptr);
  const auto eval = run_bitdial("eval --help");
  if (!contains(eval.err, "GOMP_SPINCOUNT")) GTEST_SKIP() << "the OpenMP runtime does not print GOMP_SPINCOUNT";
  EXPECT_FALSE(contains(eval.err, "GOMP_SPINCOUNT = '0'")) << eval.err;
  const auto train = run_bitdial("train --help");
  EXPECT_EQ(train.exit_code, 0);
  EXPECT_TRUE(contains(train.err, "GOMP_SPINCOUNT = '0'")) << train.err;
  ScopedEnv active("OMP_WAIT_POLICY", "active");
  const auto chosen = run_bitdial("train --help");
  EXPECT_FALSE(contains(chosen.err, "GOMP_SPINCOUNT = '0'")) << chosen.err;
  EXPECT_TRUE(contains(chosen.err, "OMP_WAIT_POLICY = 'ACTIVE'")) << chosen.err;
}

TEST(TrainCli, HelpDescribesTheConfig) {
  const auto r = run_bitdial("train --help");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* s : {"tokenizer:", "grad_accum", "--resume", "--steps", "checkpoint", "docs/train.md"})
    EXPECT_TRUE(contains(r.out, s)) << s;
}

}  // namespace
}  // namespace bitdial
