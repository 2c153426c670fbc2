#include "kernels/packed_rows.h"

#include <cstring>

#include "blocks/k_quants.h"
#include "blocks/legacy_quants.h"
#include "core/error.h"

namespace bitdial {
namespace {

// Code j (0..31) of a plain q4_0 block: low nibbles hold 0..15, high nibbles 16..31.
inline uint8_t q4_code(const BlockQ4_0& b, int j) { return j < 16 ? b.qs[j] & 0x0f : b.qs[j - 16] >> 4; }

void pack_q4_0(const uint8_t* plain, size_t row_stride, int64_t nb, BlockQ4_0x8* out) {
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ4_0x8& p = out[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ4_0& src = reinterpret_cast<const BlockQ4_0*>(plain + r * row_stride)[b];
      p.d[r] = src.d;
      for (int g = 0; g < 4; ++g)
        for (int i = 0; i < 4; ++i)
          p.qs[32 * g + 4 * r + i] =
              static_cast<uint8_t>(q4_code(src, 8 * g + i) | (q4_code(src, 8 * g + 4 + i) << 4));
    }
  }
}

void unpack_q4_0(const BlockQ4_0x8* in, int64_t nb, uint8_t* plain, size_t row_stride) {
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_0x8& p = in[b];
    for (int r = 0; r < 8; ++r) {
      BlockQ4_0& dst = reinterpret_cast<BlockQ4_0*>(plain + r * row_stride)[b];
      dst.d = p.d[r];
      uint8_t codes[32];
      for (int g = 0; g < 4; ++g)
        for (int i = 0; i < 4; ++i) {
          const uint8_t byte = p.qs[32 * g + 4 * r + i];
          codes[8 * g + i] = byte & 0x0f;
          codes[8 * g + 4 + i] = byte >> 4;
        }
      for (int j = 0; j < 16; ++j) dst.qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + 16] << 4));
    }
  }
}

void pack_q8_0(const uint8_t* plain, size_t row_stride, int64_t nb, BlockQ8_0x8* out) {
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ8_0x8& p = out[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ8_0& src = reinterpret_cast<const BlockQ8_0*>(plain + r * row_stride)[b];
      p.d[r] = src.d;
      for (int k = 0; k < 8; ++k) std::memcpy(p.qs + 32 * k + 4 * r, src.qs + 4 * k, 4);
    }
  }
}

void unpack_q8_0(const BlockQ8_0x8* in, int64_t nb, uint8_t* plain, size_t row_stride) {
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8_0x8& p = in[b];
    for (int r = 0; r < 8; ++r) {
      BlockQ8_0& dst = reinterpret_cast<BlockQ8_0*>(plain + r * row_stride)[b];
      dst.d = p.d[r];
      for (int k = 0; k < 8; ++k) std::memcpy(dst.qs + 4 * k, p.qs + 32 * k + 4 * r, 4);
    }
  }
}

// Code j (0..255) of a plain q4_K block: element 64 c + 32 k + l is nibble k of qs[32 c + l].
inline uint8_t q4k_code(const BlockQ4_K& b, int j) {
  const uint8_t byte = b.qs[32 * (j / 64) + j % 32];
  return (j / 32) % 2 == 0 ? byte & 0x0f : byte >> 4;
}

void pack_q4_k(const uint8_t* plain, size_t row_stride, int64_t nb, BlockQ4_Kx8* out) {
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ4_Kx8& p = out[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ4_K& src = reinterpret_cast<const BlockQ4_K*>(plain + r * row_stride)[b];
      p.d[r] = src.d;
      p.dmin[r] = src.dmin;
      for (int s = 0; s < 8; ++s) {
        int sc = 0, m = 0;
        unpack_scale_min_k4(s, src.scales, &sc, &m);
        p.sc[s][r] = static_cast<uint8_t>(sc);
        p.m[s / 2][2 * r + s % 2] = static_cast<uint8_t>(m);
      }
      for (int g = 0; g < 32; ++g)
        for (int i = 0; i < 4; ++i)
          p.qs[32 * g + 4 * r + i] = static_cast<uint8_t>(q4k_code(src, 8 * g + i) | (q4k_code(src, 8 * g + 4 + i) << 4));
    }
  }
}

