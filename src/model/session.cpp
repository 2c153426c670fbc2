#include "model/session.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/matmul.h"
#include "model/ops.h"
#include "model/session_batch.h"

namespace bitdial {
namespace {

int64_t context_size(const LlamaModel& m, const SessionOptions& o) {
  if (o.n_ctx < 0) fail("context size ", o.n_ctx, " is negative");
  return o.n_ctx > 0 ? o.n_ctx : m.hparams().n_ctx_train;
}

}  // namespace

Session::Session(const LlamaModel& model, SessionOptions options)
    : model_(model),
      cache_(model.hparams().n_layer, model.hparams().kv_dim(), context_size(model, options), options.kv_type) {}

void Session::reset() {
  cache_.clear();
  n_past_ = 0;
}

void Session::copy_prefix(const Session& other, int64_t n) {
  BITDIAL_ASSERT(&other.model_ == &model_ && n <= other.n_past_);
  cache_.copy_prefix(other.cache_, n);
  n_past_ = n;
}

// q (n, q_dim) for positions n_past_ .. n_past_ + n - 1, whose K/V are already cached
// -> out (n, q_dim): per head, causal softmax(q k^T / sqrt(head_dim)) v over positions <= its own.
// GQA: query head h reads key/value head h / (n_head / n_head_kv).
// With an F16 cache, q and the probabilities are rounded to fp16 before their products, as
// llama.cpp's CPU backend does (it converts the F32 operand of an F16 product to F16): our logits
// then agree with its output to 1e-3 instead of 1e-2.
void Session::attention(int64_t layer, const float* q, int64_t n, float* out) const {
  const LlamaHparams& hp = model_.hparams();
  const int64_t hd = hp.head_dim, q_dim = hp.q_dim();
  const int64_t group = hp.n_head / hp.n_head_kv;
  const bool f16 = cache_.type() == KvType::f16;
  const TensorType et = cache_.elem_type();
  const size_t es = cache_.elem_size();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  constexpr int64_t kPad = KvCache::kPositionPad;

  std::vector<float> qr;  // q rounded to fp16 values
  if (f16) {
    qr.resize(static_cast<size_t>(n * q_dim));
    for (size_t i = 0; i < qr.size(); ++i) qr[i] = fp16_to_f32(f32_to_fp16(q[i]));
    q = qr.data();
  }
  // Token chunks of kPad: a chunk needs positions up to its last token's, rounded up to kPad.
  const int64_t n_chunks = (n + kPad - 1) / kPad;
  // Small attention (short contexts, tiny models) runs on the calling thread: see kernels/matmul.cpp.
  const bool parallel = hp.n_head * n * (n_past_ + n) * hd >= (int64_t{1} << 16);
#pragma omp parallel if (parallel)
  {
    std::vector<float> probs;  // (chunk tokens, n_pad)
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t h = 0; h < hp.n_head; ++h) {
      for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t t0 = c * kPad, nt = std::min(kPad, n - t0);
        const int64_t n_kv = n_past_ + t0 + nt;
        const int64_t n_pad = (n_kv + kPad - 1) / kPad * kPad;
        probs.assign(static_cast<size_t>(nt * n_pad), 0.0f);
        const int64_t kvh = h / group;
        // scores[t][j] = k_j . q_t for every cached position j < n_kv.
        const uint8_t* k = cache_.k_rows(layer) + static_cast<size_t>(kvh * hd) * es;
        float_dot_tile(et, hd, k, cache_.k_row_bytes(), n_kv, q + t0 * q_dim + h * hd, static_cast<size_t>(q_dim) * sizeof(float),
                       nt, probs.data(), n_pad);
        for (int64_t t = 0; t < nt; ++t) {
          float* row = probs.data() + t * n_pad;
          const int64_t len = n_past_ + t0 + t + 1;
          for (int64_t j = 0; j < len; ++j) row[j] *= scale;
          softmax_inplace(row, len);
          for (int64_t j = len; j < n_pad; ++j) row[j] = 0.0f;
          if (f16)
            for (int64_t j = 0; j < len; ++j) row[j] = fp16_to_f32(f32_to_fp16(row[j]));
        }
        // out[t][h * hd + i] = sum_j probs[t][j] * v[j][i], V read transposed (row i = positions).
        const uint8_t* v = cache_.v_rows(layer) + static_cast<size_t>(kvh * hd) * cache_.v_row_bytes();
        float_dot_tile(et, n_pad, v, cache_.v_row_bytes(), hd, probs.data(), static_cast<size_t>(n_pad) * sizeof(float), nt,
                       out + t0 * q_dim + h * hd, q_dim);
      }
    }
  }
}

std::vector<float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  Session* const self[1] = {this};
  const std::span<const int32_t> batch[1] = {tokens};
  return std::move(eval_batch(self, batch, all_logits)[0]);
}

}  // namespace bitdial
