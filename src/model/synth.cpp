#include "model/synth.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include "blocks/traits.h"
#include "core/error.h"
#include "formats/hf_tokenizer.h"
#include "model/llama_gguf_keys.h"

namespace bitdial {
namespace {

// --- presets ---------------------------------------------------------------------------------

SynthSpec llama_spec(const char* name, int64_t embd, int64_t layers, int64_t heads, int64_t kv_heads, int64_t ff,
                     int64_t ctx, float eps) {
  SynthSpec s;
  s.name = name;
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = kv_heads;
  s.n_ff = ff;
  s.n_vocab = 32000;
  s.n_ctx = ctx;
  s.rms_eps = eps;
  return s;
}

SynthSpec qwen2_05b_spec() {
  SynthSpec s = llama_spec("synth-qwen2-0.5b", 896, 24, 14, 2, 4864, 32768, 1e-6f);
  s.arch = "qwen2";
  s.n_vocab = 151936;
  s.rope_base = 1000000.0f;
  s.tied_embeddings = true;
  return s;
}

// --- weights ---------------------------------------------------------------------------------

// SplitMix64 (Steele, Lea, Flood 2014): mixes (seed, tensor, row) into well-spread generator seeds.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One row of approximately normal values with standard deviation `std`: each std::mt19937_64 draw
// gives four 16-bit uniforms whose sum (Irwin-Hall, n = 4: mean 2, variance 1/3) is centred and
// scaled. Bounded at +-3.46 std; a quarter of a generator call per value keeps a 7B model's 6.7e9
// weights cheap to produce. The row's generator is seeded from (seed, tensor, row), so rows can
// be produced in any order on any thread and give the same values.
void random_row(uint64_t seed, uint64_t tensor, uint64_t row, float std, float* out, int64_t n) {
  std::mt19937_64 gen(splitmix64(splitmix64(seed ^ splitmix64(tensor)) + row));
  constexpr float kInv = 1.0f / 65536.0f;
  const float scale = std * std::sqrt(3.0f);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = gen();
    const float sum = static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)) + 2.0f;
    out[i] = (sum * kInv - 2.0f) * scale;  // each uniform at the centre of its 1/65536 bin
  }
}

// A tensor to write: a random matrix (rows, cols) or a constant F32 vector (n).
struct Planned {
  std::string name;
  TensorType type;
  int64_t rows;  // 1 for vectors
  int64_t cols;
  bool random;
  float fill;  // vectors: every value
};

// Encodes a random matrix row by row in parallel; rows are independent, so the bytes do not depend
// on the thread count.
std::vector<uint8_t> produce_matrix(const Planned& p, uint64_t seed, uint64_t index, float std) {
  const TypeTraits& tr = type_traits(p.type);
  const size_t rb = row_bytes(p.type, p.cols);
  std::vector<uint8_t> out(rb * static_cast<size_t>(p.rows));
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(p.cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < p.rows; ++r) {
      random_row(seed, index, static_cast<uint64_t>(r), std, row.data(), p.cols);
      tr.quantize_row(row.data(), out.data() + static_cast<size_t>(r) * rb, p.cols, nullptr);
    }
  }
  return out;
}

std::vector<uint8_t> produce_vector(const Planned& p) {
  std::vector<float> v(static_cast<size_t>(p.cols), p.fill);
  std::vector<uint8_t> out(v.size() * sizeof(float));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Every tensor of llama_tensor_layout: matrices random in `type` (or its fallback), norms 1, biases 0.
std::vector<Planned> plan_tensors(const SynthSpec& s, TensorType type, SynthResult& result) {
  std::vector<Planned> plan;
  for (const LlamaTensorShape& t : llama_tensor_layout(s)) {
    if (t.kind == LlamaTensorKind::matrix) {
      const int64_t cols = t.ne[0], rows = t.ne[1];
      const TensorType mt = synth_tensor_type(type, cols);
      if (mt != type) result.fallbacks.push_back(t.name + ": " + type_name(mt));
      plan.push_back({t.name, mt, rows, cols, true, 0.0f});
    } else {
      plan.push_back({t.name, TensorType::F32, 1, t.ne[0], false, t.kind == LlamaTensorKind::norm ? 1.0f : 0.0f});
    }
  }
  return plan;
}

}  // namespace

int64_t SynthSpec::n_params() const {
  const int64_t q_dim = n_head * head_dim();
  int64_t per_layer = 2 * n_embd + n_embd * q_dim * 2 + 2 * n_embd * kv_dim() + 3 * n_embd * n_ff;
  if (arch == "qwen2") per_layer += q_dim + 2 * kv_dim();
  return n_vocab * n_embd * (tied_embeddings ? 1 : 2) + n_layer * per_layer + n_embd;
}

