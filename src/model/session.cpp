#include "model/session.h"

#include <cmath>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/ops.h"

namespace bitdial {
namespace {

int64_t context_size(const LlamaModel& m, const SessionOptions& o) {
  if (o.n_ctx < 0) fail("context size ", o.n_ctx, " is negative");
  return o.n_ctx > 0 ? o.n_ctx : m.hparams().n_ctx_train;
}

void add_bias(float* x, const std::vector<float>& b, int64_t n) {
  if (b.empty()) return;
  const int64_t d = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i) x[t * d + i] += b[static_cast<size_t>(i)];
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

Session::Session(const LlamaModel& model, SessionOptions options)
    : model_(model),
      cache_(model.hparams().n_layer, model.hparams().kv_dim(), context_size(model, options), options.kv_type) {}

void Session::reset() {
  cache_.clear();
  n_past_ = 0;
}

// q (n, q_dim) for positions n_past_ .. n_past_ + n - 1, whose K/V are already cached
// -> out (n, q_dim): per head, causal softmax(q k^T / sqrt(head_dim)) v over positions <= its own.
// GQA: query head h reads key/value head h / (n_head / n_head_kv).
void Session::attention(int64_t layer, const float* q, int64_t n, float* out) const {
  const LlamaHparams& hp = model_.hparams();
  const int64_t hd = hp.head_dim, kv_dim = hp.kv_dim(), q_dim = hp.q_dim();
  const int64_t n_kv = n_past_ + n;
  const int64_t group = hp.n_head / hp.n_head_kv;
  std::vector<float> k(static_cast<size_t>(n_kv * kv_dim)), v(k.size());  // (n_kv, kv_dim) each
  cache_.read(layer, n_kv, k.data(), v.data());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(n_kv));
#pragma omp for collapse(2) schedule(static)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < hp.n_head; ++h) {
        const float* qh = q + t * q_dim + h * hd;
        const int64_t kvh = h / group;
        const int64_t len = n_past_ + t + 1;
        for (int64_t j = 0; j < len; ++j) {
          const float* kj = k.data() + j * kv_dim + kvh * hd;
          float s = 0.0f;
          for (int64_t i = 0; i < hd; ++i) s += qh[i] * kj[i];
          scores[static_cast<size_t>(j)] = s * scale;
        }
        softmax_inplace(scores.data(), len);
        float* o = out + t * q_dim + h * hd;
        for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
        for (int64_t j = 0; j < len; ++j) {
          const float p = scores[static_cast<size_t>(j)];
          const float* vj = v.data() + j * kv_dim + kvh * hd;
          for (int64_t i = 0; i < hd; ++i) o[i] += p * vj[i];
        }
      }
    }
  }
}

std::vector<float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  const LlamaHparams& hp = model_.hparams();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) fail("eval: no tokens to evaluate");
  if (n_past_ + n > cache_.n_ctx())
    fail("eval: ", n_past_, " cached + ", n, " new tokens exceed the context size ", cache_.n_ctx());
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= hp.n_vocab) fail("eval: token id ", id, " at batch index ", t, " is outside the vocabulary [0, ", hp.n_vocab, ")");
  }
  const int64_t d = hp.n_embd, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), ff = hp.n_ff;
  auto buf = [](int64_t count) { return std::vector<float>(static_cast<size_t>(count)); };
  std::vector<float> x = buf(n * d), xn = buf(n * d), tmp = buf(n * d);  // residual stream etc. (n, d)
  std::vector<float> q = buf(n * q_dim), att = buf(n * q_dim);           // (n, q_dim)
  std::vector<float> k = buf(n * kv_dim), v = buf(n * kv_dim);           // (n, kv_dim)
  std::vector<float> gate = buf(n * ff), up = buf(n * ff);               // (n, n_ff)

  for (int64_t t = 0; t < n; ++t) model_.embed(tokens[static_cast<size_t>(t)], x.data() + t * d);
  const RopeTable rope = rope_table(hp, model_.rope_freq_factors(), n_past_, n);

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& l = model_.layers()[static_cast<size_t>(il)];
    // Attention block: x += Wo · attn(rope(Wq xn + bq), rope(Wk xn + bk), Wv xn + bv).
    rms_norm(x.data(), l.attn_norm.data(), n, d, hp.rms_eps, xn.data());
    matmul(l.wq, xn.data(), n, q.data());
    matmul(l.wk, xn.data(), n, k.data());
    matmul(l.wv, xn.data(), n, v.data());
    add_bias(q.data(), l.bq, n);
    add_bias(k.data(), l.bk, n);
    add_bias(v.data(), l.bv, n);
    rope_apply(q.data(), n, hp.n_head, hp.head_dim, hp.rope_mode, rope);
    rope_apply(k.data(), n, hp.n_head_kv, hp.head_dim, hp.rope_mode, rope);
    cache_.store(il, n_past_, n, k.data(), v.data());
    attention(il, q.data(), n, att.data());
    matmul(l.wo, att.data(), n, tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
    // Feed-forward block: x += W_down (silu(W_gate xn) * (W_up xn)).
    rms_norm(x.data(), l.ffn_norm.data(), n, d, hp.rms_eps, xn.data());
    matmul(l.w_gate, xn.data(), n, gate.data());
    matmul(l.w_up, xn.data(), n, up.data());
    swiglu_inplace(gate.data(), up.data(), n * ff);
    matmul(l.w_down, gate.data(), n, tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
  }
  n_past_ += n;

  // Output: logits (n_out, n_vocab) = W_out · rms_norm(x) for the requested rows.
  const int64_t n_out = all_logits ? n : 1;
  const float* last = x.data() + (n - n_out) * d;
  rms_norm(last, model_.output_norm().data(), n_out, d, hp.rms_eps, xn.data());
  std::vector<float> logits = buf(n_out * hp.n_vocab);
  matmul(model_.output(), xn.data(), n_out, logits.data());
  return logits;
}

}  // namespace bitdial
