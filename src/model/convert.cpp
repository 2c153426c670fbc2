#include "model/convert.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "blocks/tensor_codec.h"
#include "blocks/traits.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_parse.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "formats/hf.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

bool is_float_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }
bool is_plain_int_or_f64(TensorType t) {
  return t == TensorType::I8 || t == TensorType::I16 || t == TensorType::I32 || t == TensorType::I64 || t == TensorType::F64;
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

std::vector<int64_t> reversed(const std::vector<int64_t>& v) { return {v.rbegin(), v.rend()}; }

int64_t product(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{1}, std::multiplies<>()); }

const char* torch_dtype_name(TensorType t) {
  return t == TensorType::F16 ? "float16" : t == TensorType::BF16 ? "bfloat16" : "float32";
}

// The stored type for a GGUF tensor written to safetensors: float types as requested (or kept),
// quantized types decoded to the requested float type (default f32), ints and f64 copied.
TensorType safetensors_type_for(TensorType from, const ConvertOptions& opt) {
  if (is_plain_int_or_f64(from)) return from;
  if (is_float_type(from)) return opt.out_type.value_or(from);
  return opt.out_type.value_or(TensorType::F32);
}

void report(const ConvertOptions& opt, size_t done, size_t total) {
  if (opt.progress) opt.progress(done, total);
}

// ---------------------------------------------------------------------------------------------
// GGUF -> safetensors

// GGUF scalar and short-array metadata as __metadata__ strings; vocabularies and other long
// arrays are left out (the folder form carries the tokenizer properly). The file type and
// quantization version describe the GGUF's tensor encoding, which the output no longer has.
void gguf_metadata_to_safetensors(const GgufFile& f, SafetensorsWriter& w) {
  constexpr size_t kMaxArray = 16;
  w.set_metadata("format", "pt");
  for (const GgufKeyValue& kv : f.metadata()) {
    if (kv.key == "general.file_type" || kv.key == "general.quantization_version") continue;
    if (kv.value.type() == GgufValueType::STRING) w.set_metadata(kv.key, kv.value.as_string());
    else if (kv.value.type() != GgufValueType::ARRAY || kv.value.as_array().items.size() <= kMaxArray)
      w.set_metadata(kv.key, kv.value.to_display_string(kMaxArray));
  }
}

struct PlannedTensor {
  const GgufTensorInfo* info;
  std::string out_name;
  TensorType out_type;
  RopePermute permute = RopePermute::none;
};

// Adds the planned tensors to w, each produced lazily (decoded / permuted at write time).
void add_gguf_tensors(const GgufFile& f, const std::vector<PlannedTensor>& plan, const ModelHparams* hp, SafetensorsWriter& w,
                      const ConvertOptions& opt) {
  auto done = std::make_shared<size_t>(0);
  for (const PlannedTensor& p : plan) {
    const auto st = st_dtype_from_tensor_type(p.out_type);
    BITDIAL_ASSERT(st.has_value());
    const GgufTensorInfo* t = p.info;
    const uint32_t heads = hp != nullptr ? rope_permute_heads(*hp, p.permute) : 0;
    const std::string what = concat(f.path(), ": tensor '", t->name, "'");
    w.add_tensor_lazy(p.out_name, *st, reversed(t->ne), [&f, t, p, heads, what, done, total = plan.size(), &opt] {
      std::vector<uint8_t> bytes = convert_tensor_bytes(t->type, p.out_type, f.tensor_data(*t), t->n_elements(), t->ne.empty() ? 1 : t->ne[0], what);
      if (p.permute != RopePermute::none) {
        const size_t row = row_bytes(p.out_type, t->ne[0]);
        bytes = permute_rope_rows(bytes.data(), t->n_rows(), row, heads, false);
      }
      report(opt, ++*done, total);
      return bytes;
    });
  }
}

