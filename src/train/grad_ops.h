// Forward and backward of the per-token pieces of the LLaMA training pass (train/model_pass.cpp):
// token embedding, RMSNorm, rotary embedding ("normal" pairs, the engine's angles), SwiGLU. Matrix
// products are in train/linear_grad.h, attention in train/attention_grad.h, losses in train/loss.h.
//
// Every op is a template on the element type: float is the training path, double the reference that
// the gradient-check tests differentiate numerically (the same code, so the check covers what trains).
// Activations are row-major (n_tokens, width). Parameter gradients are always ADDED to; whether an
// activation gradient is added or written is said per function. Threads: OpenMP, but every output
// element is computed by one thread with its terms in a fixed order, so results never depend on the
// thread count.
#pragma once

#include <cstdint>

#include "model/ops.h"

namespace bitdial {

// table (n_vocab, d), ids (n) -> out (n, d): out[t] = table[ids[t]]. ids must be in [0, n_vocab).
template <class T>
void embedding_forward(const T* table, int64_t d, const int32_t* ids, int64_t n, T* out);

// dout (n, d) -> dtable (n_vocab, d) += scatter: dtable[ids[t]] += dout[t], tokens added in order
// t = 0 .. n-1 (threads split the d columns, never the tokens).
template <class T>
void embedding_backward(const T* dout, const int32_t* ids, int64_t n, int64_t d, T* dtable);

// x (n, d), w (d) -> y (n, d) = x * inv_rms * w and inv_rms (n) = 1 / sqrt(mean(x^2) + eps), kept for
// the backward pass. The float path computes as model/ops.h's rms_norm does (squares summed in double,
// mean and scale in float), so it agrees with the engine to the bit.
template <class T>
void rms_norm_forward(const T* x, const T* w, int64_t n, int64_t d, float eps, T* y, T* inv_rms);

// dy (n, d) -> dx (n, d) += dy * w * r - x * r^3 / d * sum_i(dy_i * w_i * x_i) (r = inv_rms[t]) and
// dw (d) += sum_t dy * x * r (rows added in order t = 0 .. n-1).
template <class T>
void rms_norm_backward(const T* x, const T* w, const T* inv_rms, const T* dy, int64_t n, int64_t d, T* dx, T* dw);

// Rotary angles for positions 0 .. seq_len - 1 of a head of head_dim (all dims rotate, no scaling):
// model/ops.h's rope_table, so the angles are the engine's to the bit. cos, sin: (seq_len, head_dim/2).
RopeTable rope_angles(int64_t seq_len, int64_t head_dim, float rope_base);

// x (n_rows, n_heads * head_dim) rotated in place: row r is position r % seq_len (every sequence of
// the batch starts at 0); in each head the pairs (x[2i], x[2i+1]) become (a cos - b sin, a sin + b cos)
// with the angle of table row (position, i). table.half must be head_dim / 2.
template <class T>
void rope_forward(T* x, int64_t n_rows, int64_t seq_len, int64_t n_heads, int64_t head_dim, const RopeTable& table);

// The gradient of rope_forward, in place: each pair rotated by minus its angle (the rotation's
// transpose). dx is written (the incoming gradient of the rotated values becomes that of the inputs).
template <class T>
void rope_backward(T* dx, int64_t n_rows, int64_t seq_len, int64_t n_heads, int64_t head_dim, const RopeTable& table);

// gate (n), up (n) -> act (n) = silu(gate) * up, silu(g) = g / (1 + exp(-g)) (SwiGLU).
template <class T>
void swiglu_forward(const T* gate, const T* up, int64_t n, T* act);

// dact (n) -> dgate (n), dup (n), both written: dup = dact * silu(g),
// dgate = dact * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))).
template <class T>
void swiglu_backward(const T* gate, const T* up, const T* dact, int64_t n, T* dgate, T* dup);

}  // namespace bitdial
