// What `bitdial inspect` reports for a model file: metadata (long arrays such as tokenizer
// vocabularies summarised, not dumped), a tensor table and totals, as text or stable JSON
// (documented in docs/inspect.md). Works for GGUF files and safetensors files or folders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bitdial {

struct TensorSummary {
  std::string name;
  std::string type;            // "q4_K", "f32", "bf16" ...
  std::vector<int64_t> shape;  // the file's own order: GGUF ne (innermost first); safetensors outermost first
  uint64_t bytes = 0;
  int64_t elements = 0;
  double bits_per_weight = 0;
};

struct ModelSummary {
  std::string path;
  std::string format;   // "gguf" or "safetensors"
  std::string details;  // "GGUF v3, alignment 32", "3 shards" ...
  uint64_t file_bytes = 0;
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  std::vector<std::string> metadata_text;  // "key = value" lines for the text view
  std::vector<TensorSummary> tensors;
};

// Reads a GGUF file or a safetensors file/folder; throws bitdial::Error on bad input.
ModelSummary summarize_model(const std::string& path);

nlohmann::ordered_json summary_to_json(const ModelSummary& s);
std::string summary_to_text(const ModelSummary& s);

}  // namespace bitdial
