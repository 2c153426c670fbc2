// safetensors reading and writing (the Hugging Face tensor format), single files and sharded
// checkpoints. Layout (little-endian): u64 N, N bytes of JSON header, then the data buffer.
// The header maps each tensor name to {"dtype", "shape" (outermost first: a 2-D weight is
// [rows, cols]), "data_offsets": [begin, end)} relative to the data buffer, plus an optional
// "__metadata__" object of string -> string. Reading maps the file and checks, before trusting
// any of it: N fits in the file, the JSON is well formed, every dtype is known, every tensor's
// byte size equals product(shape) x dtype size, and the offsets tile the data buffer exactly
// (sorted by begin: first at 0, each begins where the previous ended, last ends at the end; so
// no overlap, no gap, nothing past the end). Errors: "<file>: <what> (key '<name>')" or
// "<file>: <what> at byte N".
// Note on shapes: GGUF's ne is innermost first, so ne = reverse(shape).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor_type.h"

namespace bitdial {

// Every dtype the safetensors format defines. Types with a GGUF counterpart convert; the rest
// (unsigned ints, BOOL, F8) are read, listed and sized but not converted.
enum class StDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2 };

const char* st_dtype_name(StDtype d);            // "F32", "BF16", "F8_E4M3" ...
size_t st_dtype_size(StDtype d);                 // bytes per element
std::optional<StDtype> st_dtype_from_name(std::string_view name);
std::optional<TensorType> st_dtype_to_tensor_type(StDtype d);  // null when GGUF has no such type
std::optional<StDtype> st_dtype_from_tensor_type(TensorType t);  // null for block-quantized types

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;  // outermost first
  uint64_t begin = 0;          // data_offsets, relative to the shard's data buffer
  uint64_t nbytes = 0;
  size_t shard = 0;            // index into SafetensorsModel::shard_paths()

  int64_t n_elements() const;
};

// One .safetensors file, mapped and validated.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  // Parses an in-memory image; `name` appears in messages. The bytes must outlive the object.
  static SafetensorsFile parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors in header (name) order.
  const std::vector<StTensorInfo>& tensors() const { return tensors_; }
  const StTensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const StTensorInfo& t) const { return base_ + data_offset_ + t.begin; }

 private:
  std::shared_ptr<MappedFile> map_;
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<StTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

// A checkpoint: one file, or the shards named by model.safetensors.index.json, as one collection.
class SafetensorsModel {
 public:
  // `path` is a .safetensors file, a *.safetensors.index.json, or a folder holding either
  // model.safetensors.index.json or model.safetensors (the index wins when both exist).
  static SafetensorsModel open(const std::string& path);

  const std::string& path() const { return path_; }
  // Merged __metadata__ of the shards (first shard wins on conflicts) plus the index's "metadata".
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // All tensors, sorted by name; StTensorInfo::shard says which file holds each.
  const std::vector<StTensorInfo>& tensors() const { return tensors_; }
  const StTensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const StTensorInfo& t) const { return shards_[t.shard].tensor_data(t); }
  size_t shard_count() const { return shards_.size(); }
  const SafetensorsFile& shard(size_t i) const { return shards_[i]; }
  uint64_t total_file_bytes() const;

 private:
  std::string path_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, std::string> metadata_;
  std::vector<StTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Builds a .safetensors file. Tensors are written sorted by name (header keys and data in the
// same order, as the Hugging Face writer lays them out), so output never depends on insertion
// order. The header is padded with spaces to a multiple of 8 bytes. Tensor bytes are borrowed
// (must outlive write()), owned, or produced lazily at write time (one tensor in memory at once).
class SafetensorsWriter {
 public:
  using Producer = std::function<std::vector<uint8_t>()>;

  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void add_tensor(const std::string& name, StDtype dtype, std::vector<int64_t> shape, const uint8_t* data, size_t nbytes);
  void add_tensor(const std::string& name, StDtype dtype, std::vector<int64_t> shape, std::vector<uint8_t> owned);
  // `produce` must return exactly product(shape) x dtype size bytes.
  void add_tensor_lazy(const std::string& name, StDtype dtype, std::vector<int64_t> shape, Producer produce);

  size_t tensor_count() const { return tensors_.size(); }
  // Atomic: temporary file in the destination folder, renamed on success.
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    StDtype dtype;
    std::vector<int64_t> shape;
    uint64_t nbytes;
    const uint8_t* data = nullptr;
    std::shared_ptr<std::vector<uint8_t>> owned;
    Producer produce;
  };
  void add(const std::string& name, Tensor t);
  std::string header() const;
  template <class Sink>
  void emit(Sink& sink) const;

  std::map<std::string, std::string> metadata_;
  std::map<std::string, Tensor> tensors_;
};

// Writes model.safetensors.index.json for shards already written: weight_map tensor -> file name.
void write_safetensors_index(const std::string& path, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size);

}  // namespace bitdial
