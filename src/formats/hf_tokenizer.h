// GGUF tokenizer metadata (tokenizer.ggml.*) <-> Hugging Face tokenizer files.
//
// Written for a "llama" (SentencePiece) vocabulary, as Hugging Face's own llama folders are:
//   tokenizer.json         BPE model with byte_fallback, a Prepend("▁") + Replace(" ", "▁") normalizer
//                          and the matching decoder; merges are derived from the vocabulary (a pair
//                          merges when its concatenation is a token; ranked by that token's score).
//   tokenizer.model        the SentencePiece model protobuf: pieces with their exact scores and types,
//                          so reading back restores tokenizer.ggml.scores / token_type bit for bit.
// For a "gpt2" (byte-level BPE) vocabulary: tokenizer.json with a ByteLevel pre-tokenizer/decoder
// and the GGUF merges. Both also get tokenizer_config.json (special tokens, add_bos/eos, chat
// template; the GGUF pre-tokenizer name under "gguf_pre_tokenizer") and special_tokens_map.json.
// Reading prefers tokenizer.model for scores and types when present, else derives them from
// tokenizer.json (added special tokens -> control, unk -> unknown, <0xNN> with byte_fallback -> byte).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace bitdial {

// GGUF token types (tokenizer.ggml.token_type), numbered as SentencePiece numbers them.
enum class TokenType : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct GgufTokenizer {
  std::string model;                  // tokenizer.ggml.model: "llama" or "gpt2"
  std::string pre;                    // tokenizer.ggml.pre ("" when absent)
  std::vector<std::string> tokens;
  std::vector<float> scores;          // empty when the GGUF has none
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;    // "left right"; empty for llama vocabularies
  std::optional<uint32_t> bos_id, eos_id, unk_id, sep_id, pad_id;  // absent or 0xFFFFFFFF in GGUF -> nullopt
  std::optional<bool> add_bos, add_eos;
  std::string chat_template;          // "" when absent

  bool operator==(const GgufTokenizer&) const;
};

// Throws naming the file and key when a tokenizer key has the wrong type or lengths disagree.
GgufTokenizer tokenizer_from_gguf(const GgufFile& f);
void tokenizer_to_gguf(const GgufTokenizer& tok, GgufWriter& w);

// File name -> contents (tokenizer.json, tokenizer_config.json, special_tokens_map.json and, for
// llama vocabularies, tokenizer.model). `model_max_length` goes into tokenizer_config.json.
std::map<std::string, std::string> tokenizer_to_hf_files(const GgufTokenizer& tok, uint32_t model_max_length = 0);
// Writes those files into `dir` (each atomically).
void write_hf_tokenizer(const GgufTokenizer& tok, const std::string& dir, uint32_t model_max_length = 0);
// Reads tokenizer.json (+ tokenizer.model, tokenizer_config.json, special_tokens_map.json when
// present) from a model folder.
GgufTokenizer read_hf_tokenizer(const std::string& dir);

// SentencePiece model protobuf (tokenizer.model), the subset GGUF needs.
struct SpmModel {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int32_t model_type = 2;  // 1 unigram, 2 bpe
  bool byte_fallback = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};
std::string spm_model_to_bytes(const SpmModel& m);
SpmModel spm_model_from_bytes(const std::string& bytes, const std::string& what);

}  // namespace bitdial
