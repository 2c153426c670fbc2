// Pre-tokenization for byte-level BPE: the text is cut into words by a list of regular expressions
// chosen by `tokenizer.ggml.pre`. Each expression is applied in turn to every piece produced so far;
// its matches and the unmatched gaps between them all become pieces (so nothing is dropped), and a
// match never looks outside its piece. Expressions run under PCRE2 with UTF and Unicode properties
// (\p{L}, \p{N}, \s follow the Unicode tables of the installed PCRE2), JIT-compiled when available.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial {

class PreTokenizer {
 public:
  // The expression list for a `tokenizer.ggml.pre` name; throws bitdial::Error naming `where` and the
  // name when it is not supported.
  static PreTokenizer for_name(const std::string& pre, const std::string& where);
  // Compiles an explicit list (tests, future vocabularies).
  static PreTokenizer from_regexes(const std::vector<std::string>& regexes, const std::string& where);

  // Splits valid UTF-8 text into consecutive pieces that concatenate back to it.
  std::vector<std::string_view> split(std::string_view text) const;

  // llama.cpp's llama3 vocabularies look a whole word up before merging ("ignore_merges").
  bool whole_word_first() const { return whole_word_first_; }

 private:
  struct Compiled;
  std::vector<std::shared_ptr<const Compiled>> regexes_;
  bool whole_word_first_ = false;
};

// Names for_name accepts (for messages and tests).
std::vector<std::string> supported_pre_tokenizers();

}  // namespace bitdial
