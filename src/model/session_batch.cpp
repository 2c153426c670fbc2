#include "model/session_batch.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/ops.h"

namespace bitdial {
namespace {

void add_bias(float* x, const std::vector<float>& b, int64_t n) {
  if (b.empty()) return;
  const int64_t d = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i) x[t * d + i] += b[static_cast<size_t>(i)];
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// "sequence i: " in a batch of several, nothing for one, so Session::eval's errors read as before.
std::string which(size_t i, size_t n_seq) { return n_seq > 1 ? "sequence " + std::to_string(i) + ": " : std::string(); }

// Every check before any cache is written, so a rejected batch leaves all sessions as they were.
void validate(std::span<Session* const> sessions, std::span<const std::span<const int32_t>> tokens) {
  BITDIAL_ASSERT(sessions.size() == tokens.size());
  const size_t n_seq = sessions.size();
  if (n_seq == 0) fail("eval: no sequences to evaluate");
  const LlamaModel& model = sessions[0]->model();
  const int64_t n_vocab = model.hparams().n_vocab;
  for (size_t s = 0; s < n_seq; ++s) {
    const Session& ses = *sessions[s];
    if (&ses.model() != &model) fail("eval: sequence ", s, " belongs to another model than sequence 0");
    for (size_t o = 0; o < s; ++o)
      if (sessions[o] == sessions[s]) fail("eval: sequences ", o, " and ", s, " share one session");
    const int64_t n = static_cast<int64_t>(tokens[s].size());
    if (n == 0) fail("eval: ", which(s, n_seq), "no tokens to evaluate");
    if (ses.n_past() + n > ses.n_ctx())
      fail("eval: ", which(s, n_seq), ses.n_past(), " cached + ", n, " new tokens exceed the context size ", ses.n_ctx());
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = tokens[s][static_cast<size_t>(t)];
      if (id < 0 || id >= n_vocab)
        fail("eval: ", which(s, n_seq), "token id ", id, " at batch index ", t, " is outside the vocabulary [0, ", n_vocab, ")");
    }
  }
}

}  // namespace

