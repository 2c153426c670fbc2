// OpenAI request bodies → GenerationRequest. The checks follow OpenAI's documented ranges so that a
// client that works against OpenAI gets the same answer here, plus bitdial's extensions:
//   completions and chat: "top_k" (int >= 0), "min_p" ([0,1]), "repetition_penalty" / "repeat_penalty"
//   (> 0), "task" (string, hybrid routing), "high_stakes" (bool);
//   completions only: "choices" (classification: distinct non-empty strings scored as continuations).
// A field given as null counts as absent (many clients serialise every optional field).
#include "serve/openai_request.h"

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace bitdial::serve {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& param, const std::string& message) {
  throw ApiException::invalid_request(param, message);
}

// The field's value, or nullptr when absent or null.
const json* field(const json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Integers only (16.0 is rejected, as OpenAI does); values beyond int64 saturate so that the range
// check that follows reports them.
int64_t as_int(const json& v, const std::string& name) {
  if (!v.is_number_integer()) fail(name, name + " must be an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                          : static_cast<int64_t>(u);
  }
  return v.get<int64_t>();
}

double as_number(const json& v, const std::string& name) {
  if (!v.is_number()) fail(name, name + " must be a number");
  return v.get<double>();
}

bool as_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) fail(name, name + " must be a boolean");
  return v.get<bool>();
}

std::string as_string(const json& v, const std::string& name) {
  if (!v.is_string()) fail(name, name + " must be a string");
  return v.get<std::string>();
}

json parse_object(std::string_view body) {
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    fail("", "request body is not valid JSON (at byte " + std::to_string(e.byte) + "): " + e.what());
  }
  if (!j.is_object()) fail("", std::string("request body must be a JSON object, not ") + j.type_name());
  return j;
}

int64_t parse_max_tokens(const json& v, const std::string& name, int64_t min, const RequestLimits& limits) {
  const int64_t n = as_int(v, name);
  if (n < min) fail(name, name + " must be at least " + std::to_string(min) + " (got " + std::to_string(n) + ")");
  if (n > limits.max_tokens)
    fail(name, name + " must be at most " + std::to_string(limits.max_tokens) + " (got " + std::to_string(n) + ")");
  return n;
}

std::vector<std::string> parse_stop(const json& v, const RequestLimits& limits) {
  std::vector<std::string> stop;
  auto add = [&](const json& s) {
    if (!s.is_string()) fail("stop", "stop must be a string or an array of strings");
    if (s.get_ref<const std::string&>().empty()) fail("stop", "stop strings must not be empty");
    stop.push_back(s.get<std::string>());
  };
  if (v.is_array()) {
    if (v.size() > static_cast<size_t>(limits.max_stop))
      fail("stop", "stop may hold at most " + std::to_string(limits.max_stop) + " strings (got " +
                       std::to_string(v.size()) + ")");
    for (const json& s : v) add(s);
  } else {
    add(v);
  }
  return stop;
}

