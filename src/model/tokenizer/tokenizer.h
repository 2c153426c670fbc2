// Text <-> token ids for a model, built from its GGUF `tokenizer.ggml.*` metadata. Two algorithms:
// SentencePiece-style score merging (tokenizer.ggml.model = "llama", spm.h) and GPT-2 byte-level BPE
// with a regex pre-tokenizer chosen by tokenizer.ggml.pre ("gpt2", bpe.h, pre_tokenizer.h). Encoding
// matches llama.cpp's tokenizer for the same file (the reference vectors in tests/model pin this).
// A Tokenizer is immutable after construction, cheap to copy, and safe to use from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial {

class GgufFile;

class Tokenizer {
 public:
  // Throws bitdial::Error "<file>: <key>: <what>" on missing or malformed tokenizer metadata.
  static Tokenizer from_gguf(const GgufFile& f);

  // Token ids of text. add_bos prepends BOS only when the vocabulary asks for it
  // (tokenizer.ggml.add_bos_token; default true for "llama", false for "gpt2"). Special tokens written
  // in the text are not parsed (user-defined tokens are, as in llama.cpp); see the 3-argument form.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;
  // parse_special: also turn control tokens written in the text ("<|endoftext|>", "<s>") into their ids.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

  // Concatenated pieces, control tokens (BOS, EOS, ...) skipped, and for SentencePiece vocabularies the
  // space that encode() prefixed removed again, so decode(encode(x, b)) == x for ordinary text.
  std::string decode(const std::vector<int32_t>& ids) const;
  // The bytes one token contributes: byte tokens -> their byte, U+2581 -> ' ', control tokens -> "".
  // May be a partial UTF-8 sequence. Throws bitdial::Error when id is out of range.
  std::string piece(int32_t id) const;
  // The token's string as stored in the vocabulary ("<s>", "<0x0A>", "Ġthe"); for display.
  const std::string& token_text(int32_t id) const;
  bool is_control(int32_t id) const;

  int32_t bos() const;  // -1 when absent
  int32_t eos() const;  // -1 when absent
  // End of generation: eos, eot, eom, and control tokens such as "<|eot_id|>", "<|im_end|>", "<|end|>".
  bool is_eog(int32_t id) const;
  size_t vocab_size() const;
  // "llama" or "gpt2", and the pre-tokenizer name.
  const std::string& model_name() const;
  const std::string& pre_name() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace bitdial
