// `bitdial convert`: GGUF <-> safetensors. Lives in model/ because dequantizing GGUF tensors needs
// the block codecs (blocks/traits.h).
//
//   GGUF -> x.safetensors     any GGUF, tensor by tensor, GGUF names and shapes (reversed ne);
//                             GGUF scalar metadata goes into __metadata__ as strings.
//   GGUF -> folder            llama family: model.safetensors with HF names and q/k rows un-permuted,
//                             config.json, generation_config.json and tokenizer files.
//   safetensors -> x.gguf     with a llama-family config.json next to the weights: GGUF names, q/k
//                             permuted (llama arch), full llama/qwen2 metadata and the tokenizer from
//                             tokenizer.json / tokenizer.model; otherwise a raw tensor copy.
// Types: out_type unset keeps f32/f16/bf16 tensors as stored and dequantizes quantized ones to f32;
// set, every float tensor is converted to it (llama GGUF output keeps 1-D tensors in f32, as
// llama.cpp expects). Every output file is written to a temporary name and renamed when complete.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial {

struct ConvertOptions {
  std::optional<TensorType> out_type;  // F32, F16 or BF16
  // Called after each tensor is written: (tensors done, tensors total).
  std::function<void(size_t, size_t)> progress;
};

enum class ModelFormat { gguf, safetensors_file, hf_folder };

struct ConvertResult {
  ModelFormat in_format = ModelFormat::gguf;
  ModelFormat out_format = ModelFormat::gguf;
  size_t tensors = 0;
  std::vector<std::string> files;  // paths written
};

// Picks the direction from the paths: IN is GGUF when it is a file starting with "GGUF", else a
// safetensors file, index or folder; OUT ending in .gguf is GGUF, in .safetensors a single file,
// anything else a folder. Throws bitdial::Error (naming the file and key or offset) on bad input.
ConvertResult convert_model(const std::string& in, const std::string& out, const ConvertOptions& options = {});

// The parsed --type value: "f32" | "f16" | "bf16" (case-insensitive); throws otherwise.
TensorType parse_convert_type(const std::string& name);

}  // namespace bitdial
