// Parses the base URL of an OpenAI-compatible endpoint ("http(s)://host[:port][/path]", normally
// ending in /v1) into what httplib::Client takes and the path prefix requests go under. Shared by the
// eval client (RemoteModel) and serve's upstream backend, so both accept and reject the same URLs.
#pragma once

#include <string>

namespace bitdial {

struct BaseUrl {
  std::string scheme_authority;  // what httplib::Client takes: "http://host:port"
  std::string path;              // "/v1", no trailing '/' ("" when the URL has no path)
  std::string full() const { return scheme_authority + path; }
};

// Throws bitdial::Error naming the URL and what is wrong (scheme, query, credentials, host, port).
BaseUrl parse_base_url(const std::string& url);

// True when s starts with http:// or https:// (a model given as an endpoint rather than a file).
bool is_http_url(const std::string& s);

}  // namespace bitdial
