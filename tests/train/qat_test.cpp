// run_qat (train/qat.h) on a small model fitted to a short text: the held-out loss it reports at the start
// is the post-training quantized model's and at the end the exported model's (exactly), QAT lowers it
// below both round-to-nearest and plain fine-tuning at the same type, a resume under another target is
// refused, and the qat config section is parsed with file:line errors.
#include "train/qat.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "formats/gguf.h"
#include "letter_text_fixture.h"
#include "model/llama_model.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/token_stream.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

using test::contains;

// Rows of 256 (k-quant super-blocks) except ffn_down (rows of 64: falls back to iq4_nl).
SynthSpec qat_spec() {
  SynthSpec s;
  s.name = "qat-test";
  s.n_embd = 256;
  s.n_layer = 1;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.n_ff = 64;
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = 64;
  return s;
}

// 289 seeded-random letters of a 12-letter alphabet as byte tokens (id 3 + byte): only memorisation
// lowers the loss, so the fitted weights are dense in information and q2_K's rounding costs loss. With
// seq_len 48 that is exactly 6 windows, so a batch of 6 is the whole text at every step.
std::vector<int32_t> letter_ids() { return test::letter_ids(6, 48, 5); }

TrainRun letter_run(const ParamSet& params, int64_t steps, double lr) {
  TrainRun run = test::letter_run(params, letter_ids(), 6, 48, steps, lr, 600);
  run.settings.seed = 3;
  return run;
}

// The base model: fitted to the letters in plain fp32 (shared by the tests; ~2 s on one core).
const ParamSet& fitted_base() {
  static const ParamSet base = run_training(letter_run(init_params(qat_spec(), 21, 0.02f), 150, 5e-3)).params;
  return base;
}

double model_heldout_loss(const std::string& path, const std::vector<int32_t>& ids) {
  const ParamSet ps = params_from_model(LlamaModel::load(path));
  TrainWorkspace ws;
  return heldout_loss(ps, heldout_batches(ids, 48, 6, 600), ws);
}

TEST(Qat, LowersTheExportedQ2KLossBelowRoundToNearestAndPlainFineTuning) {
  TempDir dir;
  const ParamSet& base = fitted_base();
  QatSpec spec;
  spec.type = TensorType::Q2_K;
  const FakeQuantPlan plan = make_qat_plan(base, spec);

  TrainRun run = letter_run(base, 20, 1e-3);
  run.output_path = dir.file("qat.gguf");
  run.export_options.type = TensorType::F32;  // ignored: QAT exports the plan's types
  const QatResult q = run_qat(run, plan);
  ASSERT_TRUE(q.exported.has_value());
  ASSERT_TRUE(q.train.initial_heldout_loss && q.train.final_heldout_loss);

  // The reported losses are the quantized models' own: at the start the round-to-nearest export of
  // the base model, at the end the file just written, equal to the last bit.
  ModelExportOptions q2k;
  q2k.type = TensorType::Q2_K;
  export_llama_gguf(dir.file("rtn.gguf"), base, run.vocab, q2k);
  const double rtn = model_heldout_loss(dir.file("rtn.gguf"), run.heldout_ids);
  const double qat = model_heldout_loss(dir.file("qat.gguf"), run.heldout_ids);
  EXPECT_EQ(*q.train.initial_heldout_loss, rtn);
  EXPECT_EQ(*q.train.final_heldout_loss, qat);
  ASSERT_TRUE(q.float_heldout_loss.has_value());
  const GgufFile f = GgufFile::open(dir.file("qat.gguf"));
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, TensorType::Q2_K);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, TensorType::IQ4_NL);

  // The same updates without fake quantization, then round-to-nearest.
  TrainRun plain = letter_run(base, 20, 1e-3);
  export_llama_gguf(dir.file("plain.gguf"), run_training(plain).params, run.vocab, q2k);
  const double plain_rtn = model_heldout_loss(dir.file("plain.gguf"), run.heldout_ids);
  TrainWorkspace ws;
  const double fp32 = heldout_loss(base, heldout_batches(run.heldout_ids, 48, 6, 600), ws);
  EXPECT_EQ(*q.float_heldout_loss, fp32);
  std::printf("held-out: fp32 %.4f  q2_K rtn %.4f  plain fine-tune + rtn %.4f  qat %.4f\n", fp32, rtn, plain_rtn, qat);
  EXPECT_GT(rtn, fp32 + 0.2) << "q2_K must hurt the base model, or there is nothing for QAT to recover";
  EXPECT_LT(qat, rtn - 0.5 * (rtn - fp32));
  EXPECT_LT(qat, plain_rtn);
}

