// The token table shared by every tokenizer algorithm, read from GGUF `tokenizer.ggml.*` metadata:
// token strings, optional scores (SentencePiece) and token types, the special ids, and a
// string -> id index.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/hf_tokenizer.h"  // TokenType: values of tokenizer.ggml.token_type

namespace bitdial {

class GgufFile;

// Hash for heterogeneous lookup: find(string_view) without building a std::string.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Vocab {
  std::string path;   // the file it came from, for messages
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre, "default" when absent
  std::vector<std::string> text;
  std::vector<float> score;  // 0 for every token when the file has no scores
  std::vector<TokenType> type;
  // When a string occurs twice the later id wins, as in llama.cpp's token map.
  std::unordered_map<std::string, int32_t, StringViewHash, std::equal_to<>> index;

  int32_t bos = -1, eos = -1, unk = -1, eot = -1, eom = -1;  // -1 when absent
  bool add_bos = false;
  bool add_space_prefix = true;

  size_t size() const { return text.size(); }
  // Id of the token whose text is exactly s, or -1.
  int32_t find(std::string_view s) const;
  bool is_type(int32_t id, TokenType t) const { return type[static_cast<size_t>(id)] == t; }
};

// Reads the vocabulary; throws bitdial::Error "<path>: <key>: <what>" on missing or malformed metadata.
Vocab load_vocab(const GgufFile& f);

}  // namespace bitdial
