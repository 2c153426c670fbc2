#include "kernels/dispatch.h"

#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/error.h"

namespace bitdial {

const char* isa_name(Isa isa) { return isa == Isa::Avx2 ? "avx2" : "scalar"; }

// CPUID bits (Intel SDM vol. 2A, CPUID): leaf 1 ECX: FMA 12, OSXSAVE 27, AVX 28, F16C 29; leaf 7
// EBX: AVX2 5. XGETBV(0) bits 1-2 say the OS saves XMM and YMM state, without which AVX faults.
Isa detected_isa() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return Isa::Scalar;
  const bool fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
  if (!(fma && osxsave && avx && f16c)) return Isa::Scalar;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 6u) != 6u) return Isa::Scalar;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return Isa::Scalar;
  if ((b >> 5) & 1) return Isa::Avx2;
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
