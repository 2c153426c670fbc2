#include "model/tokenizer/special_tokens.h"

#include <algorithm>

namespace bitdial {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocab& vocab) {
  terminal_.push_back(-1);  // root
  for (size_t id = 0; id < vocab.size(); ++id) {
    const TokenType t = vocab.type[id];
    if (t != TokenType::user_defined && t != TokenType::control && t != TokenType::unknown) continue;
    const std::string& s = vocab.text[id];
    if (s.empty()) continue;
    int32_t node = 0;
    for (char c : s) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, static_cast<int32_t>(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    // Duplicate texts: the later id wins, as in the vocabulary's own index.
    if (terminal_[node] >= 0) {
      by_id_[terminal_[node]] = {static_cast<int32_t>(id), t == TokenType::user_defined};
      continue;
    }
    terminal_[node] = static_cast<int32_t>(by_id_.size());
    by_id_.push_back({static_cast<int32_t>(id), t == TokenType::user_defined});
    length_.push_back(s.size());
  }
  order_.resize(by_id_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int32_t>(i);
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return length_[a] > length_[b]; });
  rank_.resize(by_id_.size());
  for (size_t r = 0; r < order_.size(); ++r) rank_[order_[r]] = static_cast<int32_t>(r);
}

std::vector<Fragment> SpecialTokenMatcher::partition(std::string_view text, bool parse_special) const {
  // 1. Every occurrence of every eligible token: walk the trie from each position.
  struct Hit {
    int32_t rank;
    size_t pos;
  };
  std::vector<Hit> hits;
  if (!by_id_.empty()) {
    for (size_t pos = 0; pos < text.size(); ++pos) {
      int32_t node = 0;
      for (size_t i = pos; i < text.size(); ++i) {
        const auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[i]));
        if (it == edges_.end()) break;
        node = it->second;
        const int32_t c = terminal_[node];
        if (c >= 0 && (parse_special || by_id_[c].always)) hits.push_back({rank_[c], pos});
      }
    }
  }
  if (hits.empty()) {
    if (text.empty()) return {};
    return {Fragment{text, -1}};
  }
  // 2. Longest tokens claim first; within a token, leftmost non-overlapping occurrences in unclaimed text.
  std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
  });
  std::vector<int32_t> owner(text.size(), -1);  // byte -> rank of the token occurrence that claimed it
  std::vector<bool> starts(text.size(), false);
  size_t last_end = 0;
  int32_t last_rank = -1;
  for (const Hit& h : hits) {
    if (h.rank != last_rank) {
      last_rank = h.rank;
      last_end = 0;
    }
    const size_t len = length_[order_[h.rank]];
    if (h.pos < last_end) continue;
    bool free = true;
    for (size_t i = h.pos; i < h.pos + len && free; ++i) free = owner[i] < 0;
    if (!free) continue;
    for (size_t i = h.pos; i < h.pos + len; ++i) owner[i] = h.rank;
    starts[h.pos] = true;
    last_end = h.pos + len;
  }
  // 3. Emit raw runs and claimed tokens in text order.
  std::vector<Fragment> out;
  size_t raw_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (owner[pos] < 0 || !starts[pos]) {
      ++pos;
      continue;
    }
    if (pos > raw_start) out.push_back({text.substr(raw_start, pos - raw_start), -1});
    const int32_t c = order_[owner[pos]];
    out.push_back({text.substr(pos, length_[c]), by_id_[c].id});
    pos += length_[c];
    raw_start = pos;
  }
  if (raw_start < text.size()) out.push_back({text.substr(raw_start), -1});
  return out;
}

}  // namespace bitdial
