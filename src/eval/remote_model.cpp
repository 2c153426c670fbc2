// OpenAI legacy /v1/completions client: echo + logprobs for scoring, temperature 0 for generation.
// Response bodies are untrusted: every field is checked and a problem names the URL and the field.
#include "eval/remote_model.h"

#include <httplib.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "core/json_parse.h"
#include "model/tokenizer/utf8.h"
#include "eval/base_url.h"

namespace bitdial {

using nlohmann::json;

namespace {

// Servers print float32 log-probs with varying digits; the token's own value and its top-1 entry come
// from the same float, so a tolerance far below any real gap between candidates is enough.
constexpr double kGreedyTolerance = 1e-6;


// "HTTP <status>: <first 200 bytes of the body>", plus a hint for the two statuses a user can fix.
[[noreturn]] void fail_http(const std::string& url, int status, const std::string& body) {
  std::string s = body.substr(0, 200);
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (body.empty()) s = "(empty body)";
  if (body.size() > 200) s += "...";
  const char* hint = status == 404   ? " (is the base URL right? it normally ends in /v1)"
                     : status == 401 ? " (missing or wrong API key?)"
                                     : "";
  fail(url, ": HTTP ", status, hint, ": ", s);
}

std::string transport_error(httplib::Error e, const RemoteOptions& o) {
  std::string what;
  switch (e) {
    case httplib::Error::Connection: what = "cannot connect (connection refused or host unreachable)"; break;
    case httplib::Error::ConnectionTimeout:
      what = concat("connection timed out after ", o.connect_timeout_s, " s");
      break;
    case httplib::Error::Read: what = concat("no complete response within ", o.read_timeout_s, " s"); break;
    case httplib::Error::Write: what = "the connection broke while sending the request"; break;
    case httplib::Error::SSLConnection: what = "TLS handshake failed"; break;
    case httplib::Error::SSLServerVerification: what = "the server's TLS certificate did not verify"; break;
    default: what = "request failed"; break;
  }
  return concat(what, " [", httplib::to_string(e), "]");
}

// Field access that names the JSON path of whatever is missing or mistyped.
const json& member(const json& obj, const std::string& where, const char* key, const std::string& url) {
  if (!obj.is_object()) fail(url, ": malformed response: ", where, " is not an object");
  auto it = obj.find(key);
  if (it == obj.end()) fail(url, ": malformed response: no field ", where, ".", key);
  return *it;
}

const json& array_of(const json& obj, const std::string& where, const char* key, size_t n, const std::string& url) {
  const json& a = member(obj, where, key, url);
  if (!a.is_array()) fail(url, ": malformed response: ", where, ".", key, " is not an array");
  if (n != SIZE_MAX && a.size() != n)
    fail(url, ": malformed response: ", where, ".", key, " has ", a.size(), " entries, tokens has ", n);
  return a;
}

std::optional<double> logprob_at(const json& a, size_t i, const std::string& where, const std::string& url) {
  if (a[i].is_null()) return std::nullopt;
  if (!a[i].is_number()) fail(url, ": malformed response: ", where, "[", i, "] is not a number");
  return a[i].get<double>();
}

// One legacy top_logprobs entry, {token: logprob, ...}, most likely first; null (first token) gives {}.
std::vector<std::pair<std::string, double>> top_at(const json& a, size_t i, const std::string& where,
                                                   const std::string& url) {
  std::vector<std::pair<std::string, double>> top;
  if (a[i].is_null()) return top;
  if (!a[i].is_object()) fail(url, ": malformed response: ", where, "[", i, "] is not an object");
  for (const auto& [tok, lp] : a[i].items()) {
    if (!lp.is_number()) fail(url, ": malformed response: ", where, "[", i, "][\"", tok, "\"] is not a number");
    top.emplace_back(tok, lp.get<double>());
  }
  // json objects iterate in key order; callers want likelihood order.
  std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return top;
}

}  // namespace

// The prompt's tokens from an echo request; generated tokens (max_tokens 1 fallback) are dropped.
struct RemoteModel::Echo {
  std::vector<std::string> tokens;
  std::vector<int64_t> ends;  // character offset where each token ends (the next one's start)
  std::vector<std::optional<double>> logprobs;
  std::vector<std::vector<std::pair<std::string, double>>> top;
};

bool RemoteModel::ContinuationScore::greedy() const {
  return std::all_of(token_greedy.begin(), token_greedy.end(), [](bool g) { return g; });
}

RemoteModel RemoteModel::connect(const std::string& base_url, const std::string& model_name,
                                 const std::string& api_key_env, const RemoteOptions& options) {
  BaseUrl parsed = parse_base_url(base_url);
  if (model_name.empty()) fail(base_url, ": no model name given (the name the server knows the model by)");
  RemoteModel m;
  m.base_url_ = parsed.scheme_authority + parsed.path;
  m.path_prefix_ = parsed.path;
  m.model_name_ = model_name;
  m.options_ = options;
  m.client_ = std::make_unique<httplib::Client>(parsed.scheme_authority);
  if (!m.client_->is_valid()) fail(base_url, ": the HTTP client rejected this address");
  m.client_->set_connection_timeout(options.connect_timeout_s, 0);
  m.client_->set_read_timeout(options.read_timeout_s, 0);
  m.client_->set_write_timeout(options.read_timeout_s, 0);
  if (!api_key_env.empty()) {
    const char* key = std::getenv(api_key_env.c_str());
    if (!key) fail("API key environment variable ", api_key_env, " is not set (needed for ", base_url, ")");
    if (!*key) fail("API key environment variable ", api_key_env, " is empty (needed for ", base_url, ")");
    m.client_->set_bearer_token_auth(key);
  }
  return m;
}

RemoteModel::RemoteModel(RemoteModel&&) noexcept = default;
RemoteModel& RemoteModel::operator=(RemoteModel&&) noexcept = default;
RemoteModel::~RemoteModel() = default;

std::string RemoteModel::describe() const { return "remote:" + model_name_ + "@" + base_url_; }

std::string RemoteModel::post_completions(const std::string& body, int* http_status) {
  auto res = client_->Post(path_prefix_ + "/completions", body, "application/json");
  if (!res) fail(base_url_, "/completions: ", transport_error(res.error(), options_));
  *http_status = res->status;
  return res->body;
}

json RemoteModel::post_echo(const json& prompt, int top_k) {
  const std::string url = base_url_ + "/completions";
  auto body_for = [&](int max_tokens) {
    return json{{"model", model_name_}, {"prompt", prompt},  {"max_tokens", max_tokens},
                {"echo", true},         {"logprobs", top_k}, {"temperature", 0}}
        .dump();
  };
  int status = 0;
  std::string text = post_completions(body_for(echo_max_tokens_), &status);
  // Some servers validate max_tokens >= 1 even with echo (400/422); the echo then carries one extra token.
  if ((status == 400 || status == 422) && echo_max_tokens_ == 0) {
    int retry_status = 0;
    std::string retry = post_completions(body_for(1), &retry_status);
    // Report the first answer: a 400 that survives max_tokens 1 was about something else.
    if (retry_status / 100 != 2) fail_http(url, status, text);
    echo_max_tokens_ = 1;
    status = retry_status;
    text = std::move(retry);
  }
  if (status / 100 != 2) fail_http(url, status, text);

  json root = parse_json(text, url + " response");
  const json& choices = member(root, "response", "choices", url);
  if (!choices.is_array() || choices.empty()) fail(url, ": malformed response: choices is not a non-empty array");
  const json& lp = member(choices[0], "choices[0]", "logprobs", url);
  if (lp.is_null() || (lp.is_object() && !lp.contains("token_logprobs")))
    fail(url, ": the endpoint returned no log-probs (does it support echo + logprobs on /v1/completions?)");
  return lp;
}

RemoteModel::Echo RemoteModel::request_echo(const std::string& prompt, int top_k) {
  const std::string url = base_url_ + "/completions";
  const json lp = post_echo(prompt, top_k);
  const std::string where = "choices[0].logprobs";
  const json& tokens = array_of(lp, where, "tokens", SIZE_MAX, url);
  const size_t n = tokens.size();
  const json& lps = array_of(lp, where, "token_logprobs", n, url);
  const json& offsets = array_of(lp, where, "text_offset", n, url);
  const json& tops = array_of(lp, where, "top_logprobs", n, url);

  const int64_t prompt_chars = utf8_chars(prompt);
  std::vector<int64_t> starts;
  Echo e;
  for (size_t i = 0; i < n; ++i) {
    if (!offsets[i].is_number_integer() || offsets[i].get<int64_t>() < (starts.empty() ? 0 : starts.back()))
      fail(url, ": malformed response: ", where, ".text_offset[", i, "] is not a non-decreasing integer");
    if (offsets[i].get<int64_t>() >= prompt_chars) break;  // generated, not part of the prompt
    if (!tokens[i].is_string()) fail(url, ": malformed response: ", where, ".tokens[", i, "] is not a string");
    starts.push_back(offsets[i].get<int64_t>());
    e.tokens.push_back(tokens[i].get<std::string>());
    e.logprobs.push_back(logprob_at(lps, i, where + ".token_logprobs", url));
    e.top.push_back(top_at(tops, i, where + ".top_logprobs", url));
  }
  if (!prompt.empty() && e.tokens.empty())
    fail(url, ": the endpoint did not echo the prompt's tokens (does it support \"echo\": true?)");
  for (size_t i = 0; i < starts.size(); ++i) e.ends.push_back(i + 1 < starts.size() ? starts[i + 1] : prompt_chars);
  return e;
}

void RemoteModel::probe() { score_continuation("The capital of France is", " Paris"); }

RemoteModel::ContinuationScore RemoteModel::score_continuation(const std::string& context,
                                                               const std::string& continuation) {
  const std::string url = base_url_ + "/completions";
  Echo e = request_echo(context + continuation, 1);
  const int64_t context_chars = utf8_chars(context);
  ContinuationScore s;
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (e.ends[i] <= context_chars) continue;  // entirely inside the context
    if (!e.logprobs[i])
      fail(url, ": token ", i, " (\"", e.tokens[i], "\") of the continuation has no log-prob; ",
           "the first prompt token is never scored, so give a non-empty context");
    if (e.top[i].empty())
      fail(url, ": malformed response: choices[0].logprobs.top_logprobs[", i, "] is empty");
    const double lp = *e.logprobs[i];
    const auto& best = e.top[i].front();
    s.loglik += lp;
    s.token_logprobs.push_back(lp);
    s.token_greedy.push_back(best.first == e.tokens[i] || lp >= best.second - kGreedyTolerance);
  }
  s.n_tokens = static_cast<int64_t>(s.token_logprobs.size());
  if (!continuation.empty() && s.n_tokens == 0)
    fail(url, ": no token of the echoed prompt covers the continuation (text_offset inconsistent with the prompt)");
  return s;
}

