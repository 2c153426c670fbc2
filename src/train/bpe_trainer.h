// A byte-level BPE vocabulary trained from text, for models `bitdial train` creates: the optional
// alternative to the built-in byte vocabulary (synth_byte_vocab in model/synth.h). The result is GGUF
// tokenizer metadata of model "gpt2", which bitdial's Tokenizer and llama.cpp both load.
//
// Algorithm (Sennrich et al. 2016 with GPT-2's byte alphabet): the text is cut into words by the same
// pre-tokenizer the vocabulary names (PreTokenizer::for_name(pre), "gpt-2" by default: a word keeps
// its leading space, letters / digits / punctuation runs are separate words, merges never cross a
// word); bytes that are not valid UTF-8 are one-byte words, as the tokenizer treats them. Every word
// starts as its bytes; the most frequent adjacent pair (counted over word occurrences) is merged,
// repeatedly, until the vocabulary reaches its size. Ties go to the pair whose left token, then right
// token, is smallest bytewise, so the same text gives the same vocabulary everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/synth.h"

namespace bitdial {

struct BpeTrainOptions {
  // Tokens in the result: 256 byte tokens + merged tokens + the one special token.
  int64_t vocab_size = 1024;
  // tokenizer.ggml.pre: the pre-tokenizer used both to train and to encode (any name
  // supported_pre_tokenizers() lists; "gpt-2" is also known to llama.cpp).
  std::string pre = "gpt-2";
  // Whether encoding prepends <|endoftext|> as BOS (tokenizer.ggml.add_bos_token).
  bool add_bos = true;
};

// The smallest vocabulary: the 256 byte tokens and <|endoftext|>.
constexpr int64_t kBpeMinVocab = 257;
constexpr std::string_view kBpeEndOfText = "<|endoftext|>";

// Token layout: ids 0-255 are the byte tokens in byte order, then the merged tokens in the order they
// were learned, then <|endoftext|> (control; BOS and EOS) last. Token and merge strings are in GPT-2's
// byte-to-unicode form (model/tokenizer/byte_unicode.h): a space is "Ġ".
struct BpeVocab {
  std::string pre;
  std::vector<std::string> tokens;
  std::vector<std::string> merges;  // "left right", rank = index; may outnumber the merged tokens
                                    // when two merges produce the same string
  int32_t end_of_text = -1;
  bool add_bos = true;
};

// Trains the vocabulary. Throws bitdial::Error when vocab_size < kBpeMinVocab or >= 2^31, the
// pre-tokenizer name is unknown, or the text runs out of pairs to merge before reaching vocab_size
// (the message says how many tokens it could reach).
BpeVocab train_bpe(std::string_view text, const BpeTrainOptions& options);

// The tokenizer.* GGUF keys: model "gpt2", pre, tokens, token_type, merges, bos/eos ids,
// add_bos_token / add_eos_token (false). SynthVocab::source is "trained BPE".
SynthVocab bpe_synth_vocab(const BpeVocab& vocab);

}  // namespace bitdial
