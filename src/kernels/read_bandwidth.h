// The inner loop of the memory-bandwidth probe (bench/bandwidth.h): a streaming read of a buffer
// that must run at DRAM speed. A plain scalar loop built for generic x86-64 does not issue loads
// fast enough, so the AVX2 path (kernels/avx2/) is chosen at run time when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitdial {

// The bytes at data (n a multiple of kReadStreamBlock) read once, as the sum of their 64-bit
// little-endian words modulo 2^64: a result that depends on every byte, so no load can be dropped.
// Every path returns the same value. data should be 64-byte aligned for full speed.
uint64_t read_stream(const uint8_t* data, size_t n);

constexpr size_t kReadStreamBlock = 128;

// The two paths, for tests (read_stream picks one with active_isa()).
uint64_t read_stream_scalar(const uint8_t* data, size_t n);
uint64_t read_stream_avx2(const uint8_t* data, size_t n);

}  // namespace bitdial
