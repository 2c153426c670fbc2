// Distillation (train/distill.h): the teacher hook is the teacher's forward pass, a student trained on
// the teacher's soft targets alone (no labels) learns the text the teacher knows, teachers with another
// tokenizer or a short context and invalid weights are refused, a resume with other distillation
// settings is refused, and the distill/qat config sections keep the train config's file:line messages.
#include "train/distill.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "letter_text_fixture.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/model_export.h"
#include "train/token_stream.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

using test::contains;

SynthSpec small_spec(int64_t n_ctx = 64) {
  SynthSpec s;
  s.name = "distill-test";
  s.n_embd = 32;
  s.n_layer = 1;
  s.n_head = 2;
  s.n_head_kv = 2;
  s.n_ff = 64;
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = n_ctx;
  return s;
}

// 6 windows of 32 seeded-random letters: a batch of 6 is the text.
std::vector<int32_t> letter_ids() { return test::letter_ids(6, 32, 9); }

TrainRun letter_run(const ParamSet& params, int64_t steps, double lr) {
  return test::letter_run(params, letter_ids(), 6, 32, steps, lr, 6 * 32);
}

Teacher teacher_of(ParamSet params, const std::string& identity) {
  Teacher t;
  t.params = std::make_shared<const ParamSet>(std::move(params));
  t.identity = identity;
  return t;
}

// A teacher that has memorised the letters (plain training, shared by the tests).
const Teacher& fitted_teacher() {
  static const Teacher t = teacher_of(run_training(letter_run(init_params(small_spec(), 4, 0.02f), 200, 1e-2)).params, "fitted:1");
  return t;
}

double loss_on_letters(const ParamSet& ps) {
  TrainWorkspace ws;
  return heldout_loss(ps, heldout_batches(letter_ids(), 32, 6, 6 * 32), ws);
}

TEST(Distill, TeacherHookIsTheTeachersForwardPass) {
  const Teacher& t = fitted_teacher();
  const TrainBatch batch = make_window_batch(letter_ids(), 32, {0, 32, 64});
  std::vector<float> got(7, 1.0f);
  make_teacher_logits(t.params)(batch, got);
  TrainWorkspace ws;
  const std::vector<float> want = forward_logits(*t.params, batch, ws);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)));
}

TEST(Distill, SoftTargetsAloneTeachTheStudentWhatTheTeacherKnows) {
  const Teacher& good = fitted_teacher();
  const Teacher untrained = teacher_of(init_params(small_spec(), 5, 0.02f), "untrained:1");
  const ParamSet student = init_params(small_spec(), 6, 0.02f);
  DistillWeights w;
  w.temperature = 2.0f;
  w.hard_weight = 0.0f;  // no labels: everything the student learns comes from the teacher
  const TrainResult from_good = run_distill(letter_run(student, 60, 1e-2), good, w);
  const TrainResult from_untrained = run_distill(letter_run(student, 60, 1e-2), untrained, w);
  const double teacher_loss = loss_on_letters(*good.params);
  const double start = loss_on_letters(student);
  const double good_loss = loss_on_letters(from_good.params), untrained_loss = loss_on_letters(from_untrained.params);
  std::printf("cross-entropy on the letters: teacher %.4f, student at start %.4f, distilled from the teacher %.4f, "
              "from an untrained teacher %.4f\n", teacher_loss, start, good_loss, untrained_loss);
  EXPECT_LT(teacher_loss, 1.0) << "the teacher did not learn the text; the test would prove nothing";
  EXPECT_LT(good_loss, start - 2.0);
  EXPECT_LT(good_loss, untrained_loss - 1.0);
  // The loop's held-out numbers stay plain cross-entropy (comparable with train runs).
  ASSERT_TRUE(from_good.final_heldout_loss.has_value());
  EXPECT_EQ(*from_good.final_heldout_loss, good_loss);
}

TEST(Distill, InvalidWeightsAndMismatchedTeachersAreRefusedBeforeTraining) {
  const TrainRun run = letter_run(init_params(small_spec(), 6, 0.02f), 1, 1e-3);
  const Teacher& t = fitted_teacher();
  DistillWeights w;
  w.temperature = 0.0f;
  EXPECT_TRUE(contains(error_of([&] { run_distill(run, t, w); }), "temperature")) << "temperature 0";
  w.temperature = 1.0f;
  w.hard_weight = 1.5f;
  EXPECT_TRUE(contains(error_of([&] { run_distill(run, t, w); }), "hard_weight"));
  w.hard_weight = 0.5f;
  const Teacher short_ctx = teacher_of(init_params(small_spec(16), 1), "short:1");
  EXPECT_TRUE(contains(error_of([&] { run_distill(run, short_ctx, w); }), "context of 16 tokens, shorter than seq_len 32"));
  SynthSpec other = small_spec();
  other.n_vocab = kSynthByteVocabMin + 10;
  EXPECT_TRUE(contains(error_of([&] { run_distill(run, teacher_of(init_params(other, 1), "big:1"), w); }), "364 tokens"));
}

TEST(Distill, ResumingWithOtherDistillationSettingsIsRefused) {
  TempDir dir;
  TrainRun run = letter_run(init_params(small_spec(), 6, 0.02f), 1, 1e-3);
  run.checkpoint_path = dir.file("ckpt.gguf");
  DistillWeights w;
  run_distill(run, fitted_teacher(), w);
  run.resume = true;
  run.settings.steps = run.settings.schedule.total_steps = 2;
  w.temperature = 3.0f;
  const std::string msg = error_of([&] { run_distill(run, fitted_teacher(), w); });
  EXPECT_TRUE(contains(msg, "distill_temperature")) << msg;
}

