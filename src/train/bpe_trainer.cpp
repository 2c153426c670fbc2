#include "train/bpe_trainer.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "formats/hf_tokenizer.h"
#include "model/tokenizer/byte_unicode.h"
#include "model/tokenizer/pre_tokenizer.h"
#include "model/tokenizer/utf8.h"

namespace bitdial {

namespace {

// Word occurrence counts of the text, cut exactly as Tokenizer::encode cuts it for a "gpt2"
// vocabulary: valid UTF-8 runs go through the pre-tokenizer, each malformed byte is a word of its own.
std::unordered_map<std::string, int64_t> count_words(std::string_view text, const PreTokenizer& pre) {
  std::unordered_map<std::string, int64_t> counts;
  const auto add_valid = [&](std::string_view valid) {
    for (std::string_view word : pre.split(valid)) ++counts[std::string(word)];
  };
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = utf8_valid_len(text, pos);
    if (n > 0) {
      pos += n;
      continue;
    }
    if (pos > start) add_valid(text.substr(start, pos - start));
    ++counts[std::string(text.substr(pos, 1))];
    start = ++pos;
  }
  if (start < text.size()) add_valid(text.substr(start));
  return counts;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t pair_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t pair_right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

struct Word {
  std::vector<int32_t> symbols;  // token ids, concatenating to the word's bytes
  int64_t count = 0;             // occurrences in the text
};

// The merge state: the words as token sequences, how often each adjacent pair occurs (weighted by
// word count), and which words may hold each pair (a superset: entries go stale after merges and
// are re-checked), so a merge touches only the words that contain its pair.
class PairMerger {
 public:
  explicit PairMerger(std::vector<Word> words) : words_(std::move(words)) {
    for (uint32_t w = 0; w < words_.size(); ++w) add_pairs(w, -1);
  }

  // The most frequent pair, ties to the smallest (left bytes, right bytes); false when none is left.
  // A scan over the live pairs: a few thousand for a demo-sized text.
  bool best_pair(const std::vector<std::string>& token_bytes, uint64_t& best) const {
    int64_t best_count = 0;
    for (const auto& [key, count] : pair_count_) {
      if (count <= 0) continue;
      bool better = count > best_count;
      if (!better && count == best_count) {
        const std::string& l = token_bytes[static_cast<size_t>(pair_left(key))];
        const std::string& bl = token_bytes[static_cast<size_t>(pair_left(best))];
        const int c = l.compare(bl);
        better = c < 0 || (c == 0 && token_bytes[static_cast<size_t>(pair_right(key))] <
                                         token_bytes[static_cast<size_t>(pair_right(best))]);
      }
      if (better) {
        best = key;
        best_count = count;
      }
    }
    return best_count > 0;
  }

  // Replaces every non-overlapping occurrence (left to right) of the pair by `merged`.
  void merge(uint64_t key, int32_t merged) {
    const int32_t left = pair_left(key), right = pair_right(key);
    std::vector<uint32_t> holders = std::move(where_[key]);
    where_.erase(key);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    for (uint32_t w : holders) {
      std::vector<int32_t>& s = words_[w].symbols;
      bool present = false;
      for (size_t i = 0; i + 1 < s.size() && !present; ++i) present = s[i] == left && s[i + 1] == right;
      if (!present) continue;  // stale entry
      remove_pairs(w);
      std::vector<int32_t> next;
      next.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(s[i]);
        }
      }
      s = std::move(next);
      add_pairs(w, merged);
    }
  }

 private:
  // Counts the word's pairs; records the word as a holder of pairs that contain `fresh` (every pair
  // when fresh < 0), the only pairs it may not be listed under yet.
  void add_pairs(uint32_t w, int32_t fresh) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = pair_key(word.symbols[i], word.symbols[i + 1]);
      pair_count_[key] += word.count;
      if (fresh < 0 || word.symbols[i] == fresh || word.symbols[i + 1] == fresh) where_[key].push_back(w);
    }
  }

  void remove_pairs(uint32_t w) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const auto it = pair_count_.find(pair_key(word.symbols[i], word.symbols[i + 1]));
      BITDIAL_ASSERT(it != pair_count_.end());
      it->second -= word.count;
      if (it->second == 0) pair_count_.erase(it);
    }
  }

  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_count_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where_;
};

}  // namespace

