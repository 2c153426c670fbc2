// HTTP transport of UpstreamBackend: JSON POSTs to an OpenAI-compatible endpoint under a deadline that
// bounds the whole exchange (a stalled stream included), with retries of connection failures, 5xx and
// 429 while the caller has seen nothing, and a small pool of keep-alive clients shared by threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "eval/base_url.h"

namespace httplib {
class Client;
}

namespace bitdial::serve::upstream {

using Clock = std::chrono::steady_clock;

// When the whole exchange (all attempts, backoff included) must be over; `seconds` names it in messages.
struct Deadline {
  Clock::time_point at;
  double seconds = 0;
  static Deadline after(double s) {
    return {Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)), s};
  }
};

// Receives a 2xx body as it arrives; return false to abort the exchange (no error follows).
using BodyReceiver = std::function<bool(std::string_view bytes)>;

struct PostResult {
  int status = 0;            // a 2xx, or a non-retryable error status (4xx) for the caller to map
  std::string body;          // the whole body, unless a receiver took a 2xx body
  std::string content_type;  // as the server sent it ("text/event-stream", "application/json", …)
  bool cancelled = false;    // the receiver returned false
};

class UpstreamHttp {
 public:
  // bearer_token "" sends no Authorization header. Throws bitdial::Error for a bad URL.
  UpstreamHttp(const std::string& base_url, std::string bearer_token, double connect_timeout_s, int retries);
  ~UpstreamHttp();
  UpstreamHttp(const UpstreamHttp&) = delete;
  UpstreamHttp& operator=(const UpstreamHttp&) = delete;

  const std::string& base_url() const { return base_url_; }  // normalized: no trailing '/'

  // POSTs `body` (JSON) to {base_url}{path}. Connection failures, 5xx and 429 are retried up to
  // `retries` more times with backoff 0.2 s * 2^attempt, while may_retry() (nothing was delivered to
  // the client yet) and the deadline allow. may_retry() is asked only right before another attempt
  // would start, so a receiver that keeps per-attempt state can reset it there. Throws BackendError: 504 when the deadline passes (the
  // exchange is cut at once, even mid-stream), 502 for a refused/broken connection or a 5xx/429 that
  // outlived its retries (an upstream 504 stays 504). Other statuses come back for the caller to map
  // (see throw_for_status). A receiver that throws aborts the exchange and the exception propagates.
  PostResult post(const std::string& path, const std::string& body, const Deadline& deadline,
                  const BodyReceiver& receiver = nullptr, const std::function<bool()>& may_retry = nullptr);

  // Maps a non-2xx status left by post(): 400/413/422 → InvalidRequest with the upstream's message (the
  // client's fault); 401/403 → BackendError 502 about the API key; anything else → BackendError 502.
  [[noreturn]] void throw_for_status(const std::string& path, const PostResult& r) const;

 private:
  std::unique_ptr<httplib::Client> acquire();
  void release(std::unique_ptr<httplib::Client> client);

  BaseUrl url_;
  std::string base_url_;
  std::string bearer_;
  double connect_timeout_s_;
  int retries_;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;  // guarded by mu_; each serves one request at a time
};

}  // namespace bitdial::serve::upstream
