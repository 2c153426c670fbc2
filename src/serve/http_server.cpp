#include "serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "core/sha256.h"
#include "serve/api_error.h"
#include "serve/openai_request.h"
#include "serve/openai_response.h"
#include "serve/serve_metrics.h"

namespace bitdial::serve {
namespace {

using nlohmann::ordered_json;

constexpr int kListenBacklog = 1024;  // connections the kernel queues before we accept them

std::string new_request_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return buf;
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), "application/json");
}

std::string bearer(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string p = "Bearer ";
  return h.rfind(p, 0) == 0 ? h.substr(p.size()) : "";
}

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "yes"; }

// Decrements the in-flight count however the handler leaves.
struct InFlight {
  std::atomic<int>& n;
  Metrics& m;
  int count;  // requests in flight including this one
  InFlight(std::atomic<int>& n_, Metrics& m_) : n(n_), m(m_), count(++n_) { m.set(metric::in_flight, {}, count); }
  ~InFlight() { m.set(metric::in_flight, {}, --n); }
};

}  // namespace

HttpServer::HttpServer(Gateway& gateway) : gateway_(gateway), server_(std::make_unique<httplib::Server>()) {
  const ServeConfig& c = gateway_.config();
  const int threads = c.threads > 0 ? c.threads : c.limits.max_concurrency + 8;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server_->set_payload_max_length(c.limits.max_body_bytes);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  server_->set_keep_alive_max_count(1000000);
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the body
  // until the client's delayed ACK (~40 ms) on every keep-alive request.
  server_->set_tcp_nodelay(true);
  // Statuses httplib sets itself (404 unknown path, 413 body too large, 400 unreadable request) get an
  // OpenAI-style body; handlers that already wrote one keep theirs.
  server_->set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e{res.status, "invalid_request_error", "", "", ""};
    if (res.status == 404) e = {404, "not_found_error", "no endpoint " + req.method + " " + req.path, "", ""};
    else if (res.status == 413) e = {413, "invalid_request_error", concat("the request body is larger than ", gateway_.config().limits.max_body_bytes, " bytes"), "", "body_too_large"};
    else if (res.status == 405) e = {405, "invalid_request_error", "method " + req.method + " not allowed on " + req.path, "", ""};
    else e.message = concat("HTTP ", res.status);
    if (res.status >= 400 && res.status < 500) gateway_.metrics().add(metric::rejected, {{"reason", std::to_string(res.status)}});
    res.set_content(error_body(e), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind(const std::string& host, int port) {
  // Debian's cpp-httplib 0.11 listens with a backlog of 5: a burst of clients connecting at once
  // overflows it, and those connections fail or wait a TCP retransmission (1 s). Its socket-options
  // hook hands us the listening socket before bind; listen() again afterwards raises the backlog.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
    listen_fd = static_cast<int>(sock);
  });
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) fail("cannot listen on ", host, ":", port, " (in use, or not an address of this machine)");
  if (listen_fd >= 0 && ::listen(listen_fd, kListenBacklog) != 0)
    fail("cannot listen on ", host, ":", port_, " with a backlog of ", kListenBacklog);
  return port_;
}

void HttpServer::run() { server_->listen_after_bind(); }

bool HttpServer::running() const { return server_->is_running(); }

void HttpServer::stop() {
  if (server_) server_->stop();
}

