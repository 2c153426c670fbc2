#include "train/model_pass.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "core/error.h"
#include "train/attention_grad.h"
#include "train/grad_ops.h"
#include "train/linear_grad.h"

namespace bitdial {
namespace {

constexpr int64_t kParallelMin = int64_t{1} << 15;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

// The index of tensor `name`, checked to have GGUF shape `shape` (ne order) and matching storage.
size_t require_param(const ParamSet& ps, const std::string& name, const std::vector<int64_t>& shape) {
  for (size_t i = 0; i < ps.params.size(); ++i) {
    const Param& p = ps.params[i];
    if (p.name != name) continue;
    if (p.shape != shape)
      fail("train: parameter '", name, "' has shape ", shape_text(p.shape), ", the model shape needs ",
           shape_text(shape));
    if (static_cast<int64_t>(p.value.size()) != p.numel())
      fail("train: parameter '", name, "' holds ", p.value.size(), " values, its shape ", shape_text(shape), " needs ",
           p.numel());
    return i;
  }
  fail("train: the parameter set has no tensor '", name, "'");
}

template <class T>
void resize(std::vector<T>& v, int64_t n) {
  v.resize(static_cast<size_t>(n));
}

template <class T>
void zero(std::vector<T>& v, int64_t n) {
  v.assign(static_cast<size_t>(n), T(0));
}

// out (n) = a (n) + b (n): the residual stream.
template <class T>
void add(const T* a, const T* b, int64_t n, T* out) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

// Model widths, read once per pass.
struct Dims {
  int64_t n, d, q_dim, kv_dim, ff, vocab, hd;
  AttentionShape attn;
};

Dims dims_of(const SynthSpec& s, const TrainBatch& b) {
  Dims x{};
  x.n = b.n_seq * b.seq_len;
  x.d = s.n_embd;
  x.hd = s.head_dim();
  x.q_dim = s.n_head * x.hd;
  x.kv_dim = s.kv_dim();
  x.ff = s.n_ff;
  x.vocab = s.n_vocab;
  x.attn = AttentionShape{b.n_seq, b.seq_len, s.n_head, s.n_head_kv, x.hd};
  return x;
}

}  // namespace

ModelParamIds model_param_ids(const ParamSet& ps) {
  const SynthSpec& s = ps.spec;
  if (s.arch != "llama") fail("train: architecture '", s.arch, "' is not supported; the trainer handles llama only");
  if (s.n_embd <= 0 || s.n_layer < 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 || s.n_vocab <= 0 ||
      s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0 || s.head_dim() % 2 != 0)
    fail("train: model shape n_embd ", s.n_embd, ", n_layer ", s.n_layer, ", n_head ", s.n_head, ", n_head_kv ",
         s.n_head_kv, ", n_ff ", s.n_ff, ", n_vocab ", s.n_vocab,
         " is not a llama shape (positive sizes, n_embd % n_head == 0, n_head % n_head_kv == 0, even head size)");
  const int64_t d = s.n_embd, q_dim = s.n_head * s.head_dim(), kv = s.kv_dim();
  ModelParamIds ids;
  ids.token_embd = require_param(ps, "token_embd.weight", {d, s.n_vocab});
  for (int64_t il = 0; il < s.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerParamIds l{};
    l.attn_norm = require_param(ps, p + "attn_norm.weight", {d});
    l.wq = require_param(ps, p + "attn_q.weight", {d, q_dim});
    l.wk = require_param(ps, p + "attn_k.weight", {d, kv});
    l.wv = require_param(ps, p + "attn_v.weight", {d, kv});
    l.wo = require_param(ps, p + "attn_output.weight", {q_dim, d});
    l.ffn_norm = require_param(ps, p + "ffn_norm.weight", {d});
    l.w_gate = require_param(ps, p + "ffn_gate.weight", {d, s.n_ff});
    l.w_up = require_param(ps, p + "ffn_up.weight", {d, s.n_ff});
    l.w_down = require_param(ps, p + "ffn_down.weight", {s.n_ff, d});
    ids.layers.push_back(l);
  }
  ids.output_norm = require_param(ps, "output_norm.weight", {d});
  ids.output = s.tied_embeddings ? ids.token_embd : require_param(ps, "output.weight", {d, s.n_vocab});
  return ids;
}

void validate_train_batch(const SynthSpec& spec, const TrainBatch& b, const LossSpec* loss, const char* what) {
  if (b.n_seq <= 0 || b.seq_len <= 0) fail(what, ": batch of ", b.n_seq, " x ", b.seq_len, " tokens is empty");
  if (b.n_seq > (int64_t{1} << 30) / b.seq_len)
    fail(what, ": batch of ", b.n_seq, " x ", b.seq_len, " tokens exceeds 2^30 positions");
  if (spec.n_ctx > 0 && b.seq_len > spec.n_ctx)
    fail(what, ": sequence length ", b.seq_len, " exceeds the model's context length ", spec.n_ctx);
  const int64_t n = b.n_seq * b.seq_len;
  if (static_cast<int64_t>(b.tokens.size()) != n)
    fail(what, ": batch holds ", b.tokens.size(), " tokens, ", b.n_seq, " x ", b.seq_len, " = ", n, " expected");
  for (int64_t i = 0; i < n; ++i)
    if (b.tokens[static_cast<size_t>(i)] < 0 || b.tokens[static_cast<size_t>(i)] >= spec.n_vocab)
      fail(what, ": token id ", b.tokens[static_cast<size_t>(i)], " at sequence ", i / b.seq_len, " position ",
           i % b.seq_len, " is outside the vocabulary [0, ", spec.n_vocab, ")");
  if (loss == nullptr) return;
  if (static_cast<int64_t>(b.targets.size()) != n)
    fail(what, ": batch holds ", b.targets.size(), " targets, ", n, " expected (one per token)");
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = b.targets[static_cast<size_t>(i)];
    if (t != kIgnoreTarget && (t < 0 || t >= spec.n_vocab))
      fail(what, ": target id ", t, " at sequence ", i / b.seq_len, " position ", i % b.seq_len, " is neither ",
           kIgnoreTarget, " (ignore) nor in the vocabulary [0, ", spec.n_vocab, ")");
  }
  if (!std::isfinite(loss->grad_scale)) fail(what, ": gradient scale ", loss->grad_scale, " is not finite");
  if (loss->teacher_logits.empty()) return;
  if (static_cast<int64_t>(loss->teacher_logits.size()) != n * spec.n_vocab)
    fail(what, ": teacher logits hold ", loss->teacher_logits.size(), " values, ", n, " positions x ", spec.n_vocab,
         " vocabulary = ", n * spec.n_vocab, " expected");
  const float temp = loss->distill.temperature, alpha = loss->distill.hard_weight;
  if (!(temp > 0.0f && std::isfinite(temp))) fail(what, ": distillation temperature ", temp, " is not positive");
  if (!(alpha >= 0.0f && alpha <= 1.0f)) fail(what, ": distillation hard-label weight ", alpha, " is not in [0, 1]");
}

