#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_parse.h"

namespace bitdial {
namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we, before parsing anything.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeRow {
  StDtype dtype;
  const char* name;
  size_t size;
  std::optional<TensorType> tensor_type;
};

constexpr DtypeRow kDtypes[] = {
    {StDtype::F64, "F64", 8, TensorType::F64},   {StDtype::F32, "F32", 4, TensorType::F32},
    {StDtype::F16, "F16", 2, TensorType::F16},   {StDtype::BF16, "BF16", 2, TensorType::BF16},
    {StDtype::I64, "I64", 8, TensorType::I64},   {StDtype::I32, "I32", 4, TensorType::I32},
    {StDtype::I16, "I16", 2, TensorType::I16},   {StDtype::I8, "I8", 1, TensorType::I8},
    {StDtype::U64, "U64", 8, std::nullopt},      {StDtype::U32, "U32", 4, std::nullopt},
    {StDtype::U16, "U16", 2, std::nullopt},      {StDtype::U8, "U8", 1, std::nullopt},
    {StDtype::BOOL, "BOOL", 1, std::nullopt},    {StDtype::F8_E4M3, "F8_E4M3", 1, std::nullopt},
    {StDtype::F8_E5M2, "F8_E5M2", 1, std::nullopt},
};

const DtypeRow& row_of(StDtype d) {
  for (const DtypeRow& r : kDtypes)
    if (r.dtype == d) return r;
  BITDIAL_ASSERT(false);
  return kDtypes[0];
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// product(shape) x elem_size, or nullopt on overflow / negative dimension.
std::optional<uint64_t> checked_nbytes(const std::vector<int64_t>& shape, size_t elem_size) {
  uint64_t n = elem_size;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) return std::nullopt;
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

// Parses the JSON header, refusing duplicate top-level keys (nlohmann would keep the last one).
json parse_header(const std::string& file, const char* begin, size_t n) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && duplicate.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  const json header = parse_json(std::string_view(begin, n), file + ": header", 8, on_event);
  if (!duplicate.empty()) fail(file, ": duplicate tensor name in header (key '", duplicate, "')");
  if (!header.is_object()) fail(file, ": header is not a JSON object at byte 8");
  return header;
}

uint64_t json_uint(const std::string& file, const json& v, const std::string& key, const char* what) {
  if (!v.is_number_unsigned()) {
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<uint64_t>();
    fail(file, ": ", what, " must be a non-negative integer (key '", key, "')");
  }
  return v.get<uint64_t>();
}

StTensorInfo parse_tensor_entry(const std::string& file, const std::string& name, const json& entry, uint64_t data_size) {
  if (!entry.is_object()) fail(file, ": tensor entry is not an object (key '", name, "')");
  StTensorInfo t;
  t.name = name;
  const auto dt = entry.find("dtype");
  if (dt == entry.end() || !dt->is_string()) fail(file, ": missing dtype (key '", name, "')");
  const auto dtype = st_dtype_from_name(dt->get_ref<const std::string&>());
  if (!dtype) fail(file, ": unknown dtype '", dt->get_ref<const std::string&>(), "' (key '", name, "')");
  t.dtype = *dtype;
  const auto sh = entry.find("shape");
  if (sh == entry.end() || !sh->is_array()) fail(file, ": missing shape (key '", name, "')");
  for (const json& d : *sh) {
    const uint64_t v = json_uint(file, d, name, "shape dimension");
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(file, ": shape dimension too large (key '", name, "')");
    t.shape.push_back(static_cast<int64_t>(v));
  }
  const auto off = entry.find("data_offsets");
  if (off == entry.end() || !off->is_array() || off->size() != 2) fail(file, ": data_offsets must be [begin, end] (key '", name, "')");
  const uint64_t begin = json_uint(file, (*off)[0], name, "data_offsets");
  const uint64_t end = json_uint(file, (*off)[1], name, "data_offsets");
  if (end < begin) fail(file, ": data_offsets end ", end, " before begin ", begin, " (key '", name, "')");
  if (end > data_size)
    fail(file, ": data_offsets [", begin, ", ", end, ") past the end of the ", data_size, "-byte data buffer (key '", name, "')");
  const auto expect = checked_nbytes(t.shape, st_dtype_size(t.dtype));
  if (!expect) fail(file, ": shape size overflows (key '", name, "')");
  if (*expect != end - begin)
    fail(file, ": shape and dtype need ", *expect, " bytes but data_offsets span ", end - begin, " (key '", name, "')");
  t.begin = begin;
  t.nbytes = end - begin;
  return t;
}

// Offsets must tile [0, data_size) exactly, so no byte is shared or unaccounted for.
void check_tiling(const std::string& file, const std::vector<StTensorInfo>& tensors, uint64_t data_offset, uint64_t data_size) {
  std::vector<const StTensorInfo*> order;
  for (const StTensorInfo& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const StTensorInfo* a, const StTensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->nbytes < b->nbytes;
  });
  uint64_t pos = 0;
  const StTensorInfo* prev = nullptr;
  for (const StTensorInfo* t : order) {
    if (t->begin < pos)
      fail(file, ": tensor data overlaps tensor '", prev->name, "' at byte ", data_offset + t->begin, " (key '", t->name, "')");
    if (t->begin > pos)
      fail(file, ": gap of ", t->begin - pos, " unused bytes before tensor data at byte ", data_offset + pos, " (key '", t->name, "')");
    pos = t->begin + t->nbytes;
    prev = t;
  }
  if (pos != data_size)
    fail(file, ": ", data_size - pos, " bytes after the last tensor are not covered by any tensor, at byte ", data_offset + pos);
}

