// GPTQ onto block grids: on correlated activations its output error ||(W - Q) X^T||_F is clearly below
// the type's own importance-weighted RTN; with H = I it is RTN with the quantizer's scales; dead
// columns, thread counts and bad input behave; on stories260K it lowers the KL divergence of Q4_0.
#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "blocks/tensor_codec.h"
#include "eval/perplexity.h"
#include "model/tokenizer/tokenizer.h"
#include "quant/block_grid.h"
#include "quant/hessian.h"
#include "test_support.h"

namespace bitdial {
namespace {

constexpr int64_t kRows = 48, kCols = 512, kTokens = 1024;

// X (kTokens, kCols): unit noise plus 4 strong latent factors, each loading on a third of the columns
// with its own weights, and a per-column scale spread over 1/4..4: the correlated, heavy-column inputs
// of real layers, where spreading one column's rounding error onto the others pays.
Eigen::MatrixXd correlated_inputs(uint32_t seed, const std::vector<int64_t>& dead = {}) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  Eigen::MatrixXd f(kTokens, 4), load = Eigen::MatrixXd::Zero(4, kCols);
  for (int64_t i = 0; i < f.size(); ++i) f.data()[i] = n01(rng);
  for (int k = 0; k < 4; ++k)
    for (int64_t c = 0; c < kCols; ++c)
      if ((c * 7 + k * 3) % 3 == 0) load(k, c) = 4.0 * u(rng);
  Eigen::MatrixXd x(kTokens, kCols);
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = n01(rng);
  x += f * load;
  for (int64_t c = 0; c < kCols; ++c) x.col(c) *= std::pow(2.0, u(rng));
  for (int64_t c : dead) x.col(c).setZero();
  return x;
}

// tr((W - Q) H (W - Q)^T) = ||(W - Q) X^T||_F^2 with H = X^T X.
double output_error(const std::vector<float>& w, const std::vector<float>& q, const Eigen::MatrixXd& h) {
  Eigen::MatrixXd d(kRows, kCols);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) d(r, c) = static_cast<double>(w[r * kCols + c]) - q[r * kCols + c];
  return (d * h * d.transpose()).trace();
}

std::vector<float> decode(TensorType type, const std::vector<uint8_t>& bytes) {
  return dequantize_tensor(type, bytes.data(), kRows * kCols, kCols, "test");
}

std::vector<float> diag_importance(const Eigen::MatrixXd& h) {
  std::vector<float> imp(kCols);
  for (int64_t c = 0; c < kCols; ++c) imp[c] = static_cast<float>(h(c, c));
  return imp;
}

struct Errors {
  double rtn, gptq;
};

Errors compare(TensorType type, const GptqOptions& o, const std::vector<int64_t>& dead = {}) {
  const Eigen::MatrixXd x = correlated_inputs(3, dead);
  const Eigen::MatrixXd h = x.transpose() * x;
  const std::vector<float> w = test::normal_floats(kRows * kCols, 0.05f, 4);
  const std::vector<float> imp = diag_importance(h);
  const std::vector<uint8_t> rtn = quantize_tensor(type, w.data(), kRows * kCols, kCols, imp.data(), "rtn");
  const std::vector<uint8_t> gq = gptq_quantize(w.data(), kRows, kCols, h, type, o);
  EXPECT_EQ(gq.size(), rtn.size());
  return {output_error(w, decode(type, rtn), h), output_error(w, decode(type, gq), h)};
}

class GptqTypeTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(GptqTypeTest, BeatsImportanceWeightedRtnOnCorrelatedInputs) {
  const TensorType type = GetParam();
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.act_order = act_order;
    const Errors e = compare(type, o);
    std::printf("%-7s act_order=%d  ||(W-Q)X^T||^2  rtn %.5g  gptq %.5g  ratio %.3f\n", type_name(type), act_order,
                e.rtn, e.gptq, e.gptq / e.rtn);
    // "Clearly lower": GPTQ removes most of the error the correlations let it move (ratios measured
    // 0.06-0.17 here); 0.8 leaves room for seeds while failing a GPTQ that only matches RTN.
    EXPECT_LT(e.gptq, 0.8 * e.rtn) << type_name(type) << " act_order " << act_order;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GptqTypeTest,
                         ::testing::Values(TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q8_0,
                                           TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                                           TensorType::IQ4_NL, TensorType::IQ4_XS),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// With H = I (plus dampening) U is diagonal: no error is spread, and every block is the quantizer's
// scales with each value rounded to nearest, byte for byte.
TEST(Gptq, IdentityHessianIsRtnWithTheQuantizersScales) {
  const std::vector<float> w = test::normal_floats(kRows * kCols, 0.05f, 5);
  const Eigen::MatrixXd h = Eigen::MatrixXd::Identity(kCols, kCols);
  const std::vector<float> ones(kCols, 1.0f);
  for (TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q2_K, TensorType::Q4_K,
                          TensorType::Q6_K, TensorType::IQ4_XS, TensorType::TQ2_0}) {
    const BlockGrid grid = BlockGrid::for_type(type);
    const int bs = grid.block_size();
    std::vector<uint8_t> rtn(kRows * row_bytes(type, kCols));
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t k = 0; k < kCols / bs; ++k) {
        uint8_t* b = rtn.data() + r * row_bytes(type, kCols) + k * grid.block_bytes();
        const float* x = w.data() + r * kCols + k * bs;
        grid.choose_scales(x, ones.data(), b);
        for (int i = 0; i < bs; ++i) grid.round(b, i, x[i]);
      }
    EXPECT_EQ(gptq_quantize(w.data(), kRows, kCols, h, type, {}), rtn) << type_name(type);
  }
}

TEST(Gptq, DeadColumnsAreZeroedAndTheRestStillBeatsRtn) {
  const std::vector<int64_t> dead = {0, 3, 40, 41, 300, 511};
  const Errors e = compare(TensorType::Q4_0, {}, dead);
  EXPECT_LT(e.gptq, 0.8 * e.rtn);
  const Eigen::MatrixXd x = correlated_inputs(3, dead);
  const std::vector<float> w = test::normal_floats(kRows * kCols, 0.05f, 4);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.act_order = act_order;
    const std::vector<float> q = decode(TensorType::Q4_0, gptq_quantize(w.data(), kRows, kCols, x.transpose() * x,
                                                                         TensorType::Q4_0, o));
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t c : dead) EXPECT_EQ(q[r * kCols + c], 0.0f) << "row " << r << " col " << c;  // q4_0 has an exact 0
      for (int64_t c = 0; c < kCols; ++c) ASSERT_TRUE(std::isfinite(q[r * kCols + c]));
    }
  }
}

TEST(Gptq, SameBytesForAnyThreadCountAndBatch) {
  const Eigen::MatrixXd x = correlated_inputs(9);
  const Eigen::MatrixXd h = x.transpose() * x;
  const std::vector<float> w = test::normal_floats(kRows * kCols, 0.05f, 10);
  for (TensorType type : {TensorType::Q4_0, TensorType::Q4_K}) {
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.act_order = act_order;
      o.n_threads = 1;
      const std::vector<uint8_t> one = gptq_quantize(w.data(), kRows, kCols, h, type, o);
      o.n_threads = 3;
      EXPECT_EQ(gptq_quantize(w.data(), kRows, kCols, h, type, o), one) << type_name(type);
      o.n_threads = 8;
      EXPECT_EQ(gptq_quantize(w.data(), kRows, kCols, h, type, o), one) << type_name(type);
      // The lazy batch only reorders when updates land, not what they are: same codes up to float
      // rounding, so the output error agrees closely.
      o.batch = 32;
      const std::vector<float> a = decode(type, one), b = decode(type, gptq_quantize(w.data(), kRows, kCols, h, type, o));
      EXPECT_NEAR(output_error(w, a, h), output_error(w, b, h), 0.02 * output_error(w, a, h)) << type_name(type);
    }
  }
}

TEST(Gptq, RejectsBadShapesAndTypes) {
  const std::vector<float> w(4 * 48, 0.1f);
  const Eigen::MatrixXd h48 = Eigen::MatrixXd::Identity(48, 48);
  std::string msg = test::error_of([&] { gptq_quantize(w.data(), 4, 48, h48, TensorType::Q4_0, {}, "blk.0.x"); });
  EXPECT_NE(msg.find("blk.0.x: 48 columns are not a multiple of the q4_0 block (32)"), std::string::npos) << msg;
  const Eigen::MatrixXd h32 = Eigen::MatrixXd::Identity(32, 32);
  msg = test::error_of([&] { gptq_quantize(w.data(), 4, 64, h32, TensorType::Q4_0, {}, "blk.0.x"); });
  EXPECT_NE(msg.find("Hessian is 32x32, the weight has 64 columns"), std::string::npos) << msg;
  msg = test::error_of([&] { gptq_quantize(w.data(), 6, 32, h32, TensorType::F16, {}, "blk.0.x"); });
  EXPECT_NE(msg.find("no rounding grid for type f16"), std::string::npos) << msg;
}

