#include "model/llama_gguf_keys.h"

#include "core/error.h"
#include "formats/hf.h"

namespace bitdial {
namespace {

ModelHparams hparams_of(const SynthSpec& s) {
  ModelHparams hp;
  hp.arch = s.arch;
  hp.hf_architecture = s.arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  hp.name = s.name.empty() ? "synth" : s.name;
  hp.context_length = static_cast<uint32_t>(s.n_ctx);
  hp.embedding_length = static_cast<uint32_t>(s.n_embd);
  hp.block_count = static_cast<uint32_t>(s.n_layer);
  hp.feed_forward_length = static_cast<uint32_t>(s.n_ff);
  hp.head_count = static_cast<uint32_t>(s.n_head);
  hp.head_count_kv = static_cast<uint32_t>(s.n_head_kv);
  hp.head_dim = static_cast<uint32_t>(s.head_dim());
  hp.rms_norm_eps = s.rms_eps;
  hp.rope_freq_base = s.rope_base;
  hp.rope_dimension_count = static_cast<uint32_t>(s.head_dim());
  hp.vocab_size = static_cast<uint32_t>(s.n_vocab);
  hp.tie_word_embeddings = s.tied_embeddings;
  return hp;
}

}  // namespace

uint32_t llama_file_type(TensorType type) {
  switch (type) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q4_1: return 3;
    case TensorType::Q8_0: return 7;
    case TensorType::Q5_0: return 8;
    case TensorType::Q5_1: return 9;
    case TensorType::Q2_K: return 10;
    case TensorType::Q3_K: return 11;
    case TensorType::Q4_K: return 14;
    case TensorType::Q5_K: return 16;
    case TensorType::Q6_K: return 18;
    case TensorType::IQ4_NL: return 25;
    case TensorType::IQ4_XS: return 30;
    case TensorType::BF16: return 32;
    case TensorType::TQ1_0: return 36;
    case TensorType::TQ2_0: return 37;
    default: return 0;
  }
}

void set_llama_keys(GgufWriter& w, const SynthSpec& spec, const SynthVocab& vocab, TensorType file_type,
                    const std::string& description) {
  if (spec.n_vocab != vocab.size)
    fail("model vocabulary of ", spec.n_vocab, " tokens differs from the tokenizer's ", vocab.size, " (", vocab.source, ")");
  hparams_to_gguf(hparams_of(spec), w);
  w.set("general.file_type", GgufValue::u32(llama_file_type(file_type)));
  if (!description.empty()) w.set("general.description", GgufValue::string(description));
  for (const GgufKeyValue& kv : vocab.keys) w.set(kv.key, kv.value);
}

std::vector<LlamaTensorShape> llama_tensor_layout(const SynthSpec& s) {
  std::vector<LlamaTensorShape> out;
  const auto matrix = [&out](std::string name, int64_t rows, int64_t cols) {
    out.push_back({std::move(name), {cols, rows}, LlamaTensorKind::matrix});
  };
  const auto vector = [&out](std::string name, int64_t n, LlamaTensorKind kind) { out.push_back({std::move(name), {n}, kind}); };
  const int64_t q_dim = s.n_head * s.head_dim();
  matrix("token_embd.weight", s.n_vocab, s.n_embd);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    vector(p + "attn_norm.weight", s.n_embd, LlamaTensorKind::norm);
    matrix(p + "attn_q.weight", q_dim, s.n_embd);
    matrix(p + "attn_k.weight", s.kv_dim(), s.n_embd);
    matrix(p + "attn_v.weight", s.kv_dim(), s.n_embd);
    if (s.arch == "qwen2") {
      vector(p + "attn_q.bias", q_dim, LlamaTensorKind::bias);
      vector(p + "attn_k.bias", s.kv_dim(), LlamaTensorKind::bias);
      vector(p + "attn_v.bias", s.kv_dim(), LlamaTensorKind::bias);
    }
    matrix(p + "attn_output.weight", s.n_embd, q_dim);
    vector(p + "ffn_norm.weight", s.n_embd, LlamaTensorKind::norm);
    matrix(p + "ffn_gate.weight", s.n_ff, s.n_embd);
    matrix(p + "ffn_up.weight", s.n_ff, s.n_embd);
    matrix(p + "ffn_down.weight", s.n_embd, s.n_ff);
  }
  vector("output_norm.weight", s.n_embd, LlamaTensorKind::norm);
  if (!s.tied_embeddings) matrix("output.weight", s.n_vocab, s.n_embd);
  return out;
}

std::string format_ne(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(ne[i]);
  }
  return s.empty() ? "scalar" : s;
}

}  // namespace bitdial
