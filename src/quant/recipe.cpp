#include "quant/recipe.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "blocks/traits.h"
#include "core/error.h"
#include "model/synth.h"

namespace bitdial {
namespace {

using T = TensorType;
using L = LayerSelect;

// The presets, after the public descriptions of llama.cpp's quantization mixes (llama-quantize
// --help and its k-quant notes): output.weight is q6_K below 8 bits (the logits are the most
// sensitive matrix), attn_v and ffn_down get more bits in _M/_L variants, and Q2_K/Q3_K raise
// attn_output. file_type is llama.cpp's LLAMA_FTYPE_MOSTLY_* number for the preset.
std::vector<QuantPreset> make_presets() {
  const TensorRule out_q6{"output", L::all, 0, T::Q6_K, 0};
  return {
      {"Q8_0", 7, T::Q8_0, {}, "8.5 bpw, all matrices q8_0; nearly lossless"},
      {"Q6_K", 18, T::Q6_K, {}, "6.56 bpw, all matrices q6_K"},
      {"Q5_K_M", 17, T::Q5_K,
       {out_q6, {"attn_v", L::more_bits, 0, T::Q6_K, 0}, {"ffn_down", L::more_bits, 0, T::Q6_K, 0},
        {"attn_qkv", L::all, 0, T::Q6_K, 0}},
       "q5_K; attn_v and ffn_down q6_K in the more-bits layers; output q6_K"},
      {"Q5_K_S", 16, T::Q5_K, {out_q6}, "q5_K; output q6_K"},
      {"Q5_0", 8, T::Q5_0, {out_q6}, "legacy q5_0; output q6_K"},
      {"Q5_1", 9, T::Q5_1, {out_q6}, "legacy q5_1; output q6_K"},
      {"Q4_K_M", 15, T::Q4_K,
       {out_q6, {"attn_v", L::more_bits, 0, T::Q6_K, 0}, {"ffn_down", L::more_bits, 0, T::Q6_K, 0},
        {"attn_qkv", L::all, 0, T::Q5_K, 0}},
       "q4_K; attn_v and ffn_down q6_K in the more-bits layers; output q6_K"},
      {"Q4_K_S", 14, T::Q4_K,
       {out_q6, {"attn_v", L::first_n, 4, T::Q5_K, 0}, {"ffn_down", L::first_fraction, 8, T::Q5_K, 0}},
       "q4_K; attn_v q5_K in the first 4 layers, ffn_down q5_K in the first eighth; output q6_K"},
      {"Q4_0", 2, T::Q4_0, {out_q6}, "legacy q4_0; output q6_K"},
      {"Q4_1", 3, T::Q4_1, {out_q6}, "legacy q4_1; output q6_K"},
      {"Q3_K_L", 13, T::Q3_K,
       {out_q6, {"attn_v", L::all, 0, T::Q5_K, 0}, {"ffn_down", L::all, 0, T::Q5_K, 0},
        {"attn_output", L::all, 0, T::Q5_K, 0}, {"attn_qkv", L::all, 0, T::Q4_K, 0}},
       "q3_K; attn_v, ffn_down and attn_output q5_K; output q6_K"},
      {"Q3_K_M", 12, T::Q3_K,
       {out_q6, {"attn_v", L::first_n, 2, T::Q5_K, 0}, {"attn_v", L::all, 0, T::Q4_K, 0},
        {"ffn_down", L::first_fraction, 16, T::Q5_K, 0}, {"ffn_down", L::all, 0, T::Q4_K, 0},
        {"attn_output", L::all, 0, T::Q4_K, 0}, {"attn_qkv", L::all, 0, T::Q4_K, 0}},
       "q3_K; attn_v q5_K in the first 2 layers else q4_K, ffn_down q5_K in the first 16th else q4_K, "
       "attn_output q4_K; output q6_K"},
      {"Q3_K_S", 11, T::Q3_K, {out_q6}, "q3_K; output q6_K"},
      {"Q2_K", 10, T::Q2_K,
       {out_q6, {"attn_v", L::all, 0, T::Q4_K, 4}, {"attn_v", L::all, 0, T::Q3_K, 0},
        {"ffn_down", L::all, 0, T::Q3_K, 0}, {"attn_output", L::all, 0, T::Q3_K, 0}},
       "q2_K; attn_v q4_K (grouped-query ratio >= 4) or q3_K, ffn_down and attn_output q3_K; output q6_K"},
      {"IQ4_NL", 25, T::IQ4_NL, {out_q6, {"attn_v", L::all, 0, T::Q5_K, 4}},
       "iq4_nl (non-linear 4-bit, 32 blocks); attn_v q5_K when grouped-query ratio >= 4; output q6_K"},
      {"IQ4_XS", 30, T::IQ4_XS, {out_q6, {"attn_v", L::all, 0, T::Q5_K, 4}},
       "iq4_xs (4.25 bpw); attn_v q5_K when grouped-query ratio >= 4; output q6_K"},
      {"TQ2_0", 37, T::TQ2_0, {out_q6, {"token_embd", L::all, 0, T::Q4_K, 0}},
       "ternary tq2_0 for ternary-trained models; token_embd q4_K, output q6_K"},
      {"F16", 1, T::F16, {}, "all matrices f16"},
      {"BF16", 32, T::BF16, {}, "all matrices bf16"},
  };
}

std::string upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

bool is_float(TensorType t) { return t == T::F32 || t == T::F16 || t == T::BF16; }

// llama.cpp's "use more bits" layer pattern: the first and last eighth of the layers and every
// third layer in between get the larger type.
bool more_bits_layer(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// "blk.12.attn_v.weight" -> role "attn_v", layer 12; "output.weight" -> "output", -1.
void split_name(const std::string& name, std::string& role, int64_t& layer) {
  layer = -1;
  std::string rest = name;
  if (rest.starts_with("blk.")) {
    const size_t dot = rest.find('.', 4);
    if (dot != std::string::npos) {
      const std::string num = rest.substr(4, dot - 4);
      if (!num.empty() && std::all_of(num.begin(), num.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        layer = std::stoll(num);
        rest = rest.substr(dot + 1);
      }
    }
  }
  role = rest.ends_with(".weight") ? rest.substr(0, rest.size() - 7) : rest;
}

bool rule_matches(const TensorRule& r, const std::string& role, int64_t layer, const RecipeShape& shape) {
  if (role != r.role || shape.n_gqa < r.min_gqa) return false;
  switch (r.layers) {
    case L::all: return true;
    case L::first_n: return layer >= 0 && layer < r.count;
    case L::first_fraction: return layer >= 0 && layer < shape.n_layer / r.count;
    case L::more_bits: return layer >= 0 && more_bits_layer(layer, shape.n_layer);
  }
  return false;
}

const char* layer_select_text(const TensorRule& r) {
  switch (r.layers) {
    case L::all: return "";
    case L::first_n: return ", first layers";
    case L::first_fraction: return ", first layers (fraction)";
    case L::more_bits: return ", more-bits layer";
  }
  return "";
}

// The name with its layer number replaced by '*', for grouping fallbacks.
std::string layer_pattern(const std::string& name) {
  std::string role;
  int64_t layer = 0;
  split_name(name, role, layer);
  return layer < 0 ? name : "blk.*." + name.substr(name.find('.', 4) + 1);
}

void require_encodable(TensorType t, const std::string& what) {
  if (type_traits(t).quantize_row == nullptr) fail(what, ": bitdial cannot encode type ", type_name(t));
}

}  // namespace

const std::vector<QuantPreset>& quant_presets() {
  static const std::vector<QuantPreset> presets = make_presets();
  return presets;
}

const QuantPreset& find_quant_preset(std::string_view name) {
  const std::string want = upper(name);
  std::string known;
  for (const QuantPreset& p : quant_presets()) {
    if (want == p.name) return p;
    known += known.empty() ? "" : ", ";
    known += p.name;
  }
  fail("unknown type '", name, "' (presets: ", known, ")");
}

TypeOverride parse_type_override(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    fail("--override '", text, "' is not REGEX=TYPE (e.g. 'blk\\.[0-3]\\.ffn_down\\.weight=q6_K')");
  TypeOverride o;
  o.pattern = text.substr(0, eq);
  const std::string type_text = text.substr(eq + 1);
  try {
    std::regex re(o.pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail("--override '", text, "': invalid regular expression '", o.pattern, "': ", e.what());
  }
  const std::optional<TensorType> t = type_from_name(type_text);
  if (!t) fail("--override '", text, "': unknown type '", type_text, "' (f32, f16, bf16, q8_0, q4_K, iq4_nl, ...)");
  require_encodable(*t, concat("--override '", text, "'"));
  o.type = *t;
  return o;
}

RecipeShape recipe_shape_of(const GgufFile& file) {
  RecipeShape s;
  for (const GgufTensorInfo& t : file.tensors()) {
    std::string role;
    int64_t layer = 0;
    split_name(t.name, role, layer);
    s.n_layer = std::max(s.n_layer, layer + 1);
  }
  const GgufValue* arch = file.find("general.architecture");
  if (arch != nullptr && arch->type() == GgufValueType::STRING) {
    const GgufValue* heads = file.find(arch->as_string() + ".attention.head_count");
    const GgufValue* kv = file.find(arch->as_string() + ".attention.head_count_kv");
    if (heads != nullptr && kv != nullptr && heads->is_integer() && kv->is_integer() && kv->as_int() > 0)
      s.n_gqa = std::max<int64_t>(1, heads->as_int() / kv->as_int());
  }
  return s;
}

int64_t TensorPlan::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

double QuantPlan::bits_per_weight() const {
  return n_elements == 0 ? 0.0 : 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(n_elements);
}

std::string QuantPlan::fallback_summary() const {
  struct Group {
    std::string key, single;  // by name pattern ("blk.*.ffn_down.weight ..."); the real name when alone
    size_t count;
  };
  std::vector<Group> groups;
  size_t total = 0;
  for (const TensorPlan& t : tensors) {
    if (!t.fallback) continue;
    ++total;
    const std::string what = concat(" ", t.ne[0], " columns: ", type_name(t.requested), " -> ", type_name(t.target));
    const std::string key = layer_pattern(t.name) + what;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.key == key; });
    if (it == groups.end()) groups.push_back({key, t.name + what, 1});
    else ++it->count;
  }
  if (total == 0) return "";
  std::string s = concat("fallback: ", total, total == 1 ? " tensor " : " tensors ");
  for (size_t i = 0; i < groups.size(); ++i) {
    s += i == 0 ? "(" : ", (";
    s += groups[i].count > 1 ? concat(groups[i].count, "x ", groups[i].key) : groups[i].single;
    s += ")";
  }
  return s;
}

// The same rule `bitdial synth` applies (model/synth.h), so a synthesized model and a quantized one of
// the same shape and type always agree on their fallbacks.
TensorType fitting_type(TensorType type, int64_t row_len) { return synth_tensor_type(type, row_len); }

QuantPlan plan_tensors(const std::vector<GgufTensorInfo>& tensors, const RecipeShape& shape, const QuantRecipe& recipe) {
  const QuantPreset& preset = find_quant_preset(recipe.preset);
  QuantPlan plan;
  plan.preset = preset.name;
  plan.file_type = preset.file_type;

  // With tied embeddings (no output.weight) token_embd is also the output projection: it takes the
  // output rule, as llama.cpp does.
  const bool tied = std::none_of(tensors.begin(), tensors.end(), [](const GgufTensorInfo& t) { return t.name == "output.weight"; });

  std::vector<std::regex> regexes;
  for (const TypeOverride& o : recipe.overrides) {
    try {
      regexes.emplace_back(o.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      fail("--override '", o.pattern, "': invalid regular expression: ", e.what());
    }
    require_encodable(o.type, concat("--override '", o.pattern, "'"));
  }
  std::vector<size_t> override_hits(regexes.size(), 0);
  for (const auto& [name, type] : recipe.exact) {
    auto it = std::find_if(tensors.begin(), tensors.end(), [&](const GgufTensorInfo& t) { return t.name == name; });
    if (it == tensors.end()) fail("type assignment for '", name, "': the model has no such tensor");
    if (it->ne.size() < 2) fail("type assignment for '", name, "': a 1-D tensor (norms and biases stay f32)");
    require_encodable(type, concat("type assignment for '", name, "'"));
  }

  for (const GgufTensorInfo& info : tensors) {
    TensorPlan t;
    t.name = info.name;
    t.ne = info.ne;
    t.source = info.type;
    if (type_traits(info.type).dequantize_row == nullptr) {
      // Integer or unknown payloads (rare in LLM files) are copied as they are.
      t.requested = t.target = info.type;
      t.reason = "kept: bitdial cannot decode this type";
    } else if (info.ne.size() < 2) {
      // Norms and biases: tiny, and quantizing them costs accuracy for no size gain.
      t.requested = t.target = T::F32;
      t.reason = "1-D: kept f32";
    } else {
      std::string role;
      int64_t layer = 0;
      split_name(info.name, role, layer);
      if (tied && role == "token_embd") role = "output";
      t.requested = preset.base;
      t.reason = "base";
      for (const TensorRule& r : preset.rules) {
        if (rule_matches(r, role, layer, shape)) {
          t.requested = r.type;
          t.reason = concat("preset: ", r.role, layer_select_text(r));
          break;
        }
      }
      for (size_t i = 0; i < regexes.size(); ++i) {
        if (std::regex_match(info.name, regexes[i])) {
          ++override_hits[i];
          t.requested = recipe.overrides[i].type;
          t.reason = concat("override '", recipe.overrides[i].pattern, "'");
        }
      }
      if (auto it = recipe.exact.find(info.name); it != recipe.exact.end()) {
        t.requested = it->second;
        t.reason = "exact assignment";
      }
      t.target = fitting_type(t.requested, info.ne[0]);
      if (t.target != t.requested) {
        t.fallback = true;
        t.reason += concat("; fallback: ", info.ne[0], " columns are not whole ", type_name(t.requested), " blocks of ",
                           type_info(t.requested).block_size);
      }
      if (!is_float(info.type) && t.target != info.type) ++plan.requantized;
    }
    t.bytes = tensor_nbytes(t.target, t.ne, info.name);
    plan.tensor_bytes += t.bytes;
    plan.n_elements += static_cast<uint64_t>(t.n_elements());
    plan.tensors.push_back(std::move(t));
  }
  for (size_t i = 0; i < regexes.size(); ++i)
    if (override_hits[i] == 0)
      fail("--override '", recipe.overrides[i].pattern, "=", type_name(recipe.overrides[i].type),
           "': the pattern matches no matrix of the model (it must match a whole tensor name, e.g. "
           "'blk\\.0\\.attn_v\\.weight'; 1-D tensors stay f32)");
  return plan;
}

}  // namespace bitdial
