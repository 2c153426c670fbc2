// A LLaMA-family model read from GGUF: hyperparameters from the `{arch}.*` keys and weights left
// in their stored types inside the file mapping (matrix products go through kernels/matmul.h).
// Supported architectures: `llama` (q/k rows permuted by the GGUF converter so rotation pairs are
// adjacent: "normal" rope) and `qwen2` (q/k/v biases; rotation pairs half a head apart: "neox").
// Every missing key, missing tensor, wrong shape or undecodable type is a bitdial::Error naming the
// file and the key or tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "kernels/matmul.h"

namespace bitdial {

// How rotary embeddings pair the dimensions of a head.
enum class RopeMode {
  normal,  // pairs (x[2i], x[2i+1])                 (GGUF llama)
  neox,    // pairs (x[i], x[i + rope_dim/2])         (qwen2, GPT-NeoX)
};

struct LlamaHparams {
  std::string arch;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;       // model width
  int64_t n_layer = 0;
  int64_t n_ff = 0;         // SwiGLU hidden width
  int64_t n_head = 0;       // query heads
  int64_t n_head_kv = 0;    // key/value heads (GQA: n_head % n_head_kv == 0)
  int64_t head_dim = 0;     // per head; n_embd / n_head unless {arch}.attention.key_length says otherwise
  int64_t n_ctx_train = 0;  // {arch}.context_length
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  int64_t rope_dim = 0;     // leading dims of each head that rotate (even, <= head_dim)
  float rope_freq_scale = 1.0f;  // linear scaling: positions are multiplied by 1 / factor
  RopeMode rope_mode = RopeMode::normal;

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

struct LlamaLayer {
  std::vector<float> attn_norm;  // (n_embd)
  WeightView wq;                 // (q_dim, n_embd)
  WeightView wk;                 // (kv_dim, n_embd)
  WeightView wv;                 // (kv_dim, n_embd)
  WeightView wo;                 // (n_embd, q_dim)
  std::vector<float> bq, bk, bv;  // (q_dim), (kv_dim), (kv_dim); empty when the model has none
  std::vector<float> ffn_norm;   // (n_embd)
  WeightView w_gate;             // (n_ff, n_embd)
  WeightView w_up;               // (n_ff, n_embd)
  WeightView w_down;             // (n_embd, n_ff)
};

class LlamaModel {
 public:
  // Opens, validates and maps the model. Throws bitdial::Error "<path>: <what>".
  static LlamaModel load(const std::string& path);
  // Same, from an already opened file (the model keeps it, and so its mapping, alive).
  static LlamaModel from_gguf(GgufFile file);

  const LlamaHparams& hparams() const { return hp_; }
  const GgufFile& file() const { return file_; }
  const WeightView& token_embd() const { return token_embd_; }  // (n_vocab, n_embd)
  const std::vector<LlamaLayer>& layers() const { return layers_; }
  const std::vector<float>& output_norm() const { return output_norm_; }  // (n_embd)
  const WeightView& output() const { return output_; }  // (n_vocab, n_embd); token_embd when tied
  // Per-frequency divisors of the rotation angle (rope_dim / 2), from rope_freqs.weight; empty: none.
  const std::vector<float>& rope_freq_factors() const { return rope_freqs_; }

  // The matrix named by its GGUF name ("blk.3.ffn_down.weight", "output.weight", ...), or null.
  // "output.weight" of a tied model is token_embd's view.
  const WeightView* weight(const std::string& name) const;
  // Every matrix's GGUF name, in file order of layers (token_embd, per layer q k v o gate up down, output
  // when the model has its own).
  std::vector<std::string> weight_names() const;
  // Swaps in new contents for a matrix (the quantizer measuring a candidate, GPTQ working layer by
  // layer): `bytes` must hold rows x cols values of `type`, which needs a row decoder. A tied model's
  // output follows token_embd. Throws bitdial::Error naming the weight on an unknown name, a size
  // mismatch or an undecodable type.
  void replace_weight(const std::string& name, TensorType type, std::vector<uint8_t> bytes);
  // A norm or bias vector by GGUF name ("blk.0.attn_norm.weight", "output_norm.weight", "blk.0.attn_q.bias"),
  // writable so AWQ can fold its channel scales into it; null when the model has none by that name.
  std::vector<float>* vector(const std::string& name);

  // Writes token `id`'s embedding row (n_embd floats) to out. Asserts 0 <= id < n_vocab.
  void embed(int32_t id, float* out) const;

 private:
  GgufFile file_;
  LlamaHparams hp_;
  WeightView token_embd_;
  std::vector<LlamaLayer> layers_;
  std::vector<float> output_norm_;
  WeightView output_;
  std::vector<float> rope_freqs_;
  bool tied_output_ = false;
  // Buffers behind replaced weights, by name (a later replacement frees the earlier buffer); shared so a
  // copied model's views stay valid.
  std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> owned_;
  // Packed copies of the matrices the active kernels have a packed layout for (WeightView::packed),
  // by name; token_embd itself is never packed (its rows are looked up), a tied output's view is.
  std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> packed_;
  WeightView* mutable_weight(const std::string& name);
  // (Re)packs the named matrix's view for matmul, or clears its packed pointer.
  void pack(const std::string& name);
};

}  // namespace bitdial
