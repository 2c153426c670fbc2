// Run-time choice of the SIMD path. The binary is built for generic x86-64; kernels compiled with
// AVX2/FMA/F16C live in kernels/avx2/ and are used only when the CPU has them. Setting
// BITDIAL_FORCE_ISA=scalar (or avx2) overrides the detection, so CI can run every test on the
// scalar reference path on the same machine.
#pragma once

namespace bitdial {

enum class Isa { Scalar, Avx2 };

const char* isa_name(Isa isa);

// What the CPU supports (AVX2 needs AVX2 + FMA + F16C here).
Isa detected_isa();

// The path kernels should take: detected_isa(), unless BITDIAL_FORCE_ISA says otherwise.
// Throws bitdial::Error for an unknown value or for forcing a path the CPU lacks. Read once.
Isa active_isa();

// The decision rule itself, for tests: `forced` is the environment value or null.
Isa choose_isa(const char* forced, Isa detected);

}  // namespace bitdial
