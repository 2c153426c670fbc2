// UpstreamBackend's classification: each choice is scored as log p(choice | prompt) from an echo of
// prompt + choice (as RemoteModel::score_continuation does, but with serve's errors, retries and
// deadline), then the answer is the most likely choice with its softmax probability over the choices.
#include <algorithm>
#include <cmath>
#include <future>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/token_text.h"
#include "serve/upstream_backend.h"
#include "serve/upstream_http.h"
#include "serve/upstream_wire.h"

namespace bitdial::serve {

namespace {

constexpr size_t kParallelChoices = 8;  // echo requests in flight at once for one classification

struct ChoiceScore {
  double loglik = 0;
  std::vector<TokenLogprob> tokens;  // the continuation's tokens
  int64_t n_scored = 0;              // tokens the upstream evaluated (prompt + choice)
};

}  // namespace

GenerationResult UpstreamBackend::classify(const GenerationRequest& request, const TokenCallback& on_token,
                                           double timeout_s) {
  using upstream::Clock;
  const Clock::time_point t0 = Clock::now();
  if (request.chat) throw InvalidRequest("choices", "choices (classification) need a completions prompt, not chat messages");
  if (!request.prompt_ids.empty()) throw InvalidRequest("choices", "choices (classification) need a text prompt, not token ids");
  if (request.prompt.empty())
    throw InvalidRequest("prompt", "choices (classification) need a non-empty prompt: the first token has no log-prob");
  for (const auto& c : request.choices)
    if (c.empty()) throw InvalidRequest("choices", "a choice is empty");

  const std::string path = "/completions";
  const std::string url = http_->base_url() + path;
  const upstream::Deadline deadline = upstream::Deadline::after(timeout_s);
  const int64_t prompt_chars = utf8_chars(request.prompt);

  auto score = [&](const std::string& choice) {
    const std::string text = request.prompt + choice;
    auto post = [&](int max_tokens) {
      return http_->post(path, upstream::echo_body(options_.model, text, max_tokens).dump(), deadline);
    };
    const int first_max = echo_max_tokens_.load();
    upstream::PostResult r = post(first_max);
    // Some servers validate max_tokens >= 1 even with echo; the one generated token is dropped below.
    if ((r.status == 400 || r.status == 422) && first_max == 0) {
      upstream::PostResult retry = post(1);
      if (retry.status / 100 != 2) http_->throw_for_status(path, r);  // a 400 that survives 1 was about something else
      echo_max_tokens_.store(1);
      r = std::move(retry);
    }
    if (r.status / 100 != 2) http_->throw_for_status(path, r);
    nlohmann::json root = nlohmann::json::parse(r.body, nullptr, false);
    if (root.is_discarded()) throw BackendError(502, concat(url, ": malformed response: not JSON"));
    upstream::ParseContext ctx;
    ctx.url = url;
    ctx.echo = true;
    ctx.prompt = text;
    GenerationResult echoed = upstream::parse_response(root, ctx);
    std::vector<TokenLogprob>& toks = echoed.prompt_tokens;
    if (toks.empty()) throw BackendError(502, concat(url, ": the upstream did not echo the prompt (does it support \"echo\": true?)"));
    ChoiceScore s;
    s.n_scored = static_cast<int64_t>(toks.size());
    const int64_t text_chars = utf8_chars(text);
    for (size_t i = 0; i < toks.size(); ++i) {
      const int64_t end = i + 1 < toks.size() ? toks[i + 1].text_offset : text_chars;
      if (end <= prompt_chars) continue;  // entirely inside the prompt; a straddling token counts as the choice's
      if (!toks[i].logprob)
        throw BackendError(502, concat(url, ": malformed response: echoed token ", i, " of the choice has no log-prob"));
      s.loglik += *toks[i].logprob;
      s.tokens.push_back(std::move(toks[i]));
    }
    if (s.tokens.empty())
      throw BackendError(502, concat(url, ": malformed response: no echoed token covers the choice \"", choice,
                                     "\" (text_offset inconsistent with the prompt)"));
    return s;
  };

  std::vector<ChoiceScore> scores;
  for (size_t begin = 0; begin < request.choices.size(); begin += kParallelChoices) {
    std::vector<std::future<ChoiceScore>> wave;
    for (size_t i = begin; i < std::min(begin + kParallelChoices, request.choices.size()); ++i)
      wave.push_back(std::async(std::launch::async, score, std::cref(request.choices[i])));
    for (auto& f : wave) scores.push_back(f.get());  // rethrows the first failure (the others finish first)
  }

  GenerationResult g;
  size_t best = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    g.choice_logliks.push_back(scores[i].loglik);
    if (scores[i].loglik > scores[best].loglik) best = i;  // first on ties
    g.n_prompt_tokens += scores[i].n_scored;
  }
  const double top = scores[best].loglik;
  double z = 0;
  for (double l : g.choice_logliks) z += std::exp(l - top);
  double runner_up = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    if (i != best) runner_up = std::max(runner_up, std::exp(g.choice_logliks[i] - top) / z);
  g.chosen = static_cast<int64_t>(best);
  g.choice_probability = 1.0 / z;
  g.choice_margin = g.choice_probability - runner_up;
  g.text = request.choices[best];
  g.finish_reason = "stop";
  g.tokens = std::move(scores[best].tokens);
  g.total_s = g.time_to_first_token_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (on_token)
    for (const auto& t : g.tokens)
      if (!on_token(t)) break;
  return g;
}

}  // namespace bitdial::serve