ConvertResult gguf_to_safetensors_file(const GgufFile& f, const std::string& out, const ConvertOptions& opt) {
  std::vector<PlannedTensor> plan;
  for (const GgufTensorInfo& t : f.tensors()) plan.push_back({&t, t.name, safetensors_type_for(t.type, opt)});
  SafetensorsWriter w;
  gguf_metadata_to_safetensors(f, w);
  add_gguf_tensors(f, plan, nullptr, w, opt);
  w.write(out);
  return {ModelFormat::gguf, ModelFormat::safetensors_file, plan.size(), {out}};
}

ConvertResult gguf_to_hf_folder(const GgufFile& f, const std::string& dir, const ConvertOptions& opt) {
  const ModelHparams hp = hparams_from_gguf(f);
  std::vector<PlannedTensor> plan;
  TensorType main_type = TensorType::F32;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name == "rope_freqs.weight") continue;  // derived from rope_scaling in config.json
    const auto mapped = gguf_to_hf_tensor_name(t.name);
    if (!mapped) fail(f.path(), ": tensor has no Hugging Face name in the llama table (key '", t.name, "')");
    const TensorType type = safetensors_type_for(t.type, opt);
    if (!is_float_type(type)) fail(f.path(), ": tensor of type ", type_name(t.type), " cannot go into a model folder (key '", t.name, "')");
    if (t.name == "token_embd.weight") main_type = type;
    plan.push_back({&t, mapped->name, type, hp.arch == "llama" ? mapped->permute : RopePermute::none});
  }
  fs::create_directories(dir);
  ConvertResult result{ModelFormat::gguf, ModelFormat::hf_folder, plan.size(), {}};

  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  add_gguf_tensors(f, plan, &hp, w, opt);
  const std::string weights = dir + "/model.safetensors";
  w.write(weights);
  result.files.push_back(weights);

  nlohmann::ordered_json config = hparams_to_hf_config(hp);
  config["torch_dtype"] = torch_dtype_name(main_type);
  write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
  result.files.push_back(dir + "/config.json");
  nlohmann::ordered_json gen;
  gen["_from_model_config"] = true;
  if (hp.bos_token_id) gen["bos_token_id"] = *hp.bos_token_id;
  if (hp.eos_token_id) gen["eos_token_id"] = *hp.eos_token_id;
  write_file_atomic(dir + "/generation_config.json", gen.dump(2) + "\n");
  result.files.push_back(dir + "/generation_config.json");

  if (f.find("tokenizer.ggml.model") != nullptr) {
    const GgufTokenizer tok = tokenizer_from_gguf(f);
    for (const auto& [name, contents] : tokenizer_to_hf_files(tok, hp.context_length)) {
      write_file_atomic(dir + "/" + name, contents);
      result.files.push_back(dir + "/" + name);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// safetensors -> GGUF

TensorType gguf_type_for(const SafetensorsModel& m, const StTensorInfo& t) {
  const auto type = st_dtype_to_tensor_type(t.dtype);
  if (!type) fail(m.shard(t.shard).path(), ": dtype ", st_dtype_name(t.dtype), " has no GGUF counterpart (key '", t.name, "')");
  return *type;
}

int64_t row_len_of(const StTensorInfo& t) { return t.shape.empty() ? 1 : t.shape.back(); }

// Pads the vocabulary to the embedding's row count, as checkpoints whose embedding is rounded up
// to a multiple of 64 need; the padding tokens are marked unused.
void pad_vocab(GgufTokenizer& tok, uint32_t vocab_size) {
  for (size_t i = tok.tokens.size(); i < vocab_size; ++i) {
    tok.tokens.push_back(concat("[PAD", i, "]"));
    if (!tok.scores.empty()) tok.scores.push_back(0.0f);
    if (!tok.token_types.empty()) tok.token_types.push_back(static_cast<int32_t>(TokenType::unused));
  }
}

uint32_t file_type_for(TensorType main) {
  // llama_ftype values: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_BF16 = 32.
  return main == TensorType::F16 ? 1 : main == TensorType::BF16 ? 32 : 0;
}

ConvertResult hf_to_gguf(const SafetensorsModel& m, const std::string& dir, const std::string& out, const ConvertOptions& opt) {
  ModelHparams hp = read_hf_config(dir + "/config.json");
  if (hp.name.empty()) {  // the folder's name, as "TinyLlama-1.1B" for ".../TinyLlama-1.1B/"
    fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    hp.name = p.filename().string();
  }
  GgufWriter w;
  struct Entry {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> owned;
    const uint8_t* borrowed = nullptr;
    size_t nbytes = 0;
  };
  std::vector<Entry> entries;
  TensorType main_type = TensorType::F32;
  size_t done = 0;
  for (const StTensorInfo& t : m.tensors()) {
    if (t.name.ends_with(".rotary_emb.inv_freq")) continue;  // recomputed from rope_theta
    const auto mapped = hf_to_gguf_tensor_name(t.name);
    if (!mapped) fail(m.shard(t.shard).path(), ": tensor has no GGUF name in the llama table (key '", t.name, "')");
    const TensorType from = gguf_type_for(m, t);
    if (!is_float_type(from)) fail(m.shard(t.shard).path(), ": expected a float tensor, found ", st_dtype_name(t.dtype), " (key '", t.name, "')");
    const TensorType to = t.shape.size() <= 1 ? TensorType::F32 : opt.out_type.value_or(from);
    if (mapped->name == "token_embd.weight") main_type = to;
    Entry e{mapped->name, to, reversed(t.shape), {}, nullptr, 0};
    const uint8_t* src = m.tensor_data(t);
    const std::string what = concat(m.shard(t.shard).path(), ": tensor '", t.name, "'");
    const bool permute = hp.arch == "llama" && mapped->permute != RopePermute::none;
    if (from == to && !permute) {
      e.borrowed = src;
      e.nbytes = t.nbytes;
    } else {
      e.owned = convert_tensor_bytes(from, to, src, t.n_elements(), row_len_of(t), what);
      if (permute) {
        const int64_t rows = t.shape.empty() ? 1 : product(t.shape) / row_len_of(t);
        e.owned = permute_rope_rows(e.owned.data(), rows, row_bytes(to, row_len_of(t)), rope_permute_heads(hp, mapped->permute), true);
      }
    }
    entries.push_back(std::move(e));
    report(opt, ++done, m.tensors().size());
  }
  if (hp.rope_scaling_type == "llama3") {
    const std::vector<float> factors = llama3_rope_freq_factors(hp);
    std::vector<uint8_t> bytes(factors.size() * sizeof(float));
    std::memcpy(bytes.data(), factors.data(), bytes.size());
    entries.push_back({"rope_freqs.weight", TensorType::F32, {static_cast<int64_t>(factors.size())}, std::move(bytes), nullptr, 0});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return gguf_tensor_order_key(a.name) < gguf_tensor_order_key(b.name); });

  std::error_code ec;
  std::optional<GgufTokenizer> tok;
  if (fs::exists(dir + "/tokenizer.json", ec) || fs::exists(dir + "/tokenizer.model", ec)) {
    tok = read_hf_tokenizer(dir);
    if (tok->tokens.size() > hp.vocab_size)
      fail(dir, ": tokenizer has ", tok->tokens.size(), " tokens but config.json says ", hp.vocab_size, " (key 'vocab_size')");
    pad_vocab(*tok, hp.vocab_size);
    if (!tok->bos_id) tok->bos_id = hp.bos_token_id;
    if (!tok->eos_id) tok->eos_id = hp.eos_token_id;
  }

  hparams_to_gguf(hp, w);
  w.set("general.file_type", GgufValue::u32(file_type_for(main_type)));
  if (tok) tokenizer_to_gguf(*tok, w);
  for (Entry& e : entries) {
    if (e.borrowed != nullptr) w.add_tensor(e.name, e.type, e.ne, e.borrowed, e.nbytes);
    else w.add_tensor(e.name, e.type, e.ne, std::move(e.owned));
  }
  w.write(out);
  return {ModelFormat::hf_folder, ModelFormat::gguf, entries.size(), {out}};
}

ConvertResult raw_safetensors_to_gguf(const SafetensorsModel& m, const std::string& out, const ConvertOptions& opt) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("unknown"));
  w.set("general.name", GgufValue::string(fs::path(m.path()).stem().string()));
  for (const auto& [k, v] : m.metadata())
    if (k != "format") w.set("safetensors.metadata." + k, GgufValue::string(v));
  size_t done = 0;
  for (const StTensorInfo& t : m.tensors()) {
    const TensorType from = gguf_type_for(m, t);
    const TensorType to = is_float_type(from) ? opt.out_type.value_or(from) : from;
    if (from == to) {
      w.add_tensor(t.name, to, reversed(t.shape), m.tensor_data(t), t.nbytes);
    } else {
      const std::string what = concat(m.shard(t.shard).path(), ": tensor '", t.name, "'");
      w.add_tensor(t.name, to, reversed(t.shape), convert_tensor_bytes(from, to, m.tensor_data(t), t.n_elements(), row_len_of(t), what));
    }
    report(opt, ++done, m.tensors().size());
  }
  w.write(out);
  return {ModelFormat::safetensors_file, ModelFormat::gguf, m.tensors().size(), {out}};
}