// QAT distilled from the float model it starts from (the teacher's soft targets instead of the labels).
TEST(Qat, WithTheFloatModelAsTeacherAlsoRecoversTheQuantizedLoss) {
  const ParamSet& base = fitted_base();
  TrainRun run = letter_run(base, 20, 1e-3);
  TrainHooks hooks;
  Teacher teacher;
  teacher.params = std::make_shared<const ParamSet>(base);
  teacher.identity = "base:1";
  DistillWeights w;
  w.hard_weight = 0.0f;
  add_teacher(run, hooks, teacher, w);
  const QatResult q = run_qat(run, fake_quant_plan(base, TensorType::Q2_K), hooks);
  ASSERT_TRUE(q.train.initial_heldout_loss && q.train.final_heldout_loss && q.float_heldout_loss);
  std::printf("held-out: fp32 %.4f  q2_K rtn %.4f  qat distilled %.4f\n", *q.float_heldout_loss,
              *q.train.initial_heldout_loss, *q.train.final_heldout_loss);
  EXPECT_LT(*q.train.final_heldout_loss,
            *q.train.initial_heldout_loss - 0.5 * (*q.train.initial_heldout_loss - *q.float_heldout_loss));
}

TEST(Qat, ResumingUnderAnotherTargetIsRefused) {
  TempDir dir;
  const ParamSet& base = fitted_base();
  TrainRun run = letter_run(base, 2, 1e-3);
  run.checkpoint_path = dir.file("ckpt.gguf");
  run_qat(run, fake_quant_plan(base, TensorType::Q4_K));
  run.resume = true;
  run.settings.steps = run.settings.schedule.total_steps = 3;
  const std::string msg = error_of([&] { run_qat(run, fake_quant_plan(base, TensorType::Q2_K)); });
  EXPECT_TRUE(contains(msg, "qat=q4_K")) << msg;
  EXPECT_TRUE(contains(msg, "qat=q2_K")) << msg;
  // The same target resumes.
  EXPECT_EQ(run_qat(run, fake_quant_plan(base, TensorType::Q4_K)).train.steps_done, 3);
}

TEST(Qat, ATransformAlreadySetOrAPlanForAnotherModelIsRefusedBeforeTraining) {
  const ParamSet& base = fitted_base();
  const TrainRun run = letter_run(base, 1, 1e-3);
  TrainHooks hooks;
  hooks.transform = [](const Param&, std::vector<float>&) {};
  std::string msg = error_of([&] { run_qat(run, fake_quant_plan(base, TensorType::Q4_K), hooks); });
  EXPECT_TRUE(contains(msg, "transform")) << msg;
  SynthSpec wide = qat_spec();
  wide.n_ff = 256;
  msg = error_of([&] { run_qat(run, fake_quant_plan(init_params(wide, 1), TensorType::Q4_K)); });
  EXPECT_TRUE(contains(msg, "ffn_gate.weight")) << msg;
}

// A folder with a trained model to start from, a text, and qat.yaml = the given text.
struct QatConfigDir : test::ModelConfigDir {
  QatConfigDir() : ModelConfigDir(qat_spec(), "base.gguf", 2000, "qat.yaml") {}
};

const std::string kTrainPart =
    "model:\n  init: base.gguf\n"
    "data:\n  text: train.txt\n"
    "train: {steps: 2, batch: 2, seq_len: 16}\n"
    "output:\n  model: out.gguf\n";

