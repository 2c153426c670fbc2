#include "quant_vectors.h"

#include <cstring>
#include <stdexcept>

#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial::test {
namespace {

std::vector<uint8_t> bytes_of(const GgufFile& f, const char* name) {
  const GgufTensorInfo* t = f.find_tensor(name);
  if (t == nullptr) throw std::runtime_error(std::string("quant vectors: missing tensor ") + name);
  const uint8_t* p = f.tensor_data(*t);
  return std::vector<uint8_t>(p, p + t->nbytes);
}

std::vector<float> floats_of(const GgufFile& f, const char* name) {
  std::vector<uint8_t> b = bytes_of(f, name);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

}  // namespace

QuantVectors load_quant_vectors(const std::string& file_stem) {
  const GgufFile f = GgufFile::open(shared_path("quant-vectors/" + file_stem + ".gguf"));
  QuantVectors q;
  const GgufTensorInfo* src = f.find_tensor("source");
  if (src == nullptr) throw std::runtime_error("quant vectors: no source tensor");
  q.cols = src->ne[0];
  q.rows = src->n_rows();
  q.type = f.find_tensor("quantized")->type;
  q.source = floats_of(f, "source");
  q.importance = floats_of(f, "importance");
  q.quantized = bytes_of(f, "quantized");
  q.dequantized = floats_of(f, "dequantized");
  q.has_imatrix = f.find_tensor("quantized_imatrix") != nullptr;
  if (q.has_imatrix) {
    q.quantized_imatrix = bytes_of(f, "quantized_imatrix");
    q.dequantized_imatrix = floats_of(f, "dequantized_imatrix");
  }
  return q;
}

}  // namespace bitdial::test
