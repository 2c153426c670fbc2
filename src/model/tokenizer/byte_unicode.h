// GPT-2's reversible byte <-> Unicode mapping for byte-level BPE: printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 bytes map in byte order to U+0100, U+0101, ...
// so every byte string becomes printable text without spaces or control characters (space -> 'Ġ').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bitdial {

// UTF-8 text of the code point standing for byte b.
const std::string& byte_to_unicode(uint8_t b);

// Maps every byte of raw through byte_to_unicode.
std::string bytes_to_unicode(std::string_view raw);

// The inverse over a whole mapped string; characters outside the mapping are copied unchanged.
std::string unicode_to_bytes(std::string_view mapped);

}  // namespace bitdial
