// Loader for ../shared/quant-vectors/TYPE.gguf: llama.cpp's reference quantization of a 12 x 512
// source matrix (rows 0-7 N(0,0.02) with outliers, 8 zeros, 9 one outlier, 10 constant, 11 1e-9
// noise), with and without per-column importance weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial::test {

struct QuantVectors {
  TensorType type;
  int64_t rows = 0, cols = 0;
  std::vector<float> source;        // rows * cols
  std::vector<float> importance;    // cols
  std::vector<uint8_t> quantized;   // llama.cpp's blocks, without importance
  std::vector<float> dequantized;   // llama.cpp's decode of `quantized`
  bool has_imatrix = false;
  std::vector<uint8_t> quantized_imatrix;
  std::vector<float> dequantized_imatrix;
};

// Loads shared_path("quant-vectors/" + file_stem + ".gguf"), e.g. "q4_K". Throws on any problem.
QuantVectors load_quant_vectors(const std::string& file_stem);

}  // namespace bitdial::test