void unpack_q4_k(const BlockQ4_Kx8* in, int64_t nb, uint8_t* plain, size_t row_stride) {
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_Kx8& p = in[b];
    for (int r = 0; r < 8; ++r) {
      BlockQ4_K& dst = reinterpret_cast<BlockQ4_K*>(plain + r * row_stride)[b];
      dst.d = p.d[r];
      dst.dmin = p.dmin[r];
      int sc[8], m[8];
      for (int s = 0; s < 8; ++s) {
        sc[s] = p.sc[s][r];
        m[s] = p.m[s / 2][2 * r + s % 2];
      }
      // The inverse of unpack_scale_min_k4 (blocks/k_quants.h).
      for (int s = 0; s < 4; ++s) {
        dst.scales[s] = static_cast<uint8_t>((sc[s] & 63) | (sc[s + 4] >> 4) << 6);
        dst.scales[s + 4] = static_cast<uint8_t>((m[s] & 63) | (m[s + 4] >> 4) << 6);
        dst.scales[s + 8] = static_cast<uint8_t>((sc[s + 4] & 15) | (m[s + 4] & 15) << 4);
      }
      uint8_t codes[256];
      for (int g = 0; g < 32; ++g)
        for (int i = 0; i < 4; ++i) {
          const uint8_t byte = p.qs[32 * g + 4 * r + i];
          codes[8 * g + i] = byte & 0x0f;
          codes[8 * g + 4 + i] = byte >> 4;
        }
      for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l)
          dst.qs[32 * c + l] = static_cast<uint8_t>(codes[64 * c + l] | codes[64 * c + 32 + l] << 4);
    }
  }
}

// Code j (0..255) of a plain q6_K block, 0..63 (see BlockQ6_K): element 128 h + 32 c + l has the
// nibble c / 2 of ql[64 h + 32 (c % 2) + l] and bits 2 c, 2 c + 1 of qh[32 h + l].
inline uint8_t q6k_code(const BlockQ6_K& b, int j) {
  const int h = j / 128, c = j % 128 / 32, l = j % 32;
  const int nibble = (b.ql[64 * h + 32 * (c % 2) + l] >> (4 * (c / 2))) & 15;
  const int high = (b.qh[32 * h + l] >> (2 * c)) & 3;
  return static_cast<uint8_t>(nibble | high << 4);
}

void pack_q6_k(const uint8_t* plain, size_t row_stride, int64_t nb, BlockQ6_Kx8* out) {
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ6_Kx8& p = out[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ6_K& src = reinterpret_cast<const BlockQ6_K*>(plain + r * row_stride)[b];
      p.d[r] = src.d;
      for (int s = 0; s < 16; ++s) p.sc[s / 2][2 * r + s % 2] = src.scales[s];
      for (int s = 0; s < 16; ++s)
        for (int i = 0; i < 4; ++i) {
          const int c3 = q6k_code(src, 16 * s + 12 + i);
          uint8_t* q = p.q + 96 * s + 4 * r + i;
          q[0] = static_cast<uint8_t>(q6k_code(src, 16 * s + i) | (c3 >> 4) << 6);
          q[32] = static_cast<uint8_t>(q6k_code(src, 16 * s + 4 + i) | ((c3 >> 2) & 3) << 6);
          q[64] = static_cast<uint8_t>(q6k_code(src, 16 * s + 8 + i) | (c3 & 3) << 6);
        }
    }
  }
}

