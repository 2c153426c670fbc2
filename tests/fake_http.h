// Test doubles for HTTP clients: a local server that answers POSTs to one path with a handler, a port
// that refuses connections, and the whitespace tokenizer the fake OpenAI endpoints use.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace bitdial::test {

// Serves POST `path` on 127.0.0.1 (any free port) from a background thread; requests are handled one at
// a time (the handler needs no locking of its own).
class LocalHttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  LocalHttpServer(const std::string& path, Handler handler);
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;
  // "http://127.0.0.1:<port>/v1"
  std::string url() const;

 private:
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  int port_ = 0;
};

// A bound socket that never listens: connecting is refused, and no other process can take the port.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  const std::string& url() const { return url_; }  // "http://127.0.0.1:<port>/v1"

 private:
  int fd_ = -1;
  std::string url_;
};

// Whitespace run + non-whitespace run: "The cat" -> "The", " cat".
std::vector<std::string> split_words(const std::string& text);

}  // namespace bitdial::test
