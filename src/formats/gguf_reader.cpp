// GGUF parsing and validation. Every count and length is checked against the bytes that remain
// before anything is allocated, so a hostile file costs at most O(file size) memory and time.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "formats/gguf.h"

namespace bitdial {
namespace {

constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS: llama.cpp rejects more
constexpr int kMaxArrayDepth = 8;         // nested arrays deeper than this are not plausible metadata
constexpr uint64_t kDefaultAlignment = 32;

// Bounds-checked little-endian cursor over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& name) : p_(data), size_(size), name_(name) {}

  size_t offset() const { return off_; }
  size_t remaining() const { return size_ - off_; }

  [[noreturn]] void error_at(size_t at, const std::string& what) const { fail(name_, ": ", what, " at byte ", at); }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      error_at(off_, concat("truncated: ", what, " needs ", n, " bytes but only ", remaining(), " remain"));
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + off_, sizeof(T));
    off_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const size_t at = off_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      error_at(at, concat(what, " length ", len, " runs past the end of the file (", remaining(), " bytes remain)"));
    std::string s(reinterpret_cast<const char*>(p_ + off_), static_cast<size_t>(len));
    off_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t off_ = 0;
  const std::string& name_;
};

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

// Smallest encoding of one array element of this type: bounds the element count before reserving.
uint64_t min_encoded_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return 12;
  }
  return 1;
}

GgufValue read_value(Cursor& c, GgufValueType type, int depth) {
  switch (type) {
    case GgufValueType::UINT8: return GgufValue::u8(c.read<uint8_t>("u8 value"));
    case GgufValueType::INT8: return GgufValue::i8(c.read<int8_t>("i8 value"));
    case GgufValueType::UINT16: return GgufValue::u16(c.read<uint16_t>("u16 value"));
    case GgufValueType::INT16: return GgufValue::i16(c.read<int16_t>("i16 value"));
    case GgufValueType::UINT32: return GgufValue::u32(c.read<uint32_t>("u32 value"));
    case GgufValueType::INT32: return GgufValue::i32(c.read<int32_t>("i32 value"));
    case GgufValueType::FLOAT32: return GgufValue::f32(c.read<float>("f32 value"));
    case GgufValueType::UINT64: return GgufValue::u64(c.read<uint64_t>("u64 value"));
    case GgufValueType::INT64: return GgufValue::i64(c.read<int64_t>("i64 value"));
    case GgufValueType::FLOAT64: return GgufValue::f64(c.read<double>("f64 value"));
    case GgufValueType::BOOL: {
      const size_t at = c.offset();
      const uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) c.error_at(at, concat("bool value ", int{b}, " is neither 0 nor 1"));
      return GgufValue::boolean(b != 0);
    }
    case GgufValueType::STRING: return GgufValue::string(c.read_string("string value"));
    case GgufValueType::ARRAY: {
      const size_t at = c.offset();
      if (depth >= kMaxArrayDepth) c.error_at(at, concat("arrays nested deeper than ", kMaxArrayDepth));
      const uint32_t et = c.read<uint32_t>("array element type");
      if (!valid_value_type(et)) c.error_at(at, concat("unknown array element type ", et));
      const auto elem = static_cast<GgufValueType>(et);
      const size_t count_at = c.offset();
      const uint64_t n = c.read<uint64_t>("array length");
      if (n > c.remaining() / min_encoded_size(elem))
        c.error_at(count_at, concat("array of ", n, " ", gguf_value_type_name(elem), " cannot fit in the ",
                                    c.remaining(), " bytes that remain"));
      std::vector<GgufValue> items;
      items.reserve(static_cast<size_t>(n));
      for (uint64_t i = 0; i < n; ++i) items.push_back(read_value(c, elem, depth + 1));
      return GgufValue::array(elem, std::move(items));
    }
  }
  fail("unreachable value type");
}

}  // namespace

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

uint64_t tensor_nbytes(TensorType type, const std::vector<int64_t>& ne, const std::string& what) {
  const TypeInfo& ti = type_info(type);
  uint64_t elements = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 0) fail(what, ": dimension ", i, " is negative (", ne[i], ")");
    const auto d = static_cast<uint64_t>(ne[i]);
    if (d != 0 && elements > (uint64_t{1} << 62) / d) fail(what, ": shape has more than 2^62 elements");
    elements *= d;
  }
  const int64_t row = ne.empty() ? 1 : ne[0];
  if (row % ti.block_size != 0)
    fail(what, ": row length ", row, " is not a multiple of ", ti.name, "'s block size ", ti.block_size);
  const uint64_t blocks = elements / static_cast<uint64_t>(ti.block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / ti.block_bytes) fail(what, ": byte size overflows");
  return blocks * ti.block_bytes;
}

GgufFile GgufFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  GgufFile f = parse(map->data(), map->size(), path);
  f.map_ = std::move(map);
  return f;
}

