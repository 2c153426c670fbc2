// AWQ (quant/awq.h): the folds keep the float model's function, the scale search never loses to plain RTN
// on its objective, the clipping search clips where activations make it pay, results are deterministic,
// and on stories260K the Q4_0 model it yields is measured against RTN Q4_0 by mean KL divergence.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "blocks/tensor_codec.h"
#include "eval/perplexity.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/synth.h"
#include "model/tokenizer/tokenizer.h"
#include "quant/awq.h"
#include "quant/calibration.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::string write_tiny(const test::TempDir& dir) { return test::write_tiny_f32_model(dir, 11, 0.2f); }

CalibrationSet random_calibration(const LlamaModel& model, uint32_t seed, int64_t n_chunks) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(model.hparams().n_vocab) - 1);
  std::vector<int32_t> toks(static_cast<size_t>(32 * n_chunks));
  for (int32_t& t : toks) t = id(rng);
  return calibration_from_tokens(toks, 1, 32, "random tokens");
}

// Every matrix but token_embd planned as `type` where its rows fit the blocks, else F32.
std::map<std::string, TensorType> plan(const LlamaModel& model, TensorType type) {
  std::map<std::string, TensorType> types;
  for (const std::string& n : model.weight_names()) {
    const WeightView* w = model.weight(n);
    types[n] = n != "token_embd.weight" && awq_quantizes(type, w->cols) ? type : TensorType::F32;
  }
  return types;
}

std::vector<float> logits_of(const LlamaModel& model, const std::vector<int32_t>& toks) {
  Session s(model, SessionOptions{.kv_type = KvType::f32, .n_ctx = 64});
  return s.eval(toks, true);
}

TEST(Awq, FoldedScalesKeepTheFloatModelsFunction) {
  test::TempDir dir;
  const std::string path = write_tiny(dir);
  const LlamaModel base = LlamaModel::load(path);
  for (const bool sequential : {true, false}) {  // the default (layer by layer) and the one-pass mode
  SCOPED_TRACE(sequential ? "sequential" : "one pass");
  AwqOptions opt;
  opt.sequential = sequential;
  opt.alpha = 0.5;  // a fixed, clearly non-trivial scale for every group
  opt.clip = false;
  opt.progress = nullptr;
  AwqReport report;
  const MethodResult r = run_awq(base, random_calibration(base, 5, 4), plan(base, TensorType::Q4_0), opt, &report);
  // All four groups of both layers and the output are scaled (tiny shape: GQA 4/2, so attn_out's scales
  // are tied; the output is not tied to token_embd).
  ASSERT_EQ(report.groups.size(), 9u);
  EXPECT_EQ(report.groups.back().site, MatmulSite::output_in);
  for (const AwqGroupReport& g : report.groups) EXPECT_EQ(g.skipped, "") << static_cast<int>(g.site);
  for (const char* n : {"blk.0.attn_norm.weight", "blk.1.ffn_norm.weight", "blk.0.attn_v.weight", "blk.1.ffn_up.weight", "output_norm.weight"})
    EXPECT_EQ(r.floats.count(n), 1u) << n;

  LlamaModel folded = LlamaModel::load(path);
  awq_apply(folded, r, plan(folded, TensorType::F32));  // scales only: write every matrix back as F32
  EXPECT_NE(folded.layers()[0].attn_norm, base.layers()[0].attn_norm);
  const std::vector<int32_t> toks{1, 70, 71, 90, 120, 33, 200, 201, 5, 64};
  const std::vector<float> a = logits_of(base, toks), b = logits_of(folded, toks);
  ASSERT_EQ(a.size(), b.size());
  double max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_abs = std::max(max_abs, static_cast<double>(std::abs(a[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
  }
  EXPECT_LE(max_diff, 1e-4 * max_abs) << "max |logit| " << max_abs;
  }
}

// Activations whose channel magnitudes span two orders of magnitude: the case §3.2 is about.
struct Problem {
  std::vector<float> mean_abs;
  Eigen::MatrixXd gram;
};

Problem skewed_activations(int64_t cols, int64_t n_tok, uint32_t seed) {
  const std::vector<float> z = test::normal_floats(n_tok * cols, 1.0f, seed);
  Problem p;
  p.mean_abs.assign(static_cast<size_t>(cols), 0.0f);
  Eigen::MatrixXd x(n_tok, cols);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t c = 0; c < cols; ++c) {
      const double mag = c % 8 == 0 ? 20.0 : 0.2 + 0.05 * static_cast<double>(c % 5);
      x(t, c) = mag * z[static_cast<size_t>(t * cols + c)];
      p.mean_abs[static_cast<size_t>(c)] += static_cast<float>(std::abs(x(t, c)) / static_cast<double>(n_tok));
    }
  p.gram = x.transpose() * x;
  return p;
}

AwqMatrix random_matrix(const std::string& name, int64_t rows, int64_t cols, uint32_t seed) {
  return AwqMatrix{name, TensorType::Q4_0, rows, cols, test::normal_floats(rows * cols, 0.05f, seed)};
}

TEST(Awq, ScaleSearchIsNeverWorseThanPlainRtnOnItsObjective) {
  const Problem p = skewed_activations(64, 256, 3);
  const std::vector<AwqMatrix> group{random_matrix("a", 48, 64, 4), random_matrix("b", 16, 64, 5)};
  AwqOptions opt;
  const AwqScaleSearch s = awq_search_scales(group, p.mean_abs, p.gram, opt);
  ASSERT_EQ(s.errors.size(), 20u);
  // alpha 0 is s = 1: exactly the plain RTN error of the unscaled matrices.
  EXPECT_DOUBLE_EQ(s.error_plain, awq_output_error(group[0], group[0].values, p.gram) + awq_output_error(group[1], group[1].values, p.gram));
  for (double e : s.errors) EXPECT_GE(e, s.error);
  EXPECT_GT(s.alpha, 0.0);
  EXPECT_LT(s.error, 0.8 * s.error_plain) << "salient channels should make scaling pay";

  // The same holds group by group on a model.
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir));
  opt.progress = nullptr;
  AwqReport report;
  run_awq(model, random_calibration(model, 6, 3), plan(model, TensorType::Q4_0), opt, &report);
  for (const AwqGroupReport& g : report.groups) {
    EXPECT_LE(g.error_scaled, g.error_plain);
    EXPECT_LE(g.error_clipped, g.error_scaled * (1 + 1e-3));  // later row folds rescale v and up slightly
  }
}

