#include "decide/memory_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "core/tensor_type.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace bitdial {
namespace {

constexpr double kGB = 1e9;
// Engine and driver context (a CUDA context alone is ~300-500 MiB) plus allocator slack.
constexpr uint64_t kRuntimeBytes = uint64_t{512} << 20;
// llama.cpp's default micro-batch: prompt tokens evaluated per forward pass, which sizes the buffers.
constexpr int64_t kMicroBatch = 512;

struct PublishedShape {
  double nominal;  // the size in its name
  const char* name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
  bool tied;
};

// Hugging Face config.json of each model (hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, intermediate_size, vocab_size, tie_word_embeddings).
constexpr PublishedShape kPublished[] = {
    {1e9, "Llama 3.2 1B", 2048, 16, 32, 8, 8192, 128256, true},
    {3e9, "Llama 3.2 3B", 3072, 28, 24, 8, 8192, 128256, true},
    {7e9, "Llama 2 7B", 4096, 32, 32, 32, 11008, 32000, false},
    {8e9, "Llama 3.1 8B", 4096, 32, 32, 8, 14336, 128256, false},
    {13e9, "Llama 2 13B", 5120, 40, 40, 40, 13824, 32000, false},
    {34e9, "Code Llama 34B", 8192, 48, 64, 8, 22016, 32000, false},
    {70e9, "Llama 3.1 70B", 8192, 80, 64, 8, 28672, 128256, false},
    {405e9, "Llama 3.1 405B", 16384, 126, 128, 8, 53248, 128256, false},
};

// Weights of a llama shape: per layer two norms, q/k/v/o and gate/up/down; embeddings; output norm.
uint64_t count_params(const ModelShape& s) {
  const uint64_t q = uint64_t(s.n_head * s.head_dim), kv = uint64_t(s.n_head_kv * s.head_dim), e = uint64_t(s.n_embd);
  const uint64_t per_layer = 2 * e + 2 * e * q + 2 * e * kv + 3 * e * uint64_t(s.n_ff);
  return uint64_t(s.n_vocab) * e * (s.tied_embeddings ? 1 : 2) + uint64_t(s.n_layer) * per_layer + e;
}

ModelShape make_shape(std::string from, int64_t embd, int64_t layers, int64_t heads, int64_t kv_heads, int64_t ff,
                      int64_t vocab, bool tied) {
  ModelShape s;
  s.from = std::move(from);
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = kv_heads;
  s.head_dim = embd / heads;
  s.n_ff = ff;
  s.n_vocab = vocab;
  s.tied_embeddings = tied;
  s.params = count_params(s);
  return s;
}

// Scaling rule for sizes no published config matches: the Llama 3 family's proportions (head_dim 128,
// depth = width / 128, n_ff = 3.5 x width rounded to 256, 8 KV heads, 128256 vocabulary); the width is
// the multiple of 128 whose parameter count is nearest the request.
ModelShape scaled_shape(uint64_t params) {
  ModelShape best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int64_t embd = 256; embd <= 65536; embd += 128) {
    const int64_t heads = embd / 128;
    const int64_t layers = std::max<int64_t>(1, embd / 128);
    const int64_t ff = std::max<int64_t>(256, (embd * 7 / 2 + 128) / 256 * 256);
    ModelShape s = make_shape("scaling rule (Llama 3 proportions)", embd, layers, heads, std::min<int64_t>(8, heads), ff,
                              128256, false);
    const double err = std::fabs(std::log(double(s.params) / double(params)));
    if (err < best_err) best_err = err, best = s;
  }
  return best;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

uint64_t read_uint(const GgufFile& file, const std::string& key) {
  const GgufValue* v = file.find(key);
  if (v == nullptr || !v->is_integer() || v->as_int() <= 0) fail(file.path(), ": missing or invalid metadata key ", key);
  return v->as_uint();
}

}  // namespace

KvElement parse_kv_element(std::string_view text) {
  std::string t(text);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "f16") return KvElement::f16;
  if (t == "q8_0") return KvElement::q8_0;
  fail("--kv '", text, "': unknown KV cache type (known: f16, q8_0)");
}

const char* kv_element_name(KvElement kv) { return kv == KvElement::f16 ? "f16" : "q8_0"; }

double kv_element_bytes(KvElement kv) { return kv == KvElement::f16 ? 2.0 : 34.0 / 32.0; }

