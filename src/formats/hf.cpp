#include "formats/hf.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <numbers>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_parse.h"

namespace bitdial {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Architectures

struct ArchRow {
  const char* hf_architecture;  // config.json architectures[0]
  const char* model_type;       // config.json model_type
  const char* gguf_arch;        // general.architecture
};

constexpr ArchRow kArchs[] = {
    {"LlamaForCausalLM", "llama", "llama"},
    {"MistralForCausalLM", "mistral", "llama"},
    {"Qwen2ForCausalLM", "qwen2", "qwen2"},
};

const ArchRow* find_arch_by_hf(std::string_view hf) {
  for (const ArchRow& r : kArchs)
    if (hf == r.hf_architecture) return &r;
  return nullptr;
}

// The HF class a GGUF architecture converts back to (the first row naming it).
const ArchRow* find_arch_by_gguf(std::string_view arch) {
  for (const ArchRow& r : kArchs)
    if (arch == r.gguf_arch) return &r;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// config.json reading helpers: every error names the file and the key.

const json* find_key(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

uint32_t config_u32(const json& j, const char* key, const std::string& what, std::optional<uint32_t> fallback = std::nullopt) {
  const json* v = find_key(j, key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    fail(what, ": missing required integer (key '", key, "')");
  }
  if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > int64_t{0xffffffff})
    fail(what, ": expected a non-negative 32-bit integer, found ", v->dump(), " (key '", key, "')");
  return v->get<uint32_t>();
}

float config_float(const json& j, const char* key, const std::string& what, float fallback) {
  const json* v = find_key(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) fail(what, ": expected a number, found ", v->dump(), " (key '", key, "')");
  return v->get<float>();
}

// bos/eos ids may be an int or (Llama 3.1+) a list of ints: the first one is the GGUF id.
std::optional<uint32_t> config_token_id(const json& j, const char* key, const std::string& what) {
  const json* v = find_key(j, key);
  if (v == nullptr) return std::nullopt;
  const json* id = v;
  if (v->is_array()) {
    if (v->empty()) return std::nullopt;
    id = &(*v)[0];
  }
  if (!id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() > int64_t{0xffffffff})
    fail(what, ": expected a token id, found ", v->dump(), " (key '", key, "')");
  return id->get<uint32_t>();
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata helpers

std::string gkey(const ModelHparams& hp, const char* suffix) { return hp.arch + "." + suffix; }

// Reads an optional GGUF value, re-raising type errors with the file and key.
template <class T, class Get>
std::optional<T> gguf_opt(const GgufFile& f, const std::string& key, Get get) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return std::nullopt;
  try {
    return static_cast<T>(get(*v));
  } catch (const Error& e) {
    fail(f.path(), ": ", e.what(), " (key '", key, "')");
  }
}

std::optional<uint32_t> gguf_u32(const GgufFile& f, const std::string& key) {
  const auto v = gguf_opt<uint64_t>(f, key, [](const GgufValue& x) { return x.as_uint(); });
  if (v && *v > 0xffffffffu) fail(f.path(), ": value ", *v, " does not fit in 32 bits (key '", key, "')");
  return v ? std::optional<uint32_t>(static_cast<uint32_t>(*v)) : std::nullopt;
}

uint32_t gguf_required_u32(const GgufFile& f, const std::string& key) {
  const auto v = gguf_u32(f, key);
  if (!v) fail(f.path(), ": missing metadata (key '", key, "')");
  return *v;
}

std::optional<float> gguf_f32(const GgufFile& f, const std::string& key) {
  return gguf_opt<float>(f, key, [](const GgufValue& x) { return x.as_float(); });
}

// GGUF stores "no such token" as an absent key or as 0xFFFFFFFF.
std::optional<uint32_t> gguf_token_id(const GgufFile& f, const std::string& key) {
  const auto v = gguf_u32(f, key);
  return v && *v != 0xffffffffu ? v : std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Tensor-name table. Global rows give full names; block rows give the part between
// "blk.N." / "model.layers.N." and the ".weight" / ".bias" suffix.

struct NameRow {
  const char* gguf;
  const char* hf;
  bool in_block;
  RopePermute permute;
};

constexpr NameRow kNames[] = {
    {"token_embd", "model.embed_tokens", false, RopePermute::none},
    {"attn_norm", "input_layernorm", true, RopePermute::none},
    {"attn_q", "self_attn.q_proj", true, RopePermute::q},
    {"attn_k", "self_attn.k_proj", true, RopePermute::k},
    {"attn_v", "self_attn.v_proj", true, RopePermute::none},
    {"attn_output", "self_attn.o_proj", true, RopePermute::none},
    {"ffn_norm", "post_attention_layernorm", true, RopePermute::none},
    {"ffn_gate", "mlp.gate_proj", true, RopePermute::none},
    {"ffn_up", "mlp.up_proj", true, RopePermute::none},
    {"ffn_down", "mlp.down_proj", true, RopePermute::none},
    {"output_norm", "model.norm", false, RopePermute::none},
    {"output", "lm_head", false, RopePermute::none},
};

constexpr std::string_view kGgufBlockPrefix = "blk.";
constexpr std::string_view kHfBlockPrefix = "model.layers.";

struct SplitName {
  std::optional<int64_t> block;  // present for block tensors
  std::string_view stem;         // table part
  std::string_view suffix;       // ".weight" or ".bias"
};

// Splits "<prefix>N.<stem><suffix>" or "<stem><suffix>"; nullopt when the shape is wrong.
std::optional<SplitName> split_name(std::string_view name, std::string_view block_prefix) {
  SplitName s;
  for (std::string_view suffix : {std::string_view(".weight"), std::string_view(".bias")}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      s.suffix = suffix;
      name.remove_suffix(suffix.size());
      break;
    }
  }
  if (s.suffix.empty()) return std::nullopt;
  if (name.substr(0, block_prefix.size()) == block_prefix) {
    name.remove_prefix(block_prefix.size());
    size_t digits = 0;
    int64_t n = 0;
    while (digits < name.size() && digits < 9 && name[digits] >= '0' && name[digits] <= '9') n = n * 10 + (name[digits++] - '0');
    if (digits == 0 || digits >= name.size() || name[digits] != '.') return std::nullopt;
    s.block = n;
    name.remove_prefix(digits + 1);
  }
  s.stem = name;
  return s;
}

std::optional<TensorNameMapping> map_name(std::string_view name, bool from_hf) {
  const auto split = split_name(name, from_hf ? kHfBlockPrefix : kGgufBlockPrefix);
  if (!split) return std::nullopt;
  for (const NameRow& r : kNames) {
    if (r.in_block != split->block.has_value() || split->stem != (from_hf ? r.hf : r.gguf)) continue;
    std::string out;
    if (split->block) out = concat(from_hf ? kGgufBlockPrefix : kHfBlockPrefix, *split->block, ".");
    out += from_hf ? r.gguf : r.hf;
    out += split->suffix;
    return TensorNameMapping{std::move(out), r.permute};
  }
  return std::nullopt;
}

// A float as the shortest decimal that reads back to the same float ("1e-05", not 9.99999974e-06).
double float_json(float f) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  return std::strtod(std::string(buf, res.ptr).c_str(), nullptr);
}

}  // namespace

