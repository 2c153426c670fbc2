#include "train/init_params.h"

#include <cmath>
#include <map>
#include <random>
#include <string>

#include "blocks/tensor_codec.h"
#include "core/error.h"
#include "model/llama_gguf_keys.h"

namespace bitdial {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): spreads (seed, tensor, row) into independent generator seeds.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Param make_param(const LlamaTensorShape& t) {
  Param p;
  p.name = t.name;
  p.shape = t.ne;
  p.decay = t.kind == LlamaTensorKind::matrix;
  p.value.assign(static_cast<size_t>(p.numel()), 0.0f);
  p.grad.assign(p.value.size(), 0.0f);
  return p;
}

}  // namespace

ParamSet init_params(const SynthSpec& spec, uint64_t seed, float std) {
  try {
    validate_synth_spec(spec);
  } catch (const Error& e) {
    fail("init_params: ", e.what());
  }
  if (spec.arch != "llama")
    fail("init_params: architecture '", spec.arch, "' is not supported; the trainer handles llama only");
  if (!(std >= 0.0f && std::isfinite(std)))
    fail("init_params: weight standard deviation ", std, " is not a finite value >= 0");
  ParamSet ps;
  ps.spec = spec;
  const std::vector<LlamaTensorShape> layout = llama_tensor_layout(spec);
  ps.params.reserve(layout.size());
  for (size_t ti = 0; ti < layout.size(); ++ti) {
    Param p = make_param(layout[ti]);
    if (layout[ti].kind != LlamaTensorKind::matrix) {
      std::fill(p.value.begin(), p.value.end(), 1.0f);
    } else {
      const int64_t cols = p.shape[0], rows = p.shape[1];
      const uint64_t tensor_seed = mix64(seed ^ mix64(ti + 1));
#pragma omp parallel for schedule(static) if (rows * cols >= (int64_t{1} << 16))
      for (int64_t r = 0; r < rows; ++r) {
        std::mt19937_64 gen(mix64(tensor_seed + static_cast<uint64_t>(r)));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        float* row = p.value.data() + r * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] = std * normal(gen);
      }
    }
    ps.params.push_back(std::move(p));
  }
  return ps;
}

ParamSet params_from_model(const LlamaModel& model) {
  const LlamaHparams& hp = model.hparams();
  const std::string& path = model.file().path();
  if (hp.arch != "llama")
    fail(path, ": architecture '", hp.arch, "' is not supported for training; the trainer handles llama only");
  if (hp.head_dim * hp.n_head != hp.n_embd)
    fail(path, ": head size ", hp.head_dim, " x ", hp.n_head, " heads differs from the width ", hp.n_embd,
         " (llama.attention.key_length); the trainer needs head size n_embd / n_head");
  if (hp.rope_dim != hp.head_dim)
    fail(path, ": rotary embeddings cover ", hp.rope_dim, " of ", hp.head_dim,
         " head dimensions (llama.rope.dimension_count); the trainer rotates whole heads");
  if (hp.rope_freq_scale != 1.0f)
    fail(path, ": linear rope scaling (llama.rope.scaling.factor) is not supported by the trainer");
  if (!model.rope_freq_factors().empty())
    fail(path, ": rope frequency factors (rope_freqs.weight) are not supported by the trainer");

  ParamSet ps;
  SynthSpec& s = ps.spec;
  if (model.file().find("general.name") != nullptr) s.name = model.file().get_string("general.name");
  s.arch = hp.arch;
  s.n_embd = hp.n_embd;
  s.n_layer = hp.n_layer;
  s.n_head = hp.n_head;
  s.n_head_kv = hp.n_head_kv;
  s.n_ff = hp.n_ff;
  s.n_vocab = hp.n_vocab;
  s.n_ctx = hp.n_ctx_train;
  s.rope_base = hp.rope_base;
  s.rms_eps = hp.rms_eps;
  s.tied_embeddings = model.file().find_tensor("output.weight") == nullptr;

  // The norm vectors the model already holds as floats, by GGUF name.
  std::map<std::string, const std::vector<float>*> norms{{"output_norm.weight", &model.output_norm()}};
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& l = model.layers()[static_cast<size_t>(il)];
    norms["blk." + std::to_string(il) + ".attn_norm.weight"] = &l.attn_norm;
    norms["blk." + std::to_string(il) + ".ffn_norm.weight"] = &l.ffn_norm;
  }
  for (const LlamaTensorShape& t : llama_tensor_layout(s)) {
    Param p = make_param(t);
    if (t.kind == LlamaTensorKind::matrix) {
      const WeightView* w = model.weight(t.name);
      BITDIAL_ASSERT(w != nullptr && w->cols == p.shape[0] && w->rows == p.shape[1]);
      p.value = dequantize_tensor(w->type, w->data, w->rows * w->cols, w->cols, path + ": tensor '" + t.name + "'");
    } else {
      const auto it = norms.find(t.name);
      BITDIAL_ASSERT(it != norms.end() && static_cast<int64_t>(it->second->size()) == p.numel());
      p.value = *it->second;
    }
    ps.params.push_back(std::move(p));
  }
  return ps;
}

}  // namespace bitdial
