// One conversation with a LlamaModel: the KV cache plus the forward pass that appends tokens to it.
// eval() takes a batch (a prompt) or a single token (generation); logits come back for every new
// position (evaluation needs them) or for the last one only. Several sessions share one forward pass
// through eval_batch (model/session_batch.h), which eval() is the one-sequence case of.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/activation_observer.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace bitdial {

class Session;
std::vector<std::vector<float>> eval_batch(std::span<Session* const> sessions,
                                           std::span<const std::span<const int32_t>> tokens, bool all_logits);

struct SessionOptions {
  KvType kv_type = KvType::f16;
  int64_t n_ctx = 0;  // positions the cache may hold; 0: the model's training context length
};

class Session {
 public:
  // The model must outlive the session.
  explicit Session(const LlamaModel& model, SessionOptions options = {});

  const LlamaModel& model() const { return model_; }
  int64_t n_past() const { return n_past_; }  // positions already in the cache
  int64_t n_ctx() const { return cache_.n_ctx(); }

  // tokens (n) at positions n_past() .. n_past() + n - 1 -> logits (n, n_vocab) when all_logits,
  // else (1, n_vocab) for the last token. Throws bitdial::Error for an empty batch, a token id
  // outside the vocabulary, or a batch that would overflow the context.
  std::vector<float> eval(std::span<const int32_t> tokens, bool all_logits);

  // Forgets all positions.
  void reset();

  // Calibration hook: every forward pass this session takes part in (as the first sequence of a
  // batch) reports each matrix product's input to `observer`; null switches it off. Not owned.
  void set_observer(ActivationObserver* observer) { observer_ = observer; }

  // Takes other's first n positions (same model and cache type, n <= other.n_past(), n <= n_ctx())
  // and forgets its own: as if it had evaluated those tokens itself, bit for bit, without the work.
  void copy_prefix(const Session& other, int64_t n);

 private:
  // The forward pass: per-sequence steps (RoPE, cache stores, attention) reach into each session.
  friend std::vector<std::vector<float>> eval_batch(std::span<Session* const> sessions,
                                                    std::span<const std::span<const int32_t>> tokens, bool all_logits);

  // q (n, q_dim) of this session's next n positions, whose K/V are already cached -> out (n, q_dim).
  void attention(int64_t layer, const float* q, int64_t n, float* out) const;

  const LlamaModel& model_;
  KvCache cache_;
  int64_t n_past_ = 0;
  ActivationObserver* observer_ = nullptr;
};

}  // namespace bitdial
