// This machine's FP32 multiply-add peak, as the prompt-processing compute efficiency of `bitdial
// bench` needs it: every thread runs independent FMA chains (kernels/fma_peak.h) with no memory
// traffic. One pass is a fraction of a second, so a benchmark can probe right before each
// repetition it measures (clocks on a shared machine move with load and temperature).
#pragma once

#include <cstdint>

namespace bitdial {

// One timed pass: `threads` OpenMP threads (0: the current default) each run `steps` steps of the
// chains on the active path -> FLOP/s of all threads together.
double fma_peak_pass(int threads, int64_t steps);

// The best of `passes` (>= 1) such passes: the peak on offer right now.
double fma_peak_best(int threads, int64_t steps, int passes);

// Steps per thread of the pass `bitdial bench` runs: 23 ms on the 2-core EPYC VM (10 FMAs per step,
// two FMA units, 3.6 GHz).
constexpr int64_t kFmaPeakSteps = int64_t{1} << 24;

}  // namespace bitdial