void HttpServer::routes() {
  Gateway& g = gateway_;
  const ServeConfig& c = g.config();

  // API keys: only their SHA-256 is known; no key configured means the API is open (loopback default).
  auto authorized = [&c](const httplib::Request& req, httplib::Response& res) {
    if (c.auth.api_key_sha256.empty()) return true;
    const std::string key = bearer(req);
    const std::string h = key.empty() ? "" : key_hash(key);
    for (const std::string& k : c.auth.api_key_sha256)
      if (h == k) return true;
    if (!c.auth.admin_key_sha256.empty() && h == c.auth.admin_key_sha256) return true;
    send_error(res, {401, "authentication_error", key.empty() ? "missing API key (Authorization: Bearer KEY)" : "invalid API key", "", "invalid_api_key"});
    return false;
  };
  auto admin = [&c](const httplib::Request& req, httplib::Response& res) {
    if (c.auth.admin_key_sha256.empty()) {
      send_error(res, {403, "permission_error", "admin endpoints are off: set auth.admin_key_sha256 (or --admin-key-env)", "", ""});
      return false;
    }
    const std::string key = bearer(req);
    if (!key.empty() && key_hash(key) == c.auth.admin_key_sha256) return true;
    send_error(res, {401, "authentication_error", "admin endpoints need the admin key", "", "invalid_api_key"});
    return false;
  };

  server_->Get("/health", [&g](const httplib::Request&, httplib::Response& res) {
    ordered_json j = {{"status", "ok"}, {"backends", ordered_json::array()}};
    for (const BackendConfig& b : g.config().backends) j["backends"].push_back({{"name", b.name}, {"kind", b.local() ? "local" : "upstream"}});
    res.set_content(j.dump(), "application/json");
  });

  server_->Get("/metrics", [&g, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    res.set_content(g.render_metrics(), "text/plain; version=0.0.4");
  });

  server_->Get("/v1/models", [&g, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    ordered_json data = ordered_json::array();
    for (const std::string& m : g.model_names()) data.push_back({{"id", m}, {"object", "model"}, {"created", 0}, {"owned_by", "bitdial"}});
    res.set_content(ordered_json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });

  auto complete = [this, &g, &c, authorized](const httplib::Request& req, httplib::Response& res, bool chat) {
    if (!authorized(req, res)) return;
    // Counted first, then checked: two requests racing for the last slot cannot both take it.
    auto guard = std::make_shared<InFlight>(in_flight_, g.metrics());
    if (guard->count > c.limits.max_concurrency) {
      g.metrics().add(metric::rejected, {{"reason", "concurrency"}});
      send_error(res, {429, "rate_limit_error", concat("more than ", c.limits.max_concurrency, " requests in flight; retry shortly"), "", "too_many_requests"});
      return;
    }
    const std::string id = new_request_id(chat ? "chatcmpl-" : "cmpl-");
    res.set_header("X-Request-Id", id);
    ParsedRequest parsed;
    try {
      parsed = chat ? parse_chat_request(req.body, c.limits.request) : parse_completion_request(req.body, c.limits.request);
      if (parsed.gen.stream && parsed.gen.echo) throw ApiException::invalid_request("echo", "echo with stream is not supported; ask without stream");
    } catch (const ApiException& e) {
      g.metrics().add(metric::rejected, {{"reason", "invalid_request"}});
      send_error(res, e.error());
      return;
    }
    RouteInputs in;
    in.model = parsed.model;
    in.task = !parsed.task.empty() ? parsed.task : req.get_header_value("X-Bitdial-Task");
    in.high_stakes = parsed.high_stakes || truthy(req.get_header_value("X-Bitdial-High-Stakes"));
    in.sticky_key = !parsed.user.empty() ? parsed.user : id;
    const std::string endpoint = chat ? "chat" : "completions";
    const std::string model = parsed.model.empty() ? "bitdial" : parsed.model;
    const int64_t created = unix_seconds();
    auto extra_of = [](const Answer& a) {
      ordered_json x = {{"backend", a.backend}, {"route", a.plan.route->name}, {"decision", a.escalated ? "cascade_escalated" : a.plan.decision},
                        {"escalated", a.escalated}};
      x["confidence"] = a.confidence ? ordered_json(*a.confidence) : ordered_json(nullptr);
      if (!a.failed.empty()) x["failed_over"] = a.failed;
      if (a.escalation_failed) x["escalation_failed"] = true;
      return x;
    };

    if (!parsed.gen.stream) {
      try {
        const Answer a = g.answer(parsed, in, id, endpoint, nullptr);
        res.set_header("X-Bitdial-Backend", a.backend);
        const ordered_json body = chat ? chat_body(parsed.gen, a.result, id, model, created, extra_of(a))
                                       : completion_body(parsed.gen, a.result, id, model, created, extra_of(a));
        res.set_content(dump_safe(body), "application/json");
      } catch (const ApiException& e) {
        send_error(res, e.error());
      } catch (const InvalidRequest& e) {
        send_error(res, {400, "invalid_request_error", e.what(), e.param(), ""});
      } catch (const std::exception& e) {
        send_error(res, {500, "server_error", e.what(), "", ""});
      }
      return;
    }
    // Streaming: the generation runs inside the content provider, on this connection's thread, so
    // each token is written as it is produced; a client that goes away makes the write fail, which
    // cancels the generation.
    auto shared = std::make_shared<ParsedRequest>(std::move(parsed));
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, &g, shared, in, id, endpoint, model, created, chat, extra_of, guard](
                                                              size_t, httplib::DataSink& sink) {
      ParsedRequest& p = *shared;
      const bool lp = p.gen.logprobs >= 0;
      bool open = true;
      auto write = [&](const std::string& s) {
        if (open && (!sink.is_writable() || !sink.write(s.data(), s.size()))) open = false;
        return open;
      };
      if (chat) write(sse_event(chat_first_chunk(id, model, created)));
      try {
        const Answer a = g.answer(p, in, id, endpoint, [&](const TokenLogprob& t) {
          return write(sse_event(chat ? chat_chunk(id, model, created, t, lp) : completion_chunk(id, model, created, t, lp)));
        });
        if (a.result.finish_reason != "cancelled") {
          const std::optional<Usage> usage = p.include_usage ? std::optional<Usage>(usage_of(a.result)) : std::nullopt;
          write(sse_event(chat ? chat_final_chunk(id, model, created, a.result.finish_reason, usage, extra_of(a))
                               : completion_final_chunk(id, model, created, a.result.finish_reason, usage, extra_of(a))));
          write(sse_done());
        }
      } catch (const ApiException& e) {
        write(sse_event(ordered_json::parse(error_body(e.error()))));
      } catch (const InvalidRequest& e) {
        write(sse_event(ordered_json::parse(error_body({400, "invalid_request_error", e.what(), e.param(), ""}))));
      } catch (const std::exception& e) {
        write(sse_event(ordered_json::parse(error_body({500, "server_error", e.what(), "", ""}))));
      }
      sink.done();
      return true;
    });
  };
  server_->Post("/v1/completions", [complete](const httplib::Request& req, httplib::Response& res) { complete(req, res, false); });
  server_->Post("/v1/chat/completions", [complete](const httplib::Request& req, httplib::Response& res) { complete(req, res, true); });

  server_->Post("/v1/feedback", [&g, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    try {
      ordered_json j;
      try {
        j = ordered_json::parse(req.body);
      } catch (const nlohmann::json::parse_error& e) {
        throw ApiException::invalid_request("", concat("the body is not JSON (byte ", e.byte, ")"));
      }
      if (!j.is_object()) throw ApiException::invalid_request("", "the body must be a JSON object");
      if (!j.contains("request_id") || !j["request_id"].is_string()) throw ApiException::invalid_request("request_id", "request_id must be a string");
      if (!j.contains("overridden") || !j["overridden"].is_boolean()) throw ApiException::invalid_request("overridden", "overridden must be true or false");
      std::optional<std::string> correct;
      if (j.contains("correct_answer") && !j["correct_answer"].is_null()) {
        if (!j["correct_answer"].is_string()) throw ApiException::invalid_request("correct_answer", "correct_answer must be a string");
        correct = j["correct_answer"].get<std::string>();
      }
      g.feedback(j["request_id"].get<std::string>(), j["overridden"].get<bool>(), correct);
      res.set_content(R"({"status":"recorded"})", "application/json");
    } catch (const ApiException& e) {
      send_error(res, e.error());
    }
  });

  server_->Get("/admin/routes", [&g, admin](const httplib::Request& req, httplib::Response& res) {
    if (!admin(req, res)) return;
    res.set_content(g.guard().describe().dump(), "application/json");
  });
  server_->Post(R"(/admin/routes/([^/]+)/(rollback|promote))", [&g, admin](const httplib::Request& req, httplib::Response& res) {
    if (!admin(req, res)) return;
    try {
      g.guard().manual(req.matches[1], req.matches[2], "admin api");
      res.set_content(g.guard().describe().dump(), "application/json");
    } catch (const Error& e) {
      send_error(res, {400, "invalid_request_error", e.what(), "route", ""});
    }
  });
}

}  // namespace bitdial::serve