std::vector<std::vector<float>> eval_batch(std::span<Session* const> sessions,
                                           std::span<const std::span<const int32_t>> tokens, bool all_logits) {
  validate(sessions, tokens);
  const LlamaModel& model = sessions[0]->model_;
  const LlamaHparams& hp = model.hparams();
  const size_t n_seq = sessions.size();
  // Sequence s holds rows row0[s] .. row0[s + 1] - 1 of every activation.
  std::vector<int64_t> row0(n_seq + 1, 0);
  for (size_t s = 0; s < n_seq; ++s) row0[s + 1] = row0[s] + static_cast<int64_t>(tokens[s].size());
  const int64_t n = row0[n_seq];
  auto rows = [&](size_t s) { return row0[s + 1] - row0[s]; };

  const int64_t d = hp.n_embd, q_dim = hp.q_dim(), kv_dim = hp.kv_dim(), ff = hp.n_ff;
  auto buf = [](int64_t count) { return std::vector<float>(static_cast<size_t>(count)); };
  std::vector<float> x = buf(n * d), xn = buf(n * d), tmp = buf(n * d);  // residual stream etc. (n, d)
  std::vector<float> q = buf(n * q_dim), att = buf(n * q_dim);           // (n, q_dim)
  std::vector<float> k = buf(n * kv_dim), v = buf(n * kv_dim);           // (n, kv_dim)
  std::vector<float> gate = buf(n * ff), up = buf(n * ff);               // (n, n_ff)

  std::vector<RopeTable> rope;  // per sequence: its positions n_past .. n_past + n_s - 1
  rope.reserve(n_seq);
  for (size_t s = 0; s < n_seq; ++s) {
    for (int64_t t = 0; t < rows(s); ++t) model.embed(tokens[s][static_cast<size_t>(t)], x.data() + (row0[s] + t) * d);
    rope.push_back(rope_table(hp, model.rope_freq_factors(), sessions[s]->n_past_, rows(s)));
  }

  ActivationObserver* obs = sessions[0]->observer_;
  auto observe = [&](MatmulSite site, int64_t layer, const std::vector<float>& in, int64_t rows_in, int64_t cols) {
    if (obs != nullptr) obs->on_matmul_input(site, layer, in.data(), rows_in, cols);
  };
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& l = model.layers()[static_cast<size_t>(il)];
    // Attention block: x += Wo · attn(rope(Wq xn + bq), rope(Wk xn + bk), Wv xn + bv).
    rms_norm(x.data(), l.attn_norm.data(), n, d, hp.rms_eps, xn.data());
    observe(MatmulSite::attn_in, il, xn, n, d);
    const MatmulOut qkv[] = {{&l.wq, q.data()}, {&l.wk, k.data()}, {&l.wv, v.data()}};
    matmul_shared_input(qkv, xn.data(), n);
    add_bias(q.data(), l.bq, n);
    add_bias(k.data(), l.bk, n);
    add_bias(v.data(), l.bv, n);
    for (size_t s = 0; s < n_seq; ++s) {
      Session& ses = *sessions[s];
      float* qs = q.data() + row0[s] * q_dim;
      float* ks = k.data() + row0[s] * kv_dim;
      rope_apply(qs, rows(s), hp.n_head, hp.head_dim, hp.rope_mode, rope[s]);
      rope_apply(ks, rows(s), hp.n_head_kv, hp.head_dim, hp.rope_mode, rope[s]);
      ses.cache_.store(il, ses.n_past_, rows(s), ks, v.data() + row0[s] * kv_dim);
      ses.attention(il, qs, rows(s), att.data() + row0[s] * q_dim);
    }
    observe(MatmulSite::attn_out, il, att, n, q_dim);
    matmul(l.wo, att.data(), n, tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
    // Feed-forward block: x += W_down (silu(W_gate xn) * (W_up xn)).
    rms_norm(x.data(), l.ffn_norm.data(), n, d, hp.rms_eps, xn.data());
    observe(MatmulSite::ffn_in, il, xn, n, d);
    const MatmulOut gate_up[] = {{&l.w_gate, gate.data()}, {&l.w_up, up.data()}};
    matmul_shared_input(gate_up, xn.data(), n);
    swiglu_inplace(gate.data(), up.data(), n * ff);
    observe(MatmulSite::ffn_mid, il, gate, n, ff);
    matmul(l.w_down, gate.data(), n, tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
  }
  for (size_t s = 0; s < n_seq; ++s) sessions[s]->n_past_ += rows(s);

  // Output: logits (n_out, n_vocab) = W_out · rms_norm(x) for the requested rows (every row, or each
  // sequence's last), gathered so that one matmul serves all sequences.
  const int64_t n_out = all_logits ? n : static_cast<int64_t>(n_seq);
  if (!all_logits)
    for (size_t s = 0; s < n_seq; ++s)
      std::copy_n(x.data() + (row0[s + 1] - 1) * d, d, tmp.data() + static_cast<int64_t>(s) * d);
  rms_norm(all_logits ? x.data() : tmp.data(), model.output_norm().data(), n_out, d, hp.rms_eps, xn.data());
  std::vector<float> logits = buf(n_out * hp.n_vocab);
  observe(MatmulSite::output_in, hp.n_layer, xn, n_out, d);
  matmul(model.output(), xn.data(), n_out, logits.data());

  std::vector<std::vector<float>> out(n_seq);
  if (n_seq == 1) {
    out[0] = std::move(logits);
    return out;
  }
  for (size_t s = 0; s < n_seq; ++s) {
    const int64_t first = all_logits ? row0[s] : static_cast<int64_t>(s), count = all_logits ? rows(s) : 1;
    out[s].assign(logits.begin() + first * hp.n_vocab, logits.begin() + (first + count) * hp.n_vocab);
  }
  return out;
}

}  // namespace bitdial