uint64_t parse_param_count(std::string_view text) {
  const std::string s(text);
  if (s.empty()) fail("--params: empty");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    fail("--params '", s, "': not a number (examples: 70B, 6.7B, 500M, 7000000000)");
  }
  const std::string suffix = s.substr(used);
  double scale = 1;
  if (suffix.empty()) scale = 1;
  else if (suffix == "K" || suffix == "k") scale = 1e3;
  else if (suffix == "M" || suffix == "m") scale = 1e6;
  else if (suffix == "B" || suffix == "b" || suffix == "G" || suffix == "g") scale = 1e9;
  else if (suffix == "T" || suffix == "t") scale = 1e12;
  else fail("--params '", s, "': unknown unit suffix '", suffix, "' (use K, M, B or T)");
  const double n = v * scale;
  if (!std::isfinite(n) || n < 1 || n > 1e15) fail("--params '", s, "': not a parameter count in [1, 1e15]");
  return static_cast<uint64_t>(std::llround(n));
}

ModelShape shape_for_params(uint64_t params) {
  const PublishedShape* best = nullptr;
  double best_rel = 0.12;  // within 12 % of the name's nominal size
  for (const PublishedShape& p : kPublished) {
    const double rel = std::fabs(double(params) - p.nominal) / p.nominal;
    if (rel <= best_rel) best_rel = rel, best = &p;
  }
  if (best == nullptr) return scaled_shape(params);
  return make_shape(std::string(best->name) + " (published config)", best->n_embd, best->n_layer, best->n_head,
                    best->n_head_kv, best->n_ff, best->n_vocab, best->tied);
}

ModelShape shape_from_gguf(const GgufFile& file) {
  const GgufValue* arch_v = file.find("general.architecture");
  if (arch_v == nullptr || arch_v->type() != GgufValueType::STRING) fail(file.path(), ": missing general.architecture");
  const std::string a = arch_v->as_string();
  ModelShape s;
  s.from = file.path();
  s.n_layer = int64_t(read_uint(file, a + ".block_count"));
  s.n_embd = int64_t(read_uint(file, a + ".embedding_length"));
  s.n_head = int64_t(read_uint(file, a + ".attention.head_count"));
  s.n_head_kv = file.find(a + ".attention.head_count_kv") ? int64_t(read_uint(file, a + ".attention.head_count_kv")) : s.n_head;
  s.head_dim = file.find(a + ".attention.key_length") ? int64_t(read_uint(file, a + ".attention.key_length")) : s.n_embd / s.n_head;
  s.n_ff = file.find(a + ".feed_forward_length") ? int64_t(read_uint(file, a + ".feed_forward_length")) : 4 * s.n_embd;
  s.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  if (const GgufTensorInfo* emb = file.find_tensor("token_embd.weight"); emb != nullptr && emb->ne.size() == 2)
    s.n_vocab = emb->ne[1];
  for (const GgufTensorInfo& t : file.tensors()) s.params += uint64_t(t.n_elements());
  return s;
}

std::vector<GgufTensorInfo> shape_tensors(const ModelShape& s) {
  std::vector<GgufTensorInfo> out;
  auto add = [&](std::string name, std::vector<int64_t> ne) {
    GgufTensorInfo t;
    t.name = std::move(name);
    t.type = ne.size() == 1 ? TensorType::F32 : TensorType::F16;
    t.ne = std::move(ne);
    t.nbytes = tensor_nbytes(t.type, t.ne, t.name);
    out.push_back(std::move(t));
  };
  const int64_t q = s.n_head * s.head_dim, kv = s.n_head_kv * s.head_dim;
  add("token_embd.weight", {s.n_embd, s.n_vocab});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", {s.n_embd});
    add(b + "attn_q.weight", {s.n_embd, q});
    add(b + "attn_k.weight", {s.n_embd, kv});
    add(b + "attn_v.weight", {s.n_embd, kv});
    add(b + "attn_output.weight", {q, s.n_embd});
    add(b + "ffn_norm.weight", {s.n_embd});
    add(b + "ffn_gate.weight", {s.n_embd, s.n_ff});
    add(b + "ffn_up.weight", {s.n_embd, s.n_ff});
    add(b + "ffn_down.weight", {s.n_ff, s.n_embd});
  }
  add("output_norm.weight", {s.n_embd});
  if (!s.tied_embeddings) add("output.weight", {s.n_embd, s.n_vocab});
  return out;
}

uint64_t kv_bytes_per_token(const ModelShape& s, KvElement kv) {
  return static_cast<uint64_t>(std::llround(double(s.n_layer) * 2 * double(s.n_head_kv * s.head_dim) * kv_element_bytes(kv)));
}