// The folder holding config.json / tokenizer files for a safetensors input.
std::string model_dir_of(const std::string& in) {
  std::error_code ec;
  if (fs::is_directory(in, ec)) return in;
  const fs::path parent = fs::path(in).parent_path();
  return parent.empty() ? "." : parent.string();
}

bool has_llama_config(const std::string& dir) {
  std::error_code ec;
  const std::string path = dir + "/config.json";
  if (!fs::exists(path, ec)) return false;
  const nlohmann::json c = parse_json(read_file(path), path);
  if (!c.is_object() || !c.contains("architectures") || !c["architectures"].is_array() || c["architectures"].empty() ||
      !c["architectures"][0].is_string())
    return false;
  return is_llama_family(c["architectures"][0].get<std::string>());
}

ModelFormat output_format(const std::string& out) {
  if (out.ends_with(".gguf")) return ModelFormat::gguf;
  if (out.ends_with(".safetensors")) return ModelFormat::safetensors_file;
  return ModelFormat::hf_folder;
}

}  // namespace

TensorType parse_convert_type(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "f32") return TensorType::F32;
  if (lower == "f16") return TensorType::F16;
  if (lower == "bf16") return TensorType::BF16;
  fail("--type must be f32, f16 or bf16, not '", name, "'");
}


ConvertResult convert_model(const std::string& in, const std::string& out, const ConvertOptions& opt) {
  if (opt.out_type && !is_float_type(*opt.out_type)) fail("--type must be f32, f16 or bf16, not ", type_name(*opt.out_type));
  std::error_code ec;
  if (!fs::exists(in, ec)) fail(in, ": no such file or folder");
  const bool in_gguf = !fs::is_directory(in, ec) && has_gguf_magic(in);
  const ModelFormat out_fmt = output_format(out);
  if (in_gguf) {
    const GgufFile f = GgufFile::open(in);
    if (out_fmt == ModelFormat::gguf) fail(out, ": both IN and OUT are GGUF: convert changes the file format only (re-type a GGUF with `bitdial quantize`)");
    if (out_fmt == ModelFormat::safetensors_file) return gguf_to_safetensors_file(f, out, opt);
    return gguf_to_hf_folder(f, out, opt);
  }
  const SafetensorsModel m = SafetensorsModel::open(in);
  if (out_fmt != ModelFormat::gguf) fail(out, ": safetensors input converts to a .gguf file");
  const std::string dir = model_dir_of(in);
  ConvertResult r = has_llama_config(dir) ? hf_to_gguf(m, dir, out, opt) : raw_safetensors_to_gguf(m, out, opt);
  r.in_format = fs::is_directory(in, ec) ? ModelFormat::hf_folder : ModelFormat::safetensors_file;
  return r;
}

}  // namespace bitdial