RemoteModel::Generation RemoteModel::generate(const std::string& prompt, int max_tokens) {
  const std::string url = base_url_ + "/completions";
  if (max_tokens < 1) fail(url, ": generate needs max_tokens >= 1, got ", max_tokens);
  json body{{"model", model_name_}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"logprobs", 1}};
  int status = 0;
  std::string text = post_completions(body.dump(), &status);
  if (status / 100 != 2) fail_http(url, status, text);

  json root = parse_json(text, url + " response");
  const json& choices = member(root, "response", "choices", url);
  if (!choices.is_array() || choices.empty()) fail(url, ": malformed response: choices is not a non-empty array");
  Generation g;
  const json& out = member(choices[0], "choices[0]", "text", url);
  if (!out.is_string()) fail(url, ": malformed response: choices[0].text is not a string");
  g.text = out.get<std::string>();
  if (auto it = choices[0].find("finish_reason"); it != choices[0].end() && it->is_string())
    g.finish_reason = it->get<std::string>();
  // Log-probs of a generation are a bonus (confidence); a server that omits them still generates.
  auto lp = choices[0].find("logprobs");
  if (lp != choices[0].end() && lp->is_object() && lp->contains("token_logprobs")) {
    const std::string where = "choices[0].logprobs";
    const json& tokens = array_of(*lp, where, "tokens", SIZE_MAX, url);
    const json& lps = array_of(*lp, where, "token_logprobs", tokens.size(), url);
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (!tokens[i].is_string()) fail(url, ": malformed response: ", where, ".tokens[", i, "] is not a string");
      auto v = logprob_at(lps, i, where + ".token_logprobs", url);
      if (!v) fail(url, ": malformed response: ", where, ".token_logprobs[", i, "] is null");
      g.tokens.push_back(tokens[i].get<std::string>());
      g.token_logprobs.push_back(*v);
    }
  }
  return g;
}

