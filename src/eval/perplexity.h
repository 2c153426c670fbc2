// Perplexity of a model on a text and, given a baseline, the KL divergence and token-probability shifts
// of the candidate against it, following llama.cpp's `llama-perplexity` chunking and scoring. Both models
// run side by side chunk by chunk, so memory stays constant in the text length (no logits file).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial {

// The llama-perplexity convention, in our words:
//   - the whole text is tokenized once (BOS prepended when the vocabulary asks for it);
//   - it is cut into n_tokens / n_ctx chunks of exactly n_ctx tokens; the remainder is dropped;
//   - each chunk is evaluated from an empty cache, its first token overwritten with BOS (when the
//     vocabulary uses one), so every chunk starts like a document does;
//   - only the second half of each chunk is scored: the logits at positions j in [n_ctx/2, n_ctx - 1)
//     predict token j + 1. Early positions see too little context to say much about the model, and
//     scoring only late ones makes the figures comparable to llama.cpp's for the same n_ctx.
//   PPL = exp(mean NLL over all scored positions), natural log.
// One difference: llama-perplexity refuses texts under 2 * n_ctx tokens; one full chunk is enough here
// (the figures for the chunks both tools evaluate are the same).
struct ChunkPlan {
  int64_t n_chunks = 0;
  int64_t first = 0;             // first scored position in a chunk (n_ctx / 2)
  int64_t scored_per_chunk = 0;  // n_ctx - 1 - first
  int64_t n_positions() const { return n_chunks * scored_per_chunk; }
};

// Throws bitdial::Error when n_ctx < 3 (no position would be scored) or n_tokens < n_ctx
// ("<source>: text shorter than one chunk: N tokens, n_ctx M").
ChunkPlan chunk_plan(int64_t n_tokens, int64_t n_ctx, const std::string& source = "text");

// What one scored position contributes. Base fields are 0 (same_top1 true) when there is no baseline.
struct PositionScore {
  double nll_cand = 0;  // -log p_cand(target)
  double nll_base = 0;  // -log p_base(target)
  // KL(P_base || P_cand) = sum_i p_b(i) (log p_b(i) - log p_c(i)), in nats: the direction llama.cpp's
  // --kl-divergence reports (the baseline is the reference distribution, the candidate the approximation).
  double kld = 0;
  double dp = 0;           // p_cand(target) - p_base(target)
  bool same_top1 = true;   // argmax of both logit rows equal (first index on ties)
};

// logits_cand, logits_base: (n_vocab) raw logits of one position; logits_base may be null. Log-softmax
// and the KL sum run in double, over the full vocabulary (no tail cut, unlike llama.cpp's stored
// 16-bit base log-probs). Asserts 0 <= target < n_vocab.
PositionScore score_position(const float* logits_cand, const float* logits_base, int64_t n_vocab, int32_t target);

// Per scored position, in text order; O(positions) doubles, never O(positions x vocabulary).
// The *_base, kld, dp and same_top1 vectors stay empty without a baseline.
struct PositionScores {
  std::vector<double> nll_cand, nll_base, kld, dp;
  std::vector<uint8_t> same_top1;
  size_t size() const { return nll_cand.size(); }
};

struct TextEvalOptions {
  int64_t n_ctx = 512;
  int64_t n_batch = 512;          // tokens per chunk per forward call
  // Chunks evaluated together in one forward pass per model (model/session_batch.h): one matmul per
  // weight for all of them, which a small model's short chunks need to keep the cores busy. Scores are
  // bitwise the same for any n_seq. Memory per model: n_seq KV caches of n_ctx positions and at most
  // n_seq x n_batch x n_vocab logits at once.
  int64_t n_seq = 4;
  int32_t bos = -1;               // token written over each chunk's first token; -1: leave chunks as they are
  KvType kv_type = KvType::f16;   // llama.cpp's default cache type
  std::string source = "text";    // names the text in errors (a file path)
  std::FILE* progress = stderr;   // bar with ETA on a TTY, periodic lines otherwise; nullptr: silent
};

struct TextEvalResult {
  ChunkPlan plan;
  int64_t n_ctx = 0;
  int64_t n_tokens = 0;            // tokens in the text
  int64_t n_tokens_evaluated = 0;  // n_chunks * n_ctx (per model)
  bool has_base = false;
  PositionScores scores;
  double ppl_cand = 0;
  double ppl_base = 0;             // 0 without a baseline
  double seconds = 0;              // wall time of the whole evaluation
  double seconds_cand = 0;         // time in the candidate's forward passes
  double seconds_base = 0;
  double tokens_per_second = 0;    // candidate: n_tokens_evaluated / seconds_cand
  // With an endpoint on either side only its top-K log-probs are known: scores.kld then holds the KL of
  // the coarsened distributions (eval/kld_bound.h), a lower bound on the full-vocabulary KL.
  bool kld_lower_bound = false;
  int kld_top_k = 0;               // K asked of the endpoint(s); 0 for the exact local KL
  double kld_known_mass = 0;       // mean baseline probability inside the known buckets (bound only)
  int64_t unmapped_top_tokens = 0; // top-K strings no local token matched (left in the tail bucket)
};

// The text's tokens as llama-perplexity makes them: one encode() of the whole text with add_bos.
std::vector<int32_t> tokenize_for_perplexity(const Tokenizer& tokenizer, const std::string& text);
// The token to write over each chunk's first token: BOS when the vocabulary prepends one, else -1.
int32_t chunk_start_token(const Tokenizer& tokenizer);

// Throws bitdial::Error naming both files when the two models' vocabularies differ (n_vocab, token
// count or any token string): scores of one model's logits against the other's would be meaningless.
void check_same_vocabulary(const LlamaModel& cand, const LlamaModel& base);

// Scores `tokens` with cand and, when base is non-null, base on the same chunks (see ChunkPlan). Throws
// bitdial::Error for a text shorter than one chunk, mismatched vocabularies, or a token id out of range.
TextEvalResult evaluate_text(const LlamaModel& cand, const LlamaModel* base, const std::vector<int32_t>& tokens,
                             const TextEvalOptions& options = {});

}  // namespace bitdial