// The collector's H is the double-precision X^T X of everything fed to a site, in both triangles,
// within the float rounding of one call's product (tolerance from the sum of |products|).
TEST(Hessian, CollectorSumsXtXOverCallsInBothTriangles) {
  const int64_t cols = 300, n1 = 70, n2 = 45;
  const std::vector<float> x = test::normal_floats((n1 + n2) * cols, 1.0f, 12);
  HessianCollector collector({"blk.0.ffn_down.weight"});
  collector.on_matmul_input(MatmulSite::ffn_mid, 0, x.data(), n1, cols);
  collector.on_matmul_input(MatmulSite::ffn_mid, 0, x.data() + n1 * cols, n2, cols);
  collector.on_matmul_input(MatmulSite::ffn_mid, 1, x.data(), n1, cols);  // another layer: not wanted
  const SiteHessian* s = collector.find("blk.0.ffn_down.weight");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->n_tokens, n1 + n2);
  EXPECT_EQ(collector.bytes(), static_cast<size_t>(cols * cols) * sizeof(double));
  int64_t bad = 0;
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double ref = 0, mag = 0;
      for (int64_t t = 0; t < n1 + n2; ++t) {
        const double p = static_cast<double>(x[t * cols + i]) * x[t * cols + j];
        ref += p;
        mag += std::abs(p);
      }
      const double tol = 2.0 * static_cast<double>(n1 + 1) * std::numeric_limits<float>::epsilon() * mag;
      if (std::abs(s->h(i, j) - ref) > tol && ++bad <= 10) ADD_FAILURE() << i << "," << j << ": " << s->h(i, j) << " vs " << ref;
      if (s->h(i, j) != s->h(j, i) && ++bad <= 10) ADD_FAILURE() << "not symmetric at " << i << "," << j;
    }
  EXPECT_EQ(bad, 0);
}

// The factor from the reversed Cholesky and one triangular inverse is the upper Cholesky factor of H^-1
// that the textbook route (H^-1 from H's Cholesky, then its own Cholesky) gives, on random SPD
// matrices of odd sizes (300 > one OpenMP block of the inverse), within k * n * eps * max|U|.
TEST(Gptq, InverseFactorMatchesCholeskyOfTheInverse) {
  std::mt19937 rng(11);
  std::normal_distribution<double> n01(0.0, 1.0);
  for (int64_t n : {1, 2, 7, 64, 65, 130, 300}) {
    Eigen::MatrixXd x(2 * n + 3, n);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = n01(rng);
    for (int64_t c = 0; c < n; ++c) x.col(c) *= std::pow(2.0, 3.0 * (n01(rng) > 0 ? 1 : -1) * std::abs(n01(rng)) / 2);
    const Eigen::MatrixXd h = x.transpose() * x + 0.01 * Eigen::MatrixXd::Identity(n, n);
    const Eigen::LLT<Eigen::MatrixXd> llt(h);
    ASSERT_EQ(llt.info(), Eigen::Success);
    const Eigen::MatrixXd old_u = Eigen::LLT<Eigen::MatrixXd>(llt.solve(Eigen::MatrixXd::Identity(n, n))).matrixU();
    const std::optional<Eigen::MatrixXd> u = gptq_inverse_factor(h);
    ASSERT_TRUE(u.has_value()) << n;
    EXPECT_TRUE(u->isUpperTriangular(0.0)) << n;
    const double scale = old_u.cwiseAbs().maxCoeff();
    const double tol = 64.0 * static_cast<double>(n) * std::numeric_limits<double>::epsilon() * scale;
    const double diff = (*u - old_u).cwiseAbs().maxCoeff();
    EXPECT_LE(diff, tol) << "n " << n << " max |U| " << scale;
    const Eigen::MatrixXd inv = llt.solve(Eigen::MatrixXd::Identity(n, n));
    EXPECT_LE((u->transpose() * *u - inv).cwiseAbs().maxCoeff(), tol * scale) << n;
  }
}

TEST(Gptq, InverseFactorRejectsMatricesThatAreNotPositiveDefinite) {
  Eigen::MatrixXd h = Eigen::MatrixXd::Identity(5, 5);
  h(2, 2) = -1;
  EXPECT_FALSE(gptq_inverse_factor(h).has_value());
  h(2, 2) = 0;
  EXPECT_FALSE(gptq_inverse_factor(h).has_value());
}

