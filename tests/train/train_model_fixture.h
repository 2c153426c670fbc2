// Shared fixtures of the trainer's tests: a tiny llama shape, its parameters (norms perturbed away from
// 1 so their gradients are exercised, or every tensor seeded-normal), a small batch of random tokens
// (with ignored targets, or none), and a double-precision copy of a ParamSet for running the templated
// pass as the reference.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "model/llama_gguf_keys.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/model_pass.h"

namespace bitdial::test {

// n_embd 8, 2 layers, 2 query heads sharing 1 K/V head (head 4), n_ff 16, vocabulary 11, context 16.
inline SynthSpec tiny_train_spec(bool tied = false) {
  SynthSpec s;
  s.name = "tiny-train";
  s.n_embd = 8;
  s.n_layer = 2;
  s.n_head = 2;
  s.n_head_kv = 1;
  s.n_ff = 16;
  s.n_vocab = 11;
  s.n_ctx = 16;
  s.tied_embeddings = tied;
  return s;
}

// init_params with weights large enough (std 0.3) that every path carries signal, norms 1 + N(0, 0.2).
inline ParamSet tiny_train_params(const SynthSpec& spec, uint64_t seed = 7) {
  ParamSet ps = init_params(spec, seed, 0.3f);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> noise(0.0f, 0.2f);
  for (Param& p : ps.params)
    if (p.shape.size() == 1)
      for (float& v : p.value) v = 1.0f + noise(rng);
  return ps;
}

// Parameters of `spec` in llama_tensor_layout order, each tensor seeded-normal (seed, seed + 1, ...)
// with standard deviation matrix_std for matrices (which decay) and vector_std for the rest.
inline ParamSet normal_params(const SynthSpec& spec, uint32_t seed, float matrix_std, float vector_std) {
  ParamSet ps;
  ps.spec = spec;
  for (const LlamaTensorShape& t : llama_tensor_layout(spec)) {
    Param p;
    p.name = t.name;
    p.shape = t.ne;
    p.value = normal_floats(p.numel(), t.kind == LlamaTensorKind::matrix ? matrix_std : vector_std, seed++);
    p.grad.assign(p.value.size(), 0.0f);
    p.decay = t.kind == LlamaTensorKind::matrix;
    ps.params.push_back(std::move(p));
  }
  return ps;
}

// n_seq sequences of seq_len seeded-random tokens, without targets.
inline TrainBatch random_tokens(int64_t n_seq, int64_t seq_len, int64_t n_vocab, uint32_t seed) {
  TrainBatch b;
  b.n_seq = n_seq;
  b.seq_len = seq_len;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(n_vocab - 1));
  for (int64_t i = 0; i < n_seq * seq_len; ++i) b.tokens.push_back(id(rng));
  return b;
}

// random_tokens with targets: the next token, the last position of each sequence and every seventh
// position ignored.
inline TrainBatch random_train_batch(int64_t n_seq, int64_t seq_len, int64_t n_vocab, uint32_t seed) {
  TrainBatch b = random_tokens(n_seq, seq_len, n_vocab, seed);
  for (int64_t i = 0; i < n_seq * seq_len; ++i) {
    const bool last = i % seq_len == seq_len - 1;
    b.targets.push_back(last || i % 7 == 3 ? kIgnoreTarget : b.tokens[static_cast<size_t>(i + 1)]);
  }
  return b;
}

// A ParamSet's values in double with double gradient buffers, bound for the templated pass.
struct DoubleParams {
  explicit DoubleParams(const ParamSet& ps) : spec(ps.spec), ids(model_param_ids(ps)) {
    for (const Param& p : ps.params) {
      values.emplace_back(p.value.begin(), p.value.end());
      grads.emplace_back(p.value.size(), 0.0);
    }
  }
  ModelTensors<double> tensors() {
    ModelTensors<double> m;
    m.spec = &spec;
    m.ids = &ids;
    for (size_t i = 0; i < values.size(); ++i) {
      m.values.push_back(values[i].data());
      m.grads.push_back(grads[i].data());
    }
    return m;
  }
  // The loss of a forward pass, with (backward) or without gradients added into grads.
  double loss(const TrainBatch& batch, const LossSpec& spec_loss, bool backward) {
    const ModelTensors<double> m = tensors();
    model_forward(m, batch, acts);
    return model_loss_backward(m, batch, spec_loss, acts, backward).loss;
  }

  SynthSpec spec;
  ModelParamIds ids;
  std::vector<std::vector<double>> values, grads;
  ModelActivations<double> acts;
};

}  // namespace bitdial::test
