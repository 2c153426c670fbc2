// What forward_backward and forward_logits refuse, each with a message that says what and where.
#include <gtest/gtest.h>

#include "test_support.h"
#include "train/train_model.h"
#include "train_model_fixture.h"

namespace bitdial {
namespace {

class TrainModelErrors : public ::testing::Test {
 protected:
  SynthSpec spec = test::tiny_train_spec();
  ParamSet ps = test::tiny_train_params(spec);
  TrainBatch batch = test::random_train_batch(2, 5, spec.n_vocab, 81);
  TrainWorkspace ws;

  std::string error_of_pass(const LossSpec& loss = {}) {
    return test::error_of([&] { forward_backward(ps, batch, loss, ws); });
  }
};

TEST_F(TrainModelErrors, TokenOutsideTheVocabularyNamesSequenceAndPosition) {
  batch.tokens[7] = 11;
  const std::string msg = error_of_pass();
  EXPECT_NE(msg.find("token id 11 at sequence 1 position 2"), std::string::npos) << msg;
  EXPECT_NE(test::error_of([&] { forward_logits(ps, batch, ws); }).find("token id 11"), std::string::npos);
}

TEST_F(TrainModelErrors, TargetOutsideTheVocabularyIsRejected) {
  batch.targets[3] = -2;
  EXPECT_NE(error_of_pass().find("target id -2 at sequence 0 position 3"), std::string::npos) << error_of_pass();
}

TEST_F(TrainModelErrors, BatchSizeMismatchIsRejected) {
  batch.tokens.pop_back();
  EXPECT_NE(error_of_pass().find("holds 9 tokens"), std::string::npos) << error_of_pass();
}

TEST_F(TrainModelErrors, SequenceLongerThanTheContextIsRejected) {
  batch = test::random_train_batch(1, 17, spec.n_vocab, 82);
  EXPECT_NE(error_of_pass().find("exceeds the model's context length 16"), std::string::npos) << error_of_pass();
}

TEST_F(TrainModelErrors, TeacherLogitsOfTheWrongSizeAreRejected) {
  const std::vector<float> teacher(static_cast<size_t>(10 * spec.n_vocab - 1), 0.0f);
  LossSpec loss;
  loss.teacher_logits = teacher;
  EXPECT_NE(error_of_pass(loss).find("teacher logits hold 109 values"), std::string::npos) << error_of_pass(loss);
}

TEST_F(TrainModelErrors, NonPositiveTemperatureIsRejected) {
  const std::vector<float> teacher(static_cast<size_t>(10 * spec.n_vocab), 0.0f);
  LossSpec loss;
  loss.teacher_logits = teacher;
  loss.distill.temperature = 0.0f;
  EXPECT_NE(error_of_pass(loss).find("temperature 0"), std::string::npos) << error_of_pass(loss);
}

TEST_F(TrainModelErrors, MissingOrMisshapenTensorIsNamed) {
  ps.params[4].name = "blk.0.attn_kv.weight";  // attn_v renamed away
  EXPECT_NE(error_of_pass().find("no tensor 'blk.0.attn_v.weight'"), std::string::npos) << error_of_pass();
  ps = test::tiny_train_params(spec);
  ps.params.back().shape = {8, 12};  // output.weight of 12 rows
  EXPECT_NE(error_of_pass().find("'output.weight' has shape [8, 12]"), std::string::npos) << error_of_pass();
}

TEST_F(TrainModelErrors, OtherArchitecturesAreRejected) {
  ps.spec.arch = "qwen2";
  EXPECT_NE(error_of_pass().find("architecture 'qwen2'"), std::string::npos) << error_of_pass();
}

}  // namespace
}  // namespace bitdial
