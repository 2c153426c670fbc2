// Turns trained parameters into a standard llama-family GGUF that bitdial's engine (LlamaModel::load)
// and llama.cpp load: the same keys and tensor order as `bitdial synth` (model/llama_gguf_keys.h), the
// tokenizer from a SynthVocab, and the matrices in one chosen type (F32, F16, or any type bitdial
// encodes, with llama.cpp's fallback for rows that are not whole blocks); norms and biases stay F32.
// Weights are written as the trainer holds them: q/k rows already in GGUF's rotary layout (pairs adjacent).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_type.h"
#include "model/synth.h"
#include "train/param_set.h"

namespace bitdial {

// Throws bitdial::Error (prefixed with `what`) unless `params` holds exactly the tensors of
// llama_tensor_layout(params.spec), in that order, with those shapes and numel() values each.
void check_param_layout(const ParamSet& params, const std::string& what);

struct ModelExportOptions {
  TensorType type = TensorType::F16;  // matrices (token_embd and output included)
  std::string description;            // general.description; empty: none written
};

struct ModelExportResult {
  size_t tensors = 0;
  uint64_t params = 0;
  uint64_t file_bytes = 0;
  // Matrices whose row length is not a whole number of the type's blocks (synth_tensor_type).
  std::vector<std::string> fallbacks;  // "blk.0.ffn_down.weight: q5_0"
};

// Writes the model to `path` atomically (temporary name, renamed when complete). Throws bitdial::Error
// on an invalid spec, a parameter list that does not match it, a vocabulary whose size differs from
// spec.n_vocab, a type (or fallback) bitdial cannot encode, a NaN/Inf weight (naming the tensor), or
// an I/O failure.
ModelExportResult export_llama_gguf(const std::string& path, const ParamSet& params, const SynthVocab& vocab,
                                    const ModelExportOptions& options);

}  // namespace bitdial