uint64_t kv_cache_bytes(const ModelShape& s, int64_t context, int64_t batch, KvElement kv) {
  return static_cast<uint64_t>(std::llround(double(s.n_layer) * 2 * double(context) * double(batch) *
                                            double(s.n_head_kv * s.head_dim) * kv_element_bytes(kv)));
}

WeightEstimate weights_from_bits(uint64_t params, double bits) {
  if (!(bits > 0 && bits <= 64)) fail("--bits ", bits, ": not in (0, 64]");
  WeightEstimate w;
  w.params = params;
  w.bytes = static_cast<uint64_t>(std::llround(double(params) * bits / 8.0));
  w.bits_per_weight = bits;
  w.from = "--bits " + fmt("%g", bits) + ": params x bits / 8";
  return w;
}

WeightEstimate weights_from_preset(const ModelShape& shape, uint64_t params, std::string_view preset) {
  const QuantPreset& p = find_quant_preset(preset);
  QuantRecipe recipe;
  recipe.preset = p.name;
  const QuantPlan plan = plan_tensors(shape_tensors(shape), RecipeShape{shape.n_layer, std::max<int64_t>(1, shape.n_head / shape.n_head_kv)}, recipe);
  WeightEstimate w;
  w.params = params;
  w.bits_per_weight = plan.bits_per_weight();
  w.bytes = static_cast<uint64_t>(std::llround(double(params) * w.bits_per_weight / 8.0));
  w.from = std::string(p.name) + ": " + fmt("%.3f", w.bits_per_weight) + " bits/weight planned tensor by tensor on the shape";
  return w;
}

WeightEstimate weights_from_file(const GgufFile& file, const std::optional<std::string>& preset) {
  WeightEstimate w;
  uint64_t elements = 0;
  for (const GgufTensorInfo& t : file.tensors()) elements += uint64_t(t.n_elements());
  w.params = elements;
  if (preset) {
    QuantRecipe recipe;
    recipe.preset = find_quant_preset(*preset).name;
    const QuantPlan plan = plan_model_quantization(file, recipe);
    w.bytes = plan.tensor_bytes;
    w.from = recipe.preset + ": exact per-tensor plan of the file";
  } else {
    for (const GgufTensorInfo& t : file.tensors()) w.bytes += t.nbytes;
    w.from = "the file's tensors as stored";
  }
  w.bits_per_weight = elements > 0 ? 8.0 * double(w.bytes) / double(elements) : 0;
  return w;
}

void validate_memory_options(const MemoryOptions& o) {
  if (o.context < 1) fail("--context ", o.context, ": need at least 1 token");
  if (o.batch < 1) fail("--batch ", o.batch, ": need at least 1 sequence");
}

MemoryPlan plan_memory(const ModelShape& shape, const WeightEstimate& weights, const MemoryOptions& options) {
  validate_memory_options(options);
  MemoryPlan p;
  p.shape = shape;
  p.weights = weights;
  p.options = options;
  p.kv_cache_bytes = kv_cache_bytes(shape, options.context, options.batch, options.kv);
  p.runtime_bytes = kRuntimeBytes;
  // f32 activations of one micro-batch: logits (n_vocab), FFN intermediates (gate, up, product: 3 n_ff),
  // residual/norm/q/k/v/attention-output rows (~6 n_embd) and attention scores (n_head x context).
  const double ubatch = double(std::min<int64_t>(kMicroBatch, options.context * options.batch));
  const double per_token = double(shape.n_vocab) + 3.0 * double(shape.n_ff) + 6.0 * double(shape.n_embd) +
                           double(shape.n_head) * double(options.context);
  p.compute_buffer_bytes = static_cast<uint64_t>(4.0 * ubatch * per_token);
  p.overhead_bytes = p.runtime_bytes + p.compute_buffer_bytes;
  p.total_bytes = weights.bytes + p.kv_cache_bytes + p.overhead_bytes;
  return p;
}

int64_t devices_to_fit(uint64_t total_bytes, const HardwareSpec& hw) {
  const uint64_t mem = hw.memory_bytes();
  BITDIAL_ASSERT(mem > 0);
  return std::max<int64_t>(1, int64_t((total_bytes + mem - 1) / mem));
}

std::vector<HardwareFit> fit_catalog(const MemoryPlan& plan, const HardwareCatalog& catalog) {
  std::vector<HardwareFit> out;
  for (const HardwareSpec& hw : catalog.rows()) {
    HardwareFit f;
    f.name = hw.name;
    f.memory_gb = hw.memory_gb;
    f.fits_one = plan.total_bytes <= hw.memory_bytes();
    f.devices = devices_to_fit(plan.total_bytes, hw);
    f.dollars_per_hour = double(f.devices) * hw.dollars_per_hour;
    out.push_back(f);
  }
  return out;
}

