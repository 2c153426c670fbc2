#include "model/session.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fp16.h"
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
// With an F16 cache, q and the probabilities are rounded to fp16 before their products, as
// llama.cpp's CPU backend does (it converts the F32 operand of an F16 product to F16): our logits
// then agree with its output to 1e-3 instead of 1e-2.
void Session::attention(int64_t layer, const float* q, int64_t n, float* out) const {
  const LlamaHparams& hp = model_.hparams();
  const int64_t hd = hp.head_dim, q_dim = hp.q_dim();
  const int64_t group = hp.n_head / hp.n_head_kv;
  const bool f16 = cache_.type() == KvType::f16;
  const TensorType et = cache_.elem_type();
  const size_t es = cache_.elem_size();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  constexpr int64_t kPad = KvCache::kPositionPad;

  std::vector<float> qr;  // q rounded to fp16 values
  if (f16) {
    qr.resize(static_cast<size_t>(n * q_dim));
    for (size_t i = 0; i < qr.size(); ++i) qr[i] = fp16_to_f32(f32_to_fp16(q[i]));
    q = qr.data();
  }
  // Token chunks of kPad: a chunk needs positions up to its last token's, rounded up to kPad.
  const int64_t n_chunks = (n + kPad - 1) / kPad;
  // Small attention (short contexts, tiny models) runs on the calling thread: see kernels/matmul.cpp.
  const bool parallel = hp.n_head * n * (n_past_ + n) * hd >= (int64_t{1} << 16);
#pragma omp parallel if (parallel)
  {
    std::vector<float> probs;  // (chunk tokens, n_pad)
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t h = 0; h < hp.n_head; ++h) {
      for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t t0 = c * kPad, nt = std::min(kPad, n - t0);
        const int64_t n_kv = n_past_ + t0 + nt;
        const int64_t n_pad = (n_kv + kPad - 1) / kPad * kPad;
        probs.assign(static_cast<size_t>(nt * n_pad), 0.0f);
        const int64_t kvh = h / group;
        // scores[t][j] = k_j . q_t for every cached position j < n_kv.
        const uint8_t* k = cache_.k_rows(layer) + static_cast<size_t>(kvh * hd) * es;
        float_dot_tile(et, hd, k, cache_.k_row_bytes(), n_kv, q + t0 * q_dim + h * hd, static_cast<size_t>(q_dim) * sizeof(float),
                       nt, probs.data(), n_pad);
        for (int64_t t = 0; t < nt; ++t) {
          float* row = probs.data() + t * n_pad;
          const int64_t len = n_past_ + t0 + t + 1;
          for (int64_t j = 0; j < len; ++j) row[j] *= scale;
          softmax_inplace(row, len);
          for (int64_t j = len; j < n_pad; ++j) row[j] = 0.0f;
          if (f16)
            for (int64_t j = 0; j < len; ++j) row[j] = fp16_to_f32(f32_to_fp16(row[j]));
        }
        // out[t][h * hd + i] = sum_j probs[t][j] * v[j][i], V read transposed (row i = positions).
        const uint8_t* v = cache_.v_rows(layer) + static_cast<size_t>(kvh * hd) * cache_.v_row_bytes();
        float_dot_tile(et, n_pad, v, cache_.v_row_bytes(), hd, probs.data(), static_cast<size_t>(n_pad) * sizeof(float), nt,
                       out + t0 * q_dim + h * hd, q_dim);
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
