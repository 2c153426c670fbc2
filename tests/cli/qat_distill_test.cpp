// `bitdial qat` and `bitdial distill` from the command line, on a tiny byte-level model trained by
// `bitdial train` in the fixture: qat exports a file in the target type that eval loads and whose
// held-out loss is the one it reports; distill learns from a teacher; each refuses the other's
// section and train's output.type with a one-line file:line error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;
using test::contains;

using json = nlohmann::json;
using test::run_bitdial;


const char* kData = "data:\n  text: data/train.txt\n  heldout: data/heldout.txt\n";

// n_embd 32: every matrix row is one q4_0 / q8_0 block wide or more, so no fallback type is needed.
// n_ctx 512 so the task file's long tickets fit.
std::string base_config() {
  return std::string("model: {n_embd: 32, n_layer: 1, n_head: 2, n_ff: 64, n_ctx: 512}\ntokenizer: byte\n") + kData +
         "train: {steps: 30, batch: 4, seq_len: 32, lr: 0.01, warmup: 2, eval_every: 30, eval_tokens: 256}\n"
         "output: {model: base.gguf, type: f32}\n";
}

std::string fine_tune_train(int steps) {
  return std::string(kData) + "train: {steps: " + std::to_string(steps) +
         ", batch: 4, seq_len: 32, lr: 0.003, warmup: 1, eval_every: 100, eval_tokens: 256}\n";
}

// One trained base model, shared by the tests (training it is most of their cost).
class QatDistillCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const auto data = run_bitdial("triage-data '" + dir_->file("data") +
                                  "' --train-examples 300 --heldout-examples 20 --calib-examples 5 "
                                  "--eval-per-style 2 --eval-rare 2");
    ASSERT_EQ(data.exit_code, 0) << data.err;
    std::ofstream(dir_->file("base.yaml")) << base_config();
    const auto r = run_bitdial("train '" + dir_->file("base.yaml") + "' --threads 2");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_->file(name)) << text;
    return dir_->file(name);
  }
  static test::TempDir* dir_;
};
test::TempDir* QatDistillCli::dir_ = nullptr;

TEST_F(QatDistillCli, QatExportsTheTargetTypeAndReportsItsHeldoutLoss) {
  const std::string cfg = write("qat.yaml", "model: {init: base.gguf}\n" + fine_tune_train(6) +
                                                "output: {model: qat.gguf}\nqat: {type: q4_0}\n");
  const auto r = run_bitdial("qat '" + cfg + "' --json --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["steps_done"], 6);
  EXPECT_EQ(j["model"]["type"], "q4_0");
  EXPECT_EQ(j["model"]["path"], dir_->file("qat.gguf"));
  EXPECT_TRUE(j["qat"].contains("heldout_loss_float")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_->file("qat.gguf.qat-f32.tmp")));

  // Every matrix of the written file is q4_0.
  const auto info = run_bitdial("inspect '" + dir_->file("qat.gguf") + "' --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const json tensors = json::parse(info.out)["tensors"];
  int q4 = 0;
  for (const json& t : tensors)
    if (t["shape"].size() == 2) {
      EXPECT_EQ(t["type"], "q4_0") << t["name"];
      ++q4;
    }
  EXPECT_GE(q4, 7);

  const auto eval = run_bitdial("eval -m '" + dir_->file("qat.gguf") + "' -b '" + dir_->file("base.gguf") +
                                "' --task '" + dir_->file("data/tasks.jsonl") + "' -t 1 --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_TRUE(contains(eval.out, "\"paired\"")) << eval.out;
}

TEST_F(QatDistillCli, QatRefusesOutputTypeAtItsLine) {
  const std::string cfg = write("qat-bad.yaml", "model: {init: base.gguf}\n" + fine_tune_train(2) +
                                                    "output:\n  model: q.gguf\n  type: q4_0\nqat: {type: q4_0}\n");
  const auto r = run_bitdial("qat '" + cfg + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, cfg + ":8")) << r.err;
  EXPECT_TRUE(contains(r.err, "output.type does not apply to qat")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_->file("q.gguf")));
}

TEST_F(QatDistillCli, QatWithoutItsSectionSaysWhatToAdd) {
  const std::string cfg = write("qat-none.yaml", "model: {init: base.gguf}\n" + fine_tune_train(2) +
                                                     "output: {model: q.gguf}\n");
  const auto r = run_bitdial("qat '" + cfg + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "missing 'qat:' section")) << r.err;
}

TEST_F(QatDistillCli, DistillTrainsAStudentTowardsTheTeacher) {
  // A fresh, smaller student with the teacher's byte tokenizer, no hard labels.
  const std::string cfg =
      write("distill.yaml", "model: {n_embd: 16, n_layer: 1, n_head: 2, n_ff: 32, n_ctx: 64}\ntokenizer: byte\n" +
                                fine_tune_train(20) + "output: {model: student.gguf}\n" +
                                "distill: {teacher: base.gguf, temperature: 2}\n");
  const auto r = run_bitdial("distill '" + cfg + "' --json --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["distill"]["teacher"], dir_->file("base.gguf"));
  EXPECT_EQ(j["distill"]["temperature"], 2.0);
  const auto& losses = j["losses"];
  ASSERT_EQ(losses.size(), 20u);
  EXPECT_LT(losses.back().get<double>(), losses.front().get<double>()) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir_->file("student.gguf")));
}

TEST_F(QatDistillCli, DistillRefusesAQatSectionAtItsLine) {
  const std::string cfg = write("distill-qat.yaml", "model: {init: base.gguf}\n" + fine_tune_train(2) +
                                                        "output: {model: s.gguf}\ndistill: {teacher: base.gguf}\n"
                                                        "qat: {type: q4_0}\n");
  const auto r = run_bitdial("distill '" + cfg + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, cfg + ":8")) << r.err;
  EXPECT_TRUE(contains(r.err, "belongs to `bitdial qat`")) << r.err;
}

TEST_F(QatDistillCli, DistillRefusesATeacherWithAnotherVocabulary) {
  // A BPE student cannot learn from the byte-level teacher's distributions.
  const std::string cfg =
      write("distill-vocab.yaml", "model: {n_embd: 16, n_layer: 1, n_head: 2, n_ff: 32, n_ctx: 64}\n"
                                  "tokenizer: {bpe: {vocab_size: 300}}\n" +
                                      fine_tune_train(2) + "output: {model: s2.gguf}\ndistill: {teacher: base.gguf}\n");
  const auto r = run_bitdial("distill '" + cfg + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "the teacher has a vocabulary of")) << r.err;
}

}  // namespace
}  // namespace bitdial
