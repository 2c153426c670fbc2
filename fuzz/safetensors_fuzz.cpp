// libFuzzer target for the safetensors parser: any byte string must either parse or raise
// bitdial::Error — never crash, hang, read out of bounds or allocate beyond what the input justifies.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const bitdial::SafetensorsFile f = bitdial::SafetensorsFile::parse(data, size, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const bitdial::StTensorInfo& t : f.tensors())
      if (t.nbytes > 0) sink = sink ^ f.tensor_data(t)[t.nbytes - 1];
    (void)sink;
  } catch (const bitdial::Error&) {
  }
  return 0;
}
