#include "serve/token_text.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/tokenizer/utf8.h"

namespace bitdial::serve {

std::vector<std::pair<int32_t, double>> top_logprobs(const float* row, int64_t n, int k, const LogSoftmax& ls) {
  std::vector<std::pair<int32_t, double>> out;
  if (k <= 0 || n <= 0) return out;
  const size_t kk = static_cast<size_t>(std::min<int64_t>(k, n));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const auto better = [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(kk), ids.end(), better);
  out.reserve(kk);
  for (size_t i = 0; i < kk; ++i) out.emplace_back(ids[i], ls.at(row[ids[i]]));
  return out;
}

std::vector<std::string> prompt_token_texts(const Tokenizer& tok, const std::vector<int32_t>& ids, bool as_text) {
  std::vector<std::string> texts(ids.size());
  std::string joined;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!tok.is_control(ids[i])) texts[i] = tok.piece(ids[i]);
    joined += texts[i];
  }
  if (!as_text) return texts;
  // decode() drops the one space SentencePiece put in front of the text; take it from the first token
  // that has any bytes, which is where encode() put it.
  const std::string decoded = tok.decode(ids);
  if (joined.size() == decoded.size() + 1 && joined[0] == ' ' && joined.compare(1, std::string::npos, decoded) == 0) {
    for (std::string& t : texts)
      if (!t.empty()) {
        t.erase(0, 1);
        break;
      }
  }
  return texts;
}

GeneratedText::GeneratedText(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const std::string& s : stops_) longest_stop_ = std::max(longest_stop_, s.size());
}

bool GeneratedText::append(const std::string& piece) {
  if (stopped_) return true;
  const size_t before = text_.size();
  starts_.push_back(before);
  text_ += piece;
  ends_.push_back(text_.size());
  // A new match must end inside the new bytes, so it starts at most longest_stop_ - 1 bytes earlier.
  const size_t from = before >= longest_stop_ ? before - longest_stop_ + 1 : 0;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, text_.find(s, from));
  if (cut == std::string::npos) return false;
  stopped_ = true;
  text_.resize(cut);
  // Tokens that begin at or after the cut contributed only to the stop string.
  while (!starts_.empty() && starts_.back() >= cut) {
    starts_.pop_back();
    ends_.pop_back();
  }
  if (!ends_.empty()) ends_.back() = std::min(ends_.back(), cut);
  return true;
}

std::string GeneratedText::take_ready(bool finished) {
  size_t end = text_.size();
  if (!finished && !stopped_) {
    // Hold back the longest tail that is a proper prefix of a stop string.
    for (const std::string& s : stops_)
      for (size_t len = std::min(s.size() - 1, text_.size()); len > 0; --len)
        if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
          end = std::min(end, text_.size() - len);
          break;
        }
    // Hold back an unfinished UTF-8 character at the end (at most 3 bytes of a 4-byte sequence).
    for (size_t back = 1; back <= 3 && back <= end; ++back) {
      const unsigned char c = static_cast<unsigned char>(text_[end - back]);
      if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
      if (c >= 0xC0 && utf8_len(c) > back) end -= back;
      break;
    }
  }
  if (end <= sent_) return {};
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

std::string GeneratedText::token_bytes(size_t i) const { return text_.substr(starts_[i], ends_[i] - starts_[i]); }

}  // namespace bitdial::serve