const std::vector<SynthPreset>& synth_presets() {
  static const std::vector<SynthPreset> presets = {
      {"llama-1b", "TinyLlama-1.1B", llama_spec("synth-llama-1b", 2048, 22, 32, 4, 5632, 2048, 1e-5f)},
      {"llama-3b", "OpenLLaMA-3B", llama_spec("synth-llama-3b", 3200, 26, 32, 32, 8640, 2048, 1e-6f)},
      {"llama-7b", "LLaMA-2-7B", llama_spec("synth-llama-7b", 4096, 32, 32, 32, 11008, 4096, 1e-5f)},
      {"qwen2-0.5b", "Qwen2-0.5B", qwen2_05b_spec()},
  };
  return presets;
}

SynthSpec synth_preset(std::string_view name) {
  std::string known;
  for (const SynthPreset& p : synth_presets()) {
    if (p.name == name) return p.spec;
    known += known.empty() ? "" : ", ";
    known += p.name;
  }
  fail("unknown preset '", name, "' (known: ", known, ")");
}

SynthSpec make_synth_spec(std::string_view preset, const SynthOverrides& o) {
  SynthSpec s;
  if (!preset.empty()) {
    s = synth_preset(preset);
  } else {
    const std::pair<const char*, bool> required[] = {
        {"--n-embd", o.n_embd.has_value()}, {"--n-layer", o.n_layer.has_value()}, {"--n-head", o.n_head.has_value()},
        {"--n-ff", o.n_ff.has_value()}};
    for (const auto& [flag, given] : required)
      if (!given) fail("without --preset, ", flag, " is required (and --n-embd, --n-layer, --n-head, --n-ff)");
    s.name = "synth-custom";
    s.n_vocab = 32000;
    s.n_ctx = 2048;
  }
  const auto apply = [](auto& field, const auto& value) {
    if (value) field = *value;
  };
  apply(s.n_embd, o.n_embd);
  apply(s.n_layer, o.n_layer);
  apply(s.n_head, o.n_head);
  apply(s.n_ff, o.n_ff);
  apply(s.n_vocab, o.n_vocab);
  apply(s.n_ctx, o.n_ctx);
  apply(s.rope_base, o.rope_base);
  apply(s.rms_eps, o.rms_eps);
  if (o.n_head_kv) s.n_head_kv = *o.n_head_kv;
  else if (preset.empty()) s.n_head_kv = s.n_head;
  validate_synth_spec(s);
  return s;
}

void validate_synth_spec(const SynthSpec& s) {
  const std::pair<const char*, int64_t> dims[] = {{"n-embd", s.n_embd}, {"n-layer", s.n_layer}, {"n-head", s.n_head},
                                                  {"n-head-kv", s.n_head_kv}, {"n-ff", s.n_ff}, {"n-vocab", s.n_vocab},
                                                  {"n-ctx", s.n_ctx}};
  constexpr int64_t kMaxDim = int64_t{1} << 31;  // GGUF u32 hyperparameters, int32 token ids
  for (const auto& [name, v] : dims)
    if (v <= 0 || v >= kMaxDim) fail("--", name, " is ", v, ", not in [1, 2^31)");
  if (s.arch != "llama" && s.arch != "qwen2") fail("architecture '", s.arch, "' is not llama or qwen2");
  if (s.n_embd % s.n_head != 0) fail("--n-embd ", s.n_embd, " is not a multiple of --n-head ", s.n_head);
  if (s.head_dim() % 2 != 0) fail("head size ", s.head_dim(), " (--n-embd / --n-head) is odd; rotary embeddings need it even");
  if (s.n_head % s.n_head_kv != 0) fail("--n-head ", s.n_head, " is not a multiple of --n-head-kv ", s.n_head_kv);
  if (!(s.rope_base > 1.0f)) fail("rope base ", s.rope_base, " is not > 1");
  if (!(s.rms_eps > 0.0f && s.rms_eps < 1.0f)) fail("rms eps ", s.rms_eps, " is not in (0, 1)");
}

SynthVocab synth_vocab_from_gguf(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type() != GgufValueType::ARRAY || tokens->as_array().elem_type != GgufValueType::STRING)
    fail(path, ": no tokenizer vocabulary (key 'tokenizer.ggml.tokens' missing or not a string array)");
  SynthVocab v;
  v.size = static_cast<int64_t>(tokens->as_array().items.size());
  if (v.size == 0) fail(path, ": empty vocabulary (key 'tokenizer.ggml.tokens')");
  v.source = path;
  for (const GgufKeyValue& kv : f.metadata())
    if (kv.key.starts_with("tokenizer.")) v.keys.push_back(kv);
  return v;
}