bool is_llama_family(std::string_view hf_architecture) { return find_arch_by_hf(hf_architecture) != nullptr; }

// ---------------------------------------------------------------------------------------------
// config.json

ModelHparams hparams_from_hf_config(const json& c, const std::string& what) {
  if (!c.is_object()) fail(what, ": config is not a JSON object");
  const json* archs = find_key(c, "architectures");
  if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string())
    fail(what, ": missing architectures list (key 'architectures')");
  const std::string hf_arch = (*archs)[0].get<std::string>();
  const ArchRow* row = find_arch_by_hf(hf_arch);
  if (row == nullptr) fail(what, ": unsupported architecture '", hf_arch, "' (key 'architectures')");

  ModelHparams hp;
  hp.arch = row->gguf_arch;
  hp.hf_architecture = hf_arch;
  if (const json* n = find_key(c, "_name_or_path"); n != nullptr && n->is_string()) hp.name = n->get<std::string>();
  hp.context_length = config_u32(c, "max_position_embeddings", what);
  hp.embedding_length = config_u32(c, "hidden_size", what);
  hp.block_count = config_u32(c, "num_hidden_layers", what);
  hp.feed_forward_length = config_u32(c, "intermediate_size", what);
  hp.head_count = config_u32(c, "num_attention_heads", what);
  if (hp.head_count == 0) fail(what, ": num_attention_heads must be positive (key 'num_attention_heads')");
  hp.head_count_kv = config_u32(c, "num_key_value_heads", what, hp.head_count);
  hp.head_dim = config_u32(c, "head_dim", what, hp.embedding_length / hp.head_count);
  hp.rms_norm_eps = config_float(c, "rms_norm_eps", what, 1e-6f);
  hp.rope_freq_base = config_float(c, "rope_theta", what, 10000.0f);
  hp.rope_dimension_count = hp.head_dim;
  hp.vocab_size = config_u32(c, "vocab_size", what);
  if (const json* t = find_key(c, "tie_word_embeddings"); t != nullptr) {
    if (!t->is_boolean()) fail(what, ": expected true or false (key 'tie_word_embeddings')");
    hp.tie_word_embeddings = t->get<bool>();
  }
  hp.bos_token_id = config_token_id(c, "bos_token_id", what);
  hp.eos_token_id = config_token_id(c, "eos_token_id", what);

  if (const json* rs = find_key(c, "rope_scaling"); rs != nullptr) {
    if (!rs->is_object()) fail(what, ": rope_scaling must be an object or null (key 'rope_scaling')");
    const json* type = find_key(*rs, "rope_type");
    if (type == nullptr) type = find_key(*rs, "type");
    if (type == nullptr || !type->is_string()) fail(what, ": rope_scaling has no type (key 'rope_scaling.rope_type')");
    hp.rope_scaling_type = type->get<std::string>();
    if (hp.rope_scaling_type != "linear" && hp.rope_scaling_type != "llama3" && hp.rope_scaling_type != "yarn")
      fail(what, ": unsupported rope scaling '", hp.rope_scaling_type, "' (key 'rope_scaling.rope_type')");
    hp.rope_scaling_factor = config_float(*rs, "factor", what, 1.0f);
    hp.rope_low_freq_factor = config_float(*rs, "low_freq_factor", what, 0.0f);
    hp.rope_high_freq_factor = config_float(*rs, "high_freq_factor", what, 0.0f);
    hp.rope_original_context_length = config_u32(*rs, "original_max_position_embeddings", what, 0u);
    if (hp.rope_scaling_type == "llama3" && (hp.rope_original_context_length == 0 || hp.rope_high_freq_factor <= hp.rope_low_freq_factor))
      fail(what, ": llama3 rope_scaling needs original_max_position_embeddings and high_freq_factor > low_freq_factor (key 'rope_scaling')");
  }
  return hp;
}

