#include "quant/imatrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "core/error.h"
#include "formats/gguf.h"

namespace bitdial {
namespace {

// Key and tensor names. The first four and the tensor suffixes are llama.cpp's imatrix GGUF layout,
// so either tool reads the other's files; the rest are bitdial's (docs/imatrix.md).
constexpr const char* kKeyType = "general.type";
constexpr const char* kKeyDatasets = "imatrix.datasets";
constexpr const char* kKeyChunkCount = "imatrix.chunk_count";
constexpr const char* kKeyChunkSize = "imatrix.chunk_size";
constexpr const char* kKeyModelSource = "imatrix.model_source";
constexpr const char* kKeyArch = "imatrix.model.architecture";
constexpr const char* kKeyNEmbd = "imatrix.model.embedding_length";
constexpr const char* kKeyNLayer = "imatrix.model.block_count";
constexpr const char* kKeyNFf = "imatrix.model.feed_forward_length";
constexpr const char* kKeyNVocab = "imatrix.model.vocab_size";
constexpr const char* kSumSuffix = ".in_sum2";
constexpr const char* kCountSuffix = ".counts";

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

uint32_t to_u32(int64_t v, const char* what) {
  if (v < 0 || v > static_cast<int64_t>(std::numeric_limits<uint32_t>::max()))
    fail("imatrix: ", what, " ", v, " does not fit the file's u32 field");
  return static_cast<uint32_t>(v);
}

// A metadata integer, 0 when absent; a wrong type is an error naming the file and key.
int64_t meta_int(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return 0;
  if (!v->is_integer()) fail(f.path(), ": key ", key, " is ", gguf_value_type_name(v->type()), ", expected an integer");
  return v->as_int();
}

std::string meta_string(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return "";
  if (v->type() != GgufValueType::STRING)
    fail(f.path(), ": key ", key, " is ", gguf_value_type_name(v->type()), ", expected a string");
  return v->as_string();
}

// The tensor's F32 values, copied out (the mapping gives no float alignment guarantee).
std::vector<float> read_f32(const GgufFile& f, const GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  if (!v.empty()) std::memcpy(v.data(), f.tensor_data(t), v.size() * sizeof(float));
  return v;
}

// in_sum2 is (cols) or (cols, 1); llama.cpp writes (cols, n_mat) with n_mat > 1 for expert stacks,
// which no model bitdial runs has.
int64_t sum_tensor_cols(const GgufFile& f, const GgufTensorInfo& t) {
  if (t.type != TensorType::F32) fail(f.path(), ": tensor '", t.name, "' is ", type_info(t.type).name, ", expected f32");
  const bool shape_ok = (t.ne.size() == 1 || (t.ne.size() == 2 && t.ne[1] == 1)) && t.ne[0] >= 1;
  if (!shape_ok) {
    if (t.ne.size() == 2 && t.ne[1] > 1)
      fail(f.path(), ": tensor '", t.name, "' holds ", t.ne[1], " matrices (an expert stack), which bitdial does not support");
    fail(f.path(), ": tensor '", t.name, "' has ", t.ne.size(), " dimensions, expected (cols) or (cols, 1)");
  }
  return t.ne[0];
}

}  // namespace

std::vector<float> ImatrixEntry::mean_sq() const {
  std::vector<float> m(sum_sq.size(), 0.0f);
  if (n_tokens <= 0) return m;
  const double inv = 1.0 / static_cast<double>(n_tokens);
  for (size_t c = 0; c < sum_sq.size(); ++c) m[c] = static_cast<float>(sum_sq[c] * inv);
  return m;
}

const ImatrixEntry* Imatrix::find(const std::string& weight) const {
  const auto it = entries.find(weight);
  return it == entries.end() ? nullptr : &it->second;
}

void Imatrix::save(const std::string& path) const {
  GgufWriter w;
  w.set(kKeyType, GgufValue::string("imatrix"));
  w.set(kKeyDatasets, GgufValue::string_array(calib_source.empty() ? std::vector<std::string>{}
                                                                   : std::vector<std::string>{calib_source}));
  w.set(kKeyChunkCount, GgufValue::u32(to_u32(n_chunks, "chunk count")));
  w.set(kKeyChunkSize, GgufValue::u32(to_u32(n_ctx, "chunk size")));
  if (!model_source.empty()) w.set(kKeyModelSource, GgufValue::string(model_source));
  if (model.known()) {
    w.set(kKeyArch, GgufValue::string(model.arch));
    w.set(kKeyNEmbd, GgufValue::u32(to_u32(model.n_embd, "n_embd")));
    w.set(kKeyNLayer, GgufValue::u32(to_u32(model.n_layer, "n_layer")));
    w.set(kKeyNFf, GgufValue::u32(to_u32(model.n_ff, "n_ff")));
    w.set(kKeyNVocab, GgufValue::u32(to_u32(model.n_vocab, "n_vocab")));
  }
  for (const auto& [name, e] : entries) {
    BITDIAL_ASSERT(!e.sum_sq.empty());
    // Raw sums (not means) as llama.cpp stores them; F32 keeps ~7 significant digits of the double
    // accumulator, far below the spread of importance values across columns.
    std::vector<float> sums(e.sum_sq.begin(), e.sum_sq.end());
    const int64_t cols = static_cast<int64_t>(sums.size());
    w.add_tensor(name + kSumSuffix, TensorType::F32, {cols, 1}, f32_bytes(sums));
    w.add_tensor(name + kCountSuffix, TensorType::F32, {1, 1}, f32_bytes({static_cast<float>(e.n_tokens)}));
  }
  w.write(path);
}

Imatrix Imatrix::load(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  const std::string type = meta_string(f, kKeyType);
  if (type != "imatrix") {
    if (type.empty() && f.find("general.architecture") != nullptr)
      fail(path, ": not an imatrix file (it is a model: general.architecture = ",
           f.get("general.architecture").to_display_string(), ", no general.type = \"imatrix\")");
    fail(path, ": not an imatrix file (general.type is ", type.empty() ? "missing" : "\"" + type + "\"",
         ", expected \"imatrix\")");
  }
  Imatrix im;
  if (const GgufValue* d = f.find(kKeyDatasets)) {
    if (d->type() != GgufValueType::ARRAY || d->as_array().elem_type != GgufValueType::STRING)
      fail(path, ": key ", kKeyDatasets, " is not an array of strings");
    for (const GgufValue& s : d->as_array().items)
      im.calib_source += (im.calib_source.empty() ? "" : ", ") + s.as_string();
  }
  im.n_chunks = meta_int(f, kKeyChunkCount);
  im.n_ctx = meta_int(f, kKeyChunkSize);
  im.model_source = meta_string(f, kKeyModelSource);
  im.model.arch = meta_string(f, kKeyArch);
  im.model.n_embd = meta_int(f, kKeyNEmbd);
  im.model.n_layer = meta_int(f, kKeyNLayer);
  im.model.n_ff = meta_int(f, kKeyNFf);
  im.model.n_vocab = meta_int(f, kKeyNVocab);

  // Every tensor is one half of an entry; collect both halves, then check they pair up.
  std::map<std::string, const GgufTensorInfo*> sums, counts;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name.ends_with(kSumSuffix)) sums[t.name.substr(0, t.name.size() - std::strlen(kSumSuffix))] = &t;
    else if (t.name.ends_with(kCountSuffix)) counts[t.name.substr(0, t.name.size() - std::strlen(kCountSuffix))] = &t;
    else fail(path, ": tensor '", t.name, "' is not part of an imatrix entry (expected <weight>", kSumSuffix,
              " and <weight>", kCountSuffix, ")");
  }
  for (const auto& [name, t] : counts)
    if (!sums.contains(name)) fail(path, ": tensor '", t->name, "' has no matching '", name, kSumSuffix, "'");
  for (const auto& [name, st] : sums) {
    const auto ct = counts.find(name);
    if (ct == counts.end()) fail(path, ": tensor '", st->name, "' has no matching '", name, kCountSuffix, "'");
    const GgufTensorInfo& c = *ct->second;
    sum_tensor_cols(f, *st);
    if (c.type != TensorType::F32 || c.n_elements() != 1)
      fail(path, ": tensor '", c.name, "' must be one f32 token count, found ", type_info(c.type).name, " with ",
           c.n_elements(), " values");
    const float n = read_f32(f, c)[0];
    if (!std::isfinite(n) || n < 0.0f || n != std::floor(n))
      fail(path, ": tensor '", c.name, "' holds ", n, ", expected a whole number of tokens >= 0");
    ImatrixEntry e;
    e.n_tokens = static_cast<int64_t>(n);
    const std::vector<float> v = read_f32(f, *st);
    e.sum_sq.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]) || v[i] < 0.0f)
        fail(path, ": tensor '", st->name, "' column ", i, " is ", v[i], ", expected a finite sum of squares >= 0");
      if (e.n_tokens == 0 && v[i] != 0.0f)
        fail(path, ": tensor '", st->name, "' column ", i, " is ", v[i], " but '", c.name, "' says no tokens were seen");
      e.sum_sq[i] = v[i];
    }
    im.entries.emplace(name, std::move(e));
  }
  if (im.entries.empty()) fail(path, ": imatrix has no entries");
  return im;
}