template <class T>
void model_forward(const ModelTensors<T>& m, const TrainBatch& batch, ModelActivations<T>& a) {
  const SynthSpec& s = *m.spec;
  const ModelParamIds& ids = *m.ids;
  const Dims z = dims_of(s, batch);
  const int64_t n = z.n, d = z.d;
  auto w = [&](size_t i) { return m.values[i]; };
  const RopeTable rope = rope_angles(batch.seq_len, z.hd, s.rope_base);
  std::vector<T>& scratch = a.linear_scratch;
  a.layers.resize(static_cast<size_t>(s.n_layer));
  resize(a.tmp, n * d);
  resize(a.x_final, n * d);

  T* x0 = s.n_layer > 0 ? (resize(a.layers[0].x_in, n * d), a.layers[0].x_in.data()) : a.x_final.data();
  embedding_forward(w(ids.token_embd), d, batch.tokens.data(), n, x0);
  for (int64_t il = 0; il < s.n_layer; ++il) {
    const LayerParamIds& p = ids.layers[static_cast<size_t>(il)];
    typename ModelActivations<T>::Layer& l = a.layers[static_cast<size_t>(il)];
    for (auto* v : {&l.xn_attn, &l.x_mid, &l.xn_ffn}) resize(*v, n * d);
    for (auto* v : {&l.rms_attn, &l.rms_ffn}) resize(*v, n);
    for (auto* v : {&l.q, &l.att}) resize(*v, n * z.q_dim);
    for (auto* v : {&l.k, &l.v}) resize(*v, n * z.kv_dim);
    for (auto* v : {&l.gate, &l.up, &l.act}) resize(*v, n * z.ff);
    resize(l.probs, z.attn.probs_size());
    // Attention block.
    rms_norm_forward(l.x_in.data(), w(p.attn_norm), n, d, s.rms_eps, l.xn_attn.data(), l.rms_attn.data());
    linear_forward(l.xn_attn.data(), w(p.wq), n, d, z.q_dim, l.q.data(), scratch);
    linear_forward(l.xn_attn.data(), w(p.wk), n, d, z.kv_dim, l.k.data(), scratch);
    linear_forward(l.xn_attn.data(), w(p.wv), n, d, z.kv_dim, l.v.data(), scratch);
    rope_forward(l.q.data(), n, batch.seq_len, s.n_head, z.hd, rope);
    rope_forward(l.k.data(), n, batch.seq_len, s.n_head_kv, z.hd, rope);
    attention_forward(z.attn, l.q.data(), l.k.data(), l.v.data(), l.att.data(), l.probs.data());
    linear_forward(l.att.data(), w(p.wo), n, z.q_dim, d, a.tmp.data(), scratch);
    add(l.x_in.data(), a.tmp.data(), n * d, l.x_mid.data());
    // Feed-forward block.
    rms_norm_forward(l.x_mid.data(), w(p.ffn_norm), n, d, s.rms_eps, l.xn_ffn.data(), l.rms_ffn.data());
    linear_forward(l.xn_ffn.data(), w(p.w_gate), n, d, z.ff, l.gate.data(), scratch);
    linear_forward(l.xn_ffn.data(), w(p.w_up), n, d, z.ff, l.up.data(), scratch);
    swiglu_forward(l.gate.data(), l.up.data(), n * z.ff, l.act.data());
    linear_forward(l.act.data(), w(p.w_down), n, z.ff, d, a.tmp.data(), scratch);
    std::vector<T>& next = il + 1 < s.n_layer ? a.layers[static_cast<size_t>(il + 1)].x_in : a.x_final;
    resize(next, n * d);
    add(l.x_mid.data(), a.tmp.data(), n * d, next.data());
  }
  resize(a.xn_final, n * d);
  resize(a.rms_final, n);
  resize(a.logits, n * z.vocab);
  rms_norm_forward(a.x_final.data(), w(ids.output_norm), n, d, s.rms_eps, a.xn_final.data(), a.rms_final.data());
  linear_forward(a.xn_final.data(), w(ids.output), n, d, z.vocab, a.logits.data(), scratch);
}

