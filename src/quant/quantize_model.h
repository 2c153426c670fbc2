// `bitdial quantize`: writes a GGUF whose tensors have the types a recipe (quant/recipe.h) plans.
// Streaming: the input is memory-mapped and each output tensor is produced, written and freed before
// the next, so peak memory is one tensor's output bytes plus a row buffer per thread, not the model.
// The output carries every input metadata key unchanged except general.file_type (the preset's id)
// and general.quantization_version (2); it is written to a temporary name and renamed when complete.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "quant/method.h"
#include "quant/recipe.h"

namespace bitdial {

struct QuantizeOptions {
  QuantRecipe recipe;
  // Per-weight column importance (E[x_c^2] from an imatrix): name -> ne[0] non-negative weights,
  // handed to the row quantizer. A missing entry quantizes that tensor unweighted.
  std::map<std::string, std::vector<float>> importance;
  // A calibration method's output (GPTQ, AWQ): `encoded` bytes are written as they are (they must
  // have the planned type's size), `floats` replace the source values before encoding (1-D tensors
  // are written as f32). Not owned; may be null.
  const MethodResult* method = nullptr;
  // OpenMP threads over the rows of a tensor; 0: the OpenMP default. The bytes written do not depend
  // on it (rows are encoded independently).
  int threads = 0;
  // After each tensor: (weights done, weights total).
  std::function<void(uint64_t, uint64_t)> progress;
  // Warning lines (requantizing an already-quantized input, a converted safetensors input).
  std::function<void(const std::string&)> warn;
  // Polled before each tensor; returning true aborts with bitdial::Error and leaves no output file
  // (the CLI sets it from SIGINT/SIGTERM).
  std::function<bool()> cancelled;
};

struct QuantizeResult {
  QuantPlan plan;
  uint64_t file_bytes = 0;     // size of the written file
  std::string converted_from;  // the safetensors input when it was converted first, else ""
};

// The metadata the output carries: the input's keys in order, with general.file_type and
// general.quantization_version set (replaced in place, or appended when absent).
std::vector<GgufKeyValue> quantized_metadata(const GgufFile& in, uint32_t file_type);

// Plans every tensor of `in` and predicts the output's exact byte size (plan.file_bytes).
QuantPlan plan_model_quantization(const GgufFile& in, const QuantRecipe& recipe);

// Writes `plan` (from plan_model_quantization on the same file, possibly with exact assignments)
// to `out`. Throws bitdial::Error, leaving no output, on a method result or importance vector of the
// wrong size, a cancelled run, or an I/O failure.
QuantizeResult write_quantized_model(const GgufFile& in, const QuantPlan& plan, const std::string& out,
                                     const QuantizeOptions& options);

// The input as a GGUF: the file itself, or a temporary conversion of a safetensors file / Hugging Face
// folder ("<OUT>.src-tmp.gguf", model/convert.h, types as stored), removed when this object dies
// (success, error or cancellation alike). Throws bitdial::Error naming IN when it does not exist.
class GgufInput {
 public:
  GgufInput(const std::string& in, const std::string& out, const QuantizeOptions& options);
  ~GgufInput();
  GgufInput(const GgufInput&) = delete;
  GgufInput& operator=(const GgufInput&) = delete;

  const GgufFile& file() const { return *file_; }
  const std::string& converted_from() const { return converted_from_; }

 private:
  std::unique_ptr<GgufFile> file_;
  std::string temp_;
  std::string converted_from_;
};

// Path-level entry points. IN is a GGUF, or a safetensors file / Hugging Face folder: that is first
// converted (model/convert.h, types as stored) to a temporary GGUF "<OUT>.src-tmp.gguf" next to OUT,
// which is removed afterwards, also on failure. The dry run converts the same way and writes nothing
// else.
QuantPlan plan_model_quantization(const std::string& in, const std::string& out, const QuantizeOptions& options);
QuantizeResult quantize_model(const std::string& in, const std::string& out, const QuantizeOptions& options);

}  // namespace bitdial
