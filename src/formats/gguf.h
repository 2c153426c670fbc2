// GGUF (versions 2 and 3) reading and writing. Reading maps the file and validates every count,
// length, type, offset and size against the bytes actually present before allocating anything;
// a bad file raises bitdial::Error naming the file, the byte offset and what is wrong. Writing is
// deterministic (metadata and tensors in insertion order) and atomic (temporary file + rename).
// Layout (little-endian): "GGUF" u32 version, u64 n_tensors, u64 n_kv, kv pairs, tensor infos,
// padding to general.alignment (default 32), tensor data with each tensor's offset aligned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor_type.h"

namespace bitdial {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

const char* gguf_value_type_name(GgufValueType t);

struct GgufArray;

// One metadata value. Integers are held widened (unsigned in uint64_t, signed in int64_t, floats in
// double) and written back in their declared type, so a read-write round trip is byte-identical.
class GgufValue {
 public:
  GgufValue() : type_(GgufValueType::UINT32), v_(uint64_t{0}) {}

  static GgufValue u8(uint8_t v) { return {GgufValueType::UINT8, uint64_t{v}}; }
  static GgufValue i8(int8_t v) { return {GgufValueType::INT8, int64_t{v}}; }
  static GgufValue u16(uint16_t v) { return {GgufValueType::UINT16, uint64_t{v}}; }
  static GgufValue i16(int16_t v) { return {GgufValueType::INT16, int64_t{v}}; }
  static GgufValue u32(uint32_t v) { return {GgufValueType::UINT32, uint64_t{v}}; }
  static GgufValue i32(int32_t v) { return {GgufValueType::INT32, int64_t{v}}; }
  static GgufValue u64(uint64_t v) { return {GgufValueType::UINT64, v}; }
  static GgufValue i64(int64_t v) { return {GgufValueType::INT64, v}; }
  static GgufValue f32(float v) { return {GgufValueType::FLOAT32, double{v}}; }
  static GgufValue f64(double v) { return {GgufValueType::FLOAT64, v}; }
  static GgufValue boolean(bool v) { return {GgufValueType::BOOL, v}; }
  static GgufValue string(std::string v) { return {GgufValueType::STRING, std::move(v)}; }
  static GgufValue array(GgufValueType elem_type, std::vector<GgufValue> items);
  static GgufValue string_array(const std::vector<std::string>& items);
  static GgufValue f32_array(const std::vector<float>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);

  GgufValueType type() const { return type_; }
  bool is_integer() const;
  bool is_float() const { return type_ == GgufValueType::FLOAT32 || type_ == GgufValueType::FLOAT64; }

  // Typed reads; throw bitdial::Error when the value has another type (or does not fit).
  uint64_t as_uint() const;   // any non-negative integer type
  int64_t as_int() const;     // any integer type that fits
  double as_float() const;    // float types and integer types
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;

  // A short human-readable rendering; arrays longer than max_items are summarised.
  std::string to_display_string(size_t max_items = 8) const;

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<const GgufArray>>;
  GgufValue(GgufValueType t, Storage v) : type_(t), v_(std::move(v)) {}
  GgufValueType type_;
  Storage v_;
};

struct GgufArray {
  GgufValueType elem_type = GgufValueType::UINT8;
  std::vector<GgufValue> items;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

// ne[0] is the row length (fastest-varying), as in ggml; a 2-D weight (rows, cols) has ne = {cols, rows}.
struct GgufTensorInfo {
  std::string name;
  TensorType type = TensorType::F32;
  std::vector<int64_t> ne;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;

  int64_t n_elements() const;
  int64_t n_rows() const { return ne.empty() ? 1 : n_elements() / ne[0]; }
};

class GgufFile {
 public:
  // Maps and validates the file. Throws bitdial::Error: "<path>: <what> at byte <offset>".
  static GgufFile open(const std::string& path);
  // Parses an in-memory image (for fuzzing and tests); `name` is used in messages. The bytes must
  // outlive the returned object.
  static GgufFile parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }

  const std::vector<GgufKeyValue>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  // Typed lookups; throw naming the key when absent or of the wrong type.
  const GgufValue& get(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Pointer to a tensor's bytes inside the mapping (valid while this object lives).
  const uint8_t* tensor_data(const GgufTensorInfo& t) const { return base_ + data_offset_ + t.offset; }
  // MappedFile::drop_resident for a range of a mapped file; nothing for an in-memory image (its
  // bytes belong to the caller).
  void drop_resident(const uint8_t* p, size_t n) const {
    if (map_) map_->drop_resident(p, n);
  }

  // Decoding tensor bytes to floats needs the block codecs (blocks/traits.h), one layer up.

 private:
  std::shared_ptr<MappedFile> map_;
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 3;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Builds a GGUF file. Metadata keys and tensors keep insertion order; setting an existing key
// replaces its value in place. Tensor bytes are borrowed (must outlive write()), owned, or produced
// lazily at write time, one tensor in memory at once (the header's offsets come from the shapes),
// so a model larger than memory can be written.
class GgufWriter {
 public:
  using Producer = std::function<std::vector<uint8_t>()>;

  void set(const std::string& key, GgufValue value);
  void remove(const std::string& key);
  const GgufValue* find(std::string_view key) const;
  const std::vector<GgufKeyValue>& metadata() const { return kv_; }

  // ne as in GgufTensorInfo; data.size() must equal the tensor's byte size.
  void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, const uint8_t* data, size_t nbytes);
  void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, std::vector<uint8_t> owned);
  // `produce` is called once per write()/to_bytes() and must return exactly the shape's byte size
  // (a mismatch is a bitdial::Error naming the tensor).
  void add_tensor_lazy(const std::string& name, TensorType type, std::vector<int64_t> ne, Producer produce);

  void set_version(uint32_t v) { version_ = v; }

  // Writes atomically to path (temporary name in the same folder, renamed on success).
  void write(const std::string& path) const;
  // The exact bytes write() would produce (tests, small files).
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    const uint8_t* data;
    size_t nbytes;
    std::shared_ptr<std::vector<uint8_t>> owned;
    Producer produce;
  };
  void check_new_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& ne, size_t* nbytes) const;
  template <class Sink>
  void emit(Sink& sink) const;
  uint64_t alignment() const;

  uint32_t version_ = 3;
  std::vector<GgufKeyValue> kv_;
  std::vector<Tensor> tensors_;
};

// Byte size of a tensor of type `type` and shape ne; throws (naming `what`) when ne[0] is not a
// multiple of the block size, a dimension is negative, or the size overflows.
uint64_t tensor_nbytes(TensorType type, const std::vector<int64_t>& ne, const std::string& what);

}  // namespace bitdial
