// UpstreamBackend: configuration checks, the choice between a streamed and a whole request, and the
// bookkeeping around them (timing, token delivery). Wire format: upstream_wire; transport:
// upstream_http; classification: upstream_classify.cpp.
#include "serve/upstream_backend.h"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/token_text.h"
#include "serve/upstream_http.h"
#include "serve/upstream_wire.h"

namespace bitdial::serve {

using nlohmann::json;
using upstream::Clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string read_api_key(const UpstreamOptions& o) {
  if (o.api_key_env.empty()) return "";
  const char* key = std::getenv(o.api_key_env.c_str());
  if (!key) fail("backend ", o.name, ": API key environment variable ", o.api_key_env, " is not set (needed for ", o.url, ")");
  if (!*key) fail("backend ", o.name, ": API key environment variable ", o.api_key_env, " is empty (needed for ", o.url, ")");
  return key;
}

upstream::ParseContext parse_context(const GenerationRequest& r, const std::string& url) {
  upstream::ParseContext ctx;
  ctx.url = url;
  ctx.chat = r.chat;
  ctx.keep_top = std::max(r.logprobs, 0);
  ctx.echo = r.echo && !r.chat;
  if (!r.chat && r.prompt_ids.empty()) ctx.prompt = r.prompt;
  ctx.n_prompt_ids = static_cast<int64_t>(r.prompt_ids.size());
  return ctx;
}

json parse_body(const std::string& body, const std::string& url) {
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    std::string head = body.substr(0, 200);
    std::replace(head.begin(), head.end(), '\n', ' ');
    throw BackendError(502, concat(url, ": malformed response: not JSON: ", head.empty() ? "(empty body)" : head));
  }
  return root;
}

// Non-streamed answers still reach a token callback, once per token, in order.
void deliver_after(const GenerationResult& g, const TokenCallback& on_token) {
  if (!on_token) return;
  for (const auto& t : g.tokens)
    if (!on_token(t)) break;
}

}  // namespace

UpstreamBackend::UpstreamBackend(UpstreamOptions options) : options_(std::move(options)) {
  if (options_.name.empty()) fail("upstream backend for ", options_.url, ": no name given");
  if (!(options_.timeout_s > 0)) fail("backend ", options_.name, ": timeout_s must be > 0, got ", options_.timeout_s);
  if (options_.model.empty()) options_.model = options_.name;
  http_ = std::make_unique<upstream::UpstreamHttp>(options_.url, read_api_key(options_), options_.connect_timeout_s,
                                                   options_.retries);
}

UpstreamBackend::~UpstreamBackend() = default;

std::string UpstreamBackend::describe() const { return "upstream:" + options_.model + "@" + http_->base_url(); }

GenerationResult UpstreamBackend::generate(const GenerationRequest& request, const TokenCallback& on_token) {
  const double timeout_s = request.timeout_s > 0 ? std::min(request.timeout_s, options_.timeout_s) : options_.timeout_s;
  if (!request.choices.empty()) return classify(request, on_token, timeout_s);
  // Echoed prompts arrive in the first chunks of a stream, mixed with the answer: not worth streaming.
  if (request.stream && on_token && !request.echo) return stream(request, on_token, timeout_s);
  return complete(request, on_token, timeout_s);
}

GenerationResult UpstreamBackend::complete(const GenerationRequest& request, const TokenCallback& on_token,
                                           double timeout_s) {
  const Clock::time_point t0 = Clock::now();
  const std::string path = request.chat ? "/chat/completions" : "/completions";
  const std::string url = http_->base_url() + path;
  upstream::PostResult r = http_->post(path, upstream::request_body(request, options_.model, false).dump(),
                                       upstream::Deadline::after(timeout_s));
  if (r.status / 100 != 2) http_->throw_for_status(path, r);
  GenerationResult g = upstream::parse_response(parse_body(r.body, url), parse_context(request, url));
  g.total_s = g.time_to_first_token_s = since(t0);
  deliver_after(g, on_token);
  return g;
}

GenerationResult UpstreamBackend::stream(const GenerationRequest& request, const TokenCallback& on_token,
                                         double timeout_s) {
  const Clock::time_point t0 = Clock::now();
  const std::string path = request.chat ? "/chat/completions" : "/completions";
  const std::string url = http_->base_url() + path;
  const upstream::ParseContext ctx = parse_context(request, url);

  // What the current attempt has received; reset before a retry (only possible while nothing was delivered).
  struct State {
    upstream::SseSplitter sse;
    std::string raw;  // a server that ignored "stream" answers one JSON object
    bool is_raw = false, sniffed = false, delivered = false, stopped = false;
    GenerationResult g;
    int64_t chars = 0;  // of the answer so far, for text_offset where the server gives none
    int64_t n_prompt = -1, n_completion = -1;
  } st;

  auto take = [&](const std::string& payload) {
    const upstream::Chunk c = upstream::parse_chunk(parse_body(payload, url), ctx, st.chars);
    if (c.n_prompt_tokens >= 0) st.n_prompt = c.n_prompt_tokens;
    if (c.n_completion_tokens >= 0) st.n_completion = c.n_completion_tokens;
    if (!c.finish_reason.empty()) st.g.finish_reason = c.finish_reason;
    st.g.text += c.text;
    st.chars += utf8_chars(c.text);
    for (const auto& t : c.tokens) {
      if (!st.delivered) st.g.time_to_first_token_s = since(t0);
      st.delivered = true;
      st.g.tokens.push_back(t);
      if (!on_token(t)) {
        st.stopped = true;
        return false;
      }
    }
    return true;
  };
  auto receiver = [&](std::string_view bytes) {
    if (!st.sniffed) {  // SSE starts with a field name or ':'; a JSON object with '{'
      const size_t i = bytes.find_first_not_of(" \t\r\n");
      if (i == std::string_view::npos) return true;
      st.sniffed = true;
      st.is_raw = bytes[i] == '{';
    }
    if (st.is_raw) {
      st.raw.append(bytes);
      return true;
    }
    for (const std::string& payload : st.sse.feed(bytes))
      if (!take(payload)) return false;
    return true;
  };
  auto may_retry = [&] {
    if (st.delivered) return false;
    st = State{};
    return true;
  };

  upstream::PostResult r = http_->post(path, upstream::request_body(request, options_.model, true).dump(),
                                       upstream::Deadline::after(timeout_s), receiver, may_retry);
  if (r.status / 100 != 2) http_->throw_for_status(path, r);
  if (st.is_raw) {
    GenerationResult g = upstream::parse_response(parse_body(st.raw, url), ctx);
    g.total_s = g.time_to_first_token_s = since(t0);
    deliver_after(g, on_token);
    return g;
  }
  if (!r.cancelled) {
    for (const std::string& payload : st.sse.finish())
      if (!take(payload)) break;
    if (!st.stopped && !st.sse.done() && st.g.finish_reason.empty())
      throw BackendError(502, concat(url, ": the stream ended before [DONE] (", st.g.tokens.size(), " tokens in)"));
  }
  GenerationResult g = std::move(st.g);
  if (st.stopped || g.finish_reason.empty()) g.finish_reason = "stop";
  g.n_prompt_tokens = std::max<int64_t>(st.n_prompt, 0);
  g.n_completion_tokens = st.n_completion >= 0 ? st.n_completion : static_cast<int64_t>(g.tokens.size());
  g.total_s = since(t0);
  if (g.tokens.empty()) g.time_to_first_token_s = g.total_s;
  return g;
}

}  // namespace bitdial::serve
