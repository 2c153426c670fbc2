// The OpenAI-compatible HTTP surface of `bitdial serve` on cpp-httplib: /v1/completions,
// /v1/chat/completions (JSON or server-sent events), /v1/models, /v1/feedback, /health, /metrics and
// the admin endpoints; keys, body/concurrency limits and OpenAI-style error bodies. All logic behind a
// request lives in the Gateway; this file parses, authenticates, limits and formats.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/gateway.h"

namespace httplib {
class Server;
}

namespace bitdial::serve {

class HttpServer {
 public:
  explicit HttpServer(Gateway& gateway);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port); throws bitdial::Error when it cannot. Returns the port.
  int bind(const std::string& host, int port);
  // Serves until stop(); in-flight requests finish before it returns.
  void run();
  // Stops accepting; safe from any thread (and from a signal-watching thread).
  void stop();
  // True once run() accepts connections (stop() before that would be missed).
  bool running() const;
  int port() const { return port_; }

 private:
  void routes();
  Gateway& gateway_;
  std::unique_ptr<httplib::Server> server_;
  std::atomic<int> in_flight_{0};
  int port_ = 0;
};

}  // namespace bitdial::serve
