#include "kernels/dispatch.h"

#include <cstdlib>
#include <string_view>

#include "core/error.h"

namespace bitdial {

const char* isa_name(Isa isa) { return isa == Isa::Avx2 ? "avx2" : "scalar"; }

Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa choose_isa(const char* forced, Isa detected) {
  if (forced == nullptr || *forced == '\0') return detected;
  const std::string_view f = forced;
  if (f == "scalar") return Isa::Scalar;
  if (f == "avx2") {
    if (detected != Isa::Avx2) fail("BITDIAL_FORCE_ISA=avx2 but this CPU lacks AVX2/FMA/F16C");
    return Isa::Avx2;
  }
  fail("BITDIAL_FORCE_ISA='", f, "' is not one of: scalar, avx2");
}

Isa active_isa() {
  static const Isa isa = choose_isa(std::getenv("BITDIAL_FORCE_ISA"), detected_isa());
  return isa;
}

}  // namespace bitdial
