// Base-URL parsing for OpenAI-compatible endpoints; see base_url.h.
#include "eval/base_url.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/error.h"

namespace bitdial {

BaseUrl parse_base_url(const std::string& url) {
  const char* example = "; expected e.g. http://127.0.0.1:8080/v1";
  size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") fail(url, ": not an http:// or https:// URL", example);
  if (url.find_first_of("?# \t\r\n") != std::string::npos)
    fail(url, ": a base URL takes no query, fragment or spaces", example);
  std::string rest = url.substr(sep + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos)
    fail(url, ": credentials in the URL are not supported; pass the key through an environment variable");
  std::string host = authority, port;
  if (!authority.empty() && authority[0] == '[') {  // IPv6 literal: [::1]:8080
    size_t close = authority.find(']');
    if (close == std::string::npos) fail(url, ": unclosed '[' in the host", example);
    host = authority.substr(0, close + 1);
    std::string tail = authority.substr(close + 1);
    if (!tail.empty() && tail[0] != ':') fail(url, ": unexpected '", tail, "' after the host", example);
    if (!tail.empty()) port = tail.substr(1);
  } else if (size_t colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) fail(url, ": empty port after ':'", example);
  }
  if (host.empty() || host == "[]") fail(url, ": no host", example);
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr(".-_[]:", c))
      fail(url, ": invalid character '", c, "' in the host", example);
  if (!port.empty()) {
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
      fail(url, ": port '", port, "' is not a number in 1..65535", example);
  }
  return {scheme + "://" + authority, path};
}

bool is_http_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

}  // namespace bitdial
