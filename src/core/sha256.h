// SHA-256 digests (OpenSSL's libcrypto) as lowercase hex, for cache keys: a sweep names each cached
// artefact by the digest of every input that decides it, so changed inputs can never reuse a result.
#pragma once

#include <string>
#include <string_view>

namespace bitdial {

std::string sha256_hex(std::string_view data);

// Digest of a file's bytes, streamed (constant memory). Throws bitdial::Error naming the file when it
// cannot be read.
std::string sha256_file_hex(const std::string& path);

// Accumulates named fields into one digest; each field is length-prefixed so ("ab","c") and ("a","bc")
// differ.
class KeyBuilder {
 public:
  KeyBuilder& add(std::string_view name, std::string_view value);
  KeyBuilder& add(std::string_view name, double value);
  KeyBuilder& add(std::string_view name, long long value);
  std::string hex() const;  // sha256 of everything added, in order

 private:
  std::string buf_;
};

}  // namespace bitdial
