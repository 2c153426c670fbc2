// GGUF writing: metadata and tensors in insertion order, tensor data aligned to general.alignment
// (default 32) with zero padding, so the same inputs always give the same bytes.
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"

namespace bitdial {
namespace {

class VectorSink {
 public:
  explicit VectorSink(std::vector<uint8_t>& out) : out_(out) {}
  void write(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void write_zeros(size_t n) { out_.insert(out_.end(), n, 0); }
  uint64_t bytes_written() const { return out_.size(); }

 private:
  std::vector<uint8_t>& out_;
};

template <class Sink, class T>
void put(Sink& s, T v) {
  s.write(&v, sizeof(T));
}

template <class Sink>
void put_string(Sink& s, const std::string& str) {
  put<Sink, uint64_t>(s, str.size());
  s.write(str.data(), str.size());
}

template <class Sink>
void put_payload(Sink& s, const GgufValue& v) {
  switch (v.type()) {
    case GgufValueType::UINT8: put(s, static_cast<uint8_t>(v.as_uint())); break;
    case GgufValueType::INT8: put(s, static_cast<int8_t>(v.as_int())); break;
    case GgufValueType::UINT16: put(s, static_cast<uint16_t>(v.as_uint())); break;
    case GgufValueType::INT16: put(s, static_cast<int16_t>(v.as_int())); break;
    case GgufValueType::UINT32: put(s, static_cast<uint32_t>(v.as_uint())); break;
    case GgufValueType::INT32: put(s, static_cast<int32_t>(v.as_int())); break;
    case GgufValueType::UINT64: put(s, v.as_uint()); break;
    case GgufValueType::INT64: put(s, v.as_int()); break;
    case GgufValueType::FLOAT32: put(s, static_cast<float>(v.as_float())); break;
    case GgufValueType::FLOAT64: put(s, v.as_float()); break;
    case GgufValueType::BOOL: put(s, static_cast<uint8_t>(v.as_bool() ? 1 : 0)); break;
    case GgufValueType::STRING: put_string(s, v.as_string()); break;
    case GgufValueType::ARRAY: {
      const GgufArray& a = v.as_array();
      put(s, static_cast<uint32_t>(a.elem_type));
      put<Sink, uint64_t>(s, a.items.size());
      for (const GgufValue& item : a.items) put_payload(s, item);
      break;
    }
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) fail("gguf writer: empty metadata key");
  for (GgufKeyValue& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({key, std::move(value)});
}

void GgufWriter::remove(const std::string& key) {
  for (auto it = kv_.begin(); it != kv_.end(); ++it) {
    if (it->key == key) {
      kv_.erase(it);
      return;
    }
  }
}

const GgufValue* GgufWriter::find(std::string_view key) const {
  for (const GgufKeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

// Validates a tensor about to be added; *nbytes, when given, must match the shape's byte size and is
// otherwise set to it.
void GgufWriter::check_new_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& ne, size_t* nbytes) const {
  if (name.empty()) fail("gguf writer: empty tensor name");
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("gguf writer: duplicate tensor name '", name, "'");
  if (ne.empty() || ne.size() > 4) fail("gguf writer: tensor '", name, "' has ", ne.size(), " dimensions (allowed 1..4)");
  const uint64_t expected = tensor_nbytes(type, ne, concat("gguf writer: tensor '", name, "'"));
  if (*nbytes != SIZE_MAX && expected != *nbytes)
    fail("gguf writer: tensor '", name, "' has ", *nbytes, " bytes, its shape and type need ", expected);
  *nbytes = static_cast<size_t>(expected);
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, const uint8_t* data,
                            size_t nbytes) {
  check_new_tensor(name, type, ne, &nbytes);
  tensors_.push_back({name, type, std::move(ne), data, nbytes, nullptr, nullptr});
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, std::vector<uint8_t> owned) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(owned));
  add_tensor(name, type, std::move(ne), holder->data(), holder->size());
  tensors_.back().owned = std::move(holder);
}

void GgufWriter::add_tensor_lazy(const std::string& name, TensorType type, std::vector<int64_t> ne, Producer produce) {
  size_t nbytes = SIZE_MAX;
  check_new_tensor(name, type, ne, &nbytes);
  tensors_.push_back({name, type, std::move(ne), nullptr, nbytes, nullptr, std::move(produce)});
}

uint64_t GgufWriter::alignment() const {
  const GgufValue* a = find("general.alignment");
  if (a == nullptr) return 32;
  const int64_t al = a->as_int();
  if (al <= 0 || (al & (al - 1)) != 0) fail("gguf writer: general.alignment ", al, " is not a power of two");
  return static_cast<uint64_t>(al);
}

template <class Sink>
void GgufWriter::emit(Sink& s) const {
  const uint64_t align = alignment();
  s.write("GGUF", 4);
  put(s, version_);
  put<Sink, uint64_t>(s, tensors_.size());
  put<Sink, uint64_t>(s, kv_.size());
  for (const GgufKeyValue& kv : kv_) {
    put_string(s, kv.key);
    put(s, static_cast<uint32_t>(kv.value.type()));
    put_payload(s, kv.value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(s, t.name);
    put(s, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put(s, static_cast<uint64_t>(d));
    put(s, static_cast<uint32_t>(t.type));
    put(s, offset);
    offset = align_up(offset + t.nbytes, align);
  }
  s.write_zeros(align_up(s.bytes_written(), align) - s.bytes_written());
  const uint64_t data_start = s.bytes_written();
  for (const Tensor& t : tensors_) {
    if (t.produce) {
      const std::vector<uint8_t> bytes = t.produce();
      if (bytes.size() != t.nbytes)
        fail("gguf writer: tensor '", t.name, "' produced ", bytes.size(), " bytes, its shape and type need ", t.nbytes);
      s.write(bytes.data(), bytes.size());
    } else {
      s.write(t.data, t.nbytes);
    }
    const uint64_t rel = s.bytes_written() - data_start;
    s.write_zeros(align_up(rel, align) - rel);
  }
}

void GgufWriter::write(const std::string& path) const {
  AtomicFile f(path);
  emit(f);
  f.commit();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  VectorSink s(out);
  emit(s);
  return out;
}

}  // namespace bitdial