// Fields shared by both endpoints: identity, streaming, n and sampling.
void parse_common(const json& j, const RequestLimits& limits, ParsedRequest& out) {
  if (const json* v = field(j, "model")) out.model = as_string(*v, "model");
  if (const json* v = field(j, "user")) out.user = as_string(*v, "user");
  if (const json* v = field(j, "task")) out.task = as_string(*v, "task");
  if (const json* v = field(j, "high_stakes")) out.high_stakes = as_bool(*v, "high_stakes");
  if (const json* v = field(j, "stream")) out.gen.stream = as_bool(*v, "stream");
  if (const json* v = field(j, "stream_options")) {
    if (!v->is_object()) fail("stream_options", "stream_options must be an object");
    if (const json* u = field(*v, "include_usage"))
      out.include_usage = as_bool(*u, "stream_options.include_usage");
  }
  if (const json* v = field(j, "n")) {
    const int64_t n = as_int(*v, "n");
    if (n != 1) fail("n", "only n=1 is supported (got n=" + std::to_string(n) + ")");
  }
  out.n = 1;

  SamplerParams& s = out.gen.sampling;
  if (const json* v = field(j, "temperature")) {
    const double t = as_number(*v, "temperature");
    if (t < 0 || t > 2) fail("temperature", "temperature must be between 0 and 2 (got " + v->dump() + ")");
    s.temperature = static_cast<float>(t);
  }
  if (const json* v = field(j, "top_p")) {
    const double p = as_number(*v, "top_p");
    if (p <= 0 || p > 1) fail("top_p", "top_p must be greater than 0 and at most 1 (got " + v->dump() + ")");
    s.top_p = static_cast<float>(p);
  }
  if (const json* v = field(j, "top_k")) {
    const int64_t k = as_int(*v, "top_k");
    if (k < 0 || k > std::numeric_limits<int32_t>::max()) fail("top_k", "top_k must be a non-negative integer (0: off)");
    s.top_k = static_cast<int32_t>(k);
  }
  if (const json* v = field(j, "min_p")) {
    const double p = as_number(*v, "min_p");
    if (p < 0 || p > 1) fail("min_p", "min_p must be between 0 and 1 (got " + v->dump() + ")");
    s.min_p = static_cast<float>(p);
  }
  for (const char* name : {"repetition_penalty", "repeat_penalty"}) {
    if (const json* v = field(j, name)) {
      const double r = as_number(*v, name);
      if (r <= 0) fail(name, std::string(name) + " must be greater than 0 (1: off; got " + v->dump() + ")");
      s.repeat_penalty = static_cast<float>(r);
    }
  }
  if (const json* v = field(j, "seed")) {
    if (!v->is_number_integer()) fail("seed", "seed must be an integer");
    // OpenAI takes any 64-bit integer; negative seeds wrap to their two's-complement uint64.
    s.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (const json* v = field(j, name)) {
      if (as_number(*v, name) != 0) fail(name, std::string(name) + " is not supported (must be 0 or absent)");
    }
  }
  if (const json* v = field(j, "stop")) out.gen.stop = parse_stop(*v, limits);
}

// Completions `prompt`: a string, an array of one string, an array of token ids, or an array of one
// array of token ids (how batching clients send a single prompt).
void parse_prompt(const json& j, const RequestLimits& limits, GenerationRequest& gen) {
  const json* v = field(j, "prompt");
  if (!v) fail("prompt", "prompt is required");
  const char* shape = "prompt must be a string, an array of one string, or an array of token ids "
                      "(batches of several prompts are not supported)";
  const json* p = v;
  if (v->is_array() && v->size() == 1 && ((*v)[0].is_string() || (*v)[0].is_array())) p = &(*v)[0];
  if (p->is_string()) {
    gen.prompt = p->get<std::string>();
    if (gen.prompt.empty()) fail("prompt", "prompt must not be empty");
    if (static_cast<int64_t>(gen.prompt.size()) > limits.max_prompt_chars)
      fail("prompt", "prompt is longer than " + std::to_string(limits.max_prompt_chars) + " bytes");
    return;
  }
  if (!p->is_array()) fail("prompt", shape);
  if (p->empty()) fail("prompt", "prompt must not be empty");
  if (static_cast<int64_t>(p->size()) > limits.max_prompt_chars)
    fail("prompt", "prompt has more than " + std::to_string(limits.max_prompt_chars) + " token ids");
  gen.prompt_ids.reserve(p->size());
  for (size_t i = 0; i < p->size(); ++i) {
    const json& id = (*p)[i];
    if (!id.is_number_integer()) fail("prompt", shape);
    const int64_t value = as_int(id, "prompt");
    if (value < 0 || value > std::numeric_limits<int32_t>::max())
      fail("prompt", "prompt token ids must be non-negative 32-bit integers (prompt[" + std::to_string(i) +
                         "] is " + id.dump() + ")");
    gen.prompt_ids.push_back(static_cast<int32_t>(value));
  }
}

std::vector<std::string> parse_choices(const json& v, const RequestLimits& limits) {
  if (!v.is_array() || v.empty()) fail("choices", "choices must be a non-empty array of strings");
  if (v.size() > static_cast<size_t>(limits.max_choices))
    fail("choices", "choices may hold at most " + std::to_string(limits.max_choices) + " strings (got " +
                        std::to_string(v.size()) + ")");
  std::vector<std::string> choices;
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = "choices[" + std::to_string(i) + "]";
    if (!v[i].is_string()) fail("choices", where + " must be a string");
    std::string c = v[i].get<std::string>();
    if (c.empty()) fail("choices", where + " must not be empty");
    if (!seen.insert(c).second) fail("choices", where + " repeats an earlier choice");
    choices.push_back(std::move(c));
  }
  return choices;
}

