// What a calibration-driven method (GPTQ, AWQ) hands the GGUF writer: weights it has already encoded in
// their planned types, float replacements for weights still to be encoded with the planned type, and
// replaced 1-D tensors (AWQ folds its channel scales into norm weights). Names are GGUF tensor names.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial {

struct MethodResult {
  std::map<std::string, std::vector<uint8_t>> encoded;  // name -> bytes in the planned type
  std::map<std::string, std::vector<float>> floats;     // name -> values to encode (matrices) or write as F32 (vectors)
};

}  // namespace bitdial