ModelHparams read_hf_config(const std::string& path) {
  const std::string text = read_file(path);
  return hparams_from_hf_config(parse_json(text, path), path);
}

nlohmann::ordered_json hparams_to_hf_config(const ModelHparams& hp) {
  const ArchRow* row = find_arch_by_hf(hp.hf_architecture);
  if (row == nullptr) row = find_arch_by_gguf(hp.arch);
  if (row == nullptr) fail("cannot write config.json for architecture '", hp.arch, "'");
  nlohmann::ordered_json c;
  if (!hp.name.empty()) c["_name_or_path"] = hp.name;
  c["architectures"] = {row->hf_architecture};
  c["model_type"] = row->model_type;
  c["hidden_size"] = hp.embedding_length;
  c["intermediate_size"] = hp.feed_forward_length;
  c["num_hidden_layers"] = hp.block_count;
  c["num_attention_heads"] = hp.head_count;
  c["num_key_value_heads"] = hp.head_count_kv;
  if (hp.head_count == 0 || hp.head_dim != hp.embedding_length / hp.head_count) c["head_dim"] = hp.head_dim;
  c["max_position_embeddings"] = hp.context_length;
  c["rms_norm_eps"] = float_json(hp.rms_norm_eps);
  c["rope_theta"] = float_json(hp.rope_freq_base);
  if (hp.rope_scaling_type.empty()) {
    c["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json rs;
    rs["rope_type"] = hp.rope_scaling_type;
    rs["factor"] = float_json(hp.rope_scaling_factor);
    if (hp.rope_scaling_type == "llama3") {
      rs["low_freq_factor"] = float_json(hp.rope_low_freq_factor);
      rs["high_freq_factor"] = float_json(hp.rope_high_freq_factor);
    }
    if (hp.rope_original_context_length != 0) rs["original_max_position_embeddings"] = hp.rope_original_context_length;
    c["rope_scaling"] = rs;
  }
  c["vocab_size"] = hp.vocab_size;
  c["tie_word_embeddings"] = hp.tie_word_embeddings;
  if (hp.bos_token_id) c["bos_token_id"] = *hp.bos_token_id;
  if (hp.eos_token_id) c["eos_token_id"] = *hp.eos_token_id;
  c["hidden_act"] = "silu";
  if (hp.arch == "qwen2") c["use_sliding_window"] = false;
  return c;
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata

ModelHparams hparams_from_gguf(const GgufFile& f) {
  ModelHparams hp;
  hp.arch = f.get_string("general.architecture");
  const ArchRow* row = find_arch_by_gguf(hp.arch);
  if (row == nullptr) fail(f.path(), ": architecture '", hp.arch, "' is not in the llama family (key 'general.architecture')");
  hp.hf_architecture = row->hf_architecture;
  if (const GgufValue* n = f.find("general.name"); n != nullptr && n->type() == GgufValueType::STRING) hp.name = n->as_string();
  hp.context_length = gguf_required_u32(f, gkey(hp, "context_length"));
  hp.embedding_length = gguf_required_u32(f, gkey(hp, "embedding_length"));
  hp.block_count = gguf_required_u32(f, gkey(hp, "block_count"));
  hp.feed_forward_length = gguf_required_u32(f, gkey(hp, "feed_forward_length"));
  hp.head_count = gguf_required_u32(f, gkey(hp, "attention.head_count"));
  if (hp.head_count == 0) fail(f.path(), ": head count must be positive (key '", gkey(hp, "attention.head_count"), "')");
  hp.head_count_kv = gguf_u32(f, gkey(hp, "attention.head_count_kv")).value_or(hp.head_count);
  hp.head_dim = gguf_u32(f, gkey(hp, "attention.key_length")).value_or(hp.embedding_length / hp.head_count);
  hp.rms_norm_eps = gguf_f32(f, gkey(hp, "attention.layer_norm_rms_epsilon")).value_or(1e-5f);
  hp.rope_freq_base = gguf_f32(f, gkey(hp, "rope.freq_base")).value_or(10000.0f);
  hp.rope_dimension_count = gguf_u32(f, gkey(hp, "rope.dimension_count")).value_or(hp.head_dim);
  if (const GgufValue* t = f.find(gkey(hp, "rope.scaling.type")); t != nullptr && t->type() == GgufValueType::STRING &&
                                                                   t->as_string() != "none") {
    hp.rope_scaling_type = t->as_string();
    hp.rope_scaling_factor = gguf_f32(f, gkey(hp, "rope.scaling.factor")).value_or(1.0f);
    hp.rope_original_context_length = gguf_u32(f, gkey(hp, "rope.scaling.original_context_length")).value_or(0);
  }
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  std::optional<uint32_t> vocab = gguf_u32(f, gkey(hp, "vocab_size"));
  if (!vocab && tokens != nullptr && tokens->type() == GgufValueType::ARRAY)
    vocab = static_cast<uint32_t>(tokens->as_array().items.size());
  if (!vocab) {
    const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
    if (embd == nullptr || embd->ne.size() != 2) fail(f.path(), ": cannot tell the vocabulary size (key '", gkey(hp, "vocab_size"), "')");
    vocab = static_cast<uint32_t>(embd->ne[1]);
  }
  hp.vocab_size = *vocab;
  hp.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  hp.bos_token_id = gguf_token_id(f, "tokenizer.ggml.bos_token_id");
  hp.eos_token_id = gguf_token_id(f, "tokenizer.ggml.eos_token_id");
  return hp;
}

void hparams_to_gguf(const ModelHparams& hp, GgufWriter& w) {
  w.set("general.architecture", GgufValue::string(hp.arch));
  w.set("general.name", GgufValue::string(hp.name.empty() ? hp.arch : hp.name));
  w.set(gkey(hp, "vocab_size"), GgufValue::u32(hp.vocab_size));
  w.set(gkey(hp, "context_length"), GgufValue::u32(hp.context_length));
  w.set(gkey(hp, "embedding_length"), GgufValue::u32(hp.embedding_length));
  w.set(gkey(hp, "block_count"), GgufValue::u32(hp.block_count));
  w.set(gkey(hp, "feed_forward_length"), GgufValue::u32(hp.feed_forward_length));
  w.set(gkey(hp, "attention.head_count"), GgufValue::u32(hp.head_count));
  w.set(gkey(hp, "attention.head_count_kv"), GgufValue::u32(hp.head_count_kv));
  if (hp.head_count == 0 || hp.head_dim != hp.embedding_length / hp.head_count) {
    w.set(gkey(hp, "attention.key_length"), GgufValue::u32(hp.head_dim));
    w.set(gkey(hp, "attention.value_length"), GgufValue::u32(hp.head_dim));
  }
  w.set(gkey(hp, "attention.layer_norm_rms_epsilon"), GgufValue::f32(hp.rms_norm_eps));
  w.set(gkey(hp, "rope.freq_base"), GgufValue::f32(hp.rope_freq_base));
  w.set(gkey(hp, "rope.dimension_count"), GgufValue::u32(hp.rope_dimension_count));
  if (hp.rope_scaling_type == "linear" || hp.rope_scaling_type == "yarn") {
    w.set(gkey(hp, "rope.scaling.type"), GgufValue::string(hp.rope_scaling_type));
    w.set(gkey(hp, "rope.scaling.factor"), GgufValue::f32(hp.rope_scaling_factor));
    if (hp.rope_original_context_length != 0)
      w.set(gkey(hp, "rope.scaling.original_context_length"), GgufValue::u32(hp.rope_original_context_length));
  }
}

// ---------------------------------------------------------------------------------------------
// Names and permutation

std::optional<TensorNameMapping> hf_to_gguf_tensor_name(std::string_view hf_name) { return map_name(hf_name, true); }
std::optional<TensorNameMapping> gguf_to_hf_tensor_name(std::string_view gguf_name) { return map_name(gguf_name, false); }

std::pair<int64_t, int64_t> gguf_tensor_order_key(std::string_view gguf_name) {
  constexpr int64_t kLast = std::numeric_limits<int64_t>::max();
  const auto split = split_name(gguf_name, kGgufBlockPrefix);
  if (!split) return {kLast, 0};
  for (size_t i = 0; i < std::size(kNames); ++i) {
    const NameRow& r = kNames[i];
    if (r.in_block != split->block.has_value() || split->stem != r.gguf) continue;
    const int64_t row = static_cast<int64_t>(i) * 2 + (split->suffix == ".bias" ? 1 : 0);
    if (!r.in_block) return {i == 0 ? -1 : kLast - 1, row};  // token_embd first; output_norm, output after blocks
    return {*split->block, row};
  }
  return {kLast, 0};
}

std::vector<uint8_t> permute_rope_rows(const uint8_t* rows, int64_t n_rows, size_t row_bytes, uint32_t n_head, bool hf_to_gguf) {
  if (n_head == 0 || n_rows % n_head != 0 || (n_rows / n_head) % 2 != 0)
    fail("rotary permutation needs rows = heads x even head size, got ", n_rows, " rows for ", n_head, " heads");
  const int64_t hd = n_rows / n_head;
  const int64_t half = hd / 2;
  std::vector<uint8_t> out(static_cast<size_t>(n_rows) * row_bytes);
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t k = 0; k < 2; ++k) {
        const int64_t gguf_row = h * hd + 2 * j + k;    // (n_head, hd/2, 2)
        const int64_t hf_row = h * hd + k * half + j;   // (n_head, 2, hd/2)
        const int64_t dst = hf_to_gguf ? gguf_row : hf_row;
        const int64_t src = hf_to_gguf ? hf_row : gguf_row;
        std::memcpy(out.data() + dst * row_bytes, rows + src * row_bytes, row_bytes);
      }
  return out;
}

uint32_t rope_permute_heads(const ModelHparams& hp, RopePermute p) {
  return p == RopePermute::q ? hp.head_count : p == RopePermute::k ? hp.head_count_kv : 0;
}

std::vector<float> llama3_rope_freq_factors(const ModelHparams& hp) {
  // Meta's llama3 scheme: long wavelengths are slowed by `factor`, short ones kept, and the band
  // between blended smoothly. GGUF stores the divisor applied to each base frequency.
  const double old_ctx = hp.rope_original_context_length;
  const double low_wavelen = old_ctx / hp.rope_low_freq_factor;
  const double high_wavelen = old_ctx / hp.rope_high_freq_factor;
  const uint32_t n = hp.rope_dimension_count / 2;
  std::vector<float> factors(n);
  for (uint32_t i = 0; i < n; ++i) {
    const double freq = std::pow(static_cast<double>(hp.rope_freq_base), -2.0 * i / hp.rope_dimension_count);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = hp.rope_scaling_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_ctx / wavelen - hp.rope_low_freq_factor) / (hp.rope_high_freq_factor - hp.rope_low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / hp.rope_scaling_factor + smooth);
    }
    factors[i] = static_cast<float>(f);
  }
  return factors;
}

}  // namespace bitdial
