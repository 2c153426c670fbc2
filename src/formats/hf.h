// Hugging Face model folders <-> GGUF, llama family (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM; TinyLlama and SmolLM are Llama): config.json <-> ModelHparams <-> GGUF
// metadata, the tensor-name table between the two conventions, and the rotary row permutation
// GGUF llama files apply to Wq / Wk. Tokenizer files are in formats/hf_tokenizer.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"

namespace bitdial {

// Exactly what GGUF llama/qwen2 metadata carries, plus the config.json facts GGUF stores
// elsewhere (tied embeddings: absence of output.weight; bos/eos: tokenizer.ggml.*).
struct ModelHparams {
  std::string arch = "llama";                         // general.architecture: "llama" or "qwen2"
  std::string hf_architecture = "LlamaForCausalLM";   // config.json architectures[0]
  std::string name;                                   // general.name <-> config.json _name_or_path
  uint32_t context_length = 0;                        // max_position_embeddings
  uint32_t embedding_length = 0;                      // hidden_size
  uint32_t block_count = 0;                           // num_hidden_layers
  uint32_t feed_forward_length = 0;                   // intermediate_size
  uint32_t head_count = 0;                            // num_attention_heads
  uint32_t head_count_kv = 0;                         // num_key_value_heads
  uint32_t head_dim = 0;                              // attention.key_length (embedding_length / head_count if absent)
  float rms_norm_eps = 1e-5f;                         // attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;                    // rope.freq_base <-> rope_theta
  uint32_t rope_dimension_count = 0;                  // rope.dimension_count (head_dim for this family)
  // rope_scaling: "" (none), "linear", "yarn" (GGUF rope.scaling.*) or "llama3" (config.json only:
  // GGUF carries llama3 scaling as a rope_freqs.weight tensor, see llama3_rope_freq_factors).
  std::string rope_scaling_type;
  float rope_scaling_factor = 0.0f;
  float rope_low_freq_factor = 0.0f;                  // llama3 only
  float rope_high_freq_factor = 0.0f;                 // llama3 only
  uint32_t rope_original_context_length = 0;          // original_max_position_embeddings
  uint32_t vocab_size = 0;
  bool tie_word_embeddings = false;
  std::optional<uint32_t> bos_token_id;
  std::optional<uint32_t> eos_token_id;

  bool operator==(const ModelHparams&) const = default;
};

// config.json -> hparams. `what` (the file name) appears in errors, with the key.
ModelHparams hparams_from_hf_config(const nlohmann::json& config, const std::string& what);
ModelHparams read_hf_config(const std::string& path);
// hparams -> config.json (torch_dtype is the caller's: it depends on the tensors written).
nlohmann::ordered_json hparams_to_hf_config(const ModelHparams& hp);

// GGUF metadata (and its tensor list, for tied embeddings and vocab size) -> hparams.
ModelHparams hparams_from_gguf(const GgufFile& f);
// Writes general.architecture, general.name and every {arch}.* key (not tokenizer keys).
void hparams_to_gguf(const ModelHparams& hp, GgufWriter& w);

// True when `hf_architecture` (config.json architectures[0]) is one this file maps.
bool is_llama_family(std::string_view hf_architecture);

// ---------------------------------------------------------------------------------------------
// Tensor names: one table; block tensors are "blk.N.<x>" <-> "model.layers.N.<y>", and ".weight"
// / ".bias" carry over. Names outside the table map to nullopt.

// Which rotary permutation a tensor needs between the conventions (llama arch only).
enum class RopePermute { none, q, k };

struct TensorNameMapping {
  std::string name;
  RopePermute permute = RopePermute::none;
};

std::optional<TensorNameMapping> hf_to_gguf_tensor_name(std::string_view hf_name);
std::optional<TensorNameMapping> gguf_to_hf_tensor_name(std::string_view gguf_name);
// Position of a GGUF tensor name in the canonical GGUF order (token_embd, blocks in table order,
// output_norm, output); names outside the table sort last.
std::pair<int64_t, int64_t> gguf_tensor_order_key(std::string_view gguf_name);

// ---------------------------------------------------------------------------------------------
// Rotary permutation. HF checkpoints pair dimension i with i + hd/2 inside each head (rotate_half);
// GGUF llama files pair 2i with 2i+1. For W (n_head * hd rows, any row width): HF -> GGUF views the
// rows as (n_head, 2, hd/2) and swaps the two inner axes; GGUF -> HF is the inverse. Rows are moved
// as opaque `row_bytes`-byte units, so any row layout (f32, f16, quantized blocks) works. Qwen2
// GGUF files are not permuted. Throws when n_rows is not n_head * (even hd).
std::vector<uint8_t> permute_rope_rows(const uint8_t* rows, int64_t n_rows, size_t row_bytes, uint32_t n_head, bool hf_to_gguf);

// The n_head for a permutation kind under these hparams (q: head_count, k: head_count_kv).
uint32_t rope_permute_heads(const ModelHparams& hp, RopePermute p);

// llama3 rope scaling as GGUF carries it: per-frequency divisors (rope_dimension_count / 2 values).
std::vector<float> llama3_rope_freq_factors(const ModelHparams& hp);

}  // namespace bitdial
