#include "model/tokenizer/vocab.h"

#include "core/error.h"
#include "formats/gguf.h"

namespace bitdial {

int32_t Vocab::find(std::string_view s) const {
  const auto it = index.find(s);
  return it == index.end() ? -1 : it->second;
}

namespace {

const GgufArray& get_array(const GgufFile& f, const char* key, GgufValueType elem, bool numeric) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) fail(f.path(), ": ", key, ": missing (not a tokenizer vocabulary?)");
  if (v->type() != GgufValueType::ARRAY) fail(f.path(), ": ", key, ": expected an array, got ", gguf_value_type_name(v->type()));
  const GgufArray& a = v->as_array();
  const bool ok = numeric ? (a.elem_type != GgufValueType::STRING && a.elem_type != GgufValueType::ARRAY)
                          : a.elem_type == elem;
  if (!ok) fail(f.path(), ": ", key, ": unexpected element type ", gguf_value_type_name(a.elem_type));
  return a;
}

// An optional token id; absent or out of range (converters write 0xFFFFFFFF for "none") gives -1.
int32_t optional_id(const GgufFile& f, const char* key, size_t n_vocab) {
  const GgufValue* v = f.find(key);
  if (v == nullptr || !v->is_integer()) return -1;
  if (v->type() == GgufValueType::INT32 || v->type() == GgufValueType::INT64 ||
      v->type() == GgufValueType::INT8 || v->type() == GgufValueType::INT16) {
    const int64_t id = v->as_int();
    return id >= 0 && static_cast<uint64_t>(id) < n_vocab ? static_cast<int32_t>(id) : -1;
  }
  const uint64_t id = v->as_uint();
  return id < n_vocab ? static_cast<int32_t>(id) : -1;
}

bool optional_bool(const GgufFile& f, const char* key, bool fallback) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return fallback;
  if (v->type() == GgufValueType::BOOL) return v->as_bool();
  if (v->is_integer()) return v->as_int() != 0;
  fail(f.path(), ": ", key, ": expected a bool, got ", gguf_value_type_name(v->type()));
}

}  // namespace

Vocab load_vocab(const GgufFile& f) {
  Vocab v;
  v.path = f.path();
  const GgufValue* model = f.find("tokenizer.ggml.model");
  if (model == nullptr) fail(f.path(), ": tokenizer.ggml.model: missing (not a tokenizer vocabulary?)");
  if (model->type() != GgufValueType::STRING) fail(f.path(), ": tokenizer.ggml.model: expected a string");
  v.model = model->as_string();
  if (v.model != "llama" && v.model != "gpt2") {
    fail(f.path(), ": tokenizer.ggml.model: unsupported tokenizer \"", v.model, "\" (supported: llama, gpt2)");
  }
  const GgufValue* pre = f.find("tokenizer.ggml.pre");
  v.pre = pre != nullptr && pre->type() == GgufValueType::STRING ? pre->as_string() : "default";

  const GgufArray& tokens = get_array(f, "tokenizer.ggml.tokens", GgufValueType::STRING, false);
  const size_t n = tokens.items.size();
  if (n == 0) fail(f.path(), ": tokenizer.ggml.tokens: empty vocabulary");
  if (n > static_cast<size_t>(INT32_MAX)) fail(f.path(), ": tokenizer.ggml.tokens: ", n, " tokens exceed the int32 id range");
  v.text.reserve(n);
  v.index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    v.text.push_back(tokens.items[i].as_string());
    v.index[v.text.back()] = static_cast<int32_t>(i);
  }

  v.score.assign(n, 0.0f);
  if (f.find("tokenizer.ggml.scores") != nullptr) {
    const GgufArray& scores = get_array(f, "tokenizer.ggml.scores", GgufValueType::FLOAT32, true);
    if (scores.items.size() != n) fail(f.path(), ": tokenizer.ggml.scores: ", scores.items.size(), " entries for ", n, " tokens");
    for (size_t i = 0; i < n; ++i) v.score[i] = static_cast<float>(scores.items[i].as_float());
  }
  v.type.assign(n, TokenType::normal);
  if (f.find("tokenizer.ggml.token_type") != nullptr) {
    const GgufArray& types = get_array(f, "tokenizer.ggml.token_type", GgufValueType::INT32, true);
    if (types.items.size() != n) fail(f.path(), ": tokenizer.ggml.token_type: ", types.items.size(), " entries for ", n, " tokens");
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types.items[i].as_int();
      if (t < 0 || t > 6) fail(f.path(), ": tokenizer.ggml.token_type: token ", i, " has unknown type ", t);
      v.type[i] = t == 0 ? TokenType::normal : static_cast<TokenType>(t);  // 0: "undefined", treated as normal
    }
  }

  v.bos = optional_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos = optional_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk = optional_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.eot = optional_id(f, "tokenizer.ggml.eot_token_id", n);
  v.eom = optional_id(f, "tokenizer.ggml.eom_token_id", n);
  const bool spm = v.model == "llama";
  v.add_bos = optional_bool(f, "tokenizer.ggml.add_bos_token", spm) && v.bos >= 0;
  v.add_space_prefix = optional_bool(f, "tokenizer.ggml.add_space_prefix", spm);
  return v;
}

}  // namespace bitdial
