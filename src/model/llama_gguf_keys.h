// What a llama-family GGUF of a given shape holds: its metadata keys (general.*, {arch}.* hyperparameters,
// tokenizer.*) and its tensor list in file order. `bitdial synth`, training checkpoints and the trainer's
// model export all write through here, so the three agree with each other and with llama.cpp's loader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "formats/gguf.h"
#include "model/synth.h"

namespace bitdial {

// general.file_type (llama.cpp's llama_ftype number) of a file whose matrices are all `type`; K types
// map to their _S variant, types llama.cpp has no "mostly" number for to 0 (all F32).
uint32_t llama_file_type(TensorType type);

// Sets, in this order: general.architecture, general.name (spec.name, or "synth" when empty), the
// {arch}.* hyperparameters (vocab_size, context_length, embedding_length, block_count,
// feed_forward_length, attention.head_count, attention.head_count_kv,
// attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count), general.file_type
// (llama_file_type(file_type)), general.description when not empty, then every tokenizer.* key of
// `vocab` in its order. Throws bitdial::Error when spec.n_vocab differs from vocab.size.
void set_llama_keys(GgufWriter& w, const SynthSpec& spec, const SynthVocab& vocab, TensorType file_type,
                    const std::string& description = "");

enum class LlamaTensorKind {
  matrix,  // 2-D weight: stored in the file's matrix type (or its fallback)
  norm,    // RMSNorm gain vector: always F32
  bias,    // qwen2 q/k/v bias vector: always F32
};

struct LlamaTensorShape {
  std::string name;         // GGUF name: "token_embd.weight", "blk.0.attn_q.weight", ...
  std::vector<int64_t> ne;  // GGUF ne order: {cols, rows} for a matrix (rows of cols values), {n} for a vector
  LlamaTensorKind kind;
};

// Every tensor of a model of this shape, in the order llama.cpp's converter writes them: token_embd,
// then per layer attn_norm, attn_q, attn_k, attn_v (qwen2: their biases), attn_output, ffn_norm,
// ffn_gate, ffn_up, ffn_down; then output_norm and, unless the embeddings are tied, output.
std::vector<LlamaTensorShape> llama_tensor_layout(const SynthSpec& spec);

// "64x128": the dimensions in GGUF ne order, for messages.
std::string format_ne(const std::vector<int64_t>& ne);

}  // namespace bitdial
