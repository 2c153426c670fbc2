// Causal multi-head self-attention of the training pass and its gradient: softmax(q k^T / sqrt(head_dim))
// v per head over the positions up to each token's own, with grouped key/value heads (GQA: query head h
// reads K/V head h / (n_head / n_head_kv)). Every sequence of the batch attends only within itself.
// Templated on float (training) and double (the gradient checks' reference); results never depend on
// the thread count: threads split (sequence, head) pairs and grouped heads are summed in head order.
#pragma once

#include <cstdint>
#include <vector>

namespace bitdial {

struct AttentionShape {
  int64_t n_seq = 0;      // sequences in the batch; rows b * seq_len .. (b + 1) * seq_len - 1 are sequence b
  int64_t seq_len = 0;    // positions per sequence
  int64_t n_head = 0;     // query heads
  int64_t n_head_kv = 0;  // key/value heads; n_head % n_head_kv == 0
  int64_t head_dim = 0;

  int64_t n_rows() const { return n_seq * seq_len; }
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  // Elements of the saved probabilities: (n_seq, n_head, seq_len, seq_len).
  int64_t probs_size() const { return n_seq * n_head * seq_len * seq_len; }
};

// q (n_rows, q_dim), k (n_rows, kv_dim), v (n_rows, kv_dim), rotary embedding already applied ->
// out (n_rows, q_dim), written, and probs (probs_size()): row (b, h, t) holds the softmax weights of
// positions 0..t of sequence b for query t, zero after t (kept for the backward pass). The softmax
// follows model/ops.h's softmax_inplace (max subtracted, exponentials summed in double).
template <class T>
void attention_forward(const AttentionShape& shape, const T* q, const T* k, const T* v, T* out, T* probs);

// dout (n_rows, q_dim) -> dq (n_rows, q_dim), dk, dv (n_rows, kv_dim), all written. scratch: reused
// buffer for per-query-head key/value gradients (2 n_rows q_dim), any contents.
template <class T>
void attention_backward(const AttentionShape& shape, const T* q, const T* k, const T* v, const T* probs, const T* dout,
                        T* dq, T* dk, T* dv, std::vector<T>& scratch);

}  // namespace bitdial
