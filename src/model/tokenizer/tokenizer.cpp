#include "model/tokenizer/tokenizer.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/tokenizer/bpe.h"
#include "model/tokenizer/byte_unicode.h"
#include "model/tokenizer/pre_tokenizer.h"
#include "model/tokenizer/special_tokens.h"
#include "model/tokenizer/spm.h"
#include "model/tokenizer/utf8.h"
#include "model/tokenizer/vocab.h"

namespace bitdial {

struct Tokenizer::Impl {
  Vocab vocab;
  bool spm = false;
  std::optional<BpeMerges> merges;        // gpt2 only
  std::optional<PreTokenizer> pre;        // gpt2 only
  std::optional<SpecialTokenMatcher> special;
  std::unordered_set<int32_t> eog;

  void encode_spm(const std::vector<Fragment>& fragments, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view raw, std::vector<int32_t>& out) const;
  void check_id(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= vocab.size()) {
      fail(vocab.path, ": token id ", id, " out of range [0, ", vocab.size(), ")");
    }
  }
};

namespace {

// Texts of end-of-turn control tokens used by common chat formats.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "<|EOT|>", "<｜end▁of▁sentence｜>", "<|eom_id|>", "<end_of_utterance>",
};

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
  auto impl = std::make_shared<Impl>();
  impl->vocab = load_vocab(f);
  const Vocab& v = impl->vocab;
  impl->spm = v.model == "llama";
  if (!impl->spm) {
    impl->merges = BpeMerges::from_gguf(f);
    impl->pre = PreTokenizer::for_name(v.pre, f.path());
  }
  impl->special.emplace(v);
  for (int32_t id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) impl->eog.insert(id);
  }
  for (std::string_view t : kEogTexts) {
    const int32_t id = v.find(t);
    if (id >= 0 && (v.is_type(id, TokenType::control) || v.is_type(id, TokenType::user_defined))) impl->eog.insert(id);
  }
  return Tokenizer(std::move(impl));
}

void Tokenizer::Impl::encode_spm(const std::vector<Fragment>& fragments, std::vector<int32_t>& out) const {
  // SentencePiece adds a space in front of the text; llama.cpp does it again after every special token.
  bool after_special = true;
  std::string text;
  for (const Fragment& fr : fragments) {
    if (fr.token >= 0) {
      out.push_back(fr.token);
      after_special = true;
      continue;
    }
    text.clear();
    if (vocab.add_space_prefix && after_special) text = ' ';
    text.append(fr.text);
    spm_encode(vocab, spm_escape_spaces(text), out);
    after_special = false;
  }
}

void Tokenizer::Impl::encode_bpe(std::string_view raw, std::vector<int32_t>& out) const {
  const auto encode_valid = [&](std::string_view valid) {
    for (std::string_view word : pre->split(valid)) {
      bpe_encode_word(vocab, *merges, bytes_to_unicode(word), pre->whole_word_first(), out);
    }
  };
  // The regexes need valid UTF-8: malformed bytes are words of their own (still byte-level tokens).
  size_t start = 0;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t n = utf8_valid_len(raw, pos);
    if (n > 0) {
      pos += n;
      continue;
    }
    if (pos > start) encode_valid(raw.substr(start, pos - start));
    bpe_encode_word(vocab, *merges, bytes_to_unicode(raw.substr(pos, 1)), false, out);
    start = ++pos;
  }
  if (start < raw.size()) encode_valid(raw.substr(start));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  return encode(text, add_bos, false);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  if (add_bos && m.vocab.add_bos) out.push_back(m.vocab.bos);
  const std::vector<Fragment> fragments = m.special->partition(text, parse_special);
  if (m.spm) {
    m.encode_spm(fragments, out);
  } else {
    for (const Fragment& fr : fragments) {
      if (fr.token >= 0) out.push_back(fr.token);
      else m.encode_bpe(fr.text, out);
    }
  }
  return out;
}

std::string Tokenizer::piece(int32_t id) const {
  impl_->check_id(id);
  return impl_->spm ? spm_piece(impl_->vocab, id) : bpe_piece(impl_->vocab, id);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const Impl& m = *impl_;
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    m.check_id(id);
    if (m.vocab.is_type(id, TokenType::control)) continue;
    std::string p = piece(id);
    // Undo the space encode() put in front of SentencePiece text.
    if (first && m.spm && m.vocab.add_space_prefix && !p.empty() && p[0] == ' ') p.erase(0, 1);
    first = false;
    out += p;
  }
  return out;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab.text[static_cast<size_t>(id)];
}

bool Tokenizer::is_control(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab.is_type(id, TokenType::control);
}

int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
bool Tokenizer::is_eog(int32_t id) const { return impl_->eog.count(id) != 0; }
size_t Tokenizer::vocab_size() const { return impl_->vocab.size(); }
const std::string& Tokenizer::model_name() const { return impl_->vocab.model; }
const std::string& Tokenizer::pre_name() const { return impl_->vocab.pre; }

}  // namespace bitdial
