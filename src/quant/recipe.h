// Quantization recipes: which type each tensor of a model gets. A preset (Q4_K_M, Q8_0, ...) is a base
// type plus per-tensor rules written as a data table; --override REGEX=TYPE and exact per-tensor
// assignments (the budget solver's output) change it; a fallback makes every type fit its tensor.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_type.h"
#include "formats/gguf.h"

namespace bitdial {

// Which layers (blk.N) a rule applies to; n_layer is the model's layer count.
enum class LayerSelect {
  all,
  first_n,          // N < count
  first_fraction,   // N < n_layer / count (integer division, as llama.cpp)
  more_bits,        // first and last eighth, and every third layer between (llama.cpp's use_more_bits)
};

// One row of a preset's table: tensors named blk.N.<role>.weight (or <role>.weight for token_embd /
// output) in the selected layers get `type`, when the model's query/key-value head ratio is at least
// min_gqa. The first matching row wins; tensors no row matches get the preset's base type.
struct TensorRule {
  const char* role;  // "attn_v", "ffn_down", "attn_output", "attn_qkv", "token_embd", "output"
  LayerSelect layers;
  int count;         // first_n: layers; first_fraction: divisor
  TensorType type;
  int min_gqa;       // 0: any model
};

struct QuantPreset {
  const char* name;         // "Q4_K_M"
  uint32_t file_type;       // general.file_type, llama.cpp's LLAMA_FTYPE_MOSTLY_* number
  TensorType base;          // every matrix no rule names
  std::vector<TensorRule> rules;
  const char* description;  // one line for --help and docs
};

// Every preset, in the order --help lists them.
const std::vector<QuantPreset>& quant_presets();
// Case-insensitive lookup; throws bitdial::Error listing the known presets.
const QuantPreset& find_quant_preset(std::string_view name);

// --override REGEX=TYPE: every matrix whose whole name matches REGEX (ECMAScript) gets TYPE.
struct TypeOverride {
  std::string pattern;
  TensorType type = TensorType::F32;
};
// Parses "REGEX=TYPE" (split at the last '='); throws naming the text when the regex is invalid or
// TYPE is not a type bitdial can encode.
TypeOverride parse_type_override(const std::string& text);

// What to apply, in order: preset rules, overrides (later ones win), exact assignments.
struct QuantRecipe {
  std::string preset;                        // a name from quant_presets()
  std::vector<TypeOverride> overrides;
  std::map<std::string, TensorType> exact;   // tensor name -> type; every name must be a matrix
};

// The model facts the rules look at. n_gqa: query heads per key-value head (1 when unknown).
struct RecipeShape {
  int64_t n_layer = 0;
  int64_t n_gqa = 1;
};
// n_layer from the highest blk.N in the names, n_gqa from {arch}.attention.head_count[_kv].
RecipeShape recipe_shape_of(const GgufFile& file);

struct TensorPlan {
  std::string name;
  std::vector<int64_t> ne;
  TensorType source = TensorType::F32;
  TensorType requested = TensorType::F32;  // what the recipe asked for
  TensorType target = TensorType::F32;     // what is written (requested, or its fallback)
  bool fallback = false;
  std::string reason;  // "base", "preset: attn_v, more-bits layer", "override 'RE'", "exact", "1-D: kept f32"
  uint64_t bytes = 0;  // target bytes

  int64_t n_elements() const;
};

struct QuantPlan {
  std::string preset;
  uint32_t file_type = 0;
  std::vector<TensorPlan> tensors;
  uint64_t tensor_bytes = 0;  // sum of target bytes
  uint64_t n_elements = 0;
  uint64_t file_bytes = 0;    // the whole output file; set by plan_model_quantization (quant/quantize_model.h)
  size_t requantized = 0;     // tensors stored quantized in the input that get another type

  // 8 * tensor_bytes / n_elements.
  double bits_per_weight() const;
  // "" without fallbacks, else one line: "fallback: 5 tensors (blk.*.ffn_down.weight 172 columns: q4_K -> f16), ..."
  std::string fallback_summary() const;
};

// The type a matrix with rows of row_len values gets under `type`: itself when whole blocks fit, else
// the nearest type that does (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K/iq4_xs/tq -> iq4_nl,
// then f16, which fits any row). Never fails.
TensorType fitting_type(TensorType type, int64_t row_len);

// Plans every tensor. 1-D tensors (norms, biases) stay f32; matrices follow the recipe. Throws
// bitdial::Error for an unknown preset, an override that matches no matrix, or an exact assignment
// naming no matrix.
QuantPlan plan_tensors(const std::vector<GgufTensorInfo>& tensors, const RecipeShape& shape, const QuantRecipe& recipe);

}  // namespace bitdial