ImatrixModelId imatrix_model_id(const LlamaModel& model) {
  const LlamaHparams& hp = model.hparams();
  return ImatrixModelId{hp.arch, hp.n_embd, hp.n_layer, hp.n_ff, hp.n_vocab};
}

namespace {

// The output projection's name: a tied model multiplies by the embedding table.
std::string output_weight_name(const LlamaModel& model) {
  return model.file().find_tensor("output.weight") != nullptr ? "output.weight" : "token_embd.weight";
}

}  // namespace

std::vector<std::string> imatrix_weight_names(const LlamaModel& model) {
  std::vector<std::string> names;
  for (int64_t il = 0; il < model.hparams().n_layer; ++il)
    for (MatmulSite s : {MatmulSite::attn_in, MatmulSite::attn_out, MatmulSite::ffn_in, MatmulSite::ffn_mid})
      for (std::string& n : matmul_site_weights(s, il)) names.push_back(std::move(n));
  names.push_back(output_weight_name(model));
  return names;
}

ImatrixCollector::ImatrixCollector(const LlamaModel& model) : model_(model), output_name_(output_weight_name(model)) {
  imatrix_.model = imatrix_model_id(model);
  imatrix_.model_source = model.file().path();
}

void ImatrixCollector::on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) {
  // x: (n_tokens, cols) row-major. Each column is summed by one thread in token order, so the result
  // does not depend on the thread count.
  scratch_.assign(static_cast<size_t>(cols), 0.0);
  double* s = scratch_.data();
  const int64_t block = 64;
#pragma omp parallel for schedule(static) if (n_tokens * cols >= (1 << 16))
  for (int64_t c0 = 0; c0 < cols; c0 += block) {
    const int64_t c1 = std::min(cols, c0 + block);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* row = x + t * cols;
      for (int64_t c = c0; c < c1; ++c) s[c] += static_cast<double>(row[c]) * row[c];
    }
  }
  const std::vector<std::string> names =
      site == MatmulSite::output_in ? std::vector<std::string>{output_name_} : matmul_site_weights(site, layer);
  for (const std::string& name : names) {
    ImatrixEntry& e = imatrix_.entries[name];
    if (e.sum_sq.empty()) {
      const WeightView* w = model_.weight(name);
      if (w == nullptr || w->cols != cols)
        fail(model_.file().path(), ": imatrix: matmul input of '", name, "' has ", cols, " columns, the weight ",
             w == nullptr ? std::string("does not exist") : concat("has ", w->cols));
      e.sum_sq.assign(static_cast<size_t>(cols), 0.0);
    }
    BITDIAL_ASSERT(static_cast<int64_t>(e.sum_sq.size()) == cols);
    for (int64_t c = 0; c < cols; ++c) e.sum_sq[static_cast<size_t>(c)] += s[c];
    e.n_tokens += n_tokens;
  }
}