bool synth_adopt_vocab_size(SynthSpec& spec, const SynthVocab& vocab, bool n_vocab_explicit) {
  if (spec.n_vocab == vocab.size) return false;
  if (n_vocab_explicit) fail("--n-vocab ", spec.n_vocab, " differs from the ", vocab.size, " tokens of --vocab ", vocab.source);
  spec.n_vocab = vocab.size;
  return true;
}

SynthVocab synth_byte_vocab(int64_t n_vocab) {
  if (n_vocab < kSynthByteVocabMin || n_vocab >= (int64_t{1} << 31))
    fail("--n-vocab ", n_vocab, " is too small for the built-in byte-level vocabulary (needs at least ", kSynthByteVocabMin,
         "; or give --vocab)");
  GgufTokenizer t;
  t.model = "llama";
  const auto add = [&t](std::string text, TokenType type, float score) {
    t.tokens.push_back(std::move(text));
    t.token_types.push_back(static_cast<int32_t>(type));
    t.scores.push_back(score);
  };
  add("<unk>", TokenType::unknown, 0.0f);
  add("<s>", TokenType::control, 0.0f);
  add("</s>", TokenType::control, 0.0f);
  char buf[16];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, TokenType::byte, 0.0f);
  }
  add("\xE2\x96\x81", TokenType::normal, -1.0f);  // U+2581, SentencePiece's space
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c), TokenType::normal, -1.0f);
  for (int64_t i = static_cast<int64_t>(t.tokens.size()); i < n_vocab; ++i)
    add("<synth_" + std::to_string(i) + ">", TokenType::normal, -1000.0f);
  t.unk_id = 0;
  t.bos_id = 1;
  t.eos_id = 2;
  t.add_bos = true;
  t.add_eos = false;
  GgufWriter w;
  tokenizer_to_gguf(t, w);
  return {w.metadata(), n_vocab, "built-in"};
}

TensorType synth_tensor_type(TensorType type, int64_t row_len) {
  const auto fits = [row_len](TensorType t) { return row_len % type_info(t).block_size == 0; };
  if (fits(type)) return type;
  TensorType t = TensorType::F16;
  switch (type) {
    case TensorType::Q4_K: t = TensorType::Q5_0; break;
    case TensorType::Q5_K: t = TensorType::Q5_1; break;
    case TensorType::Q6_K: t = TensorType::Q8_0; break;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::IQ4_XS:
    case TensorType::TQ1_0:
    case TensorType::TQ2_0: t = TensorType::IQ4_NL; break;
    default: break;
  }
  return fits(t) ? t : TensorType::F16;
}

SynthResult write_synth_model(const std::string& path, const SynthSpec& spec, const SynthVocab& vocab, const SynthOptions& opt) {
  validate_synth_spec(spec);
  if (spec.n_vocab != vocab.size)
    fail("--n-vocab ", spec.n_vocab, " differs from the vocabulary's ", vocab.size, " tokens (", vocab.source, ")");
  if (type_traits(opt.type).quantize_row == nullptr) fail("--type ", type_name(opt.type), ": bitdial cannot encode this type");
  if (!(opt.weight_std > 0.0f && std::isfinite(opt.weight_std))) fail("weight std ", opt.weight_std, " is not positive");

  SynthResult result;
  const std::vector<Planned> plan = plan_tensors(spec, opt.type, result);
  for (const Planned& p : plan)
    if (type_traits(p.type).quantize_row == nullptr) fail("--type ", type_name(opt.type), ": falls back to ", type_name(p.type),
                                                          " for ", p.name, ", which bitdial cannot encode");

  GgufWriter w;
  set_llama_keys(w, spec, vocab, opt.type, "random weights written by bitdial synth (seed " + std::to_string(opt.seed) + ")");

  uint64_t total = 0;
  for (const Planned& p : plan) total += static_cast<uint64_t>(p.rows * p.cols);
  auto done = std::make_shared<uint64_t>(0);
  for (size_t i = 0; i < plan.size(); ++i) {
    const Planned& p = plan[i];
    std::vector<int64_t> ne = p.random ? std::vector<int64_t>{p.cols, p.rows} : std::vector<int64_t>{p.cols};
    w.add_tensor_lazy(p.name, p.type, std::move(ne), [&p, &opt, i, done, total] {
      std::vector<uint8_t> bytes = p.random ? produce_matrix(p, opt.seed, i, opt.weight_std) : produce_vector(p);
      *done += static_cast<uint64_t>(p.rows * p.cols);
      if (opt.progress) opt.progress(*done, total);
      return bytes;
    });
  }
  w.write(path);

  result.tensors = plan.size();
  result.params = total;
  std::error_code ec;
  result.file_bytes = std::filesystem::file_size(path, ec);
  return result;
}

}  // namespace bitdial
