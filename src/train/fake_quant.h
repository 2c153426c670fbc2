// Fake quantization for quantization-aware training: each matrix a pass runs on is quantized to the
// GGUF type it will be exported as and decoded again, with that type's own quantizer (its block grid
// and scale search, recomputed on every call), and the gradient reaches the float master weights
// unchanged (straight-through estimator). The plan and the export share one recipe, so the exported
// file decodes to exactly the weights the model was trained on.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_type.h"
#include "model/synth.h"
#include "quant/imatrix.h"
#include "quant/recipe.h"
#include "train/param_set.h"
#include "train/train_model.h"

namespace bitdial {

struct FakeQuantTensor {
  std::string name;                 // GGUF name of a matrix (2-D parameter)
  int64_t row_len = 0;              // ne[0]: values per row, the quantizer's unit
  int64_t rows = 0;                 // ne[1]
  TensorType requested = TensorType::F32;  // what the preset (or the one type) asks for
  TensorType type = TensorType::F32;       // what is trained and exported: requested, or its fallback
  std::string reason;               // the recipe's reason ("base", "preset: output", "one type")
  std::vector<float> importance;    // empty, or row_len per-column weights (imatrix E[x_c^2])
};

struct FakeQuantPlan {
  std::string name;        // what it was made from: a preset ("Q3_K_M") or a type ("q2_K")
  uint32_t file_type = 0;  // general.file_type of the exported GGUF (llama.cpp's ftype number)
  std::vector<FakeQuantTensor> tensors;  // every matrix of the ParamSet, in ParamSet order

  const FakeQuantTensor* find(std::string_view tensor) const;
  // One line per matrix whose row is not whole blocks of its requested type:
  // "blk.0.ffn_down.weight: q2_K -> iq4_nl".
  std::vector<std::string> fallbacks() const;
  // 8 * (bytes of the matrices at their types) / (weights in the matrices); norms excluded.
  double bits_per_weight() const;
};

// The plan `bitdial quantize --type NAME` would apply to these parameters: NAME is first looked up as a
// preset (case-insensitive: Q2_K, Q3_K_M, Q4_0, ...; the preset's per-tensor rules, e.g. output q6_K,
// and fallbacks of quant/recipe.h), and otherwise as a tensor type (q4_K, tq1_0, ...) given to every
// matrix. Throws bitdial::Error naming NAME, the known presets and types when it is neither, and when
// a planned type has no encoder or decoder in bitdial.
FakeQuantPlan fake_quant_plan(const ParamSet& params, const std::string& preset_or_type);

// Every matrix (token_embd and output included) in `type`, falling back exactly as
// export_llama_gguf does for rows that are not whole blocks (quant/recipe.h fitting_type). Throws
// bitdial::Error for a type (or fallback) bitdial cannot encode and decode.
FakeQuantPlan fake_quant_plan(const ParamSet& params, TensorType type);

// Throws bitdial::Error (prefixed with `what`) unless the plan names exactly the matrices of `params`
// with their row and row-count shapes.
void check_fake_quant_plan(const FakeQuantPlan& plan, const ParamSet& params, const std::string& what);

// Per-column importance from an imatrix (quant/imatrix.h) for the planned matrices, as
// `bitdial quantize --imatrix` uses it. Matrices without an entry, or whose entry saw fewer than
// min_tokens tokens, stay unweighted and are listed in the returned lines. Throws bitdial::Error
// (prefixed with `what`, e.g. the imatrix path) for an entry whose column count differs from its
// matrix's row length, or that names no planned matrix (the imatrix belongs to another model).
std::vector<std::string> set_fake_quant_importance(FakeQuantPlan& plan, const Imatrix& imatrix, int64_t min_tokens,
                                                   const std::string& what);

// values (rows, t.row_len) row-major -> dequantize(quantize(row, importance)) for every row, with
// t.type's row codecs (blocks/traits.h), in place. Rows in parallel (OpenMP), each independent, so the
// result does not depend on the thread count. Importance is handed to the quantizer only for block
// types (not f32/f16/bf16), as the quantize writer does. Throws bitdial::Error when values.size() is
// not a whole number of rows.
void fake_quantize(const FakeQuantTensor& t, std::vector<float>& values);

// The QAT hook for forward_backward / forward_logits / forward_loss (train/train_model.h): every
// matrix becomes fake_quantize(its plan entry, its values). Plain straight-through estimator (Bengio,
// Leonard & Courville 2013, "Estimating or Propagating Gradients Through Stochastic Neurons", sec. 4):
// d(loss)/d(master) := d(loss)/d(effective), also for weights the block's grid clips — no clipped-STE
// mask, since the clipping range of the searched k-quant scales is internal to each block codec. The
// plan is copied. The returned function throws bitdial::Error for a matrix the plan does not name or
// whose row length differs from the plan's.
WeightTransform make_fake_quant(const FakeQuantPlan& plan);

struct FakeQuantExportResult {
  QuantPlan plan;           // the quantize writer's plan (types equal the FakeQuantPlan's)
  uint64_t file_bytes = 0;
};

// Writes `params` as a GGUF whose matrices have the plan's types, encoded with the plan's importance:
// the parameters are exported as F32 (train/model_export.h) to "<path>.qat-f32.tmp", which is then
// quantized by the `bitdial quantize` writer (quant/quantize_model.h) with the plan's types as exact
// assignments and removed (also on failure). Every matrix decodes to fake_quantize of its values,
// bit for bit. general.file_type is plan.file_type. Errors as export_llama_gguf and
// write_quantized_model, plus a plan that does not match the parameters.
FakeQuantExportResult export_fake_quant_gguf(const std::string& path, const ParamSet& params, const SynthVocab& vocab,
                                             const FakeQuantPlan& plan, const std::string& description = "");

}  // namespace bitdial
