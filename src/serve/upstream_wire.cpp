// OpenAI request bodies and answers for UpstreamBackend. Answers are untrusted: every field is checked
// and a problem is a BackendError(502) naming the URL and the JSON path of the field.
#include "serve/upstream_wire.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "serve/token_text.h"

namespace bitdial::serve::upstream {

using nlohmann::json;

namespace {

// float32 sampling knobs printed as 0.699999988 would look odd in upstream logs; 6 digits are exact
// for any value a client sends.
double tidy(float x) { return std::round(static_cast<double>(x) * 1e6) / 1e6; }

[[noreturn]] void malformed(const ParseContext& ctx, const std::string& what) {
  throw BackendError(502, concat(ctx.url, ": malformed response: ", what));
}

const json* find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string string_at(const json& obj, const char* key, const std::string& where, const ParseContext& ctx) {
  const json* v = find(obj, key);
  if (!v) return "";
  if (!v->is_string()) malformed(ctx, concat(where, ".", key, " is not a string"));
  return v->get<std::string>();
}

// Fills n_prompt_tokens / n_completion_tokens from a "usage" object; absent or null leaves them.
void read_usage(const json& root, const ParseContext& ctx, int64_t& n_prompt, int64_t& n_completion) {
  const json* usage = find(root, "usage");
  if (!usage) return;
  if (!usage->is_object()) malformed(ctx, "usage is not an object");
  for (auto [key, out] : {std::pair{"prompt_tokens", &n_prompt}, std::pair{"completion_tokens", &n_completion}}) {
    const json* v = find(*usage, key);
    if (!v) continue;
    if (!v->is_number_integer() || v->get<int64_t>() < 0)
      malformed(ctx, concat("usage.", key, " is not a non-negative integer"));
    *out = v->get<int64_t>();
  }
}

// Legacy completions log-probs: parallel arrays tokens / token_logprobs / top_logprobs / text_offset.
std::vector<TokenLogprob> legacy_tokens(const json& lp, const std::string& where, const ParseContext& ctx,
                                        int64_t& offset) {
  const json* tokens = find(lp, "tokens");
  if (!tokens || !tokens->is_array()) malformed(ctx, where + ".tokens is not an array");
  const size_t n = tokens->size();
  auto parallel = [&](const char* key) -> const json* {
    const json* a = find(lp, key);
    if (a && (!a->is_array() || a->size() != n))
      malformed(ctx, concat(where, ".", key, " is not an array of ", n, " entries (one per token)"));
    return a;
  };
  const json* lps = parallel("token_logprobs");
  const json* tops = parallel("top_logprobs");
  const json* offsets = parallel("text_offset");
  std::vector<TokenLogprob> out(n);
  for (size_t i = 0; i < n; ++i) {
    TokenLogprob& t = out[i];
    if (!(*tokens)[i].is_string()) malformed(ctx, concat(where, ".tokens[", i, "] is not a string"));
    t.text = (*tokens)[i].get<std::string>();
    if (lps && !(*lps)[i].is_null()) {
      if (!(*lps)[i].is_number()) malformed(ctx, concat(where, ".token_logprobs[", i, "] is not a number"));
      t.logprob = (*lps)[i].get<double>();
    }
    if (tops && !(*tops)[i].is_null()) {
      if (!(*tops)[i].is_object()) malformed(ctx, concat(where, ".top_logprobs[", i, "] is not an object"));
      for (const auto& [tok, v] : (*tops)[i].items()) {
        if (!v.is_number()) malformed(ctx, concat(where, ".top_logprobs[", i, "][\"", tok, "\"] is not a number"));
        t.top.emplace_back(tok, v.get<double>());
      }
      // json objects iterate in key order; the contract is likelihood order.
      std::stable_sort(t.top.begin(), t.top.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    }
    if (offsets) {
      if (!(*offsets)[i].is_number_integer()) malformed(ctx, concat(where, ".text_offset[", i, "] is not an integer"));
      offset = (*offsets)[i].get<int64_t>();
    }
    t.text_offset = offset;
    offset += utf8_chars(t.text);
  }
  return out;
}

// Chat-style log-probs (also llama-server's completions): {"content": [{token, logprob, top_logprobs: [..]}]}.
std::vector<TokenLogprob> content_tokens(const json& lp, const std::string& where, const ParseContext& ctx,
                                         int64_t& offset) {
  const json* content = find(lp, "content");
  if (!content) return {};
  if (!content->is_array()) malformed(ctx, where + ".content is not an array");
  std::vector<TokenLogprob> out;
  for (size_t i = 0; i < content->size(); ++i) {
    const json& e = (*content)[i];
    const std::string at = concat(where, ".content[", i, "]");
    if (!e.is_object()) malformed(ctx, at + " is not an object");
    TokenLogprob t;
    const json* tok = find(e, "token");
    if (!tok || !tok->is_string()) malformed(ctx, at + ".token is not a string");
    t.text = tok->get<std::string>();
    if (const json* id = find(e, "id"); id && id->is_number_integer()) t.id = id->get<int32_t>();
    if (const json* v = find(e, "logprob")) {
      if (!v->is_number()) malformed(ctx, at + ".logprob is not a number");
      t.logprob = v->get<double>();
    }
    if (const json* tops = find(e, "top_logprobs")) {
      if (!tops->is_array()) malformed(ctx, at + ".top_logprobs is not an array");
      for (size_t j = 0; j < tops->size(); ++j) {
        const json& a = (*tops)[j];
        const json* at_tok = find(a, "token");
        const json* at_lp = find(a, "logprob");
        if (!at_tok || !at_tok->is_string() || !at_lp || !at_lp->is_number())
          malformed(ctx, concat(at, ".top_logprobs[", j, "] is not {token: string, logprob: number}"));
        t.top.emplace_back(at_tok->get<std::string>(), at_lp->get<double>());
      }
    }
    t.text_offset = offset;
    offset += utf8_chars(t.text);
    out.push_back(std::move(t));
  }
  return out;
}

// Whichever log-probs shape a choice carries; an absent or null "logprobs" gives none.
std::vector<TokenLogprob> choice_tokens(const json& choice, const std::string& where, const ParseContext& ctx,
                                        int64_t& offset) {
  const json* lp = find(choice, "logprobs");
  if (!lp) return {};
  if (!lp->is_object()) malformed(ctx, where + ".logprobs is not an object");
  if (lp->contains("tokens")) return legacy_tokens(*lp, where + ".logprobs", ctx, offset);
  return content_tokens(*lp, where + ".logprobs", ctx, offset);
}

void trim_top(std::vector<TokenLogprob>& tokens, int keep) {
  for (auto& t : tokens)
    if (t.top.size() > static_cast<size_t>(std::max(keep, 0))) t.top.resize(static_cast<size_t>(std::max(keep, 0)));
}

std::string choice_text(const json& choice, const std::string& where, const ParseContext& ctx, bool delta) {
  if (!ctx.chat) return string_at(choice, "text", where, ctx);
  const json* msg = find(choice, delta ? "delta" : "message");
  if (!msg) {
    if (delta) return "";  // a chunk with only a finish_reason
    malformed(ctx, where + ".message is missing");
  }
  if (!msg->is_object()) malformed(ctx, concat(where, delta ? ".delta" : ".message", " is not an object"));
  return string_at(*msg, "content", concat(where, delta ? ".delta" : ".message"), ctx);  // null: ""
}

const json* first_choice(const json& root, const ParseContext& ctx, bool may_be_empty) {
  if (!root.is_object()) malformed(ctx, "the answer is not a JSON object");
  const json* choices = find(root, "choices");
  if (!choices && may_be_empty) return nullptr;
  if (!choices || !choices->is_array()) malformed(ctx, "choices is not an array");
  if (choices->empty()) {
    if (may_be_empty) return nullptr;
    malformed(ctx, "choices is empty");
  }
  if (!(*choices)[0].is_object()) malformed(ctx, "choices[0] is not an object");
  return &(*choices)[0];
}

std::string joined(const std::vector<TokenLogprob>& tokens, size_t begin, size_t end) {
  std::string s;
  for (size_t i = begin; i < end; ++i) s += tokens[i].text;
  return s;
}

}  // namespace

json request_body(const GenerationRequest& r, const std::string& model, bool stream) {
  json body{{"model", model}, {"max_tokens", r.max_tokens}, {"temperature", tidy(r.sampling.temperature)}};
  if (r.chat) {
    json messages = json::array();
    for (const auto& m : r.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(messages);
    body["logprobs"] = true;
    body["top_logprobs"] = std::max(r.logprobs, 0);
  } else {
    if (!r.prompt_ids.empty()) body["prompt"] = r.prompt_ids;
    else body["prompt"] = r.prompt;
    body["logprobs"] = std::max(r.logprobs, 1);
    if (r.echo) body["echo"] = true;
  }
  const SamplerParams& s = r.sampling;
  if (s.top_p < 1.0f) body["top_p"] = tidy(s.top_p);
  if (s.top_k > 0) body["top_k"] = s.top_k;
  if (s.min_p > 0.0f) body["min_p"] = tidy(s.min_p);
  if (s.repeat_penalty != 1.0f) body["repetition_penalty"] = tidy(s.repeat_penalty);
  if (s.seed != 0) body["seed"] = s.seed;
  if (!r.stop.empty()) body["stop"] = r.stop;
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

json echo_body(const std::string& model, const std::string& text, int max_tokens) {
  return json{{"model", model}, {"prompt", text},  {"max_tokens", max_tokens},
              {"echo", true},   {"logprobs", 1},   {"temperature", 0}};
}

GenerationResult parse_response(const json& root, const ParseContext& ctx) {
  const json& choice = *first_choice(root, ctx, false);
  GenerationResult g;
  std::string text = choice_text(choice, "choices[0]", ctx, false);
  g.finish_reason = string_at(choice, "finish_reason", "choices[0]", ctx);
  if (g.finish_reason.empty()) g.finish_reason = "stop";
  int64_t n_prompt = -1, n_completion = -1;
  read_usage(root, ctx, n_prompt, n_completion);

  const bool echo = ctx.echo && !ctx.chat;
  int64_t offset = echo ? 0 : utf8_chars(ctx.prompt);
  std::vector<TokenLogprob> all = choice_tokens(choice, "choices[0]", ctx, offset);
  size_t split = 0;  // tokens before this index belong to the echoed prompt
  if (echo) {
    if (n_prompt >= 0 && static_cast<size_t>(n_prompt) <= all.size()) {
      split = static_cast<size_t>(n_prompt);
    } else if (!ctx.prompt.empty()) {
      const int64_t chars = utf8_chars(ctx.prompt);
      while (split < all.size() && all[split].text_offset < chars) ++split;
    } else {
      split = std::min(all.size(), static_cast<size_t>(ctx.n_prompt_ids));
    }
    // The echoed text starts with the prompt; the answer's text is what follows it.
    const std::string prompt_text = joined(all, 0, split);
    if (!ctx.prompt.empty() && text.starts_with(ctx.prompt)) text.erase(0, ctx.prompt.size());
    else if (!all.empty() && text.starts_with(prompt_text)) text.erase(0, prompt_text.size());
    g.prompt_tokens.assign(std::make_move_iterator(all.begin()),
                           std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(split)));
    trim_top(g.prompt_tokens, ctx.keep_top);
  }
  g.tokens.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(split)),
                  std::make_move_iterator(all.end()));
  if (all.empty() && !text.empty()) {  // no log-probs from this server: one token carrying the text
    TokenLogprob t;
    t.text = text;
    t.text_offset = utf8_chars(ctx.prompt);
    g.tokens.push_back(std::move(t));
  }
  trim_top(g.tokens, ctx.keep_top);
  g.text = std::move(text);
  g.n_prompt_tokens = n_prompt >= 0 ? n_prompt : static_cast<int64_t>(g.prompt_tokens.size());
  g.n_completion_tokens = n_completion >= 0 ? n_completion : static_cast<int64_t>(g.tokens.size());
  return g;
}

Chunk parse_chunk(const json& root, const ParseContext& ctx, int64_t chars_so_far) {
  if (const json* err = find(root, "error")) {
    UpstreamErrorText e = error_text(json{{"error", *err}}.dump());
    throw BackendError(502, concat(ctx.url, ": the upstream reported an error mid-stream: ", e.message));
  }
  Chunk c;
  read_usage(root, ctx, c.n_prompt_tokens, c.n_completion_tokens);
  const json* choice = first_choice(root, ctx, true);
  if (!choice) return c;  // the usage chunk
  c.text = choice_text(*choice, "choices[0]", ctx, true);
  c.finish_reason = string_at(*choice, "finish_reason", "choices[0]", ctx);
  int64_t offset = utf8_chars(ctx.prompt) + chars_so_far;
  c.tokens = choice_tokens(*choice, "choices[0]", ctx, offset);
  if (c.tokens.empty() && !c.text.empty()) {
    TokenLogprob t;
    t.text = c.text;
    t.text_offset = utf8_chars(ctx.prompt) + chars_so_far;
    c.tokens.push_back(std::move(t));
  }
  trim_top(c.tokens, ctx.keep_top);
  return c;
}

std::vector<std::string> SseSplitter::feed(std::string_view bytes) {
  std::vector<std::string> out;
  pending_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1)
    take_line(std::string_view(pending_).substr(start, nl - start), out);
  pending_.erase(0, start);
  return out;
}