std::vector<std::string> imatrix_coverage_problems(const Imatrix& imatrix, const LlamaModel& model, int64_t min_tokens) {
  std::vector<std::string> out;
  for (const std::string& name : imatrix_weight_names(model)) {
    const ImatrixEntry* e = imatrix.find(name);
    const WeightView* w = model.weight(name);
    if (e == nullptr || e->n_tokens == 0) out.push_back(name + ": no activations");
    else if (w != nullptr && static_cast<int64_t>(e->sum_sq.size()) != w->cols)
      out.push_back(concat(name, ": ", e->sum_sq.size(), " columns, the model's matrix has ", w->cols));
    else if (e->n_tokens < min_tokens)
      out.push_back(concat(name, ": only ", e->n_tokens, " tokens (fewer than ", min_tokens, ")"));
  }
  return out;
}

std::vector<std::string> imatrix_model_mismatches(const Imatrix& imatrix, const LlamaModel& model) {
  std::vector<std::string> out;
  if (imatrix.model.known()) {
    const ImatrixModelId m = imatrix_model_id(model);
    const ImatrixModelId& r = imatrix.model;
    if (r.arch != m.arch || r.n_embd != m.n_embd || r.n_layer != m.n_layer || r.n_ff != m.n_ff || r.n_vocab != m.n_vocab)
      out.push_back(concat("collected on a ", r.arch, " model (n_embd ", r.n_embd, ", n_layer ", r.n_layer, ", n_ff ",
                           r.n_ff, ", n_vocab ", r.n_vocab, "), this one is ", m.arch, " (n_embd ", m.n_embd,
                           ", n_layer ", m.n_layer, ", n_ff ", m.n_ff, ", n_vocab ", m.n_vocab, ")"));
  }
  const std::vector<std::string> names = imatrix_weight_names(model);
  const std::set<std::string> wanted(names.begin(), names.end());
  for (const auto& [name, e] : imatrix.entries) {
    if (!wanted.contains(name)) {
      out.push_back(concat("entry '", name, "': the model has no matrix product by that name"));
      continue;
    }
    const WeightView* w = model.weight(name);
    BITDIAL_ASSERT(w != nullptr);
    if (static_cast<int64_t>(e.sum_sq.size()) != w->cols)
      out.push_back(concat("entry '", name, "': ", e.sum_sq.size(), " columns, the model's matrix has ", w->cols));
  }
  for (const std::string& name : names) {
    // llama.cpp leaves the output projection out unless asked (--process-output); accept its files so.
    if (imatrix.find(name) == nullptr && !(name == names.back() && !imatrix.model.known()))
      out.push_back(concat("no entry for '", name, "'"));
  }
  return out;
}

void check_imatrix_for_model(const Imatrix& imatrix, const LlamaModel& model, const std::string& imatrix_path) {
  const std::vector<std::string> problems = imatrix_model_mismatches(imatrix, model);
  if (problems.empty()) return;
  fail(imatrix_path, ": does not match model ", model.file().path(), ": ", problems.front(),
       problems.size() > 1 ? concat(" (and ", problems.size() - 1, " more problems)") : std::string());
}

}  // namespace bitdial