template <class T>
LossValue model_loss_backward(const ModelTensors<T>& m, const TrainBatch& batch, const LossSpec& loss,
                              ModelActivations<T>& a, bool backward) {
  const SynthSpec& s = *m.spec;
  const ModelParamIds& ids = *m.ids;
  const Dims z = dims_of(s, batch);
  const int64_t n = z.n, d = z.d;
  if (backward) resize(a.dlogits, n * z.vocab);
  T* dlogits = backward ? a.dlogits.data() : nullptr;
  const LossValue value =
      loss.teacher_logits.empty()
          ? cross_entropy_loss(a.logits.data(), batch.targets.data(), n, z.vocab, loss.grad_scale, dlogits)
          : distillation_loss(a.logits.data(), loss.teacher_logits.data(), batch.targets.data(), n, z.vocab,
                              loss.distill, loss.grad_scale, dlogits);
  if (!backward) return value;
  BITDIAL_ASSERT(m.grads.size() == m.values.size());
  auto w = [&](size_t i) { return m.values[i]; };
  auto g = [&](size_t i) { return m.grads[i]; };
  const RopeTable rope = rope_angles(batch.seq_len, z.hd, s.rope_base);
  std::vector<T>& scratch = a.linear_scratch;

  // Output head and final norm; dx is then d(loss)/d(residual stream) as it leaves the last layer.
  zero(a.dxn, n * d);
  linear_backward(a.xn_final.data(), w(ids.output), a.dlogits.data(), n, d, z.vocab, a.dxn.data(), g(ids.output),
                  scratch);
  zero(a.dx, n * d);
  rms_norm_backward(a.x_final.data(), w(ids.output_norm), a.rms_final.data(), a.dxn.data(), n, d, a.dx.data(),
                    g(ids.output_norm));
  resize(a.dgate, n * z.ff);
  resize(a.dup, n * z.ff);
  resize(a.dq, n * z.q_dim);
  resize(a.dk, n * z.kv_dim);
  resize(a.dv, n * z.kv_dim);
  for (int64_t il = s.n_layer - 1; il >= 0; --il) {
    const LayerParamIds& p = ids.layers[static_cast<size_t>(il)];
    const typename ModelActivations<T>::Layer& l = a.layers[static_cast<size_t>(il)];
    // Feed-forward block: x_out = x_mid + W_down act; the residual passes dx through unchanged.
    zero(a.dact, n * z.ff);
    linear_backward(l.act.data(), w(p.w_down), a.dx.data(), n, z.ff, d, a.dact.data(), g(p.w_down), scratch);
    swiglu_backward(l.gate.data(), l.up.data(), a.dact.data(), n * z.ff, a.dgate.data(), a.dup.data());
    zero(a.dxn, n * d);
    linear_backward(l.xn_ffn.data(), w(p.w_gate), a.dgate.data(), n, d, z.ff, a.dxn.data(), g(p.w_gate), scratch);
    linear_backward(l.xn_ffn.data(), w(p.w_up), a.dup.data(), n, d, z.ff, a.dxn.data(), g(p.w_up), scratch);
    rms_norm_backward(l.x_mid.data(), w(p.ffn_norm), l.rms_ffn.data(), a.dxn.data(), n, d, a.dx.data(), g(p.ffn_norm));
    // Attention block: x_mid = x_in + Wo att.
    zero(a.datt, n * z.q_dim);
    linear_backward(l.att.data(), w(p.wo), a.dx.data(), n, z.q_dim, d, a.datt.data(), g(p.wo), scratch);
    attention_backward(z.attn, l.q.data(), l.k.data(), l.v.data(), l.probs.data(), a.datt.data(), a.dq.data(),
                       a.dk.data(), a.dv.data(), a.attention_scratch);
    rope_backward(a.dq.data(), n, batch.seq_len, s.n_head, z.hd, rope);
    rope_backward(a.dk.data(), n, batch.seq_len, s.n_head_kv, z.hd, rope);
    zero(a.dxn, n * d);
    linear_backward(l.xn_attn.data(), w(p.wq), a.dq.data(), n, d, z.q_dim, a.dxn.data(), g(p.wq), scratch);
    linear_backward(l.xn_attn.data(), w(p.wk), a.dk.data(), n, d, z.kv_dim, a.dxn.data(), g(p.wk), scratch);
    linear_backward(l.xn_attn.data(), w(p.wv), a.dv.data(), n, d, z.kv_dim, a.dxn.data(), g(p.wv), scratch);
    rms_norm_backward(l.x_in.data(), w(p.attn_norm), l.rms_attn.data(), a.dxn.data(), n, d, a.dx.data(),
                      g(p.attn_norm));
  }
  embedding_backward(a.dx.data(), batch.tokens.data(), n, d, g(ids.token_embd));
  return value;
}

template void model_forward<float>(const ModelTensors<float>&, const TrainBatch&, ModelActivations<float>&);
template void model_forward<double>(const ModelTensors<double>&, const TrainBatch&, ModelActivations<double>&);
template LossValue model_loss_backward<float>(const ModelTensors<float>&, const TrainBatch&, const LossSpec&,
                                              ModelActivations<float>&, bool);
template LossValue model_loss_backward<double>(const ModelTensors<double>&, const TrainBatch&, const LossSpec&,
                                               ModelActivations<double>&, bool);

}  // namespace bitdial
