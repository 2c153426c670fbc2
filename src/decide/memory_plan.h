// The memory planner behind `bitdial plan`: how many bytes a model needs to serve (weights, KV cache,
// runtime overhead) at a context and batch, and on how many devices of each catalogue row it fits.
// Works from a parameter count alone (a published llama-family shape, or a scaling rule) or a GGUF file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "decide/hardware_catalog.h"
#include "formats/gguf.h"

namespace bitdial {

// KV cache element type: f16 (2 bytes) or q8_0 (34 bytes per 32 values).
enum class KvElement { f16, q8_0 };
KvElement parse_kv_element(std::string_view text);  // "f16" | "q8_0"; throws bitdial::Error
const char* kv_element_name(KvElement kv);
double kv_element_bytes(KvElement kv);

// The numbers that size a llama-family model's memory.
struct ModelShape {
  std::string from;       // where the numbers come from: "Llama 3.1 70B (published config)", "scaling rule", "FILE"
  uint64_t params = 0;    // weights in the shape (all tensors)
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  bool tied_embeddings = false;  // no separate output matrix
};

// "70B", "6.7b", "500M", "1.5T", "7e9", "7000000000" -> parameters. Throws bitdial::Error on an
// unknown suffix, a non-positive or unparsable number.
uint64_t parse_param_count(std::string_view text);

// The published config whose size is within 12 % of `params` (1B, 3B, 7B, 8B, 13B, 34B, 70B, 405B:
// Llama 3.2 / Llama 2 / Llama 3.1 / Code Llama), else a shape from the scaling rule in docs/plan.md
// (head_dim 128, n_layer = n_embd / 128, n_ff = 3.5 n_embd, 8 KV heads, vocabulary 128256).
ModelShape shape_for_params(uint64_t params);
// {arch}.block_count, embedding_length, attention.head_count(_kv), feed_forward_length and the
// tensors of a GGUF; throws bitdial::Error naming the file and the missing key.
ModelShape shape_from_gguf(const GgufFile& file);
// The shape's tensors as a llama GGUF would name them (f16 source), for planning a preset on it.
std::vector<GgufTensorInfo> shape_tensors(const ModelShape& shape);

// Bytes of K and V for one token position of one sequence, all layers.
uint64_t kv_bytes_per_token(const ModelShape& shape, KvElement kv);
// n_layer x 2 x context x batch x n_head_kv x head_dim x bytes per element.
uint64_t kv_cache_bytes(const ModelShape& shape, int64_t context, int64_t batch, KvElement kv);

struct WeightEstimate {
  uint64_t params = 0;         // the parameter count the bytes are for (--params as given, or the file's)
  uint64_t bytes = 0;
  double bits_per_weight = 0;  // 8 x bytes / params
  std::string from;            // "--bits 4", "Q4_K_M planned on the shape", "file tensors", "Q4_K_M planned on FILE"
};
// params x bits / 8 (rounded to the nearest byte).
WeightEstimate weights_from_bits(uint64_t params, double bits);
// The preset's exact per-tensor plan (quant/recipe.h) on the shape's tensors gives bits per weight;
// bytes = params x that / 8. Throws for an unknown preset.
WeightEstimate weights_from_preset(const ModelShape& shape, uint64_t params, std::string_view preset);
// The file's tensor bytes as stored, or with `preset` the exact bytes plan_model_quantization gives.
WeightEstimate weights_from_file(const GgufFile& file, const std::optional<std::string>& preset);

struct MemoryOptions {
  int64_t context = 4096;  // tokens per sequence the KV cache holds
  int64_t batch = 1;       // sequences served at once
  KvElement kv = KvElement::f16;
};
// Throws bitdial::Error naming --context / --batch when not >= 1.
void validate_memory_options(const MemoryOptions& o);

struct MemoryPlan {
  ModelShape shape;
  WeightEstimate weights;
  MemoryOptions options;
  uint64_t kv_cache_bytes = 0;
  uint64_t runtime_bytes = 0;         // fixed: engine/driver context and allocator slack (512 MiB)
  uint64_t compute_buffer_bytes = 0;  // f32 activations of one 512-token micro-batch (docs/plan.md)
  uint64_t overhead_bytes = 0;        // runtime + compute buffers
  uint64_t total_bytes = 0;           // weights + KV cache + overhead
};
MemoryPlan plan_memory(const ModelShape& shape, const WeightEstimate& weights, const MemoryOptions& options);

// Devices of one catalogue row the plan needs: ceil(total / device memory), weights and KV cache split
// across them tensor-parallel (overhead not replicated: an optimistic lower bound for > 1 device).
int64_t devices_to_fit(uint64_t total_bytes, const HardwareSpec& hw);

struct HardwareFit {
  std::string name;
  double memory_gb = 0;      // per device, GiB
  bool fits_one = false;     // total <= one device's memory
  int64_t devices = 0;       // devices_to_fit
  double dollars_per_hour = 0;  // devices x the row's price
};
std::vector<HardwareFit> fit_catalog(const MemoryPlan& plan, const HardwareCatalog& catalog);

// `bitdial plan --json` (docs/plan.md) and the human table.
nlohmann::ordered_json memory_plan_json(const MemoryPlan& plan, const std::vector<HardwareFit>& fits);
std::string memory_plan_text(const MemoryPlan& plan, const std::vector<HardwareFit>& fits);

}  // namespace bitdial