std::vector<std::string> SseSplitter::finish() {
  std::vector<std::string> out;
  if (!pending_.empty()) take_line(pending_, out);
  pending_.clear();
  return out;
}

void SseSplitter::take_line(std::string_view line, std::vector<std::string>& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (done_ || !line.starts_with("data:")) return;  // blank line, comment, event:/id:/retry:
  line.remove_prefix(5);
  if (line.starts_with(' ')) line.remove_prefix(1);
  if (line == "[DONE]") {
    done_ = true;
    return;
  }
  out.emplace_back(line);
}

UpstreamErrorText error_text(const std::string& body) {
  UpstreamErrorText e;
  json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const json* obj = &root;
  if (const json* err = find(root, "error")) {
    if (err->is_string()) e.message = err->get<std::string>();
    else obj = err;
  }
  if (e.message.empty()) {
    if (const json* m = find(*obj, "message"); m && m->is_string()) e.message = m->get<std::string>();
    if (const json* d = find(*obj, "detail"); e.message.empty() && d && d->is_string()) e.message = d->get<std::string>();
  }
  if (const json* p = find(*obj, "param"); p && p->is_string()) e.param = p->get<std::string>();
  if (e.message.empty()) {
    e.message = body.substr(0, 200);
    std::replace(e.message.begin(), e.message.end(), '\n', ' ');
    if (body.size() > 200) e.message += "...";
    if (body.empty()) e.message = "(empty body)";
  }
  return e;
}

}  // namespace bitdial::serve::upstream
