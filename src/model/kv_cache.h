// Keys and values of every position seen so far, per layer, for incremental decoding. Stored as
// F16 (default: half the memory; rounding adds at most 2^-11 relative error per element) or F32.
// Memory grows with the positions written, up to the context size fixed at construction.
#pragma once

#include <cstdint>
#include <vector>

namespace bitdial {

enum class KvType { f16, f32 };

class KvCache {
 public:
  // kv_dim = n_head_kv * head_dim values per position for K and again for V.
  KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_ctx, KvType type);

  KvType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }

  // k (n, kv_dim), v (n, kv_dim) -> positions pos0 .. pos0 + n - 1 of `layer`. Asserts
  // pos0 + n <= n_ctx and that positions are written in order (pos0 <= positions written so far).
  void store(int64_t layer, int64_t pos0, int64_t n, const float* k, const float* v);

  // Positions 0 .. n_pos - 1 of `layer` as floats -> k (n_pos, kv_dim), v (n_pos, kv_dim).
  void read(int64_t layer, int64_t n_pos, float* k, float* v) const;

  // Forgets every position (keeps the memory).
  void clear();

 private:
  struct Layer {
    std::vector<uint16_t> k16, v16;
    std::vector<float> k32, v32;
    int64_t n_pos = 0;
  };
  int64_t kv_dim_;
  int64_t n_ctx_;
  KvType type_;
  std::vector<Layer> layers_;
};

}  // namespace bitdial
