// The inner loop of the compute-peak probe (bench/compute_peak.h): independent chains of FP32
// multiply-adds with no memory traffic, as many per step as the path's FMA units can overlap, so a
// core runs at its peak FLOP rate. `bitdial bench` sets prompt processing of float-weight models
// against it the way it sets decoding against the read bandwidth.
#pragma once

#include <cstdint>

#include "kernels/dispatch.h"

namespace bitdial {

// kFmaChains accumulators of kFmaLanes lanes, value i = chain * kFmaLanes + lane started at i / 8,
// all updated `steps` times by v = v * m + c; returns the sum of the values in order of i. With
// m = 0.5 the product is exact, so fused and separate multiply-add round alike and every path
// returns the same bits.
float fma_chains(int64_t steps, float m, float c);

// The chains need >= FMA latency x FMA units independent updates in flight (Zen 4: 4 x 2 = 8).
constexpr int kFmaChains = 10;
constexpr int kFmaLanes = 8;  // one AVX2 register of floats
// Floating-point operations of one step: a multiply and an add per value.
constexpr int64_t kFmaChainsFlopsPerStep = 2 * kFmaChains * kFmaLanes;

// The two paths, for tests (fma_chains picks one with active_isa()).
float fma_chains_scalar(int64_t steps, float m, float c);
float fma_chains_avx2(int64_t steps, float m, float c);

}  // namespace bitdial