RemoteModel::TextLogprobs RemoteModel::score_text(const std::string& text, int top_k) {
  if (top_k < 0) fail(base_url_, "/completions: top_k must be >= 0, got ", top_k);
  Echo e = request_echo(text, top_k);
  TextLogprobs out;
  for (size_t i = 0; i < e.tokens.size(); ++i)
    out.tokens.push_back({std::move(e.tokens[i]), e.logprobs[i], std::move(e.top[i])});
  return out;
}

RemoteModel::TextLogprobs RemoteModel::score_tokens(const std::vector<int32_t>& ids, int top_k) {
  const std::string url = base_url_ + "/completions";
  if (top_k < 1) fail(url, ": top_k must be >= 1, got ", top_k);
  if (ids.empty()) fail(url, ": cannot score an empty token list");
  const json lp = post_echo(json(ids), top_k);
  const std::string where = "choices[0].logprobs";
  const json& tokens = array_of(lp, where, "tokens", SIZE_MAX, url);
  const size_t n = tokens.size(), want = ids.size();
  // The echo is exactly the ids sent, plus the generated token when max_tokens had to be 1. Any other
  // count means the server did not take the ids as they are (it re-tokenized, or has another vocabulary).
  if (n != want && n != want + static_cast<size_t>(echo_max_tokens_))
    fail(url, ": sent a prompt of ", want, " token ids but the server echoed ", n,
         " tokens (it tokenizes differently, or serves a model with another vocabulary)");
  const json& lps = array_of(lp, where, "token_logprobs", n, url);
  const json& tops = array_of(lp, where, "top_logprobs", n, url);
  TextLogprobs out;
  out.tokens.reserve(want);
  for (size_t i = 0; i < want; ++i) {
    if (!tokens[i].is_string()) fail(url, ": malformed response: ", where, ".tokens[", i, "] is not a string");
    out.tokens.push_back({tokens[i].get<std::string>(), logprob_at(lps, i, where + ".token_logprobs", url),
                          top_at(tops, i, where + ".top_logprobs", url)});
  }
  return out;
}

}  // namespace bitdial
