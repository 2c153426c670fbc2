// SentencePiece-style tokenization as llama.cpp applies it to `tokenizer.ggml.model = "llama"` vocabularies:
// start from single UTF-8 characters and repeatedly merge the adjacent pair whose concatenation is a
// token with the highest score (ties: leftmost pair); characters left without a token become byte tokens
// <0xXX>, or the unknown token when the vocabulary has no byte tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer/vocab.h"

namespace bitdial {

// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

// Spaces -> U+2581 (the input normalisation SentencePiece models expect).
std::string spm_escape_spaces(std::string_view text);

// Appends the ids of already-escaped text to out.
void spm_encode(const Vocab& vocab, std::string_view escaped, std::vector<int32_t>& out);

// The text token `id` stands for: U+2581 -> space, <0xXX> -> that byte, control tokens -> "",
// the unknown token -> U+2585 (a visible placeholder, as llama.cpp prints it).
std::string spm_piece(const Vocab& vocab, int32_t id);

}  // namespace bitdial
