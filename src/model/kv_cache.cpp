#include "model/kv_cache.h"

#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {

KvCache::KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_ctx, KvType type)
    : kv_dim_(kv_dim),
      n_ctx_(n_ctx),
      n_ctx_pad_((n_ctx + kPositionPad - 1) / kPositionPad * kPositionPad),
      type_(type),
      layers_(static_cast<size_t>(n_layer)) {
  BITDIAL_ASSERT(n_layer > 0 && kv_dim > 0 && n_ctx > 0);
  for (Layer& l : layers_) {
    l.k.assign(static_cast<size_t>(n_ctx_) * k_row_bytes(), 0);
    l.v.assign(static_cast<size_t>(kv_dim_) * v_row_bytes(), 0);
  }
}

void KvCache::store(int64_t layer, int64_t pos0, int64_t n, const float* k, const float* v) {
  Layer& l = layers_[static_cast<size_t>(layer)];
  BITDIAL_ASSERT(pos0 >= 0 && pos0 <= l.n_pos && pos0 + n <= n_ctx_);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = pos0 + t;
    const float* kt = k + t * kv_dim_;
    const float* vt = v + t * kv_dim_;
    if (type_ == KvType::f16) {
      auto* kr = reinterpret_cast<uint16_t*>(l.k.data()) + p * kv_dim_;
      auto* vr = reinterpret_cast<uint16_t*>(l.v.data());
      for (int64_t i = 0; i < kv_dim_; ++i) {
        kr[i] = f32_to_fp16(kt[i]);
        vr[i * n_ctx_pad_ + p] = f32_to_fp16(vt[i]);
      }
    } else {
      std::memcpy(l.k.data() + static_cast<size_t>(p) * k_row_bytes(), kt, k_row_bytes());
      auto* vr = reinterpret_cast<float*>(l.v.data());
      for (int64_t i = 0; i < kv_dim_; ++i) vr[i * n_ctx_pad_ + p] = vt[i];
    }
  }
  // Positions past the new end may hold values from before a clear(): zero them, since attention
  // multiplies them by probability 0 and 0 * Inf or NaN would leak into the sum.
  const int64_t end = pos0 + n;
  if (end < l.n_pos) {
    for (int64_t i = 0; i < kv_dim_; ++i)
      std::memset(l.v.data() + static_cast<size_t>(i) * v_row_bytes() + static_cast<size_t>(end) * elem_size(), 0,
                  static_cast<size_t>(l.n_pos - end) * elem_size());
  }
  l.n_pos = end;
}

void KvCache::copy_prefix(const KvCache& from, int64_t n_pos) {
  BITDIAL_ASSERT(from.layers_.size() == layers_.size() && from.kv_dim_ == kv_dim_ && from.type_ == type_);
  BITDIAL_ASSERT(n_pos >= 0 && n_pos <= n_ctx_);
  const size_t es = elem_size();
  for (size_t il = 0; il < layers_.size(); ++il) {
    Layer& l = layers_[il];
    const Layer& f = from.layers_[il];
    BITDIAL_ASSERT(n_pos <= f.n_pos);
    std::memcpy(l.k.data(), f.k.data(), static_cast<size_t>(n_pos) * k_row_bytes());
    // V rows (one per dimension) may differ in length between the caches; entries past n_pos must be
    // zero (see store()).
    for (int64_t i = 0; i < kv_dim_; ++i) {
      uint8_t* row = l.v.data() + static_cast<size_t>(i) * v_row_bytes();
      std::memcpy(row, f.v.data() + static_cast<size_t>(i) * from.v_row_bytes(), static_cast<size_t>(n_pos) * es);
      if (l.n_pos > n_pos) std::memset(row + static_cast<size_t>(n_pos) * es, 0, static_cast<size_t>(l.n_pos - n_pos) * es);
    }
    l.n_pos = n_pos;
  }
}

void KvCache::clear() {
  for (Layer& l : layers_) {
    std::fill(l.v.begin(), l.v.end(), 0);
    l.n_pos = 0;
  }
}

}  // namespace bitdial
