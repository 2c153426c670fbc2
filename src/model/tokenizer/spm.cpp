#include "model/tokenizer/spm.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <queue>

#include "model/tokenizer/utf8.h"

namespace bitdial {

std::string spm_escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') out += kSpmSpace;
    else out += c;
  }
  return out;
}

namespace {

// A run of the input, linked to its neighbours; len == 0 marks a symbol merged into its left neighbour.
struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t len;
};

struct Bigram {
  float score;
  int left;
  int right;
  size_t len;  // combined length when queued; a mismatch later means the entry is stale
};

// Highest score first; on equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

int32_t byte_token(const Vocab& vocab, uint8_t b) {
  char name[8];
  std::snprintf(name, sizeof name, "<0x%02X>", b);
  const int32_t id = vocab.find(name);
  if (id >= 0 && vocab.is_type(id, TokenType::byte)) return id;
  return -1;
}

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> sym;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = std::min(utf8_len(static_cast<uint8_t>(text[pos])), text.size() - pos);
    const int i = static_cast<int>(sym.size());
    sym.push_back({i - 1, i + 1, pos, n});
    pos += n;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t len = sym[left].len + sym[right].len;
    const int32_t id = vocab.find(text.substr(sym[left].start, len));
    if (id < 0) return;
    queue.push({vocab.score[static_cast<size_t>(id)], left, right, len});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_pair(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_pair(l.prev, b.left);
    try_pair(b.left, l.next);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].start, sym[i].len);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Only single characters can be missing: every merge produced a token.
    bool bytes_ok = true;
    for (char c : piece) bytes_ok = bytes_ok && byte_token(vocab, static_cast<uint8_t>(c)) >= 0;
    if (bytes_ok) {
      for (char c : piece) out.push_back(byte_token(vocab, static_cast<uint8_t>(c)));
    } else if (vocab.unk >= 0) {
      out.push_back(vocab.unk);
    }
  }
}

std::string spm_piece(const Vocab& vocab, int32_t id) {
  const std::string& t = vocab.text[static_cast<size_t>(id)];
  switch (vocab.type[static_cast<size_t>(id)]) {
    case TokenType::control:
    case TokenType::unused:
      return "";
    case TokenType::unknown:
      return "\xE2\x96\x85";
    case TokenType::byte:
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4]))) {
        return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
      }
      return t;
    default: {
      std::string out;
      out.reserve(t.size());
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
          out += ' ';
          i += kSpmSpace.size();
        } else {
          out += t[i++];
        }
      }
      return out;
    }
  }
}

}  // namespace bitdial
