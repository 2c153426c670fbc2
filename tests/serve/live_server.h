// A real `bitdial serve` stack (backends, Gateway, HttpServer) on a free loopback port, run on a
// background thread, for tests that talk to it over HTTP; plus the quantized copy of stories260K the
// integration tests use as the primary (made once per test binary with `bitdial quantize`).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve/gateway.h"
#include "serve/http_server.h"
#include "serve/quick_config.h"
#include "test_support.h"

namespace bitdial::test {

inline std::string stories_model() { return shared_path("models/stories260K.gguf"); }

// stories260K quantized to Q8_0 in a folder that lives as long as the test process.
inline const std::string& quantized_stories() {
  // Removed at exit (ctest runs every test in its own process: a leaked folder per test filled
  // /tmp with hundreds of copies). Unlinking a file a server still maps is harmless on Linux.
  static const TempDir dir;
  static const std::string path = [] {
    const std::string out = dir.file("stories-q8_0.gguf");
    const CommandResult r = run_bitdial("quantize " + stories_model() + " " + out + " --type q8_0");
    if (r.exit_code != 0) ADD_FAILURE() << "quantize failed: " << r.err;
    return out;
  }();
  return path;
}

inline serve::BackendConfig local_backend(const std::string& name, const std::string& path, int max_batch = 16) {
  serve::BackendConfig b;
  b.name = name;
  b.model = path;
  b.max_batch = max_batch;
  return b;
}

// An upstream backend at `url` that fails at once (no retries): failover tests.
inline serve::BackendConfig upstream_backend(const std::string& name, const std::string& url) {
  serve::BackendConfig b;
  b.name = name;
  b.url = url;
  b.retries = 0;
  b.timeout_s = 5;
  return b;
}

// primary = quantized copy, baseline = stories260K; one route "default" primary -> baseline.
inline serve::ServeConfig two_model_config(const std::string& db) {
  serve::ServeConfig c;
  c.source = "test";
  c.db = db;
  c.engine_threads = 1;
  c.backends = {local_backend("primary", quantized_stories()), local_backend("baseline", stories_model())};
  serve::RouteConfig r;
  r.name = "default";
  r.primary = "primary";
  r.fallback = "baseline";
  c.routes = {r};
  return c;
}

class LiveServer {
 public:
  explicit LiveServer(const serve::ServeConfig& config) {
    serve::validate_serve_config(config);
    gateway_ = std::make_unique<serve::Gateway>(config, serve::start_backends(config));
    http_ = std::make_unique<serve::HttpServer>(*gateway_);
    port_ = http_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { http_->run(); });
    while (!http_->running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LiveServer() { shutdown(); }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // Graceful stop: in-flight requests finish, queued events are written.
  void shutdown() {
    if (!http_) return;
    http_->stop();
    thread_.join();
    http_.reset();
    gateway_.reset();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  serve::Gateway& gateway() { return *gateway_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  // POST path with a JSON body; the parsed answer (null when the body is not JSON) and status.
  std::pair<int, nlohmann::json> post(const std::string& path, const nlohmann::json& body,
                                      const httplib::Headers& headers = {}) const {
    httplib::Client c = client();
    const auto res = c.Post(path.c_str(), headers, body.dump(), "application/json");
    if (!res) return {0, nullptr};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }

 private:
  std::unique_ptr<serve::Gateway> gateway_;
  std::unique_ptr<serve::HttpServer> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace bitdial::test
