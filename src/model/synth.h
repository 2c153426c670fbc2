// `bitdial synth`: a random-weight LLaMA-family GGUF of a real model's shape, so speed and memory
// work never waits for a download. Weights are seeded and deterministic (same spec, type, vocabulary
// and seed -> identical bytes, whatever the thread count); the tokenizer is copied from another GGUF
// or is a built-in byte-level SentencePiece-style vocabulary. Tensors are generated, encoded and
// written one at a time, so a 7B model needs memory for one tensor, not the whole file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_type.h"
#include "formats/gguf.h"

namespace bitdial {

// The shape of the model to generate (llama.* / qwen2.* GGUF hyperparameters).
struct SynthSpec {
  std::string name;            // general.name
  std::string arch = "llama";  // "llama" or "qwen2" (q/k/v biases, neox rope)
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx = 0;           // context_length
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;  // no output.weight: the output projection reuses token_embd

  int64_t head_dim() const { return n_head > 0 ? n_embd / n_head : 0; }
  int64_t kv_dim() const { return n_head_kv * head_dim(); }
  // Weights in the file: matrices, norms and biases.
  int64_t n_params() const;
};

struct SynthPreset {
  const char* name;
  const char* shape_of;  // the published model whose shape it copies
  SynthSpec spec;
};

// Dimensions given on the command line; each one set replaces the preset's.
struct SynthOverrides {
  std::optional<int64_t> n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  std::optional<float> rope_base, rms_eps;
};

// Every preset, in a fixed order (llama-1b, llama-3b, llama-7b, qwen2-0.5b).
const std::vector<SynthPreset>& synth_presets();
// The preset's spec; throws bitdial::Error listing the known names.
SynthSpec synth_preset(std::string_view name);

// The preset (or, for preset "", explicit dimensions: --n-embd, --n-layer, --n-head and --n-ff are
// then required; n_head_kv defaults to n_head, n_vocab to 32000, n_ctx to 2048) with the overrides
// applied, validated. Throws bitdial::Error naming the preset or flag.
SynthSpec make_synth_spec(std::string_view preset, const SynthOverrides& overrides);

// Throws bitdial::Error naming the first dimension that is non-positive or inconsistent
// (n_embd % n_head, n_head % n_head_kv, even head size, vocabulary smaller than the tokenizer).
void validate_synth_spec(const SynthSpec& spec);

// The tokenizer.* metadata the model carries.
struct SynthVocab {
  std::vector<GgufKeyValue> keys;  // tokenizer.* keys, in file order
  int64_t size = 0;                // entries of tokenizer.ggml.tokens
  std::string source;              // the GGUF path, or "built-in"
};

// Copies every tokenizer.* key of a GGUF (a model or a vocab-only file). Throws naming the file
// when it is not a GGUF or has no tokenizer.ggml.tokens array.
SynthVocab synth_vocab_from_gguf(const std::string& path);

// Makes spec.n_vocab follow a copied vocabulary: returns true when it changed. Throws when
// n_vocab_explicit (the user gave --n-vocab) and the sizes differ.
bool synth_adopt_vocab_size(SynthSpec& spec, const SynthVocab& vocab, bool n_vocab_explicit);

// Fewest tokens of the built-in vocabulary: <unk>, <s>, </s>, 256 byte tokens, U+2581 and the 94
// printable ASCII characters.
constexpr int64_t kSynthByteVocabMin = 3 + 256 + 1 + 94;

// The built-in vocabulary (tokenizer.ggml.model "llama"): ids 0-2 <unk> <s> </s>, 3-258 byte
// tokens <0x00>..<0xFF>, then U+2581 (the SentencePiece space) and '!'..'~' as normal tokens, then
// never-matching filler "<synth_N>" tokens up to n_vocab. ASCII text tokenizes to one token per
// character and decodes back exactly; other bytes go through the byte tokens. Throws when n_vocab
// < kSynthByteVocabMin.
SynthVocab synth_byte_vocab(int64_t n_vocab);

struct SynthOptions {
  TensorType type = TensorType::F16;  // matrices (token_embd and output included); norms and biases stay F32
  uint64_t seed = 0;
  float weight_std = 0.02f;           // standard deviation of every matrix
  // Called after each tensor is written: (parameters done, parameters total).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct SynthResult {
  size_t tensors = 0;
  uint64_t params = 0;
  uint64_t file_bytes = 0;
  // Matrices whose row length is not a multiple of the type's block size get the type llama.cpp
  // falls back to (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, other 256-blocks -> iq4_nl / q8_0).
  std::vector<std::string> fallbacks;  // "blk.0.ffn_down.weight: q5_0"
};

// The type a matrix with rows of `row_len` values gets under `type` (itself when it fits).
TensorType synth_tensor_type(TensorType type, int64_t row_len);

// Writes the model to `path` atomically (temporary name, renamed when complete). spec.n_vocab must
// equal vocab.size. Throws bitdial::Error on an invalid spec, a type bitdial cannot encode, or an
// I/O failure.
SynthResult write_synth_model(const std::string& path, const SynthSpec& spec, const SynthVocab& vocab,
                              const SynthOptions& options);

}  // namespace bitdial
