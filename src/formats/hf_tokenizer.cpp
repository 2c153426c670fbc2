#include "formats/hf_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_parse.h"

namespace bitdial {
namespace {

using nlohmann::json;

constexpr const char* kSpace = "\xe2\x96\x81";  // U+2581 "▁", SentencePiece's visible space
constexpr uint32_t kNoToken = 0xffffffffu;

// The special-token slots: GGUF key suffix and the tokenizer_config.json key.
struct SpecialRow {
  const char* gguf_key;
  const char* hf_key;
  std::optional<uint32_t> GgufTokenizer::*id;
};

const SpecialRow kSpecials[] = {
    {"tokenizer.ggml.bos_token_id", "bos_token", &GgufTokenizer::bos_id},
    {"tokenizer.ggml.eos_token_id", "eos_token", &GgufTokenizer::eos_id},
    {"tokenizer.ggml.unknown_token_id", "unk_token", &GgufTokenizer::unk_id},
    {"tokenizer.ggml.seperator_token_id", "sep_token", &GgufTokenizer::sep_id},  // sic: llama.cpp's key
    {"tokenizer.ggml.padding_token_id", "pad_token", &GgufTokenizer::pad_id},
};

// ---------------------------------------------------------------------------------------------
// GGUF side

const GgufArray* gguf_array(const GgufFile& f, const char* key, GgufValueType elem, bool integer_ok = false) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return nullptr;
  if (v->type() != GgufValueType::ARRAY) fail(f.path(), ": expected an array (key '", key, "')");
  const GgufArray& a = v->as_array();
  const bool ok = a.elem_type == elem || (integer_ok && a.items.size() > 0 && a.items[0].is_integer()) ||
                  (integer_ok && a.items.empty());
  if (!ok) fail(f.path(), ": expected an array of ", gguf_value_type_name(elem), " (key '", key, "')");
  return &a;
}

template <class T, class Get>
T gguf_item(const GgufFile& f, const char* key, const GgufValue& v, Get get) {
  try {
    return static_cast<T>(get(v));
  } catch (const Error& e) {
    fail(f.path(), ": ", e.what(), " (key '", key, "')");
  }
}

// ---------------------------------------------------------------------------------------------
// HF side helpers

bool is_byte_piece(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

int32_t type_at(const GgufTokenizer& t, size_t i) {
  return i < t.token_types.size() ? t.token_types[i] : static_cast<int32_t>(TokenType::normal);
}

std::string token_or_empty(const GgufTokenizer& t, std::optional<uint32_t> id) {
  return id && *id < t.tokens.size() ? t.tokens[*id] : std::string();
}

// SentencePiece-BPE merges: a pair merges when its concatenation is a normal token; ranked by that
// token's score (higher first), then by the pair's ids, as the llama tokenizer.json layout expects.
std::vector<std::string> derive_spm_merges(const GgufTokenizer& t, const std::unordered_map<std::string, uint32_t>& ids) {
  struct Merge {
    float score;
    uint32_t left, right;
    std::string text;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < t.tokens.size(); ++id) {
    if (type_at(t, id) != static_cast<int32_t>(TokenType::normal)) continue;
    const std::string& piece = t.tokens[id];
    for (size_t k = 1; k < piece.size(); ++k) {
      if ((static_cast<unsigned char>(piece[k]) & 0xc0) == 0x80) continue;  // not a UTF-8 boundary
      const auto l = ids.find(piece.substr(0, k));
      const auto r = ids.find(piece.substr(k));
      if (l == ids.end() || r == ids.end()) continue;
      const float score = t.scores.empty() ? -static_cast<float>(id) : t.scores[id];
      merges.push_back({score, l->second, r->second, piece.substr(0, k) + " " + piece.substr(k)});
    }
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    return std::tie(b.score, a.left, a.right) < std::tie(a.score, b.left, b.right);
  });
  std::vector<std::string> out;
  out.reserve(merges.size());
  for (Merge& m : merges) out.push_back(std::move(m.text));
  return out;
}

json parse_json_file(const std::string& path) {
  return parse_json(read_file(path), path);
}

// A special token in tokenizer_config.json / special_tokens_map.json: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> special_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

bool has_type(const json& node, const char* type, const char* list_key) {
  if (!node.is_object()) return false;
  if (node.value("type", "") == type) return true;
  if (node.contains(list_key) && node[list_key].is_array())
    for (const json& child : node[list_key])
      if (has_type(child, type, list_key)) return true;
  return false;
}

}  // namespace

