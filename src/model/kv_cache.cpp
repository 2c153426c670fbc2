#include "model/kv_cache.h"

#include "core/error.h"
#include "core/fp16.h"

namespace bitdial {

KvCache::KvCache(int64_t n_layer, int64_t kv_dim, int64_t n_ctx, KvType type)
    : kv_dim_(kv_dim), n_ctx_(n_ctx), type_(type), layers_(static_cast<size_t>(n_layer)) {
  BITDIAL_ASSERT(n_layer > 0 && kv_dim > 0 && n_ctx > 0);
}

void KvCache::store(int64_t layer, int64_t pos0, int64_t n, const float* k, const float* v) {
  Layer& l = layers_[static_cast<size_t>(layer)];
  BITDIAL_ASSERT(pos0 >= 0 && pos0 <= l.n_pos && pos0 + n <= n_ctx_);
  const size_t begin = static_cast<size_t>(pos0 * kv_dim_), count = static_cast<size_t>(n * kv_dim_);
  if (type_ == KvType::f16) {
    l.k16.resize(begin + count);
    l.v16.resize(begin + count);
    for (size_t i = 0; i < count; ++i) {
      l.k16[begin + i] = f32_to_fp16(k[i]);
      l.v16[begin + i] = f32_to_fp16(v[i]);
    }
  } else {
    l.k32.resize(begin + count);
    l.v32.resize(begin + count);
    for (size_t i = 0; i < count; ++i) {
      l.k32[begin + i] = k[i];
      l.v32[begin + i] = v[i];
    }
  }
  l.n_pos = pos0 + n;
}

void KvCache::read(int64_t layer, int64_t n_pos, float* k, float* v) const {
  const Layer& l = layers_[static_cast<size_t>(layer)];
  BITDIAL_ASSERT(n_pos >= 0 && n_pos <= l.n_pos);
  const size_t count = static_cast<size_t>(n_pos * kv_dim_);
  if (type_ == KvType::f16) {
    for (size_t i = 0; i < count; ++i) {
      k[i] = fp16_to_f32(l.k16[i]);
      v[i] = fp16_to_f32(l.v16[i]);
    }
  } else {
    for (size_t i = 0; i < count; ++i) {
      k[i] = l.k32[i];
      v[i] = l.v32[i];
    }
  }
}

void KvCache::clear() {
  for (Layer& l : layers_) l.n_pos = 0;
}

}  // namespace bitdial
