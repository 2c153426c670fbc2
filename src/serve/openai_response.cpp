// OpenAI response shapes. Field order follows OpenAI's own answers (ordered_json) so diffs against a
// real endpoint's output stay readable.
#include "serve/openai_response.h"

namespace bitdial::serve {
namespace {

using nlohmann::ordered_json;

ordered_json null_if_empty(const std::string& s) { return s.empty() ? ordered_json(nullptr) : ordered_json(s); }

ordered_json usage_json(const Usage& u) {
  return ordered_json{{"prompt_tokens", u.prompt_tokens},
                      {"completion_tokens", u.completion_tokens},
                      {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

ordered_json header(const std::string& request_id, const char* object, int64_t created, const std::string& model) {
  return ordered_json{{"id", request_id}, {"object", object}, {"created", created}, {"model", model}};
}

void add_extra(ordered_json& j, const ordered_json& extra) {
  if (!extra.is_null()) j["bitdial"] = extra;
}

// The legacy (completions) log-prob object, empty; append_legacy fills it token by token.
ordered_json legacy_logprobs() {
  return ordered_json{{"tokens", ordered_json::array()},
                      {"token_logprobs", ordered_json::array()},
                      {"top_logprobs", ordered_json::array()},
                      {"text_offset", ordered_json::array()}};
}

void append_legacy(ordered_json& lp, const TokenLogprob& t) {
  lp["tokens"].push_back(t.text);
  lp["token_logprobs"].push_back(t.logprob ? ordered_json(*t.logprob) : ordered_json(nullptr));
  // A token without a log-prob (the first prompt token) has no distribution to show either.
  if (!t.logprob && t.top.empty()) {
    lp["top_logprobs"].push_back(nullptr);
  } else {
    ordered_json top = ordered_json::object();
    // Two ids may decode to the same text; the first (more likely) one keeps the key.
    for (const auto& [text, logprob] : t.top)
      if (!top.contains(text)) top[text] = logprob;
    lp["top_logprobs"].push_back(std::move(top));
  }
  lp["text_offset"].push_back(t.text_offset);
}

ordered_json bytes_of(const std::string& s) {
  ordered_json b = ordered_json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

ordered_json chat_logprob_entry(const TokenLogprob& t) {
  ordered_json top = ordered_json::array();
  for (const auto& [text, logprob] : t.top)
    top.push_back(ordered_json{{"token", text}, {"logprob", logprob}, {"bytes", bytes_of(text)}});
  return ordered_json{{"token", t.text},
                      {"logprob", t.logprob ? ordered_json(*t.logprob) : ordered_json(nullptr)},
                      {"bytes", bytes_of(t.text)},
                      {"top_logprobs", std::move(top)}};
}

// The prompt as echoed: the text the client sent, or the decoded tokens when it sent token ids.
std::string echoed_prompt(const GenerationRequest& request, const GenerationResult& result) {
  if (request.prompt_ids.empty()) return request.prompt;
  std::string text;
  for (const TokenLogprob& t : result.prompt_tokens) text += t.text;
  return text;
}

}  // namespace

Usage usage_of(const GenerationResult& result) { return Usage{result.n_prompt_tokens, result.n_completion_tokens}; }

std::string dump_safe(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ordered_json completion_body(const GenerationRequest& request, const GenerationResult& result,
                             const std::string& request_id, const std::string& model, int64_t created,
                             const ordered_json& extra) {
  ordered_json choice;
  choice["index"] = 0;
  choice["text"] = request.echo ? echoed_prompt(request, result) + result.text : result.text;
  if (request.logprobs >= 0) {
    ordered_json lp = legacy_logprobs();
    if (request.echo)
      for (const TokenLogprob& t : result.prompt_tokens) append_legacy(lp, t);
    for (const TokenLogprob& t : result.tokens) append_legacy(lp, t);
    choice["logprobs"] = std::move(lp);
  } else {
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = null_if_empty(result.finish_reason);
  if (!request.choices.empty()) {
    ordered_json scores = ordered_json::array();
    for (size_t i = 0; i < request.choices.size(); ++i) {
      const ordered_json ll = i < result.choice_logliks.size() ? ordered_json(result.choice_logliks[i])
                                                               : ordered_json(nullptr);
      scores.push_back(ordered_json{{"choice", request.choices[i]}, {"logprob", ll}});
    }
    choice["choice_scores"] = std::move(scores);
    choice["chosen"] = result.chosen;
  }
  ordered_json body = header(request_id, "text_completion", created, model);
  body["choices"] = ordered_json::array({std::move(choice)});
  body["usage"] = usage_json(usage_of(result));
  add_extra(body, extra);
  return body;
}

ordered_json chat_body(const GenerationRequest& request, const GenerationResult& result,
                       const std::string& request_id, const std::string& model, int64_t created,
                       const ordered_json& extra) {
  ordered_json choice;
  choice["index"] = 0;
  choice["message"] = ordered_json{{"role", "assistant"}, {"content", result.text}};
  if (request.logprobs >= 0) {
    ordered_json content = ordered_json::array();
    for (const TokenLogprob& t : result.tokens) content.push_back(chat_logprob_entry(t));
    choice["logprobs"] = ordered_json{{"content", std::move(content)}};
  } else {
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = null_if_empty(result.finish_reason);
  ordered_json body = header(request_id, "chat.completion", created, model);
  body["choices"] = ordered_json::array({std::move(choice)});
  body["usage"] = usage_json(usage_of(result));
  add_extra(body, extra);
  return body;
}

std::string sse_event(const ordered_json& j) { return "data: " + dump_safe(j) + "\n\n"; }

std::string sse_done() { return "data: [DONE]\n\n"; }

ordered_json completion_chunk(const std::string& request_id, const std::string& model, int64_t created,
                              const TokenLogprob& token, bool with_logprobs) {
  ordered_json choice{{"index", 0}, {"text", token.text}};
  if (with_logprobs) {
    ordered_json lp = legacy_logprobs();
    append_legacy(lp, token);
    choice["logprobs"] = std::move(lp);
  } else {
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = nullptr;
  ordered_json j = header(request_id, "text_completion", created, model);
  j["choices"] = ordered_json::array({std::move(choice)});
  return j;
}

ordered_json completion_final_chunk(const std::string& request_id, const std::string& model, int64_t created,
                                    const std::string& finish_reason, const std::optional<Usage>& usage,
                                    const ordered_json& extra) {
  ordered_json choice{{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", null_if_empty(finish_reason)}};
  ordered_json j = header(request_id, "text_completion", created, model);
  j["choices"] = ordered_json::array({std::move(choice)});
  if (usage) j["usage"] = usage_json(*usage);
  add_extra(j, extra);
  return j;
}

ordered_json chat_first_chunk(const std::string& request_id, const std::string& model, int64_t created) {
  ordered_json choice{{"index", 0},
                      {"delta", ordered_json{{"role", "assistant"}, {"content", ""}}},
                      {"logprobs", nullptr},
                      {"finish_reason", nullptr}};
  ordered_json j = header(request_id, "chat.completion.chunk", created, model);
  j["choices"] = ordered_json::array({std::move(choice)});
  return j;
}

ordered_json chat_chunk(const std::string& request_id, const std::string& model, int64_t created,
                        const TokenLogprob& token, bool with_logprobs) {
  ordered_json choice{{"index", 0}, {"delta", ordered_json{{"content", token.text}}}};
  choice["logprobs"] = with_logprobs ? ordered_json{{"content", ordered_json::array({chat_logprob_entry(token)})}}
                                     : ordered_json(nullptr);
  choice["finish_reason"] = nullptr;
  ordered_json j = header(request_id, "chat.completion.chunk", created, model);
  j["choices"] = ordered_json::array({std::move(choice)});
  return j;
}

ordered_json chat_final_chunk(const std::string& request_id, const std::string& model, int64_t created,
                              const std::string& finish_reason, const std::optional<Usage>& usage,
                              const ordered_json& extra) {
  ordered_json choice{{"index", 0},
                      {"delta", ordered_json::object()},
                      {"logprobs", nullptr},
                      {"finish_reason", null_if_empty(finish_reason)}};
  ordered_json j = header(request_id, "chat.completion.chunk", created, model);
  j["choices"] = ordered_json::array({std::move(choice)});
  if (usage) j["usage"] = usage_json(*usage);
  add_extra(j, extra);
  return j;
}

}  // namespace bitdial::serve
