// Finding special tokens written literally in the input text, before the subword algorithm runs.
// User-defined tokens (type USER_DEFINED, e.g. deepseek's "ü" or MPT's runs of spaces) are always
// matched; control and unknown tokens (e.g. "<|endoftext|>") only when parse_special is set —
// llama.cpp's behaviour, which the reference vectors encode. Longer tokens take precedence: tokens
// are applied longest first (ties: lower id), each claiming its leftmost non-overlapping occurrences
// within text no longer token has claimed.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/vocab.h"

namespace bitdial {

// A run of the input: either raw text (token == -1) or one special token.
struct Fragment {
  std::string_view text;
  int32_t token = -1;
};

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocab& vocab);
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

 private:
  struct Candidate {
    int32_t id;
    bool always;  // user-defined: matched even without parse_special
  };
  std::vector<Candidate> by_id_;                   // candidate tokens, for the trie's terminals
  std::vector<int32_t> order_;                     // index into by_id_, longest text first
  std::vector<int32_t> rank_;                      // by_id_ index -> position in order_
  std::vector<size_t> length_;                     // by_id_ index -> text length
  std::unordered_map<uint64_t, int32_t> edges_;    // (node << 8 | byte) -> child node
  std::vector<int32_t> terminal_;                  // node -> by_id_ index or -1
};

}  // namespace bitdial
