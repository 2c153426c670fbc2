#include "train/fake_quant.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_map>

#include "blocks/traits.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/llama_gguf_keys.h"
#include "quant/quantize_model.h"
#include "train/model_export.h"

namespace bitdial {
namespace {

bool is_float_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

// A planned type must round-trip: the quantizer makes the effective weights, the decoder reads them back.
void require_codecs(TensorType type, const std::string& name) {
  const TypeTraits& tr = type_traits(type);
  if (tr.quantize_row == nullptr || tr.dequantize_row == nullptr)
    fail("fake quantization of ", name, ": bitdial cannot ", tr.quantize_row == nullptr ? "encode" : "decode", " type ",
         type_name(type));
}

// The parameters as the tensor list of an F32 GGUF, which is what the recipe plans over.
std::vector<GgufTensorInfo> tensor_infos(const ParamSet& params) {
  std::vector<GgufTensorInfo> infos;
  for (const Param& p : params.params) {
    GgufTensorInfo t;
    t.name = p.name;
    t.type = TensorType::F32;
    t.ne = p.shape;
    t.nbytes = static_cast<uint64_t>(p.numel()) * sizeof(float);
    infos.push_back(std::move(t));
  }
  return infos;
}

// Removes a file when it goes out of scope (success, error alike).
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

const FakeQuantTensor* FakeQuantPlan::find(std::string_view tensor) const {
  for (const FakeQuantTensor& t : tensors)
    if (t.name == tensor) return &t;
  return nullptr;
}

std::vector<std::string> FakeQuantPlan::fallbacks() const {
  std::vector<std::string> lines;
  for (const FakeQuantTensor& t : tensors)
    if (t.type != t.requested) lines.push_back(concat(t.name, ": ", type_name(t.requested), " -> ", type_name(t.type)));
  return lines;
}

double FakeQuantPlan::bits_per_weight() const {
  double bytes = 0, weights = 0;
  for (const FakeQuantTensor& t : tensors) {
    bytes += static_cast<double>(row_bytes(t.type, t.row_len)) * static_cast<double>(t.rows);
    weights += static_cast<double>(t.row_len) * static_cast<double>(t.rows);
  }
  return weights == 0 ? 0.0 : 8.0 * bytes / weights;
}

FakeQuantPlan fake_quant_plan(const ParamSet& params, const std::string& preset_or_type) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const QuantPreset* preset = nullptr;
  for (const QuantPreset& p : quant_presets())
    if (lower(p.name) == lower(preset_or_type)) preset = &p;
  if (preset == nullptr) {
    if (const std::optional<TensorType> type = type_from_name(preset_or_type)) return fake_quant_plan(params, *type);
    std::string presets;
    for (const QuantPreset& p : quant_presets()) presets += concat(presets.empty() ? "" : ", ", p.name);
    fail("fake quantization: '", preset_or_type, "' is neither a preset (", presets,
         ") nor a tensor type (q2_K, q4_0, iq4_nl, tq1_0, ...)");
  }

  QuantRecipe recipe;
  recipe.preset = preset->name;
  RecipeShape shape;
  shape.n_layer = params.spec.n_layer;
  shape.n_gqa = params.spec.n_head_kv > 0 ? std::max<int64_t>(1, params.spec.n_head / params.spec.n_head_kv) : 1;
  const QuantPlan qp = plan_tensors(tensor_infos(params), shape, recipe);

