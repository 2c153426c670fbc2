// UTF-8 helpers for the tokenizers: character lengths, encoding a code point, and locating the first
// malformed sequence (for error messages that name a byte offset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitdial {

// Length of the UTF-8 sequence that starts with byte `lead` (1 for continuation or invalid bytes, so
// a scan always advances).
size_t utf8_len(uint8_t lead);

// Appends the UTF-8 encoding of code point cp (cp < 0x110000) to out.
void utf8_append(std::string& out, uint32_t cp);

// Length of the well-formed UTF-8 sequence at text[pos] (no overlongs, no surrogates, <= U+10FFFF),
// or 0 when the bytes there are malformed.
size_t utf8_valid_len(std::string_view text, size_t pos);

// Code points in s (bytes that are not continuation bytes): the character offsets OpenAI-style APIs
// report (Python string indices).
int64_t utf8_chars(std::string_view s);

// Byte offset of the first malformed UTF-8 sequence, or nullopt when the whole text is valid.
std::optional<size_t> utf8_find_invalid(std::string_view text);

}  // namespace bitdial