bool GgufTokenizer::operator==(const GgufTokenizer& o) const {
  // Scores compare bit for bit: -0.0 and 0.0 are different bytes in a GGUF file.
  const bool same_scores = scores.size() == o.scores.size() &&
                           (scores.empty() || std::memcmp(scores.data(), o.scores.data(), scores.size() * sizeof(float)) == 0);
  return model == o.model && pre == o.pre && tokens == o.tokens && same_scores && token_types == o.token_types &&
         merges == o.merges && bos_id == o.bos_id && eos_id == o.eos_id && unk_id == o.unk_id && sep_id == o.sep_id &&
         pad_id == o.pad_id && add_bos == o.add_bos && add_eos == o.add_eos && chat_template == o.chat_template;
}

GgufTokenizer tokenizer_from_gguf(const GgufFile& f) {
  GgufTokenizer t;
  t.model = f.get_string("tokenizer.ggml.model");
  if (const GgufValue* v = f.find("tokenizer.ggml.pre"))
    t.pre = gguf_item<std::string>(f, "tokenizer.ggml.pre", *v, [](const GgufValue& x) { return x.as_string(); });
  const GgufArray* tokens = gguf_array(f, "tokenizer.ggml.tokens", GgufValueType::STRING);
  if (tokens == nullptr) fail(f.path(), ": missing vocabulary (key 'tokenizer.ggml.tokens')");
  for (const GgufValue& v : tokens->items) t.tokens.push_back(v.as_string());
  const size_t n = t.tokens.size();
  if (const GgufArray* a = gguf_array(f, "tokenizer.ggml.scores", GgufValueType::FLOAT32)) {
    if (a->items.size() != n) fail(f.path(), ": ", a->items.size(), " scores for ", n, " tokens (key 'tokenizer.ggml.scores')");
    for (const GgufValue& v : a->items) t.scores.push_back(static_cast<float>(v.as_float()));
  }
  if (const GgufArray* a = gguf_array(f, "tokenizer.ggml.token_type", GgufValueType::INT32, true)) {
    if (a->items.size() != n) fail(f.path(), ": ", a->items.size(), " token types for ", n, " tokens (key 'tokenizer.ggml.token_type')");
    for (const GgufValue& v : a->items)
      t.token_types.push_back(gguf_item<int32_t>(f, "tokenizer.ggml.token_type", v, [](const GgufValue& x) { return x.as_int(); }));
  }
  if (const GgufArray* a = gguf_array(f, "tokenizer.ggml.merges", GgufValueType::STRING))
    for (const GgufValue& v : a->items) t.merges.push_back(v.as_string());
  for (const SpecialRow& s : kSpecials) {
    const GgufValue* v = f.find(s.gguf_key);
    if (v == nullptr) continue;
    const uint64_t id = gguf_item<uint64_t>(f, s.gguf_key, *v, [](const GgufValue& x) { return x.as_uint(); });
    if (id == kNoToken) continue;
    if (id >= n) fail(f.path(), ": token id ", id, " is outside the ", n, "-token vocabulary (key '", s.gguf_key, "')");
    t.*s.id = static_cast<uint32_t>(id);
  }
  if (const GgufValue* v = f.find("tokenizer.ggml.add_bos_token"))
    t.add_bos = gguf_item<bool>(f, "tokenizer.ggml.add_bos_token", *v, [](const GgufValue& x) { return x.as_bool(); });
  if (const GgufValue* v = f.find("tokenizer.ggml.add_eos_token"))
    t.add_eos = gguf_item<bool>(f, "tokenizer.ggml.add_eos_token", *v, [](const GgufValue& x) { return x.as_bool(); });
  if (const GgufValue* v = f.find("tokenizer.chat_template"))
    t.chat_template = gguf_item<std::string>(f, "tokenizer.chat_template", *v, [](const GgufValue& x) { return x.as_string(); });
  return t;
}

void tokenizer_to_gguf(const GgufTokenizer& t, GgufWriter& w) {
  w.set("tokenizer.ggml.model", GgufValue::string(t.model));
  if (!t.pre.empty()) w.set("tokenizer.ggml.pre", GgufValue::string(t.pre));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(t.tokens));
  if (!t.scores.empty()) w.set("tokenizer.ggml.scores", GgufValue::f32_array(t.scores));
  if (!t.token_types.empty()) w.set("tokenizer.ggml.token_type", GgufValue::i32_array(t.token_types));
  if (!t.merges.empty()) w.set("tokenizer.ggml.merges", GgufValue::string_array(t.merges));
  for (const SpecialRow& s : kSpecials)
    if (const auto& id = t.*s.id) w.set(s.gguf_key, GgufValue::u32(*id));
  if (t.add_bos) w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(*t.add_bos));
  if (t.add_eos) w.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(*t.add_eos));
  if (!t.chat_template.empty()) w.set("tokenizer.chat_template", GgufValue::string(t.chat_template));
}

