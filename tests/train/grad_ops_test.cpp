// Gradients of the per-token training ops against central finite differences in double, and the float
// forward paths against the engine's own ops (model/ops.h).
#include "train/grad_ops.h"

#include <gtest/gtest.h>

#include <cstring>

#include "grad_check.h"
#include "model/ops.h"
#include "test_support.h"
#include "train/linear_grad.h"

namespace bitdial {
namespace {

using test::expect_gradient_near;
using test::normal_doubles;
using test::numeric_gradient;
using test::weighted_sum;

TEST(GradOps, EmbeddingGradientMatchesFiniteDifferences) {
  const int64_t vocab = 5, d = 3;
  const std::vector<int32_t> ids = {4, 1, 4, 0, 4};  // repeats: the scatter must add, not overwrite
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<double> table = normal_doubles(vocab * d, 1.0, 1);
  const std::vector<double> c = normal_doubles(n * d, 1.0, 2);
  std::vector<double> out(static_cast<size_t>(n * d));
  auto loss = [&] {
    embedding_forward(table.data(), d, ids.data(), n, out.data());
    return weighted_sum(c, out);
  };
  std::vector<double> grad(table.size(), 0.0);
  embedding_backward(c.data(), ids.data(), n, d, grad.data());
  expect_gradient_near(grad, numeric_gradient(table, loss), "dtable");
  for (int64_t i = 0; i < d; ++i) EXPECT_EQ(grad[static_cast<size_t>(2 * d + i)], 0.0) << "unused row 2 got gradient";
}

TEST(GradOps, RmsNormGradientMatchesFiniteDifferences) {
  const int64_t n = 3, d = 6;
  const float eps = 1e-5f;
  std::vector<double> x = normal_doubles(n * d, 1.0, 3);
  std::vector<double> w = normal_doubles(d, 1.0, 4);
  const std::vector<double> c = normal_doubles(n * d, 1.0, 5);
  std::vector<double> y(x.size()), inv_rms(static_cast<size_t>(n));
  auto loss = [&] {
    rms_norm_forward(x.data(), w.data(), n, d, eps, y.data(), inv_rms.data());
    return weighted_sum(c, y);
  };
  loss();
  // Both gradients are added onto what the buffers hold.
  std::vector<double> dx(x.size(), 0.5), dw(w.size(), -0.25);
  rms_norm_backward(x.data(), w.data(), inv_rms.data(), c.data(), n, d, dx.data(), dw.data());
  for (double& v : dx) v -= 0.5;
  for (double& v : dw) v += 0.25;
  expect_gradient_near(dx, numeric_gradient(x, loss), "dx");
  expect_gradient_near(dw, numeric_gradient(w, loss), "dw");
}

TEST(GradOps, RmsNormFloatForwardIsTheEnginesToTheBit) {
  const int64_t n = 4, d = 37;
  const std::vector<float> x = test::normal_floats(n * d, 2.0f, 6), w = test::normal_floats(d, 1.0f, 7);
  std::vector<float> ours(x.size()), engine(x.size()), inv_rms(static_cast<size_t>(n));
  rms_norm_forward(x.data(), w.data(), n, d, 1e-6f, ours.data(), inv_rms.data());
  rms_norm(x.data(), w.data(), n, d, 1e-6f, engine.data());
  EXPECT_EQ(0, std::memcmp(ours.data(), engine.data(), ours.size() * sizeof(float)));
}

TEST(GradOps, RopeGradientMatchesFiniteDifferences) {
  const int64_t n_seq = 2, seq_len = 3, n_heads = 2, hd = 4, n = n_seq * seq_len;
  const RopeTable table = rope_angles(seq_len, hd, 10000.0f);
  std::vector<double> x = normal_doubles(n * n_heads * hd, 1.0, 8);
  const std::vector<double> c = normal_doubles(x.size(), 1.0, 9);
  std::vector<double> y(x.size());
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), n, seq_len, n_heads, hd, table);
    return weighted_sum(c, y);
  };
  std::vector<double> dx = c;
  rope_backward(dx.data(), n, seq_len, n_heads, hd, table);
  expect_gradient_near(dx, numeric_gradient(x, loss), "dx");
}

TEST(GradOps, RopeFloatForwardIsTheEnginesToTheBitPerSequence) {
  // Two sequences of 5: each starts at position 0, as the engine's rope does for a fresh session.
  const int64_t seq_len = 5, n_heads = 3, hd = 8;
  const float base = 500000.0f;
  const std::vector<float> x = test::normal_floats(2 * seq_len * n_heads * hd, 1.0f, 10);
  std::vector<float> ours = x;
  rope_forward(ours.data(), 2 * seq_len, seq_len, n_heads, hd, rope_angles(seq_len, hd, base));
  LlamaHparams hp;
  hp.rope_base = base;
  hp.rope_dim = hd;
  hp.head_dim = hd;
  const RopeTable engine_table = rope_table(hp, {}, 0, seq_len);
  const size_t half = x.size() / 2;
  for (size_t s = 0; s < 2; ++s) {
    std::vector<float> engine(x.begin() + static_cast<std::ptrdiff_t>(s * half),
                              x.begin() + static_cast<std::ptrdiff_t>((s + 1) * half));
    rope_apply(engine.data(), seq_len, n_heads, hd, RopeMode::normal, engine_table);
    EXPECT_EQ(0, std::memcmp(ours.data() + s * half, engine.data(), half * sizeof(float))) << "sequence " << s;
  }
}

