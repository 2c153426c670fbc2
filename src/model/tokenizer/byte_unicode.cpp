#include "model/tokenizer/byte_unicode.h"

#include <array>
#include <unordered_map>

#include "model/tokenizer/utf8.h"

namespace bitdial {

namespace {

struct ByteTables {
  std::array<std::string, 256> to_text;
  std::unordered_map<uint32_t, uint8_t> from_cp;
  ByteTables() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? b : next++;
      utf8_append(to_text[b], cp);
      from_cp[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return tables().to_text[b]; }

std::string bytes_to_unicode(std::string_view raw) {
  const ByteTables& t = tables();
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += t.to_text[static_cast<uint8_t>(c)];
  return out;
}

std::string unicode_to_bytes(std::string_view mapped) {
  const ByteTables& t = tables();
  std::string out;
  out.reserve(mapped.size());
  for (size_t pos = 0; pos < mapped.size();) {
    const size_t n = utf8_valid_len(mapped, pos);
    if (n == 0) {
      out += mapped[pos++];
      continue;
    }
    uint32_t cp = static_cast<uint8_t>(mapped[pos]);
    if (n > 1) {
      static constexpr uint8_t kLeadMask[] = {0, 0, 0x1F, 0x0F, 0x07};
      cp &= kLeadMask[n];
      for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<uint8_t>(mapped[pos + i]) & 0x3F);
    }
    const auto it = t.from_cp.find(cp);
    if (it != t.from_cp.end()) out += static_cast<char>(it->second);
    else out.append(mapped.substr(pos, n));
    pos += n;
  }
  return out;
}

}  // namespace bitdial
