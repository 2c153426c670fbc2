// Token-level helpers for the local backend: log-softmax figures of one logits row, the texts of a
// prompt's tokens such that they concatenate to the decoded prompt (echo and text_offset), and the
// stream of generated text that cuts at stop strings and holds back bytes that may still become one.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/ops.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/utf8.h"

namespace bitdial::serve {

// The k most likely ids of a row with their log-probabilities (ls.at(row[id]), ls the row's log
// softmax), most likely first, ties to the lower id (as the sampler's ordering). k <= 0: none.
std::vector<std::pair<int32_t, double>> top_logprobs(const float* row, int64_t n, int k, const LogSoftmax& ls);

// One text per token: its piece, control tokens "". With as_text (the prompt came as text), the space a
// SentencePiece vocabulary prefixes to the text is removed from the first token that carries it, so the
// texts concatenate to tok.decode(ids) — the prompt as sent — and offsets line up with it. A prompt sent
// as token ids has no text of its own: each token keeps its piece (" a" for "▁a").
std::vector<std::string> prompt_token_texts(const Tokenizer& tok, const std::vector<int32_t>& ids, bool as_text);

// Generated text as it grows token by token. A stop string ends the text where it begins (the stop
// string itself is not part of the answer). While streaming, bytes that could be the start of a stop
// string, or an unfinished UTF-8 character (byte tokens split characters), are held back until the
// next token settles them.
class GeneratedText {
 public:
  explicit GeneratedText(std::vector<std::string> stops);

  // Appends a token's bytes; true when a stop string now occurs (the text is cut before it).
  bool append(const std::string& piece);
  // Bytes safe to send since the last call (everything once finished).
  std::string take_ready(bool finished);

  const std::string& text() const { return text_; }
  // Byte offset in text() where token i starts, and token i's own bytes after the stop cut (tokens
  // wholly after the cut are gone: count() shrinks).
  size_t count() const { return starts_.size(); }
  std::string token_bytes(size_t i) const;
  size_t token_start(size_t i) const { return starts_[i]; }

 private:
  std::vector<std::string> stops_;
  size_t longest_stop_ = 0;
  std::string text_;
  std::vector<size_t> starts_;
  std::vector<size_t> ends_;
  size_t sent_ = 0;
  bool stopped_ = false;
};

}  // namespace bitdial::serve
