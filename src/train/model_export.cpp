#include "train/model_export.h"

#include <cmath>
#include <filesystem>

#include "blocks/traits.h"
#include "core/error.h"
#include "model/llama_gguf_keys.h"
#include "train/optimizer.h"

namespace bitdial {
namespace {

// Encodes a (rows, row_len) float matrix row by row; rows are independent, so the bytes do not depend
// on the thread count.
std::vector<uint8_t> encode_rows(TensorType type, const std::vector<float>& values, int64_t row_len) {
  const TypeTraits& tr = type_traits(type);
  const size_t rb = row_bytes(type, row_len);
  const int64_t rows = static_cast<int64_t>(values.size()) / row_len;
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) if (rows >= 64)
  for (int64_t r = 0; r < rows; ++r)
    tr.quantize_row(values.data() + r * row_len, out.data() + static_cast<size_t>(r) * rb, row_len, nullptr);
  return out;
}

}  // namespace

void check_param_layout(const ParamSet& params, const std::string& what) {
  const std::vector<LlamaTensorShape> layout = llama_tensor_layout(params.spec);
  if (params.params.size() != layout.size())
    fail(what, ": ", params.params.size(), " parameter tensors, the model shape has ", layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const Param& p = params.params[i];
    if (p.name != layout[i].name) fail(what, ": parameter ", i, " is ", p.name, ", the model shape has ", layout[i].name, " there");
    if (p.shape != layout[i].ne)
      fail(what, ": ", p.name, " has shape ", format_ne(p.shape), ", the model shape expects ", format_ne(layout[i].ne));
    if (static_cast<int64_t>(p.value.size()) != p.numel())
      fail(what, ": ", p.name, " holds ", p.value.size(), " values for shape ", format_ne(p.shape));
  }
}

ModelExportResult export_llama_gguf(const std::string& path, const ParamSet& params, const SynthVocab& vocab,
                                    const ModelExportOptions& options) {
  const SynthSpec& spec = params.spec;
  validate_synth_spec(spec);
  check_param_layout(params, path);
  if (spec.n_vocab != vocab.size)
    fail(path, ": the model has ", spec.n_vocab, " token rows but the tokenizer (", vocab.source, ") has ", vocab.size,
         " tokens");
  if (type_traits(options.type).quantize_row == nullptr)
    fail(path, ": bitdial cannot encode type ", type_name(options.type));
  if (const auto bad = find_nonfinite_value(params))
    fail(path, ": not exported: ", bad->tensor, " is ", bad->value, " at element ", bad->index);

  ModelExportResult result;
  GgufWriter w;
  set_llama_keys(w, spec, vocab, options.type, options.description);
  const std::vector<LlamaTensorShape> layout = llama_tensor_layout(spec);
  for (size_t i = 0; i < layout.size(); ++i) {
    const Param& p = params.params[i];
    const bool matrix = layout[i].kind == LlamaTensorKind::matrix;
    const int64_t row_len = p.shape[0];
    const TensorType type = matrix ? synth_tensor_type(options.type, row_len) : TensorType::F32;
    if (type != options.type && matrix) result.fallbacks.push_back(p.name + ": " + type_name(type));
    if (type_traits(type).quantize_row == nullptr)
      fail(path, ": type ", type_name(options.type), " falls back to ", type_name(type), " for ", p.name,
           ", which bitdial cannot encode");
    w.add_tensor_lazy(p.name, type, p.shape, [&p, type, row_len] { return encode_rows(type, p.value, row_len); });
    result.params += static_cast<uint64_t>(p.numel());
  }
  w.write(path);

  result.tensors = layout.size();
  std::error_code ec;
  result.file_bytes = std::filesystem::file_size(path, ec);
  return result;
}

}  // namespace bitdial
