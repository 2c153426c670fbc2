// `bitdial inspect` for safetensors files, sharded checkpoints and model folders.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "formats/model_summary.h"
#include "formats/safetensors.h"

namespace bitdial {

// Type names follow GGUF's lower-case spelling where a GGUF type exists ("f32", "bf16"), else the
// safetensors name lower-cased ("u8", "f8_e4m3").
static std::string st_summary_type_name(StDtype d) {
  if (const auto t = st_dtype_to_tensor_type(d)) return type_name(*t);
  std::string s = st_dtype_name(d);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

ModelSummary summarize_safetensors(const std::string& path) {
  const SafetensorsModel m = SafetensorsModel::open(path);
  ModelSummary s;
  s.path = path;
  s.format = "safetensors";
  s.details = m.shard_count() == 1 ? concat("data at byte ", m.shard(0).data_offset()) : concat(m.shard_count(), " shards");
  s.file_bytes = m.total_file_bytes();
  for (const auto& [k, v] : m.metadata()) {
    s.metadata[k] = v;
    s.metadata_text.push_back(k + " = " + v);
  }
  for (const StTensorInfo& t : m.tensors()) {
    TensorSummary ts;
    ts.name = t.name;
    ts.type = st_summary_type_name(t.dtype);
    ts.shape = t.shape;
    ts.bytes = t.nbytes;
    ts.elements = t.n_elements();
    ts.bits_per_weight = 8.0 * static_cast<double>(st_dtype_size(t.dtype));
    s.tensors.push_back(std::move(ts));
  }
  return s;
}

}  // namespace bitdial
