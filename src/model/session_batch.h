// Several sessions' token batches in one forward pass. Every row-wise step (embedding, RMSNorm, the
// linear layers, SwiGLU, the output projection) runs once over all sequences' tokens concatenated, so a
// small model makes one matmul per weight instead of one per sequence; RoPE positions, KV-cache stores
// and attention stay per sequence, each with its own cache and n_past. The kernels compute every output
// element in an order that depends neither on the number of tokens nor on the thread count
// (kernels/matmul.h), so each sequence's logits are bitwise those of its own Session::eval.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/session.h"

namespace bitdial {

// sessions[i] (distinct, all of one model) appends tokens[i] (>= 1 token) at positions
// n_past() .. n_past() + n_i - 1 -> one logits vector per sequence: (n_i, n_vocab) when all_logits,
// else (1, n_vocab) for its last token. Throws bitdial::Error for an empty batch (no sequence),
// sessions of different models or one session twice, and, naming the sequence's index, an empty
// sequence, a token id outside the vocabulary or a sequence that would overflow its session's context;
// on an error no cache changes.
std::vector<std::vector<float>> eval_batch(std::span<Session* const> sessions,
                                           std::span<const std::span<const int32_t>> tokens, bool all_logits);

}  // namespace bitdial