TEST(QatConfig, ReadsTheSectionsAndKeepsTheTrainConfigLines) {
  QatConfigDir d;
  const std::string path = d.config("model:\n  init: base.gguf\n"
                                    "qat:\n  preset: q3_k_m\n  # a comment inside\n  min_imatrix_tokens: 4\n"
                                    "data:\n  text: train.txt\n"
                                    "distill: {teacher: base.gguf, temperature: 2, hard_weight: 0.25}\n"
                                    "train: {steps: 2, batch: 2, seq_len: 16}\n"
                                    "output:\n  model: out.gguf\n");
  const QatConfig c = load_qat_config(path);
  EXPECT_EQ(c.qat.preset, "Q3_K_M");
  EXPECT_FALSE(c.qat.type);
  EXPECT_EQ(c.qat.min_imatrix_tokens, 4);
  ASSERT_TRUE(c.distill.has_value());
  EXPECT_EQ(c.distill->teacher, fs::absolute(d.dir.file("base.gguf")).lexically_normal().string());
  EXPECT_EQ(c.distill->weights.temperature, 2.0f);
  EXPECT_EQ(c.distill->weights.hard_weight, 0.25f);
  EXPECT_EQ(c.train.path, path);
  EXPECT_EQ(c.train.where("train.seq_len"), path + ":10");
  EXPECT_EQ(c.train.steps, 2);
  // Nothing is left next to the config.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(d.dir.path())) files += e.path().filename().string().starts_with(".");
  EXPECT_EQ(files, 0u);
}

TEST(QatConfig, ErrorsNameTheOriginalFileAndLine) {
  QatConfigDir d;
  // An error in the train part names the file and the line.
  std::string path = d.config("qat: {type: q2_K}\nmodel:\n  init: base.gguf\ndata:\n  text: train.txt\n"
                              "train: {steps: 2, batch: 2, seq_len: 16, sped: 3}\noutput:\n  model: out.gguf\n");
  std::string msg = error_of([&] { load_qat_config(path); });
  EXPECT_TRUE(contains(msg, path + ":6")) << msg;
  EXPECT_TRUE(contains(msg, "sped")) << msg;

  const auto qat_error = [&](const std::string& section) {
    return error_of([&] { load_qat_config(d.config(kTrainPart + section)); });
  };
  msg = qat_error("qat: {type: q2_K, preset: Q2_K}\n");
  EXPECT_TRUE(contains(msg, "qat.yaml:8")) << msg;
  EXPECT_TRUE(contains(msg, "not both")) << msg;
  msg = qat_error("qat: {type: q9_K}\n");
  EXPECT_TRUE(contains(msg, "unknown tensor type 'q9_K'")) << msg;
  msg = qat_error("qat: {preset: Q9}\n");
  EXPECT_TRUE(contains(msg, "qat.preset")) << msg;
  msg = qat_error("qat: {type: q2_K, imatrix: missing.imatrix}\n");
  EXPECT_TRUE(contains(msg, "missing.imatrix does not exist")) << msg;
  msg = qat_error("qat:\n  type: q2_K\n  bits: 2\n");
  EXPECT_TRUE(contains(msg, "qat.yaml:10")) << msg;
  EXPECT_TRUE(contains(msg, "unknown key 'bits'")) << msg;
  msg = qat_error("qat: {}\n");
  EXPECT_TRUE(contains(msg, "needs 'type'")) << msg;
  msg = qat_error("distill: {temperature: 2}\n");
  EXPECT_TRUE(contains(msg, "missing 'qat:' section")) << msg;
  EXPECT_NO_THROW(load_qat_config(d.config(kTrainPart + "qat: {type: q2_K}\ndistill: {teacher: base.gguf}\n")));

  path = d.config("model:\n  init: base.gguf\ndata:\n  text: train.txt\noutput:\n  model: out.gguf\n  type: q8_0\n"
                  "qat: {type: q2_K}\n");
  msg = error_of([&] { load_qat_config(path); });
  EXPECT_TRUE(contains(msg, "qat.yaml:7: output.type does not apply")) << msg;
}

}  // namespace
}  // namespace bitdial