TEST(Awq, FloatTargetErrorIsTheErrorAgainstTheFloatInputs) {
  // ||X_fp W^T - X Q^T||^2 written through G = X^T X, C = X^T (X_fp - X), E = (X_fp - X)^T (X_fp - X).
  const int64_t n_tok = 40, cols = 64, rows = 8;
  const std::vector<float> zq = test::normal_floats(n_tok * cols, 1.0f, 21), zd = test::normal_floats(n_tok * cols, 0.1f, 22);
  Eigen::MatrixXd xq(n_tok, cols), xf(n_tok, cols);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t c = 0; c < cols; ++c) {
      xq(t, c) = zq[static_cast<size_t>(t * cols + c)];
      xf(t, c) = xq(t, c) + zd[static_cast<size_t>(t * cols + c)];
    }
  const Eigen::MatrixXd gram = xq.transpose() * xq, cross = xq.transpose() * (xf - xq), delta = (xf - xq).transpose() * (xf - xq);
  const AwqMatrix w = random_matrix("w", rows, cols, 23);
  std::vector<float> s(static_cast<size_t>(cols)), stored = w.values;
  for (int64_t c = 0; c < cols; ++c) s[static_cast<size_t>(c)] = 0.5f + 0.02f * static_cast<float>(c);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) stored[static_cast<size_t>(r * cols + c)] *= s[static_cast<size_t>(c)];
  const std::vector<float> deq = dequantize_tensor(
      w.type, quantize_tensor(w.type, stored.data(), rows * cols, cols, nullptr, "w").data(), rows * cols, cols, "w");
  Eigen::MatrixXd wm(rows, cols), qm(rows, cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      wm(r, c) = w.values[static_cast<size_t>(r * cols + c)];
      qm(r, c) = deq[static_cast<size_t>(r * cols + c)] / s[static_cast<size_t>(c)];
    }
  const double direct = (xf * wm.transpose() - xq * qm.transpose()).squaredNorm();
  const AwqTarget target{&cross, &delta};
  EXPECT_NEAR(awq_output_error(w, stored, gram, s, target), direct, 1e-6 * direct);  // the expanded form cancels
  // The clip search measures and lowers the same objective.
  AwqMatrix clipped = w;
  AwqOptions opt;
  const AwqClipSearch c = awq_search_clip(clipped, gram, opt, target);
  EXPECT_NEAR(c.error_before, awq_output_error(w, w.values, gram, {}, target), 1e-9 * c.error_before);
  EXPECT_LE(c.error_after, c.error_before);
}

TEST(Awq, ClippingSearchClipsAnOutlierOnAQuietChannel) {
  // One large weight per block sits on a channel whose activation is nearly silent: clipping it costs
  // little output error and buys a finer grid for the other 31 weights of its block.
  const int64_t rows = 8, cols = 64;
  AwqMatrix w = random_matrix("w", rows, cols, 9);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < cols / 32; ++b) w.values[static_cast<size_t>(r * cols + b * 32 + 5)] = 0.6f;
  Eigen::MatrixXd gram = Eigen::MatrixXd::Identity(cols, cols);
  for (int64_t b = 0; b < cols / 32; ++b) gram(b * 32 + 5, b * 32 + 5) = 1e-3;
  const AwqMatrix original = w;
  AwqOptions opt;
  const AwqClipSearch c = awq_search_clip(w, gram, opt);
  EXPECT_EQ(c.blocks, rows * cols / 32);
  EXPECT_EQ(c.blocks_clipped, c.blocks);
  EXPECT_LT(c.mean_ratio, 1.0);
  EXPECT_LT(c.error_after, 0.5 * c.error_before);
  // What the writer encodes from the clipped floats is exactly what the search measured.
  EXPECT_DOUBLE_EQ(c.error_after, awq_output_error(original, w.values, gram));
  EXPECT_DOUBLE_EQ(c.error_before, awq_output_error(original, original.values, gram));

  // Uniform activations and no outliers: clipping may only help, never hurt.
  AwqMatrix plain = random_matrix("p", rows, cols, 10);
  const AwqClipSearch c2 = awq_search_clip(plain, Eigen::MatrixXd::Identity(cols, cols), opt);
  EXPECT_LE(c2.error_after, c2.error_before);
}