// ---- stories260K: GPTQ Q4_0 vs RTN Q4_0, mean KL against the F32 model -----------------------------

std::vector<int32_t> generated_tokens(const Tokenizer& tok, std::initializer_list<int> seeds) {
  std::string text;
  for (int s : seeds) {
    const test::CommandResult r = test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") +
                                                    "' -p 'Once upon a time' -n 500 --temp 0.8 --seed " + std::to_string(s));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // The prompt is echoed after the BOS piece; control tokens are not part of the story text.
    std::string out = r.out;
    for (const char* ctl : {"<s>", "</s>"})
      for (size_t at; (at = out.find(ctl)) != std::string::npos;) out.erase(at, std::strlen(ctl));
    text += out + "\n";
  }
  return tokenize_for_perplexity(tok, text);
}

// Every matrix but token_embd (a lookup table) and ffn_down (172 wide: not a multiple of 32).
std::map<std::string, TensorType> q4_0_targets(const LlamaModel& m) {
  std::map<std::string, TensorType> t;
  for (const std::string& n : m.weight_names())
    if (n != "token_embd.weight" && n.find("ffn_down") == std::string::npos) t[n] = TensorType::Q4_0;
  return t;
}

double mean_kld(const LlamaModel& cand, const LlamaModel& base, const std::vector<int32_t>& tokens, int32_t bos) {
  TextEvalOptions o;
  o.n_ctx = 128;
  o.bos = bos;
  o.progress = nullptr;
  const TextEvalResult r = evaluate_text(cand, &base, tokens, o);
  double s = 0;
  for (double k : r.scores.kld) s += k;
  return s / static_cast<double>(r.scores.kld.size());
}

TEST(GptqStories260K, Q4_0KlDivergenceAtLeastAQuarterBelowRtn) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel base = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_gguf(base.file());
  const int32_t bos = chunk_start_token(tok);
  const std::vector<int32_t> calib_tokens = generated_tokens(tok, {1, 2, 3, 4, 5, 6, 7, 8});
  const std::vector<int32_t> eval_tokens = generated_tokens(tok, {101, 102, 103, 104, 105, 106});
  const CalibrationSet calib = calibration_from_tokens(calib_tokens, bos, 128, "generated");
  const std::map<std::string, TensorType> targets = q4_0_targets(base);

  LlamaModel rtn = base;
  for (const auto& [name, type] : targets) {
    const WeightView& v = *base.weight(name);
    const std::vector<float> f = dequantize_tensor(v.type, v.data, v.rows * v.cols, v.cols, name);
    rtn.replace_weight(name, type, quantize_tensor(type, f.data(), v.rows * v.cols, v.cols, nullptr, name));
  }
  const double kl_rtn = mean_kld(rtn, base, eval_tokens, bos);

  std::printf("stories260K q4_0 (%zu calibration chunks of 128, %zu eval tokens)\n", calib.chunks.size(),
              eval_tokens.size());
  std::printf("  %-32s mean KL %.5f\n", "RTN (quantize_tensor)", kl_rtn);
  double kl_default = 0;
  // Measured by hand as well (docs/gptq.md): one pass 38.3 %, percdamp 0.1 39.7 %. The test runs two.
  for (int variant : {0, 2}) {
    GptqOptions o;
    o.progress = nullptr;
    o.sequential = variant != 1;
    o.act_order = variant == 2;
    if (variant == 3) o.percdamp = 0.1;
    const MethodResult res = run_gptq(base, calib, targets, o);
    EXPECT_EQ(res.encoded.size(), targets.size());
    LlamaModel cand = base;
    for (const auto& [name, bytes] : res.encoded) cand.replace_weight(name, targets.at(name), bytes);
    const double kl = mean_kld(cand, base, eval_tokens, bos);
    const char* label[] = {"GPTQ sequential", "GPTQ one pass", "GPTQ sequential act_order", "GPTQ sequential damp 0.1"};
    std::printf("  %-32s mean KL %.5f  (%.1f %% below RTN)\n", label[variant], kl, 100.0 * (1.0 - kl / kl_rtn));
    if (variant == 0) kl_default = kl;
  }
  EXPECT_LE(kl_default, 0.75 * kl_rtn);
}

}  // namespace
}  // namespace bitdial