nlohmann::ordered_json memory_plan_json(const MemoryPlan& p, const std::vector<HardwareFit>& fits) {
  const ModelShape& s = p.shape;
  nlohmann::ordered_json hw = nlohmann::ordered_json::array();
  for (const HardwareFit& f : fits)
    hw.push_back({{"name", f.name}, {"memory_gb", f.memory_gb}, {"fits_one", f.fits_one}, {"devices", f.devices},
                  {"dollars_per_hour", f.dollars_per_hour}});
  return {
      {"schema", "bitdial.plan/1"},
      {"shape",
       {{"from", s.from}, {"params", s.params}, {"n_layer", s.n_layer}, {"n_embd", s.n_embd}, {"n_head", s.n_head},
        {"n_head_kv", s.n_head_kv}, {"head_dim", s.head_dim}, {"n_ff", s.n_ff}, {"n_vocab", s.n_vocab},
        {"tied_embeddings", s.tied_embeddings}}},
      {"weights", {{"params", p.weights.params}, {"bytes", p.weights.bytes}, {"gb", double(p.weights.bytes) / kGB},
                   {"bits_per_weight", p.weights.bits_per_weight}, {"from", p.weights.from}}},
      {"kv_cache", {{"bytes", p.kv_cache_bytes}, {"type", kv_element_name(p.options.kv)}, {"context", p.options.context},
                    {"batch", p.options.batch}}},
      {"overhead", {{"bytes", p.overhead_bytes}, {"runtime_bytes", p.runtime_bytes},
                    {"compute_buffer_bytes", p.compute_buffer_bytes}}},
      {"total_bytes", p.total_bytes},
      {"total_gb", double(p.total_bytes) / kGB},
      {"hardware", hw},
  };
}

std::string memory_plan_text(const MemoryPlan& p, const std::vector<HardwareFit>& fits) {
  const ModelShape& s = p.shape;
  std::string o;
  auto gb = [](uint64_t b) { return fmt("%8.2f GB", double(b) / kGB); };
  o += "shape      " + s.from + ": " + std::to_string(s.n_layer) + " layers, width " + std::to_string(s.n_embd) + ", " +
       std::to_string(s.n_head) + " heads / " + std::to_string(s.n_head_kv) + " KV heads of " + std::to_string(s.head_dim) +
       ", ffn " + std::to_string(s.n_ff) + ", vocab " + std::to_string(s.n_vocab) + fmt(" (%.2fB params in the shape)\n", double(s.params) / 1e9);
  o += "weights   " + gb(p.weights.bytes) + fmt("  %.2fB params x ", double(p.weights.params) / 1e9) +
       fmt("%.3f bits/weight; ", p.weights.bits_per_weight) + p.weights.from + "\n";
  o += "KV cache  " + gb(p.kv_cache_bytes) + "  " + kv_element_name(p.options.kv) + ", context " + std::to_string(p.options.context) +
       " x batch " + std::to_string(p.options.batch) + "\n";
  o += "overhead  " + gb(p.overhead_bytes) + "  runtime " + fmt("%.2f GB", double(p.runtime_bytes) / kGB) +
       " + compute buffers " + fmt("%.2f GB", double(p.compute_buffer_bytes) / kGB) + "\n";
  o += "total     " + gb(p.total_bytes) + "  (GB = 1e9 bytes; device memory below in GiB = 2^30 bytes)\n\n";
  char head[160];
  std::snprintf(head, sizeof head, "%-14s %11s  %-11s  %7s  %7s\n", "hardware", "memory", "fits on one", "devices", "$/hour");
  o += head;
  for (const HardwareFit& f : fits) {
    char line[160];
    std::snprintf(line, sizeof line, "%-14s %7.1f GiB  %-11s  %7lld  %7.2f\n", f.name.c_str(), f.memory_gb,
                  f.fits_one ? "yes" : "no", static_cast<long long>(f.devices), f.dollars_per_hour);
    o += line;
  }
  if (std::any_of(fits.begin(), fits.end(), [](const HardwareFit& f) { return f.devices > 1; }))
    o += "devices > 1: weights and KV cache split tensor-parallel; prices are catalogue defaults (--hardware FILE overrides)\n";
  return o;
}

}  // namespace bitdial
