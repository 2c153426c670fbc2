// Byte-level BPE (GPT-2 family, `tokenizer.ggml.model = "gpt2"`): each pre-tokenized word is mapped
// byte -> printable character (byte_unicode.h), split into characters, and the adjacent pair with the
// lowest merge rank (its index in tokenizer.ggml.merges; ties: leftmost) is merged until no ranked
// pair remains. Sennrich et al. 2016, with GPT-2's byte-level alphabet (Radford et al. 2019).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/vocab.h"

namespace bitdial {

class GgufFile;

class BpeMerges {
 public:
  // Reads tokenizer.ggml.merges ("left right" strings); throws naming the file, key and index.
  static BpeMerges from_gguf(const GgufFile& f);

  // Rank of merging left+right, or -1.
  int rank(std::string_view left, std::string_view right) const;
  size_t size() const { return rank_.size(); }

 private:
  std::unordered_map<std::string, int, StringViewHash, std::equal_to<>> rank_;  // key: left + ' ' + right
};

// Appends the ids of one already byte-mapped word. whole_word_first: emit the word as one token when
// the vocabulary has it (llama3-style vocabularies). Characters without a token become the unknown
// token, or are dropped when there is none.
void bpe_encode_word(const Vocab& vocab, const BpeMerges& merges, std::string_view word, bool whole_word_first,
                     std::vector<int32_t>& out);

// The raw bytes token `id` stands for: the byte mapping undone for normal tokens, user-defined
// tokens verbatim, control tokens "".
std::string bpe_piece(const Vocab& vocab, int32_t id);

}  // namespace bitdial
