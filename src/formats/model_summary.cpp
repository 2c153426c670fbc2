#include "formats/model_summary.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/tensor_type.h"
#include "formats/gguf.h"

namespace bitdial {
namespace {

// Arrays longer than this (vocabularies, merges, scores) are summarised by length and a head.
constexpr size_t kArrayDumpLimit = 16;
constexpr size_t kArrayHead = 5;

nlohmann::ordered_json value_to_json(const GgufValue& v) {
  switch (v.type()) {
    case GgufValueType::UINT8: case GgufValueType::UINT16: case GgufValueType::UINT32: case GgufValueType::UINT64:
      return v.as_uint();
    case GgufValueType::INT8: case GgufValueType::INT16: case GgufValueType::INT32: case GgufValueType::INT64:
      return v.as_int();
    case GgufValueType::FLOAT32: return static_cast<float>(v.as_float());
    case GgufValueType::FLOAT64: return v.as_float();
    case GgufValueType::BOOL: return v.as_bool();
    case GgufValueType::STRING: return v.as_string();
    case GgufValueType::ARRAY: {
      const GgufArray& a = v.as_array();
      if (a.items.size() <= kArrayDumpLimit) {
        auto arr = nlohmann::ordered_json::array();
        for (const GgufValue& item : a.items) arr.push_back(value_to_json(item));
        return arr;
      }
      nlohmann::ordered_json summary;
      summary["array"] = gguf_value_type_name(a.elem_type);
      summary["length"] = a.items.size();
      auto head = nlohmann::ordered_json::array();
      for (size_t i = 0; i < kArrayHead; ++i) head.push_back(value_to_json(a.items[i]));
      summary["head"] = head;
      return summary;
    }
  }
  return nullptr;
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

ModelSummary summarize_gguf(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  ModelSummary s;
  s.path = path;
  s.format = "gguf";
  s.details = concat("GGUF v", f.version(), ", alignment ", f.alignment(), ", data at byte ", f.data_offset());
  s.file_bytes = f.file_size();
  for (const GgufKeyValue& kv : f.metadata()) {
    s.metadata[kv.key] = value_to_json(kv.value);
    s.metadata_text.push_back(kv.key + " = " + kv.value.to_display_string(kArrayDumpLimit));
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    TensorSummary ts;
    ts.name = t.name;
    ts.type = type_name(t.type);
    ts.shape = t.ne;
    ts.bytes = t.nbytes;
    ts.elements = t.n_elements();
    ts.bits_per_weight = bits_per_weight(t.type);
    s.tensors.push_back(std::move(ts));
  }
  return s;
}

struct Totals {
  int64_t parameters = 0;
  uint64_t bytes = 0;
  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // type -> (tensors, bytes)
  std::map<std::string, int64_t> params_by_type;
  double bits_per_weight() const { return parameters > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(parameters) : 0.0; }
};

Totals totals_of(const ModelSummary& s) {
  Totals t;
  for (const TensorSummary& ts : s.tensors) {
    t.parameters += ts.elements;
    t.bytes += ts.bytes;
    auto& e = t.by_type[ts.type];
    e.first += 1;
    e.second += ts.bytes;
    t.params_by_type[ts.type] += ts.elements;
  }
  return t;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? " x " : "") + std::to_string(shape[i]);
  return out;
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(b) / (1 << 30));
  else if (b >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

ModelSummary summarize_safetensors(const std::string& path);  // formats/safetensors_summary.cpp

ModelSummary summarize_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, ": no such file or folder");
  if (!std::filesystem::is_directory(path, ec) && has_gguf_magic(path)) return summarize_gguf(path);
  if (std::filesystem::is_directory(path, ec) || path.ends_with(".safetensors") ||
      path.ends_with(".safetensors.index.json"))
    return summarize_safetensors(path);
  return summarize_gguf(path);  // reports the bad magic with the file name
}

nlohmann::ordered_json summary_to_json(const ModelSummary& s) {
  nlohmann::ordered_json j;
  j["path"] = s.path;
  j["format"] = s.format;
  j["details"] = s.details;
  j["file_bytes"] = s.file_bytes;
  j["metadata"] = s.metadata;
  auto tensors = nlohmann::ordered_json::array();
  for (const TensorSummary& t : s.tensors) {
    nlohmann::ordered_json tj;
    tj["name"] = t.name;
    tj["type"] = t.type;
    tj["shape"] = t.shape;
    tj["bytes"] = t.bytes;
    tj["bits_per_weight"] = t.bits_per_weight;
    tensors.push_back(std::move(tj));
  }
  j["tensors"] = std::move(tensors);
  const Totals t = totals_of(s);
  nlohmann::ordered_json tot;
  tot["tensors"] = s.tensors.size();
  tot["parameters"] = t.parameters;
  tot["bytes"] = t.bytes;
  tot["bits_per_weight"] = t.bits_per_weight();
  nlohmann::ordered_json by_type = nlohmann::ordered_json::object();
  for (const auto& [type, e] : t.by_type) {
    by_type[type] = {{"tensors", e.first}, {"parameters", t.params_by_type.at(type)}, {"bytes", e.second}};
  }
  tot["by_type"] = std::move(by_type);
  j["totals"] = std::move(tot);
  return j;
}

std::string summary_to_text(const ModelSummary& s) {
  std::ostringstream os;
  os << s.path << ": " << s.format << " (" << s.details << "), " << s.file_bytes << " bytes\n";
  os << "\nmetadata (" << s.metadata_text.size() << " keys):\n";
  for (const std::string& line : s.metadata_text) os << "  " << line << "\n";
  size_t name_w = 4, type_w = 4, shape_w = 5;
  for (const TensorSummary& t : s.tensors) {
    name_w = std::max(name_w, t.name.size());
    type_w = std::max(type_w, t.type.size());
    shape_w = std::max(shape_w, shape_text(t.shape).size());
  }
  os << "\ntensors (" << s.tensors.size() << "):\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-*s  %-*s  %-*s  %12s  %6s\n", static_cast<int>(name_w), "name", static_cast<int>(type_w), "type",
                static_cast<int>(shape_w), "shape", "bytes", "bpw");
  os << buf;
  for (const TensorSummary& t : s.tensors) {
    std::snprintf(buf, sizeof buf, "  %-*s  %-*s  %-*s  %12llu  %6.2f\n", static_cast<int>(name_w), t.name.c_str(),
                  static_cast<int>(type_w), t.type.c_str(), static_cast<int>(shape_w), shape_text(t.shape).c_str(),
                  static_cast<unsigned long long>(t.bytes), t.bits_per_weight);
    os << buf;
  }
  const Totals t = totals_of(s);
  os << "\ntotals: " << s.tensors.size() << " tensors, " << t.parameters << " parameters, " << t.bytes << " bytes ("
     << human_bytes(t.bytes) << ")";
  std::snprintf(buf, sizeof buf, ", %.3f bits per weight\n", t.bits_per_weight());
  os << buf;
  for (const auto& [type, e] : t.by_type) {
    const int64_t p = t.params_by_type.at(type);
    std::snprintf(buf, sizeof buf, "  %-8s %4lld tensors  %12lld parameters  %12llu bytes  %6.2f%% of parameters\n", type.c_str(),
                  static_cast<long long>(e.first), static_cast<long long>(p), static_cast<unsigned long long>(e.second),
                  t.parameters > 0 ? 100.0 * static_cast<double>(p) / static_cast<double>(t.parameters) : 0.0);
    os << buf;
  }
  return os.str();
}

}  // namespace bitdial
