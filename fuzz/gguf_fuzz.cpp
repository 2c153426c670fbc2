// libFuzzer target for the GGUF parser: any byte string must either parse or raise bitdial::Error —
// never crash, hang, read out of bounds or allocate more than the input can justify.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const bitdial::GgufFile f = bitdial::GgufFile::parse(data, size, "fuzz.gguf");
    // Touch what a consumer touches: every value's rendering and every tensor's bytes.
    for (const bitdial::GgufKeyValue& kv : f.metadata()) (void)kv.value.to_display_string();
    volatile uint8_t sink = 0;
    for (const bitdial::GgufTensorInfo& t : f.tensors())
      if (t.nbytes > 0) sink = sink ^ f.tensor_data(t)[t.nbytes - 1];
    (void)sink;
  } catch (const bitdial::Error&) {
  }
  return 0;
}