// ---------------------------------------------------------------------------------------------
// Writing HF files

std::map<std::string, std::string> tokenizer_to_hf_files(const GgufTokenizer& t, uint32_t model_max_length) {
  const bool spm = t.model == "llama";
  if (!spm && t.model != "gpt2") fail("tokenizer model '", t.model, "' has no Hugging Face mapping (key 'tokenizer.ggml.model')");

  std::unordered_map<std::string, uint32_t> ids;  // first id of each piece
  json vocab = json::object();
  for (size_t i = 0; i < t.tokens.size(); ++i)
    if (ids.emplace(t.tokens[i], static_cast<uint32_t>(i)).second) vocab[t.tokens[i]] = i;

  json added = json::array();
  json added_decoder = json::object();
  bool has_bytes = false;
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    const int32_t type = type_at(t, i);
    has_bytes |= type == static_cast<int32_t>(TokenType::byte);
    const bool user = type == static_cast<int32_t>(TokenType::user_defined);
    if (type != static_cast<int32_t>(TokenType::control) && type != static_cast<int32_t>(TokenType::unknown) && !user) continue;
    json entry = {{"id", i},       {"content", t.tokens[i]}, {"single_word", false}, {"lstrip", false},
                  {"rstrip", false}, {"normalized", user},     {"special", !user}};
    added.push_back(entry);
    entry.erase("id");
    added_decoder[std::to_string(i)] = entry;
  }

  json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = added;
  json model = {{"type", "BPE"}, {"dropout", nullptr}, {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}};
  model["vocab"] = std::move(vocab);
  if (spm) {
    tok["normalizer"] = {{"type", "Sequence"},
                         {"normalizers",
                          {{{"type", "Prepend"}, {"prepend", kSpace}},
                           {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}}}};
    tok["pre_tokenizer"] = nullptr;
    tok["decoder"] = {{"type", "Sequence"},
                      {"decoders",
                       {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                        {{"type", "ByteFallback"}},
                        {{"type", "Fuse"}},
                        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    const std::string bos = token_or_empty(t, t.bos_id);
    if (t.add_bos.value_or(true) && !bos.empty()) {
      const json bos_item = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
      tok["post_processor"] = {
          {"type", "TemplateProcessing"},
          {"single", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
          {"pair", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                    {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", {*t.bos_id}}, {"tokens", {bos}}}}}}};
    } else {
      tok["post_processor"] = nullptr;
    }
    model["unk_token"] = t.unk_id ? json(t.tokens[*t.unk_id]) : json(nullptr);
    model["fuse_unk"] = true;
    model["byte_fallback"] = has_bytes;
    model["merges"] = t.merges.empty() ? derive_spm_merges(t, ids) : t.merges;
  } else {
    const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    tok["normalizer"] = nullptr;
    tok["pre_tokenizer"] = byte_level;
    tok["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
    tok["decoder"] = byte_level;
    model["unk_token"] = nullptr;
    model["fuse_unk"] = false;
    model["byte_fallback"] = false;
    model["merges"] = t.merges;
  }
  tok["model"] = std::move(model);

  nlohmann::ordered_json config;
  if (t.add_bos) config["add_bos_token"] = *t.add_bos;
  if (t.add_eos) config["add_eos_token"] = *t.add_eos;
  config["added_tokens_decoder"] = added_decoder;
  nlohmann::ordered_json special_map = nlohmann::ordered_json::object();
  for (const SpecialRow& s : kSpecials) {
    const std::string content = token_or_empty(t, t.*s.id);
    if (content.empty()) {
      if (std::string_view(s.hf_key) != "sep_token") config[s.hf_key] = nullptr;
      continue;
    }
    config[s.hf_key] = content;
    special_map[s.hf_key] = content;
  }
  if (!t.chat_template.empty()) config["chat_template"] = t.chat_template;
  config["clean_up_tokenization_spaces"] = false;
  if (model_max_length != 0) config["model_max_length"] = model_max_length;
  config["tokenizer_class"] = spm ? "LlamaTokenizer" : "GPT2Tokenizer";
  if (spm) config["legacy"] = true;
  if (!t.pre.empty()) config["gguf_pre_tokenizer"] = t.pre;

  std::map<std::string, std::string> files;
  try {
    files["tokenizer.json"] = tok.dump(2) + "\n";
    files["tokenizer_config.json"] = config.dump(2) + "\n";
    files["special_tokens_map.json"] = special_map.dump(2) + "\n";
  } catch (const json::type_error& e) {
    fail("tokenizer files cannot hold this vocabulary: a token is not valid UTF-8 (", e.what(), ")");
  }
  if (spm) {
    SpmModel m;
    m.pieces = t.tokens;
    m.scores = t.scores.empty() ? std::vector<float>(t.tokens.size(), 0.0f) : t.scores;
    for (size_t i = 0; i < t.tokens.size(); ++i) m.types.push_back(type_at(t, i));
    m.byte_fallback = has_bytes;
    m.unk_id = t.unk_id ? static_cast<int32_t>(*t.unk_id) : -1;
    m.bos_id = t.bos_id ? static_cast<int32_t>(*t.bos_id) : -1;
    m.eos_id = t.eos_id ? static_cast<int32_t>(*t.eos_id) : -1;
    m.pad_id = t.pad_id ? static_cast<int32_t>(*t.pad_id) : -1;
    files["tokenizer.model"] = spm_model_to_bytes(m);
  }
  return files;
}

void write_hf_tokenizer(const GgufTokenizer& t, const std::string& dir, uint32_t model_max_length) {
  for (const auto& [name, contents] : tokenizer_to_hf_files(t, model_max_length)) write_file_atomic(dir + "/" + name, contents);
}

// ---------------------------------------------------------------------------------------------
// Reading HF files

namespace {

// tokenizer.json -> tokens, merges and the model kind; types/scores derived.
void read_tokenizer_json(const std::string& path, GgufTokenizer& t, std::unordered_map<std::string, uint32_t>& ids) {
  const json tok = parse_json_file(path);
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) fail(path, ": missing model (key 'model')");
  const json& model = tok["model"];
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") fail(path, ": unsupported tokenizer model type '", type, "' (key 'model.type')");
  const bool byte_level = has_type(tok.value("pre_tokenizer", json()), "ByteLevel", "pretokenizers") ||
                          has_type(tok.value("decoder", json()), "ByteLevel", "decoders");
  t.model = byte_level ? "gpt2" : "llama";
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail(path, ": missing vocabulary (key 'model.vocab')");

  const json empty = json::array();
  const json& added = tok.contains("added_tokens") && tok["added_tokens"].is_array() ? tok["added_tokens"] : empty;
  // Ids must be dense; bounding them by the entry count keeps a hostile id from allocating much.
  const size_t limit = model["vocab"].size() + added.size();
  std::vector<std::optional<std::string>> by_id;
  std::vector<int32_t> added_type;
  auto place = [&](const std::string& piece, const json& idv, const char* key) {
    if (!idv.is_number_unsigned() || idv.get<uint64_t>() >= limit)
      fail(path, ": token id ", idv.dump(), " out of range (key '", key, "', token '", piece, "')");
    const size_t id = idv.get<size_t>();
    if (by_id.size() <= id) by_id.resize(id + 1);
    by_id[id] = piece;
    ids.emplace(piece, static_cast<uint32_t>(id));
    return id;
  };
  for (const auto& [piece, idv] : model["vocab"].items()) place(piece, idv, "model.vocab");
  std::vector<std::pair<size_t, int32_t>> added_types;
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id"))
      fail(path, ": malformed entry (key 'added_tokens')");
    const size_t id = place(a["content"].get<std::string>(), a["id"], "added_tokens");
    const bool special = a.value("special", true);
    added_types.emplace_back(id, static_cast<int32_t>(special ? TokenType::control : TokenType::user_defined));
  }
  for (size_t i = 0; i < by_id.size(); ++i) {
    if (!by_id[i]) fail(path, ": no token has id ", i, " (key 'model.vocab')");
    t.tokens.push_back(std::move(*by_id[i]));
  }

  const bool byte_fallback = model.value("byte_fallback", false);
  t.token_types.assign(t.tokens.size(), static_cast<int32_t>(TokenType::normal));
  for (size_t i = 0; i < t.tokens.size(); ++i)
    if (byte_fallback && is_byte_piece(t.tokens[i])) t.token_types[i] = static_cast<int32_t>(TokenType::byte);
  for (const auto& [id, ty] : added_types) t.token_types[id] = ty;
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = ids.find(model["unk_token"].get<std::string>());
    if (it != ids.end()) t.token_types[it->second] = static_cast<int32_t>(TokenType::unknown);
  }
  if (t.model == "llama") {
    // Without tokenizer.model: SentencePiece-BPE scores are minus the rank among normal pieces.
    float rank = 0.0f;
    for (size_t i = 0; i < t.tokens.size(); ++i)
      t.scores.push_back(t.token_types[i] == static_cast<int32_t>(TokenType::normal) ? -(rank++) : 0.0f);
  } else if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) t.merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        t.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else fail(path, ": malformed merge ", m.dump(), " (key 'model.merges')");
    }
  }
}

GgufTokenizer read_hf_tokenizer_unchecked(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string json_path = dir + "/tokenizer.json";
  const std::string spm_path = dir + "/tokenizer.model";
  const bool have_json = fs::exists(json_path, ec), have_spm = fs::exists(spm_path, ec);
  if (!have_json && !have_spm) fail(dir, ": no tokenizer.json or tokenizer.model");

  GgufTokenizer t;
  std::unordered_map<std::string, uint32_t> ids;
  if (have_json) read_tokenizer_json(json_path, t, ids);
  if (have_spm && (!have_json || t.model == "llama")) {
    const SpmModel m = spm_model_from_bytes(read_file(spm_path), spm_path);
    if (have_json && m.pieces != t.tokens)
      fail(spm_path, ": pieces differ from tokenizer.json's vocabulary (", m.pieces.size(), " vs ", t.tokens.size(), " tokens)");
    t.model = "llama";
    t.tokens = m.pieces;
    t.scores = m.scores;
    t.token_types = m.types;
    for (size_t i = 0; i < t.tokens.size(); ++i) ids.emplace(t.tokens[i], static_cast<uint32_t>(i));
    auto id_of = [&](int32_t v) { return v >= 0 && static_cast<size_t>(v) < t.tokens.size() ? std::optional<uint32_t>(v) : std::nullopt; };
    t.unk_id = id_of(m.unk_id);
    t.bos_id = id_of(m.bos_id);
    t.eos_id = id_of(m.eos_id);
    t.pad_id = id_of(m.pad_id);
  }

  // tokenizer_config.json decides special tokens when present; special_tokens_map.json otherwise.
  json config = json::object();
  if (fs::exists(dir + "/tokenizer_config.json", ec)) config = parse_json_file(dir + "/tokenizer_config.json");
  else if (fs::exists(dir + "/special_tokens_map.json", ec)) config = parse_json_file(dir + "/special_tokens_map.json");
  if (!config.is_object()) fail(dir, "/tokenizer_config.json: not a JSON object");
  for (const SpecialRow& s : kSpecials) {
    if (!config.contains(s.hf_key)) continue;
    const auto content = special_content(config[s.hf_key]);
    if (!content) {
      t.*s.id = std::nullopt;
      continue;
    }
    const auto it = ids.find(*content);
    if (it == ids.end()) fail(dir, "/tokenizer_config.json: special token '", *content, "' is not in the vocabulary (key '", s.hf_key, "')");
    t.*s.id = it->second;
  }
  auto opt_bool = [&](const char* key) -> std::optional<bool> {
    if (!config.contains(key) || config[key].is_null()) return std::nullopt;
    if (!config[key].is_boolean()) fail(dir, "/tokenizer_config.json: expected true or false (key '", key, "')");
    return config[key].get<bool>();
  };
  t.add_bos = opt_bool("add_bos_token");
  t.add_eos = opt_bool("add_eos_token");
  if (config.contains("chat_template") && config["chat_template"].is_string()) t.chat_template = config["chat_template"].get<std::string>();
  if (config.contains("gguf_pre_tokenizer") && config["gguf_pre_tokenizer"].is_string())
    t.pre = config["gguf_pre_tokenizer"].get<std::string>();
  else if (t.model == "gpt2")
    t.pre = "gpt-2";
  return t;
}

}  // namespace

GgufTokenizer read_hf_tokenizer(const std::string& dir) {
  try {
    return read_hf_tokenizer_unchecked(dir);
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong JSON type deep inside a tokenizer file (json::value and friends throw).
    fail(dir, ": unexpected value in tokenizer files: ", e.what());
  }
}

}  // namespace bitdial