// A message's content: a string, or an array of {"type":"text","text":...} parts, concatenated.
std::string parse_content(const json& m, const std::string& where) {
  const std::string name = where + ".content";
  const json* c = field(m, "content");
  if (!c) fail("messages", name + " is required");
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) fail("messages", name + " must be a string or an array of text parts");
  std::string text;
  for (size_t i = 0; i < c->size(); ++i) {
    const json& part = (*c)[i];
    const std::string pname = name + "[" + std::to_string(i) + "]";
    if (!part.is_object()) fail("messages", pname + " must be an object");
    const json* type = field(part, "type");
    if (!type || !type->is_string() || type->get_ref<const std::string&>() != "text")
      fail("messages", pname + ".type must be \"text\" (only text content is supported)");
    const json* t = field(part, "text");
    if (!t || !t->is_string()) fail("messages", pname + ".text must be a string");
    text += t->get_ref<const std::string&>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& j, const RequestLimits& limits) {
  const json* v = field(j, "messages");
  if (!v) fail("messages", "messages is required");
  if (!v->is_array()) fail("messages", "messages must be an array of messages");
  if (v->empty()) fail("messages", "messages must not be empty");
  std::vector<ChatMessage> messages;
  int64_t chars = 0;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) fail("messages", where + " must be an object");
    const json* role = field(m, "role");
    if (!role) fail("messages", where + ".role is required");
    if (!role->is_string()) fail("messages", where + ".role must be a string");
    ChatMessage msg{role->get<std::string>(), parse_content(m, where)};
    chars += static_cast<int64_t>(msg.content.size());
    if (chars > limits.max_prompt_chars)
      fail("messages", "messages are longer than " + std::to_string(limits.max_prompt_chars) + " bytes");
    messages.push_back(std::move(msg));
  }
  return messages;
}

}  // namespace

ParsedRequest parse_completion_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_object(body);
  ParsedRequest out;
  out.gen.chat = false;
  parse_common(j, limits, out);
  parse_prompt(j, limits, out.gen);
  out.gen.max_tokens = 16;  // OpenAI's legacy default
  // 0 is allowed: with echo it scores the prompt without generating.
  if (const json* v = field(j, "max_tokens")) out.gen.max_tokens = parse_max_tokens(*v, "max_tokens", 0, limits);
  if (const json* v = field(j, "echo")) out.gen.echo = as_bool(*v, "echo");
  if (const json* v = field(j, "logprobs")) {
    const int64_t k = as_int(*v, "logprobs");
    if (k < 0 || k > limits.max_logprobs)
      fail("logprobs", "logprobs must be between 0 and " + std::to_string(limits.max_logprobs) + " (got " +
                           std::to_string(k) + ")");
    out.gen.logprobs = static_cast<int>(k);
  }
  if (const json* v = field(j, "choices")) out.gen.choices = parse_choices(*v, limits);
  return out;
}

ParsedRequest parse_chat_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_object(body);
  ParsedRequest out;
  out.gen.chat = true;
  parse_common(j, limits, out);
  out.gen.messages = parse_messages(j, limits);
  out.gen.max_tokens = limits.max_tokens;  // until the end of the turn, capped
  // The newer name wins when a client sends both.
  if (const json* v = field(j, "max_completion_tokens"))
    out.gen.max_tokens = parse_max_tokens(*v, "max_completion_tokens", 1, limits);
  else if (const json* v = field(j, "max_tokens"))
    out.gen.max_tokens = parse_max_tokens(*v, "max_tokens", 1, limits);
  if (const json* v = field(j, "echo")) {
    if (as_bool(*v, "echo")) fail("echo", "echo is not supported on /v1/chat/completions");
  }
  if (field(j, "choices")) fail("choices", "choices (classification) is only supported on /v1/completions");
  bool logprobs = false;
  if (const json* v = field(j, "logprobs")) logprobs = as_bool(*v, "logprobs");
  int top = 0;
  if (const json* v = field(j, "top_logprobs")) {
    const int64_t k = as_int(*v, "top_logprobs");
    if (k < 0 || k > limits.max_logprobs)
      fail("top_logprobs", "top_logprobs must be between 0 and " + std::to_string(limits.max_logprobs) +
                               " (got " + std::to_string(k) + ")");
    if (!logprobs) fail("top_logprobs", "top_logprobs requires logprobs to be true");
    top = static_cast<int>(k);
  }
  out.gen.logprobs = logprobs ? top : -1;
  return out;
}

}  // namespace bitdial::serve
