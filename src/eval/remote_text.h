// Perplexity and KL divergence on a text when the candidate, the baseline or both are served behind an
// OpenAI-compatible endpoint: chunks of local token ids are sent as prompts with echo + top-K log-probs,
// and scored like evaluate_text() scores local logits (exact where the log-probs suffice, a bound for KL).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "eval/perplexity.h"
#include "eval/remote_model.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial {

// Endpoints name tokens by strings; this maps them back to local ids. Accepted spellings, in order:
// "token_id:N" (vLLM's return_tokens_as_token_ids), the vocabulary's own string ("▁the", "Ġthe", "<0x0A>",
// what vLLM's convert_ids_to_tokens gives), and the decoded bytes (" the") where only one token decodes
// to them. -1 when none fits: such a token is unknown, not an error.
class TokenResolver {
 public:
  explicit TokenResolver(const Tokenizer& tokenizer);
  int32_t resolve(const std::string& s) const;
  // Only the unambiguous spellings (token_id:N and the vocabulary string); used to detect a vocabulary
  // mismatch, where a false alarm would stop a valid run.
  int32_t resolve_exact(const std::string& s) const;

 private:
  int32_t n_vocab_ = 0;
  std::unordered_map<std::string, int32_t> text_, piece_;
};

// One side of the comparison: exactly one of local / remote is set.
struct TextSide {
  const LlamaModel* local = nullptr;
  RemoteModel* remote = nullptr;
};

struct RemoteTextOptions {
  int64_t n_ctx = 512;
  int64_t n_batch = 512;          // local side: scored positions per forward call (bounds logits memory)
  int32_t bos = -1;               // written over each chunk's first token; -1: chunks as they are
  int top_k = 20;                 // log-probs asked of each endpoint per position ("logprobs": K)
  KvType kv_type = KvType::f16;   // local side's cache
  std::string source = "text";
  std::FILE* progress = stderr;
};

// cand and/or base remote (at least one; base may be null for PPL only). `tokenizer` made `tokens`
// (the local model's, or --tokenizer's). Same chunks and scored positions as evaluate_text(). Exact:
// NLL/PPL (the echoed log-prob of each actual token), dp, same_top1 (the endpoint's top-1 entry against
// the local argmax or the other endpoint's top-1). KL: coarse_kld over the tokens known on both sides,
// the actual token included. Endpoint requests of a chunk run while the local side computes.
// Throws bitdial::Error naming the URL when an endpoint fails, echoes another token count, echoes a
// different token than was sent, or leaves out a log-prob.
TextEvalResult evaluate_text_remote(TextSide cand, const TextSide* base, const Tokenizer& tokenizer,
                                    const std::vector<int32_t>& tokens, const RemoteTextOptions& options);

}  // namespace bitdial