TEST(GradOps, SwigluGradientMatchesFiniteDifferences) {
  const int64_t n = 12;
  std::vector<double> gate = normal_doubles(n, 2.0, 11), up = normal_doubles(n, 1.0, 12);
  const std::vector<double> c = normal_doubles(n, 1.0, 13);
  std::vector<double> act(static_cast<size_t>(n));
  auto loss = [&] {
    swiglu_forward(gate.data(), up.data(), n, act.data());
    return weighted_sum(c, act);
  };
  std::vector<double> dgate(static_cast<size_t>(n)), dup(static_cast<size_t>(n));
  swiglu_backward(gate.data(), up.data(), c.data(), n, dgate.data(), dup.data());
  expect_gradient_near(dgate, numeric_gradient(gate, loss), "dgate");
  expect_gradient_near(dup, numeric_gradient(up, loss), "dup");
}

TEST(GradOps, LinearGradientMatchesFiniteDifferences) {
  const int64_t n = 3, in = 5, out = 4;
  std::vector<double> x = normal_doubles(n * in, 1.0, 14), w = normal_doubles(out * in, 1.0, 15);
  const std::vector<double> c = normal_doubles(n * out, 1.0, 16);
  std::vector<double> y(static_cast<size_t>(n * out)), scratch;
  auto loss = [&] {
    linear_forward(x.data(), w.data(), n, in, out, y.data(), scratch);
    return weighted_sum(c, y);
  };
  std::vector<double> dx(x.size(), 1.0), dw(w.size(), 2.0);  // added onto
  linear_backward(x.data(), w.data(), c.data(), n, in, out, dx.data(), dw.data(), scratch);
  for (double& v : dx) v -= 1.0;
  for (double& v : dw) v -= 2.0;
  expect_gradient_near(dx, numeric_gradient(x, loss), "dx");
  expect_gradient_near(dw, numeric_gradient(w, loss), "dw");
}

// The float path runs the GEMM kernel (AVX2 micro-tiles and their remainders); odd sizes reach every
// edge case. Each element is a sum of k products, so it may differ from the exact value by at most
// k * 2^-24 * sum|products| (the classic bound for recursive summation); the sums of |products| are
// the same products on absolute values.
TEST(GradOps, LinearFloatPathAgreesWithDoublePath) {
  const int64_t n = 13, in = 35, out = 41;
  const std::vector<double> xd = normal_doubles(n * in, 1.0, 17), wd = normal_doubles(out * in, 1.0, 18),
                            dyd = normal_doubles(n * out, 1.0, 19);
  const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
  // The double reference on the float-rounded inputs, so only the float arithmetic differs.
  const std::vector<double> x(xf.begin(), xf.end()), w(wf.begin(), wf.end()), dy(dyf.begin(), dyf.end());
  auto abs_of = [](std::vector<double> v) {
    for (double& e : v) e = std::fabs(e);
    return v;
  };
  const std::vector<double> xa = abs_of(x), wa = abs_of(w), dya = abs_of(dy);
  std::vector<double> y(static_cast<size_t>(n * out)), dx(x.size(), 0.0), dw(w.size(), 0.0), scratch;
  std::vector<double> y_abs(y.size()), dx_abs(x.size(), 0.0), dw_abs(w.size(), 0.0);
  linear_forward(x.data(), w.data(), n, in, out, y.data(), scratch);
  linear_backward(x.data(), w.data(), dy.data(), n, in, out, dx.data(), dw.data(), scratch);
  linear_forward(xa.data(), wa.data(), n, in, out, y_abs.data(), scratch);
  linear_backward(xa.data(), wa.data(), dya.data(), n, in, out, dx_abs.data(), dw_abs.data(), scratch);

  std::vector<float> yf(y.size()), dxf(x.size(), 0.0f), dwf(w.size(), 0.0f), sf;
  linear_forward(xf.data(), wf.data(), n, in, out, yf.data(), sf);
  linear_backward(xf.data(), wf.data(), dyf.data(), n, in, out, dxf.data(), dwf.data(), sf);
  auto check = [](const std::vector<double>& ref, const std::vector<double>& abs_sum, const std::vector<float>& got,
                  int64_t k, const char* what) {
    int bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double tol = static_cast<double>(k) * 0x1p-24 * abs_sum[i];
      if (!(std::fabs(ref[i] - got[i]) <= tol) && ++bad <= 10)
        ADD_FAILURE() << what << "[" << i << "]: float " << got[i] << ", double " << ref[i] << ", bound " << tol;
    }
    EXPECT_EQ(bad, 0) << what;
  };
  check(y, y_abs, yf, in, "y");
  check(dx, dx_abs, dxf, out, "dx");
  check(dw, dw_abs, dwf, n, "dw");
}

}  // namespace
}  // namespace bitdial