bool safe_shard_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (const auto& part : std::filesystem::path(name))
    if (part == "..") return false;
  return true;
}

std::string json_to_metadata_string(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

const char* st_dtype_name(StDtype d) { return row_of(d).name; }
size_t st_dtype_size(StDtype d) { return row_of(d).size; }
std::optional<TensorType> st_dtype_to_tensor_type(StDtype d) { return row_of(d).tensor_type; }

std::optional<StDtype> st_dtype_from_name(std::string_view name) {
  for (const DtypeRow& r : kDtypes)
    if (name == r.name) return r.dtype;
  return std::nullopt;
}

std::optional<StDtype> st_dtype_from_tensor_type(TensorType t) {
  for (const DtypeRow& r : kDtypes)
    if (r.tensor_type == t) return r.dtype;
  return std::nullopt;
}

int64_t StTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reading

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  SafetensorsFile f = parse(map->data(), map->size(), path);
  f.map_ = std::move(map);
  return f;
}

SafetensorsFile SafetensorsFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  SafetensorsFile f;
  f.path_ = name;
  f.base_ = data;
  f.size_ = size;
  if (size < 8) fail(name, ": truncated: ", size, " bytes, too short for the 8-byte header length at byte 0");
  const uint64_t n = read_u64_le(data);
  if (n > size - 8) fail(name, ": header length ", n, " exceeds the ", size - 8, " bytes after it at byte 0");
  if (n > kMaxHeaderBytes) fail(name, ": header length ", n, " exceeds the ", kMaxHeaderBytes, "-byte limit at byte 0");
  if (n < 2 || data[8] != '{') fail(name, ": header does not start with '{' at byte 8");
  f.data_offset_ = 8 + n;
  const uint64_t data_size = size - f.data_offset_;

  const json header = parse_header(name, reinterpret_cast<const char*>(data + 8), n);
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(name, ": __metadata__ is not an object (key '__metadata__')");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(name, ": metadata value is not a string (key '", mk, "')");
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    f.tensors_.push_back(parse_tensor_entry(name, key, value, data_size));
  }
  check_tiling(name, f.tensors_, f.data_offset_, data_size);
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

const StTensorInfo* SafetensorsFile::find_tensor(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsModel SafetensorsModel::open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string index_path;
  std::string single_path;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "model.safetensors.index.json", ec)) index_path = (dir / "model.safetensors.index.json").string();
    else if (fs::exists(dir / "model.safetensors", ec)) single_path = (dir / "model.safetensors").string();
    else fail(path, ": folder has neither model.safetensors.index.json nor model.safetensors");
  } else if (path.ends_with(".index.json")) {
    index_path = path;
  } else {
    single_path = path;
  }

  SafetensorsModel m;
  m.path_ = path;
  if (!single_path.empty()) {
    m.shards_.push_back(SafetensorsFile::open(single_path));
  } else {
    const std::string text = read_file(index_path);
    const json index = parse_json(text, index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail(index_path, ": missing weight_map object (key 'weight_map')");
    if (index.contains("metadata") && index["metadata"].is_object())
      for (const auto& [k, v] : index["metadata"].items()) m.metadata_[k] = json_to_metadata_string(v);
    std::map<std::string, std::string> weight_map;
    std::set<std::string> shard_names;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      if (!file.is_string() || !safe_shard_name(file.get<std::string>()))
        fail(index_path, ": shard must be a relative file name (key '", tensor, "')");
      weight_map[tensor] = file.get<std::string>();
      shard_names.insert(file.get<std::string>());
    }
    const fs::path dir = fs::path(index_path).parent_path();
    std::map<std::string, size_t> shard_of_name;
    for (const std::string& s : shard_names) {
      shard_of_name[s] = m.shards_.size();
      m.shards_.push_back(SafetensorsFile::open((dir / s).string()));
    }
    for (const auto& [tensor, file] : weight_map) {
      if (m.shards_[shard_of_name[file]].find_tensor(tensor) == nullptr)
        fail(index_path, ": shard ", file, " has no such tensor (key '", tensor, "')");
    }
    for (const SafetensorsFile& shard : m.shards_)
      for (const StTensorInfo& t : shard.tensors()) {
        const auto it = weight_map.find(t.name);
        if (it == weight_map.end() || (fs::path(index_path).parent_path() / it->second).string() != shard.path())
          fail(index_path, ": tensor in ", shard.path(), " is not mapped to that shard by weight_map (key '", t.name, "')");
      }
  }
  for (size_t s = 0; s < m.shards_.size(); ++s) {
    for (const auto& [k, v] : m.shards_[s].metadata()) m.metadata_.emplace(k, v);
    for (StTensorInfo t : m.shards_[s].tensors()) {
      t.shard = s;
      m.tensors_.push_back(std::move(t));
    }
  }
  std::sort(m.tensors_.begin(), m.tensors_.end(), [](const StTensorInfo& a, const StTensorInfo& b) { return a.name < b.name; });
  for (size_t i = 0; i < m.tensors_.size(); ++i) m.index_.emplace(m.tensors_[i].name, i);
  return m;
}