  FakeQuantPlan plan;
  plan.name = preset->name;
  plan.file_type = qp.file_type;
  for (size_t i = 0; i < params.params.size(); ++i) {
    const Param& p = params.params[i];
    if (p.shape.size() != 2) continue;
    const TensorPlan& tp = qp.tensors[i];
    BITDIAL_ASSERT(tp.name == p.name);
    require_codecs(tp.target, p.name);
    plan.tensors.push_back({p.name, p.shape[0], p.shape[1], tp.requested, tp.target, tp.reason, {}});
  }
  return plan;
}

FakeQuantPlan fake_quant_plan(const ParamSet& params, TensorType type) {
  FakeQuantPlan plan;
  plan.name = type_name(type);
  plan.file_type = llama_file_type(type);
  for (const Param& p : params.params) {
    if (p.shape.size() != 2) continue;
    const TensorType target = fitting_type(type, p.shape[0]);  // export_llama_gguf's rule (synth_tensor_type)
    require_codecs(target, p.name);
    plan.tensors.push_back({p.name, p.shape[0], p.shape[1], type, target, "one type", {}});
  }
  return plan;
}

void check_fake_quant_plan(const FakeQuantPlan& plan, const ParamSet& params, const std::string& what) {
  std::set<std::string> matrices;
  for (const Param& p : params.params) {
    if (p.shape.size() != 2) continue;
    matrices.insert(p.name);
    const FakeQuantTensor* t = plan.find(p.name);
    if (t == nullptr) fail(what, ": the quantization plan (", plan.name, ") has no type for ", p.name);
    if (t->row_len != p.shape[0] || t->rows != p.shape[1])
      fail(what, ": the quantization plan (", plan.name, ") was made for ", t->name, " of ", t->row_len, "x", t->rows,
           ", the parameter is ", format_ne(p.shape));
  }
  for (const FakeQuantTensor& t : plan.tensors)
    if (!matrices.contains(t.name))
      fail(what, ": the quantization plan (", plan.name, ") names ", t.name, ", which is no matrix of the model");
}

std::vector<std::string> set_fake_quant_importance(FakeQuantPlan& plan, const Imatrix& imatrix, int64_t min_tokens,
                                                   const std::string& what) {
  for (const auto& [name, entry] : imatrix.entries) {
    const FakeQuantTensor* t = plan.find(name);
    if (t == nullptr) fail(what, ": entry '", name, "' names no matrix of the model being trained");
    if (static_cast<int64_t>(entry.sum_sq.size()) != t->row_len)
      fail(what, ": entry '", name, "' has ", entry.sum_sq.size(), " columns, the matrix has rows of ", t->row_len);
  }
  std::vector<std::string> unweighted;
  for (FakeQuantTensor& t : plan.tensors) {
    t.importance.clear();
    const ImatrixEntry* e = imatrix.find(t.name);
    if (e == nullptr) unweighted.push_back(t.name + ": no imatrix entry (unweighted)");
    else if (e->n_tokens < min_tokens)
      unweighted.push_back(concat(t.name, ": ", e->n_tokens, " tokens < ", min_tokens, " (unweighted)"));
    else t.importance = e->mean_sq();
  }
  return unweighted;
}

void fake_quantize(const FakeQuantTensor& t, std::vector<float>& values) {
  const int64_t n = static_cast<int64_t>(values.size());
  if (t.row_len <= 0 || n % t.row_len != 0)
    fail("fake quantization of ", t.name, ": ", n, " values are not whole rows of ", t.row_len);
  if (!t.importance.empty() && static_cast<int64_t>(t.importance.size()) != t.row_len)
    fail("fake quantization of ", t.name, ": ", t.importance.size(), " importance weights for rows of ", t.row_len);
  const TypeTraits& tr = type_traits(t.type);
  BITDIAL_ASSERT(tr.quantize_row != nullptr && tr.dequantize_row != nullptr);
  const float* importance = t.importance.empty() || is_float_type(t.type) ? nullptr : t.importance.data();
  const size_t rb = row_bytes(t.type, t.row_len);
  const int64_t rows = n / t.row_len;
  float* data = values.data();
  // Rows are independent, so any thread count gives the same bits; one block buffer per thread.
#pragma omp parallel if (rows >= 16)
  {
    std::vector<uint8_t> blocks(rb);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* row = data + r * t.row_len;
      tr.quantize_row(row, blocks.data(), t.row_len, importance);
      tr.dequantize_row(blocks.data(), row, t.row_len);
    }
  }
}

WeightTransform make_fake_quant(const FakeQuantPlan& plan) {
  auto shared = std::make_shared<const FakeQuantPlan>(plan);
  auto index = std::make_shared<std::unordered_map<std::string, size_t>>();
  for (size_t i = 0; i < shared->tensors.size(); ++i) (*index)[shared->tensors[i].name] = i;
  return [shared, index](const Param& p, std::vector<float>& effective) {
    const auto it = index->find(p.name);
    if (it == index->end()) fail("fake quantization (", shared->name, "): no planned type for matrix ", p.name);
    const FakeQuantTensor& t = shared->tensors[it->second];
    if (p.shape.empty() || p.shape[0] != t.row_len)
      fail("fake quantization (", shared->name, "): ", p.name, " has rows of ", p.shape.empty() ? 0 : p.shape[0],
           ", the plan was made for rows of ", t.row_len);
    fake_quantize(t, effective);
  };
}

FakeQuantExportResult export_fake_quant_gguf(const std::string& path, const ParamSet& params, const SynthVocab& vocab,
                                             const FakeQuantPlan& plan, const std::string& description) {
  check_fake_quant_plan(plan, params, path);

  const RemoveOnExit temp{path + ".qat-f32.tmp"};
  ModelExportOptions f32;
  f32.type = TensorType::F32;
  f32.description = description;
  export_llama_gguf(temp.path, params, vocab, f32);
  const GgufFile in = GgufFile::open(temp.path);

  // Exact assignments make every matrix's type the plan's, whatever the base preset ("F16") says.
  QuantizeOptions options;
  options.recipe.preset = "F16";
  for (const FakeQuantTensor& t : plan.tensors) {
    options.recipe.exact[t.name] = t.type;
    if (!t.importance.empty()) options.importance[t.name] = t.importance;
  }
  QuantPlan qp = plan_model_quantization(in, options.recipe);
  qp.preset = plan.name;
  qp.file_type = plan.file_type;
  for (const TensorPlan& tp : qp.tensors)
    if (const FakeQuantTensor* t = plan.find(tp.name); t != nullptr && t->type != tp.target)
      fail(path, ": ", tp.name, " would be written as ", type_name(tp.target), ", the plan trained it as ",
           type_name(t->type));
  QuantizeResult r = write_quantized_model(in, qp, path, options);
  return {std::move(r.plan), r.file_bytes};
}

}  // namespace bitdial
