// The forward pass against an independent double-precision implementation of the same equations
// (naive loops, one token at a time, weights decoded to double): the check that our arithmetic is
// right, independent of any other engine's rounding.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "blocks/tensor_codec.h"
#include "kernels/dot_kernel.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "test_support.h"

namespace bitdial {
namespace {

using Vec = std::vector<double>;

struct Mat {
  Vec w;  // (rows, cols)
  int64_t rows, cols;
  ActFormat act;  // how the engine's kernel sees the activations
};

Mat decode(const WeightView& v) {
  const std::vector<float> f = dequantize_tensor(v.type, v.data, v.rows * v.cols, v.cols, "w");
  return {Vec(f.begin(), f.end()), v.rows, v.cols, scalar_dot_kernel(v.type).act};
}

// Quantized weights multiply 8-bit activations (kernels/dot_kernel.h): the oracle applies the
// same conversion (to the float value of x) and multiplies the decoded result in double.
Vec as_kernel_sees(const Vec& x, ActFormat act) {
  if (act == ActFormat::F32) return x;
  const std::vector<float> xf(x.begin(), x.end());
  std::vector<uint8_t> buf(act_row_bytes(act, static_cast<int64_t>(x.size())));
  scalar_quantize_act(act)(xf.data(), buf.data(), static_cast<int64_t>(x.size()));
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (act == ActFormat::Q8) {
      const auto& b = reinterpret_cast<const ActBlockQ8*>(buf.data())[i / 32];
      out[i] = static_cast<double>(b.d) * b.qs[i % 32];
    } else {
      const auto& b = reinterpret_cast<const ActBlockQ8K*>(buf.data())[i / 256];
      out[i] = static_cast<double>(b.d) * b.qs[i % 256];
    }
  }
  return out;
}

Vec mul(const Mat& m, const Vec& x_in) {  // (rows, cols) @ (cols) -> (rows)
  const Vec x = as_kernel_sees(x_in, m.act);
  Vec y(static_cast<size_t>(m.rows), 0.0);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) y[r] += m.w[r * m.cols + c] * x[c];
  return y;
}

Vec rms(const Vec& x, const std::vector<float>& g, double eps) {
  double ss = 0;
  for (const double v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec o(x.size());
  for (size_t i = 0; i < x.size(); ++i) o[i] = x[i] * s * g[i];
  return o;
}

// Rotate pairs (2i, 2i+1) of each head by pos * base^(-2i/rope_dim) (GGUF llama layout).
void rope(Vec& z, int64_t heads, const LlamaHparams& hp, int64_t pos) {
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hp.rope_dim / 2; ++i) {
      const double th = static_cast<double>(pos) * hp.rope_freq_scale * std::pow(static_cast<double>(hp.rope_base), -2.0 * i / hp.rope_dim);
      double& a = z[h * hp.head_dim + 2 * i];
      double& b = z[h * hp.head_dim + 2 * i + 1];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(th) - b0 * std::sin(th);
      b = a0 * std::sin(th) + b0 * std::cos(th);
    }
}

// tokens -> logits (n, n_vocab) in double precision.
std::vector<Vec> oracle_logits(const LlamaModel& m, const std::vector<int32_t>& tokens) {
  const LlamaHparams& hp = m.hparams();
  const Mat embd = decode(m.token_embd()), out = decode(m.output());
  struct L { Mat q, k, v, o, g, u, d; };
  std::vector<L> ls;
  for (const LlamaLayer& l : m.layers())
    ls.push_back({decode(l.wq), decode(l.wk), decode(l.wv), decode(l.wo), decode(l.w_gate), decode(l.w_up), decode(l.w_down)});
  std::vector<std::vector<Vec>> K(ls.size()), V(ls.size());
  std::vector<Vec> result;
  const int64_t hd = hp.head_dim, group = hp.n_head / hp.n_head_kv;
  for (size_t t = 0; t < tokens.size(); ++t) {
    Vec x(embd.w.begin() + tokens[t] * hp.n_embd, embd.w.begin() + (tokens[t] + 1) * hp.n_embd);
    for (size_t il = 0; il < ls.size(); ++il) {
      const LlamaLayer& l = m.layers()[il];
      Vec xn = rms(x, l.attn_norm, hp.rms_eps);
      Vec q = mul(ls[il].q, xn), k = mul(ls[il].k, xn);
      rope(q, hp.n_head, hp, static_cast<int64_t>(t));
      rope(k, hp.n_head_kv, hp, static_cast<int64_t>(t));
      K[il].push_back(k);
      V[il].push_back(mul(ls[il].v, xn));
      Vec att(static_cast<size_t>(hp.q_dim()), 0.0);
      for (int64_t h = 0; h < hp.n_head; ++h) {
        const int64_t kh = h / group;
        Vec s(t + 1);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[h * hd + i] * K[il][j][kh * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j <= t; ++j)
          for (int64_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * V[il][j][kh * hd + i];
      }
      const Vec o = mul(ls[il].o, att);
      for (int64_t i = 0; i < hp.n_embd; ++i) x[i] += o[i];
      xn = rms(x, l.ffn_norm, hp.rms_eps);
      Vec g = mul(ls[il].g, xn);
      const Vec u = mul(ls[il].u, xn);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const Vec dn = mul(ls[il].d, g);
      for (int64_t i = 0; i < hp.n_embd; ++i) x[i] += dn[i];
    }
    result.push_back(mul(out, rms(x, m.output_norm(), hp.rms_eps)));
  }
  return result;
}

void expect_matches_oracle(const std::string& file) {
  const LlamaModel model = LlamaModel::load(test::shared_path("models/" + file));
  ASSERT_EQ(model.hparams().rope_mode, RopeMode::normal);
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
  const std::vector<Vec> want = oracle_logits(model, tokens);
  Session s(model, {.kv_type = KvType::f32});
  const std::vector<float> got = s.eval(tokens, true);
  const size_t V = static_cast<size_t>(model.hparams().n_vocab);
  double scale = 0, worst = 0;
  for (const Vec& row : want)
    for (const double v : row) scale = std::max(scale, std::fabs(v));
  // Float rounding through ~5 layers of dots of length <= 172: 32 eps relative to the
  // logit scale (~8e-5 here) is 10x the measured 8e-6 and 1000x below the effect of a wrong formula.
  const double tol = 32 * FLT_EPSILON * (scale + 1.0);
  int bad = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t i = 0; i < V; ++i) {
      const double d = std::fabs(got[t * V + i] - want[t][i]);
      worst = std::max(worst, d);
      if (d > tol && ++bad <= 10) ADD_FAILURE() << "position " << t << " token " << i << ": " << got[t * V + i] << " vs " << want[t][i];
    }
  std::printf("%s: max |logit - double oracle| = %.3g (tolerance %.3g)\n", file.c_str(), worst, tol);
  EXPECT_EQ(bad, 0);
}

TEST(LlamaOracle, F32ModelMatchesDoublePrecisionForward) {
  BITDIAL_REQUIRE_SHARED();
  expect_matches_oracle("stories260K.gguf");
}

TEST(LlamaOracle, QuantizedModelMatchesDoublePrecisionForwardOfDecodedWeights) {
  BITDIAL_REQUIRE_SHARED();
  expect_matches_oracle("stories260K-llamacpp-Q4_K_M.gguf");
}

}  // namespace
}  // namespace bitdial