void unpack_q6_k(const BlockQ6_Kx8* in, int64_t nb, uint8_t* plain, size_t row_stride) {
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_Kx8& p = in[b];
    for (int r = 0; r < 8; ++r) {
      BlockQ6_K& dst = reinterpret_cast<BlockQ6_K*>(plain + r * row_stride)[b];
      dst.d = p.d[r];
      for (int s = 0; s < 16; ++s) dst.scales[s] = p.sc[s / 2][2 * r + s % 2];
      uint8_t codes[256];
      for (int s = 0; s < 16; ++s)
        for (int i = 0; i < 4; ++i) {
          const uint8_t* q = p.q + 96 * s + 4 * r + i;
          codes[16 * s + i] = q[0] & 63;
          codes[16 * s + 4 + i] = q[32] & 63;
          codes[16 * s + 8 + i] = q[64] & 63;
          codes[16 * s + 12 + i] = static_cast<uint8_t>((q[0] >> 6) << 4 | (q[32] >> 6) << 2 | q[64] >> 6);
        }
      std::memset(dst.ql, 0, sizeof(dst.ql));
      std::memset(dst.qh, 0, sizeof(dst.qh));
      for (int j = 0; j < 256; ++j) {
        const int h = j / 128, c = j % 128 / 32, l = j % 32;
        dst.ql[64 * h + 32 * (c % 2) + l] |= static_cast<uint8_t>((codes[j] & 15) << (4 * (c / 2)));
        dst.qh[32 * h + l] |= static_cast<uint8_t>((codes[j] >> 4) << (2 * c));
      }
    }
  }
}

}  // namespace

bool has_packed_layout(TensorType type) {
  return type == TensorType::Q4_0 || type == TensorType::Q8_0 || type == TensorType::Q4_K || type == TensorType::Q6_K;
}

size_t packed_group_bytes(TensorType type, int64_t cols) {
  if (type == TensorType::Q4_K) return static_cast<size_t>(cols / 256) * sizeof(BlockQ4_Kx8);
  if (type == TensorType::Q6_K) return static_cast<size_t>(cols / 256) * sizeof(BlockQ6_Kx8);
  return kPackedRows * row_bytes(type, cols);
}

void pack_rows(TensorType type, const uint8_t* plain, size_t row_stride, int64_t rows, int64_t cols, uint8_t* out) {
  BITDIAL_ASSERT(has_packed_layout(type) && cols % type_info(type).block_size == 0);
  const int64_t groups = rows / kPackedRows, nb = cols / type_info(type).block_size;
  const size_t group_bytes = packed_group_bytes(type, cols);
#pragma omp parallel for schedule(static) if (groups >= 64)
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* src = plain + static_cast<size_t>(g * kPackedRows) * row_stride;
    uint8_t* dst = out + static_cast<size_t>(g) * group_bytes;
    if (type == TensorType::Q4_0) pack_q4_0(src, row_stride, nb, reinterpret_cast<BlockQ4_0x8*>(dst));
    else if (type == TensorType::Q4_K) pack_q4_k(src, row_stride, nb, reinterpret_cast<BlockQ4_Kx8*>(dst));
    else if (type == TensorType::Q6_K) pack_q6_k(src, row_stride, nb, reinterpret_cast<BlockQ6_Kx8*>(dst));
    else pack_q8_0(src, row_stride, nb, reinterpret_cast<BlockQ8_0x8*>(dst));
  }
}

void unpack_group(TensorType type, const uint8_t* group, int64_t cols, uint8_t* plain, size_t row_stride) {
  BITDIAL_ASSERT(has_packed_layout(type) && cols % type_info(type).block_size == 0);
  if (type == TensorType::Q4_0) unpack_q4_0(reinterpret_cast<const BlockQ4_0x8*>(group), cols / 32, plain, row_stride);
  else if (type == TensorType::Q4_K) unpack_q4_k(reinterpret_cast<const BlockQ4_Kx8*>(group), cols / 256, plain, row_stride);
  else if (type == TensorType::Q6_K) unpack_q6_k(reinterpret_cast<const BlockQ6_Kx8*>(group), cols / 256, plain, row_stride);
  else unpack_q8_0(reinterpret_cast<const BlockQ8_0x8*>(group), cols / 32, plain, row_stride);
}

}  // namespace bitdial