const StTensorInfo* SafetensorsModel::find_tensor(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t SafetensorsModel::total_file_bytes() const {
  uint64_t n = 0;
  for (const SafetensorsFile& s : shards_) n += s.file_size();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Writing

void SafetensorsWriter::add(const std::string& name, Tensor t) {
  BITDIAL_ASSERT(name != "__metadata__");
  const auto expect = checked_nbytes(t.shape, st_dtype_size(t.dtype));
  BITDIAL_ASSERT(expect.has_value());
  BITDIAL_ASSERT(t.produce || *expect == t.nbytes);
  t.nbytes = *expect;
  const bool inserted = tensors_.emplace(name, std::move(t)).second;
  if (!inserted) fail("safetensors writer: duplicate tensor name (key '", name, "')");
}

void SafetensorsWriter::add_tensor(const std::string& name, StDtype dtype, std::vector<int64_t> shape, const uint8_t* data,
                                   size_t nbytes) {
  add(name, Tensor{dtype, std::move(shape), nbytes, data, nullptr, nullptr});
}

void SafetensorsWriter::add_tensor(const std::string& name, StDtype dtype, std::vector<int64_t> shape, std::vector<uint8_t> owned) {
  auto buf = std::make_shared<std::vector<uint8_t>>(std::move(owned));
  add(name, Tensor{dtype, std::move(shape), buf->size(), buf->data(), buf, nullptr});
}

void SafetensorsWriter::add_tensor_lazy(const std::string& name, StDtype dtype, std::vector<int64_t> shape, Producer produce) {
  add(name, Tensor{dtype, std::move(shape), 0, nullptr, nullptr, std::move(produce)});
}

std::string SafetensorsWriter::header() const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  uint64_t pos = 0;
  for (const auto& [name, t] : tensors_) {
    h[name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {pos, pos + t.nbytes}}};
    pos += t.nbytes;
  }
  // Invalid UTF-8 in a name or metadata value is replaced rather than thrown on.
  std::string text = h.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  // Pad with spaces so the data buffer starts 8-byte aligned (8 + N is a multiple of 8).
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

template <class Sink>
void SafetensorsWriter::emit(Sink& sink) const {
  const std::string h = header();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(h.size()) >> (8 * i));
  sink(len, 8);
  sink(reinterpret_cast<const uint8_t*>(h.data()), h.size());
  for (const auto& [name, t] : tensors_) {
    if (t.produce) {
      const std::vector<uint8_t> bytes = t.produce();
      BITDIAL_ASSERT(bytes.size() == t.nbytes);
      sink(bytes.data(), bytes.size());
    } else {
      sink(t.data, t.nbytes);
    }
  }
}

void SafetensorsWriter::write(const std::string& path) const {
  AtomicFile out(path);
  auto sink = [&](const uint8_t* p, size_t n) { out.write(p, n); };
  emit(sink);
  out.commit();
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  std::vector<uint8_t> bytes;
  auto sink = [&](const uint8_t* p, size_t n) { bytes.insert(bytes.end(), p, p + n); };
  emit(sink);
  return bytes;
}

void write_safetensors_index(const std::string& path, const std::map<std::string, std::string>& weight_map, uint64_t total_size) {
  nlohmann::ordered_json j;
  j["metadata"] = {{"total_size", total_size}};
  j["weight_map"] = weight_map;
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace bitdial