TEST(Awq, SameInputsGiveTheSameResult) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir));
  const CalibrationSet calib = random_calibration(model, 8, 3);
  AwqOptions opt;
  opt.progress = nullptr;
  opt.max_tokens = 50;  // fewer than the 96 tokens seen: the reservoir's random choice is exercised
  const MethodResult a = run_awq(model, calib, plan(model, TensorType::Q4_0), opt);
  const MethodResult b = run_awq(model, calib, plan(model, TensorType::Q4_0), opt);
  EXPECT_EQ(a.floats, b.floats);
  opt.seed += 1;
  const MethodResult c = run_awq(model, calib, plan(model, TensorType::Q4_0), opt);
  EXPECT_NE(a.floats, c.floats);
}

TEST(Awq, RejectsAModelWithoutCalibration) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir));
  CalibrationSet empty;
  empty.source = "none.txt";
  EXPECT_NE(test::error_of([&] { run_awq(model, empty, {}, AwqOptions{}); }).find("none.txt: no calibration chunks"),
            std::string::npos);
}

// Text sampled from the model itself with `bitdial run`, seeds first .. first + count - 1, joined.
std::string sampled_text(int first, int count) {
  std::string text;
  for (int s = first; s < first + count; ++s) {
    const test::CommandResult r = test::run_bitdial("run -m " + test::shared_path("models/stories260K.gguf") +
                                                    " -p 'Once upon a time' -n 500 --temp 0.8 -t 1 --seed " + std::to_string(s));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string out = r.out;
    if (out.rfind("<s> ", 0) == 0) out = out.substr(4);  // the printed BOS
    text += out + "\n";
  }
  return text;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

TEST(Awq, Stories260KQ4_0HasLowerKlThanRtn) {
  BITDIAL_REQUIRE_SHARED();
  const std::string path = test::shared_path("models/stories260K.gguf");
  const LlamaModel base = LlamaModel::load(path);
  const Tokenizer tok = Tokenizer::from_gguf(base.file());
  // Calibration and evaluation texts come from different seeds.
  test::TempDir dir;
  const std::string calib_path = dir.file("calib.txt");
  std::ofstream(calib_path) << sampled_text(1, 6);
  const CalibrationSet calib = load_calibration(base, calib_path, 128);
  const std::vector<int32_t> eval_tokens = tokenize_for_perplexity(tok, sampled_text(101, 12));
  TextEvalOptions eo;
  eo.n_ctx = 128;
  eo.n_batch = 128;
  eo.bos = chunk_start_token(tok);
  eo.progress = nullptr;

  const std::map<std::string, TensorType> types = plan(base, TensorType::Q4_0);
  LlamaModel rtn = LlamaModel::load(path);
  for (const auto& [name, type] : types) {
    const WeightView* w = rtn.weight(name);
    if (type != TensorType::F32) {
      const std::vector<float> f = dequantize_tensor(w->type, w->data, w->rows * w->cols, w->cols, name);
      rtn.replace_weight(name, type, quantize_tensor(type, f.data(), w->rows * w->cols, w->cols, nullptr, name));
    }
  }
  AwqOptions opt;
  opt.progress = nullptr;
  LlamaModel awq = LlamaModel::load(path);
  awq_apply(awq, run_awq(base, calib, types, opt), types);
  for (const auto& [name, type] : types)  // matrices AWQ left alone get the same RTN as above
    if (const WeightView* w = awq.weight(name); type != TensorType::F32 && w->type == TensorType::F32) {
      const std::vector<float> f = dequantize_tensor(w->type, w->data, w->rows * w->cols, w->cols, name);
      awq.replace_weight(name, type, quantize_tensor(type, f.data(), w->rows * w->cols, w->cols, nullptr, name));
    }

  const double kl_rtn = mean(evaluate_text(rtn, &base, eval_tokens, eo).scores.kld);
  const double kl_awq = mean(evaluate_text(awq, &base, eval_tokens, eo).scores.kld);
  std::printf("stories260K q4_0, %lld calibration tokens, %lld eval tokens: mean KL rtn %.5f awq %.5f (%.1f %% lower)\n",
              static_cast<long long>(calib.n_tokens()), static_cast<long long>(eval_tokens.size()), kl_rtn, kl_awq,
              100.0 * (1.0 - kl_awq / kl_rtn));
  EXPECT_LT(kl_awq, 0.75 * kl_rtn) << "the target: at least 25 % lower mean KL than RTN";
}

}  // namespace
}  // namespace bitdial
