#include "fake_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "model/session.h"

namespace bitdial::test {

LocalHttpServer::LocalHttpServer(const std::string& path, Handler handler) {
  server_.Post(path, [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    handler(req, res);
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so wait for it or the destructor could hang.
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

LocalHttpServer::~LocalHttpServer() {
  server_.stop();
  thread_.join();
}

std::string LocalHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

RefusingPort::RefusingPort() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1";
}

RefusingPort::~RefusingPort() { close(fd_); }

ModelCompletionServer::ModelCompletionServer(const LlamaModel& model)
    : model_(model),
      tokenizer_(Tokenizer::from_gguf(model.file())),
      http_("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); }) {}

std::string ModelCompletionServer::spell(int32_t id) const {
  const int32_t n = static_cast<int32_t>(tokenizer_.vocab_size());
  const int32_t shown = (id + shift_ids) % n;
  switch (spelling) {
    case Spelling::token_id: return "token_id:" + std::to_string(shown);
    case Spelling::piece: return tokenizer_.piece(shown);
    case Spelling::vocab: break;
  }
  return tokenizer_.token_text(shown);
}

void ModelCompletionServer::handle(const httplib::Request& req, httplib::Response& res) {
  using nlohmann::json;
  ++n_requests;
  const json body = json::parse(req.body);
  auto refuse = [&](const std::string& why) {
    res.status = 400;
    res.set_content(json{{"object", "error"}, {"message", why}}.dump(), "application/json");
  };
  if (!body["prompt"].is_array()) return refuse("this fake serves token-id prompts only");
  const int k = body.value("logprobs", 0);
  if (k > max_logprobs) return refuse("logprobs " + std::to_string(k) + " > max_logprobs " + std::to_string(max_logprobs));
  const int max_tokens = body.value("max_tokens", 16);
  if (max_tokens == 0 && reject_max_tokens_zero) return refuse("max_tokens must be at least 1");
  std::vector<int32_t> ids = body["prompt"].get<std::vector<int32_t>>();
  const int64_t nv = model_.hparams().n_vocab;

  Session session(model_, {.n_ctx = static_cast<int64_t>(ids.size()) + 1});
  std::vector<float> logits = session.eval(ids, true);  // (ids.size(), nv)
  if (max_tokens > 0) {  // echo + one greedy token
    const float* last = logits.data() + (ids.size() - 1) * nv;
    ids.push_back(static_cast<int32_t>(std::max_element(last, last + nv) - last));
  }
  json lp{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"text_offset", json::array()},
          {"top_logprobs", json::array()}};
  for (int i = 0; i < extra_tokens; ++i) {
    lp["tokens"].push_back(spell(tokenizer_.bos()));
    lp["token_logprobs"].push_back(nullptr);
    lp["top_logprobs"].push_back(nullptr);
    lp["text_offset"].push_back(0);
  }
  int64_t offset = 0;
  std::vector<int32_t> order(static_cast<size_t>(nv));
  for (size_t t = 0; t < ids.size(); ++t) {
    lp["tokens"].push_back(spell(ids[t]));
    lp["text_offset"].push_back(offset);
    offset += static_cast<int64_t>(tokenizer_.piece(ids[t]).size());
    if (t == 0) {
      lp["token_logprobs"].push_back(nullptr);
      lp["top_logprobs"].push_back(nullptr);
      continue;
    }
    const float* x = logits.data() + (t - 1) * nv;  // the row that predicts token t
    const double mx = *std::max_element(x, x + nv);
    double sum = 0;
    for (int64_t i = 0; i < nv; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
    const double log_z = mx + std::log(sum);
    lp["token_logprobs"].push_back(static_cast<double>(x[ids[t]]) - log_z);
    std::iota(order.begin(), order.end(), 0);
    const size_t kk = std::min<size_t>(static_cast<size_t>(std::max(k, 0)), order.size());
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
    json top = json::object();
    for (size_t i = 0; i < kk; ++i) top[spell(order[i])] = static_cast<double>(x[order[i]]) - log_z;
    lp["top_logprobs"].push_back(top);
  }
  json choice{{"index", 0}, {"text", ""}, {"finish_reason", "length"}};
  choice["logprobs"] = no_logprobs ? json(nullptr) : lp;
  res.set_content(json{{"object", "text_completion"}, {"choices", {choice}}}.dump(), "application/json");
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] == ' ') ++j;
    while (j < text.size() && text[j] != ' ') ++j;
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace bitdial::test