GgufFile GgufFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  GgufFile f;
  f.path_ = name;
  f.base_ = data;
  f.size_ = size;
  Cursor c(data, size, f.path_);

  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) {
    if (size >= 4 && std::memcmp(data, "FUGG", 4) == 0) c.error_at(0, "byte-swapped GGUF magic: big-endian files are not supported");
    c.error_at(0, "not a GGUF file (magic is not \"GGUF\")");
  }
  c.read<uint32_t>("magic");
  const uint32_t version = c.read<uint32_t>("version");
  if (version == 1) c.error_at(4, "GGUF version 1 (32-bit counts) is not supported; convert with a newer tool");
  if (version == 0x02000000u || version == 0x03000000u) c.error_at(4, "big-endian GGUF files are not supported");
  if (version != 2 && version != 3) c.error_at(4, concat("unsupported GGUF version ", version, " (expected 2 or 3)"));
  f.version_ = version;

  const size_t counts_at = c.offset();
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Each pair needs at least a key length, a type and one byte; each tensor info at least 24 bytes.
  if (n_kv > c.remaining() / 13) c.error_at(counts_at + 8, concat("metadata count ", n_kv, " cannot fit in the file"));
  if (n_tensors > c.remaining() / 24) c.error_at(counts_at, concat("tensor count ", n_tensors, " cannot fit in the file"));

  f.kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const size_t key_at = c.offset();
    std::string key = c.read_string("metadata key");
    if (key.empty()) c.error_at(key_at, concat("metadata key ", i, " is empty"));
    if (f.kv_index_.count(key) != 0) c.error_at(key_at, concat("duplicate metadata key '", key, "'"));
    const size_t type_at = c.offset();
    const uint32_t t = c.read<uint32_t>("metadata value type");
    if (!valid_value_type(t)) c.error_at(type_at, concat("unknown value type ", t, " for key '", key, "'"));
    GgufValue v = read_value(c, static_cast<GgufValueType>(t), 0);
    f.kv_index_.emplace(key, f.kv_.size());
    f.kv_.push_back({std::move(key), std::move(v)});
  }

  if (const GgufValue* a = f.find("general.alignment")) {
    if (!a->is_integer()) fail(name, ": key 'general.alignment' must be an integer, found ", gguf_value_type_name(a->type()));
    const int64_t al = a->as_int();
    if (al <= 0 || al > (1 << 30) || (al & (al - 1)) != 0)
      fail(name, ": key 'general.alignment' is ", al, ", not a power of two between 1 and 2^30");
    f.alignment_ = static_cast<uint64_t>(al);
  } else {
    f.alignment_ = kDefaultAlignment;
  }

  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const size_t at = c.offset();
    GgufTensorInfo t;
    t.name = c.read_string("tensor name");
    if (t.name.empty()) c.error_at(at, concat("tensor ", i, " has an empty name"));
    if (f.tensor_index_.count(t.name) != 0) c.error_at(at, concat("duplicate tensor name '", t.name, "'"));
    const size_t dims_at = c.offset();
    const uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      c.error_at(dims_at, concat("tensor '", t.name, "' has ", n_dims, " dimensions (allowed 1..", kMaxDims, ")"));
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne > (uint64_t{1} << 62)) c.error_at(dims_at, concat("tensor '", t.name, "' dimension ", d, " is absurd (", ne, ")"));
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    const size_t type_at = c.offset();
    const uint32_t type_id = c.read<uint32_t>("tensor type");
    const TypeInfo* ti = find_type_info(type_id);
    if (ti == nullptr) c.error_at(type_at, concat("tensor '", t.name, "' has unknown type id ", type_id));
    t.type = ti->type;
    const size_t off_at = c.offset();
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % f.alignment_ != 0)
      c.error_at(off_at, concat("tensor '", t.name, "' offset ", t.offset, " is not a multiple of the alignment ", f.alignment_));
    try {
      t.nbytes = tensor_nbytes(t.type, t.ne, concat("tensor '", t.name, "'"));
    } catch (const Error& e) {
      c.error_at(dims_at, e.what());
    }
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  const uint64_t end_of_infos = c.offset();
  f.data_offset_ = (end_of_infos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  if (!f.tensors_.empty() && f.data_offset_ > size)
    c.error_at(end_of_infos, concat("data section would start at byte ", f.data_offset_, " past the end of the file (", size, " bytes)"));
  const uint64_t data_size = f.data_offset_ <= size ? size - f.data_offset_ : 0;

  // Tensors must lie inside the data section and must not overlap one another.
  std::vector<size_t> order(f.tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return f.tensors_[a].offset < f.tensors_[b].offset; });
  uint64_t prev_end = 0;
  const GgufTensorInfo* prev = nullptr;
  for (size_t idx : order) {
    const GgufTensorInfo& t = f.tensors_[idx];
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(name, ": tensor '", t.name, "' (", t.nbytes, " bytes at data offset ", t.offset, ") runs past the end of the file at byte ",
           f.data_offset_ + t.offset, " (data section holds ", data_size, " bytes)");
    if (prev != nullptr && t.offset < prev_end && t.nbytes > 0)
      fail(name, ": tensor '", t.name, "' at data offset ", t.offset, " overlaps tensor '", prev->name, "' which ends at ", prev_end);
    if (t.offset + t.nbytes >= prev_end) {
      prev_end = t.offset + t.nbytes;
      prev = &t;
    }
  }
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const GgufValue& GgufFile::get(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) fail(path_, ": missing metadata key '", key, "'");
  return *v;
}

namespace {
template <class F>
auto typed_get(const GgufFile& f, std::string_view key, F&& read) {
  const GgufValue& v = f.get(key);
  try {
    return read(v);
  } catch (const Error& e) {
    fail(f.path(), ": key '", key, "': ", e.what());
  }
}
}  // namespace

std::string GgufFile::get_string(std::string_view key) const {
  return typed_get(*this, key, [](const GgufValue& v) { return v.as_string(); });
}

uint64_t GgufFile::get_uint(std::string_view key) const {
  return typed_get(*this, key, [](const GgufValue& v) { return v.as_uint(); });
}

double GgufFile::get_float(std::string_view key) const {
  return typed_get(*this, key, [](const GgufValue& v) { return v.as_float(); });
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace bitdial
