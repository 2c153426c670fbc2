// Keys and values of every position seen so far, per layer, for incremental decoding. Stored as
// F16 (default: half the memory; rounding adds at most 2^-11 relative error per element) or F32.
// Layouts follow the products attention takes: K one row of kv_dim values per position, V
// transposed (one row of positions per value dimension), so both are plain weight rows to the
// kernels. Memory for the whole context is reserved at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor_type.h"

namespace bitdial {

enum class KvType { f16, f32 };

class KvCache {
 public:
  // Positions are padded to this multiple: attention reads whole groups, zero beyond the last one.
  static constexpr int64_t kPositionPad = 32;

  // kv_dim = n_head_kv * head_dim values per position for K and again for V.
  KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_ctx, KvType type);

  KvType type() const { return type_; }
  TensorType elem_type() const { return type_ == KvType::f16 ? TensorType::F16 : TensorType::F32; }
  size_t elem_size() const { return type_ == KvType::f16 ? 2 : 4; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  // Row length of the transposed V: n_ctx rounded up to kPositionPad.
  int64_t v_row_len() const { return n_ctx_pad_; }

  // k (n, kv_dim), v (n, kv_dim) -> positions pos0 .. pos0 + n - 1 of `layer`. Asserts
  // pos0 + n <= n_ctx and that positions are written in order (pos0 <= positions written so far).
  void store(int64_t layer, int64_t pos0, int64_t n, const float* k, const float* v);

  // K of `layer`: row p (kv_dim elements of elem_type()) is position p.
  const uint8_t* k_rows(int64_t layer) const { return layers_[static_cast<size_t>(layer)].k.data(); }
  size_t k_row_bytes() const { return static_cast<size_t>(kv_dim_) * elem_size(); }
  // V of `layer`, transposed: row i (v_row_len() elements) holds dimension i for every position;
  // entries past the positions written are zero.
  const uint8_t* v_rows(int64_t layer) const { return layers_[static_cast<size_t>(layer)].v.data(); }
  size_t v_row_bytes() const { return static_cast<size_t>(n_ctx_pad_) * elem_size(); }

  // Positions 0 .. n_pos - 1 of every layer copied from `from` (same layer count, kv_dim and type;
  // n_pos <= both caches' n_ctx and <= the positions written in `from`); later positions are forgotten.
  void copy_prefix(const KvCache& from, int64_t n_pos);

  // Forgets every position (keeps the memory).
  void clear();

 private:
  struct Layer {
    std::vector<uint8_t> k, v;
    int64_t n_pos = 0;
  };
  int64_t kv_dim_;
  int64_t n_ctx_;
  int64_t n_ctx_pad_;
  KvType type_;
  std::vector<Layer> layers_;
};

}  // namespace bitdial
