#include "model/tokenizer/bpe.h"

#include <queue>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/tokenizer/byte_unicode.h"
#include "model/tokenizer/utf8.h"

namespace bitdial {

BpeMerges BpeMerges::from_gguf(const GgufFile& f) {
  const GgufValue* v = f.find("tokenizer.ggml.merges");
  if (v == nullptr) fail(f.path(), ": tokenizer.ggml.merges: missing (needed by a gpt2 tokenizer)");
  if (v->type() != GgufValueType::ARRAY || v->as_array().elem_type != GgufValueType::STRING) {
    fail(f.path(), ": tokenizer.ggml.merges: expected an array of strings");
  }
  const auto& items = v->as_array().items;
  BpeMerges m;
  m.rank_.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& s = items[i].as_string();
    // The separator is the first space after the first character (a side may itself start with ' ').
    const size_t sep = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
    if (sep == std::string::npos || sep + 1 >= s.size()) {
      fail(f.path(), ": tokenizer.ggml.merges[", i, "]: \"", s, "\" is not \"left right\"");
    }
    m.rank_.emplace(s, static_cast<int>(i));  // the first occurrence keeps its rank
  }
  return m;
}

int BpeMerges::rank(std::string_view left, std::string_view right) const {
  thread_local std::string key;
  key.assign(left);
  key += ' ';
  key.append(right);
  const auto it = rank_.find(key);
  return it == rank_.end() ? -1 : it->second;
}

namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t len;  // 0 once merged into the left neighbour
};

struct Pair {
  int rank;
  int left;
  int right;
  size_t len;  // combined length when queued; a mismatch later means the entry is stale
};

// Lowest rank first; on equal ranks the leftmost pair.
struct PairOrder {
  bool operator()(const Pair& a, const Pair& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void bpe_encode_word(const Vocab& vocab, const BpeMerges& merges, std::string_view word, bool whole_word_first,
                     std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (whole_word_first) {
    const int32_t id = vocab.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  for (size_t pos = 0; pos < word.size();) {
    const size_t n = std::min(utf8_len(static_cast<uint8_t>(word[pos])), word.size() - pos);
    const int i = static_cast<int>(sym.size());
    sym.push_back({i - 1, i + 1, pos, n});
    pos += n;
  }
  sym.back().next = -1;

  std::priority_queue<Pair, std::vector<Pair>, PairOrder> queue;
  const auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int r = merges.rank(word.substr(sym[left].start, sym[left].len), word.substr(sym[right].start, sym[right].len));
    if (r >= 0) queue.push({r, left, right, sym[left].len + sym[right].len});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_pair(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& l = sym[p.left];
    Symbol& r = sym[p.right];
    if (l.len == 0 || r.len == 0 || l.next != p.right || l.len + r.len != p.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = p.left;
    try_pair(l.prev, p.left);
    try_pair(p.left, l.next);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = word.substr(sym[i].start, sym[i].len);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // A merge result missing from the vocabulary (a malformed vocab): fall back to its characters.
    for (size_t pos = 0; pos < piece.size();) {
      const size_t n = std::min(utf8_len(static_cast<uint8_t>(piece[pos])), piece.size() - pos);
      const int32_t c = vocab.find(piece.substr(pos, n));
      if (c >= 0) out.push_back(c);
      else if (vocab.unk >= 0) out.push_back(vocab.unk);
      pos += n;
    }
  }
}

std::string bpe_piece(const Vocab& vocab, int32_t id) {
  const std::string& t = vocab.text[static_cast<size_t>(id)];
  switch (vocab.type[static_cast<size_t>(id)]) {
    case TokenType::control:
    case TokenType::unused:
      return "";
    case TokenType::user_defined:
      return t;
    default:
      return unicode_to_bytes(t);
  }
}

}  // namespace bitdial
