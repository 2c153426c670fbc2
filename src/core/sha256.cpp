#include "core/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.h"

namespace bitdial {
namespace {

struct CtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_MD_CTX, CtxDeleter>;

Ctx new_ctx() {
  Ctx c(EVP_MD_CTX_new());
  if (!c || EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr) != 1) fail("sha256: OpenSSL digest initialisation failed");
  return c;
}

std::string finish_hex(EVP_MD_CTX* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(c, md, &n) != 1) fail("sha256: OpenSSL digest failed");
  static const char* kHex = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    s.push_back(kHex[md[i] >> 4]);
    s.push_back(kHex[md[i] & 15]);
  }
  return s;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  Ctx c = new_ctx();
  EVP_DigestUpdate(c.get(), data.data(), data.size());
  return finish_hex(c.get());
}

std::string sha256_file_hex(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, ": cannot open for reading");
  Ctx c = new_ctx();
  std::vector<char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(c.get(), buf.data(), n);
  if (std::ferror(f.get())) fail(path, ": read error");
  return finish_hex(c.get());
}

KeyBuilder& KeyBuilder::add(std::string_view name, std::string_view value) {
  buf_ += std::to_string(name.size()) + ":" + std::string(name) + "=" + std::to_string(value.size()) + ":" +
          std::string(value) + ";";
  return *this;
}

KeyBuilder& KeyBuilder::add(std::string_view name, double value) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", value);
  return add(name, std::string_view(b));
}

KeyBuilder& KeyBuilder::add(std::string_view name, long long value) { return add(name, std::to_string(value)); }

std::string KeyBuilder::hex() const { return sha256_hex(buf_); }

}  // namespace bitdial