BpeVocab train_bpe(std::string_view text, const BpeTrainOptions& options) {
  if (options.vocab_size < kBpeMinVocab || options.vocab_size >= (int64_t{1} << 31))
    fail("BPE vocabulary size ", options.vocab_size, " is out of range [", kBpeMinVocab, ", 2^31)");
  const PreTokenizer pre = PreTokenizer::for_name(options.pre, "BPE training");

  // Sorted so the word order, and with it every id, does not depend on hash-map iteration.
  const std::unordered_map<std::string, int64_t> counts = count_words(text, pre);
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [bytes, count] : sorted) {
    Word w;
    w.count = count;
    for (unsigned char b : bytes) w.symbols.push_back(b);
    words.push_back(std::move(w));
  }

  std::vector<std::string> token_bytes;  // raw bytes of each token id
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) {
    token_bytes.emplace_back(1, static_cast<char>(b));
    id_of.emplace(token_bytes.back(), b);
  }
  BpeVocab vocab;
  vocab.pre = options.pre;
  vocab.add_bos = options.add_bos;

  const size_t target_tokens = static_cast<size_t>(options.vocab_size) - 1;  // the special token comes last
  PairMerger merger(std::move(words));
  while (token_bytes.size() < target_tokens) {
    uint64_t best = 0;
    if (!merger.best_pair(token_bytes, best))
      fail("BPE training: the text has no pairs left to merge at ", token_bytes.size() + 1, " tokens; vocabulary size ",
           options.vocab_size, " needs more (or more varied) text");
    const std::string& left = token_bytes[static_cast<size_t>(pair_left(best))];
    const std::string& right = token_bytes[static_cast<size_t>(pair_right(best))];
    vocab.merges.push_back(bytes_to_unicode(left) + " " + bytes_to_unicode(right));
    std::string joined = left + right;
    // Two different pairs can spell the same string ("a"+"bc", "ab"+"c"): the merge is kept, the
    // token is not added twice.
    auto [it, added] = id_of.emplace(std::move(joined), static_cast<int32_t>(token_bytes.size()));
    if (added) token_bytes.push_back(it->first);
    merger.merge(best, it->second);
  }

  for (const std::string& bytes : token_bytes) vocab.tokens.push_back(bytes_to_unicode(bytes));
  vocab.end_of_text = static_cast<int32_t>(vocab.tokens.size());
  vocab.tokens.emplace_back(kBpeEndOfText);
  return vocab;
}

SynthVocab bpe_synth_vocab(const BpeVocab& vocab) {
  BITDIAL_ASSERT(vocab.end_of_text >= 0 && static_cast<size_t>(vocab.end_of_text) < vocab.tokens.size());
  GgufTokenizer t;
  t.model = "gpt2";
  t.pre = vocab.pre;
  t.tokens = vocab.tokens;
  t.token_types.assign(vocab.tokens.size(), static_cast<int32_t>(TokenType::normal));
  t.token_types[static_cast<size_t>(vocab.end_of_text)] = static_cast<int32_t>(TokenType::control);
  t.merges = vocab.merges;
  t.bos_id = static_cast<uint32_t>(vocab.end_of_text);
  t.eos_id = static_cast<uint32_t>(vocab.end_of_text);
  t.add_bos = vocab.add_bos;
  t.add_eos = false;
  GgufWriter w;
  tokenizer_to_gguf(t, w);
  return {w.metadata(), static_cast<int64_t>(vocab.tokens.size()), "trained BPE"};
}

}  // namespace bitdial