TEST(Distill, TeacherFilesMustShareTheStudentsTokenizer) {
  TempDir dir;
  const SynthVocab vocab = synth_byte_vocab(kSynthByteVocabMin);
  ModelExportOptions f32;
  f32.type = TensorType::F32;
  export_llama_gguf(dir.file("same.gguf"), init_params(small_spec(), 1), vocab, f32);
  const Teacher t = load_teacher(dir.file("same.gguf"), vocab);
  EXPECT_EQ(t.params->spec.n_embd, 32);
  EXPECT_EQ(t.identity, "same.gguf:" + std::to_string(fs::file_size(dir.file("same.gguf"))));
  EXPECT_TRUE(t.params->params[0].grad.empty());

  // Same size, one token spelled differently.
  SynthVocab renamed = vocab;
  for (GgufKeyValue& kv : renamed.keys)
    if (kv.key == "tokenizer.ggml.tokens") {
      std::vector<std::string> tokens;
      for (const GgufValue& v : kv.value.as_array().items) tokens.push_back(v.as_string());
      tokens[300] = "zz";
      kv.value = GgufValue::string_array(tokens);
    }
  export_llama_gguf(dir.file("renamed.gguf"), init_params(small_spec(), 1), renamed, f32);
  std::string msg = error_of([&] { load_teacher(dir.file("renamed.gguf"), vocab); });
  EXPECT_TRUE(contains(msg, "renamed.gguf: the teacher's token 300 is 'zz'")) << msg;

  SynthSpec bigger = small_spec();
  bigger.n_vocab = kSynthByteVocabMin + 2;
  export_llama_gguf(dir.file("bigger.gguf"), init_params(bigger, 1), synth_byte_vocab(bigger.n_vocab), f32);
  msg = error_of([&] { load_teacher(dir.file("bigger.gguf"), vocab); });
  EXPECT_TRUE(contains(msg, "vocabulary of 356 tokens")) << msg;
}

// A folder with a teacher model, a text and distill.yaml = the given text.
struct DistillConfigDir : test::ModelConfigDir {
  DistillConfigDir() : ModelConfigDir(small_spec(), "teacher.gguf", 500, "distill.yaml") {}
};

const std::string kStudent =
    "model: {n_embd: 32, n_layer: 1, n_head: 2, n_ff: 64, n_ctx: 32}\n"  // line 1
    "data:\n  text: train.txt\n"                                          // 2-3
    "train: {steps: 2, batch: 2, seq_len: 16}\n"                          // 4
    "output:\n  model: out.gguf\n";                                       // 5-6

TEST(DistillConfig, ReadsTheSectionAndTheStudentsTrainConfig) {
  DistillConfigDir d;
  const std::string path = d.config(kStudent + "distill:\n  teacher: teacher.gguf\n  temperature: 4\n  hard_weight: 0.5\n");
  const DistillConfig c = load_distill_config(path);
  EXPECT_EQ(c.distill.teacher, fs::absolute(d.dir.file("teacher.gguf")).lexically_normal().string());
  EXPECT_EQ(c.distill.weights.temperature, 4.0f);
  EXPECT_EQ(c.distill.weights.hard_weight, 0.5f);
  EXPECT_EQ(c.train.spec.name, "distill");  // the config's stem
  EXPECT_EQ(c.train.where("train.seq_len"), path + ":4");
  EXPECT_EQ(c.train.spec.n_embd, 32);
}

TEST(DistillConfig, ErrorsNameFileLineAndKey) {
  DistillConfigDir d;
  const auto error = [&](const std::string& section) { return error_of([&] { load_distill_config(d.config(kStudent + section)); }); };
  std::string msg = error("distill: {temperature: 2}\n");
  EXPECT_TRUE(contains(msg, "distill.yaml:7")) << msg;
  EXPECT_TRUE(contains(msg, "'distill.teacher' is required")) << msg;
  msg = error("distill: {teacher: teacher.gguf, temperature: 0}\n");
  EXPECT_TRUE(contains(msg, "'distill.temperature' must be in (0, 100], not 0")) << msg;
  msg = error("distill: {teacher: teacher.gguf, hard_weight: 2}\n");
  EXPECT_TRUE(contains(msg, "'distill.hard_weight' must be in [0, 1], not 2")) << msg;
  msg = error("distill:\n  teacher: teacher.gguf\n  temp: 2\n");
  EXPECT_TRUE(contains(msg, "distill.yaml:9: unknown key 'temp' in distill")) << msg;
  msg = error("distill: {teacher: nowhere.gguf}\n");
  EXPECT_TRUE(contains(msg, "nowhere.gguf does not exist")) << msg;
  msg = error("");
  EXPECT_TRUE(contains(msg, "missing 'distill:' section")) << msg;
  msg = error("distill: {teacher: teacher.gguf}\nqat: {type: q2_K}\n");
  EXPECT_TRUE(contains(msg, "distill.yaml:8: a qat: section belongs to `bitdial qat`")) << msg;
  // Any YAML form works, a flow-style root included.
  EXPECT_EQ(load_distill_config(d.config("{model: {n_embd: 32, n_layer: 1, n_head: 2, n_ff: 64}, data: {text: train.txt}, "
                                         "output: {model: out.gguf}, distill: {teacher: teacher.gguf, temperature: 3}}\n"))
                .distill.weights.temperature,
            3.0f);
  // An error in the student's part names the original file and line.
  msg = error_of([&] { load_distill_config(d.config("distill: {teacher: teacher.gguf}\n" + kStudent + "extra: 1\n")); });
  EXPECT_TRUE(contains(msg, "distill.yaml:8: unknown key 'extra'")) << msg;
}

}  // namespace
}  // namespace bitdial
