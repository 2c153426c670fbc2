// POSTs to an upstream endpoint with retries, a whole-exchange deadline and a pool of keep-alive clients.
// httplib::Client serves one request at a time, so each call takes a client from the pool (or makes
// one) and gives it back only after a clean exchange; a client cut off mid-body is dropped.
#include "serve/upstream_http.h"

#include <httplib.h>

#include <cmath>
#include <condition_variable>
#include <thread>

#include "core/error.h"
#include "serve/generation.h"
#include "serve/upstream_wire.h"

namespace bitdial::serve::upstream {

namespace {

constexpr size_t kMaxIdleClients = 16;  // beyond this, finished clients are closed instead of kept
constexpr double kBackoffBaseS = 0.2;   // sleep before retry n (0-based): 0.2 s * 2^n

// Cuts the exchange at the deadline: httplib's timeouts are per read, so a stream that stalls after a
// few tokens would otherwise wait a whole read timeout past the deadline. stop() shuts the socket
// down from this thread (httplib's documented way to abort an exchange in flight); it is repeated
// because a stop() landing before the socket exists does nothing.
class Watchdog {
 public:
  Watchdog(httplib::Client& client, Clock::time_point deadline)
      : thread_([this, &client, deadline] {
          std::unique_lock lock(mu_);
          if (done_cv_.wait_until(lock, deadline, [this] { return done_; })) return;
          fired_ = true;
          while (!done_) {
            lock.unlock();
            client.stop();
            lock.lock();
            done_cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return done_; });
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;   // guarded by mu_
  bool fired_ = false;  // guarded by mu_
  std::thread thread_;  // last: starts once the members above exist
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string transport_error(httplib::Error e, double connect_timeout_s) {
  std::string what;
  switch (e) {
    case httplib::Error::Connection: what = "cannot connect (connection refused or host unreachable)"; break;
    case httplib::Error::ConnectionTimeout: what = concat("connection timed out after ", connect_timeout_s, " s"); break;
    case httplib::Error::Read: what = "the connection broke while reading the answer"; break;
    case httplib::Error::Write: what = "the connection broke while sending the request"; break;
    case httplib::Error::SSLConnection: what = "TLS handshake failed"; break;
    case httplib::Error::SSLServerVerification: what = "the server's TLS certificate did not verify"; break;
    default: what = "request failed"; break;
  }
  return concat(what, " [", httplib::to_string(e), "]");
}

// Failures worth another attempt: the server may be restarting or briefly overloaded. TLS verification
// and the like fail the same way every time.
bool retryable(httplib::Error e) {
  return e == httplib::Error::Connection || e == httplib::Error::ConnectionTimeout || e == httplib::Error::Read ||
         e == httplib::Error::Write || e == httplib::Error::SSLConnection;
}

}  // namespace

UpstreamHttp::UpstreamHttp(const std::string& base_url, std::string bearer_token, double connect_timeout_s,
                           int retries)
    : url_(parse_base_url(base_url)),
      base_url_(url_.full()),
      bearer_(std::move(bearer_token)),
      connect_timeout_s_(connect_timeout_s),
      retries_(retries) {
  if (!(connect_timeout_s > 0)) fail(base_url, ": connect_timeout_s must be > 0, got ", connect_timeout_s);
  if (retries < 0) fail(base_url, ": retries must be >= 0, got ", retries);
  if (!httplib::Client(url_.scheme_authority).is_valid()) fail(base_url, ": the HTTP client rejected this address");
}

UpstreamHttp::~UpstreamHttp() = default;

std::unique_ptr<httplib::Client> UpstreamHttp::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(url_.scheme_authority);
  c->set_connection_timeout(std::chrono::duration<double>(connect_timeout_s_));
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // requests are small writes; Nagle would hold them for the previous ACK
  if (!bearer_.empty()) c->set_bearer_token_auth(bearer_);
  return c;
}

void UpstreamHttp::release(std::unique_ptr<httplib::Client> client) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleClients) idle_.push_back(std::move(client));
}

PostResult UpstreamHttp::post(const std::string& path, const std::string& body, const Deadline& deadline,
                              const BodyReceiver& receiver, const std::function<bool()>& may_retry) {
  const std::string url = base_url_ + path;
  for (int attempt = 0;; ++attempt) {
    const Clock::time_point start = Clock::now();
    if (start >= deadline.at) throw BackendError(504, concat(url, ": timed out: no answer within ", deadline.seconds, " s"));
    std::unique_ptr<httplib::Client> client = acquire();
    // The watchdog bounds the exchange; httplib's own per-read timeout only needs to stay out of its way.
    const auto limit = std::chrono::duration<double>(seconds(deadline.at - start) + 1.0);
    client->set_read_timeout(limit);
    client->set_write_timeout(limit);

    PostResult out;
    std::exception_ptr thrown;
    httplib::Request req;
    req.method = "POST";
    req.path = url_.path + path;
    req.body = body;
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", receiver ? "text/event-stream, application/json" : "application/json");
    req.response_handler = [&](const httplib::Response& res) {
      out.status = res.status;
      out.content_type = res.get_header_value("Content-Type");
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (Clock::now() >= deadline.at) return false;
      if (!receiver || out.status / 100 != 2) {
        out.body.append(data, n);
        return true;
      }
      try {
        if (receiver(std::string_view(data, n))) return true;
        out.cancelled = true;
      } catch (...) {
        thrown = std::current_exception();
      }
      return false;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool ok = false, fired = false;
    {
      Watchdog dog(*client, deadline.at);
      ok = client->send(req, res, err);
      fired = dog.fired();
    }
    if (thrown) std::rethrow_exception(thrown);
    if (out.cancelled) return out;
    if (fired || (!ok && Clock::now() >= deadline.at))
      throw BackendError(504, concat(url, ": timed out: no complete answer within ", deadline.seconds, " s"));

    std::string failure;
    int fail_status = 502;
    bool again = false;
    if (!ok) {
      failure = transport_error(err, connect_timeout_s_);
      again = retryable(err);
    } else {
      out.status = res.status;
      if (out.status / 100 == 2 || !(out.status >= 500 || out.status == 429)) {
        release(std::move(client));
        return out;
      }
      release(std::move(client));
      failure = concat("HTTP ", out.status, ": ", error_text(out.body).message);
      fail_status = out.status == 504 ? 504 : 502;
      again = true;
    }
    const double backoff = kBackoffBaseS * std::pow(2.0, attempt);
    const bool time_left = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(backoff)) < deadline.at;
    if (!again || attempt >= retries_ || !time_left || (may_retry && !may_retry()))
      throw BackendError(fail_status, concat(url, ": ", failure,
                                             attempt > 0 ? concat(" (after ", attempt + 1, " attempts)") : ""));
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
  }
}

void UpstreamHttp::throw_for_status(const std::string& path, const PostResult& r) const {
  const std::string url = base_url_ + path;
  const UpstreamErrorText e = error_text(r.body);
  if (r.status == 400 || r.status == 413 || r.status == 422) throw InvalidRequest(e.param, e.message);
  if (r.status == 401 || r.status == 403)
    throw BackendError(502, concat(url, ": upstream rejected the API key (HTTP ", r.status, ")",
                                   bearer_.empty() ? "; none is configured: set api_key_env" : "", ": ", e.message));
  const char* hint = r.status == 404 ? " (is the base URL right? it normally ends in /v1; is the model served there?)" : "";
  throw BackendError(502, concat(url, ": HTTP ", r.status, hint, ": ", e.message));
}

}  // namespace bitdial::serve::upstream
