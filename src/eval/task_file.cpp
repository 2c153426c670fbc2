#include "eval/task_file.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_parse.h"

namespace bitdial {

using nlohmann::json;

const char* task_kind_name(TaskKind k) { return k == TaskKind::classification ? "classification" : "generation"; }

const char* match_kind_name(MatchKind m) {
  switch (m) {
    case MatchKind::exact: return "exact";
    case MatchKind::contains: return "contains";
    case MatchKind::regex: return "regex";
  }
  return "?";
}

struct TextRegex::Compiled {
  pcre2_code* code = nullptr;
  std::string pattern;
  ~Compiled() { pcre2_code_free(code); }
};

TextRegex TextRegex::compile(const std::string& pattern, const std::string& where) {
  auto c = std::make_shared<Compiled>();
  c->pattern = pattern;
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                          &err_offset, nullptr);
  if (c->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(where, ": invalid regex /", pattern, "/ at offset ", err_offset, ": ", reinterpret_cast<const char*>(msg));
  }
  TextRegex r;
  r.impl_ = std::move(c);
  return r;
}

bool TextRegex::search(std::string_view text) const {
  BITDIAL_ASSERT(impl_ != nullptr);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  if (!md) fail("regex /", impl_->pattern, "/: out of memory creating match data");
  // Model output may end inside a UTF-8 sequence; PCRE2 then reports a UTF error, which is "no match".
  const int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md.get(),
                             nullptr);
  return rc >= 0;
}

const std::string& TextRegex::pattern() const {
  BITDIAL_ASSERT(impl_ != nullptr);
  return impl_->pattern;
}

std::string render_prompt(const TaskHeader& header, std::string_view input) {
  static constexpr std::string_view kSlot = "{input}";
  std::string out = header.few_shot;
  const std::string& t = header.prompt_template;
  size_t pos = 0;
  for (size_t hit; (hit = t.find(kSlot, pos)) != std::string::npos; pos = hit + kSlot.size()) {
    out.append(t, pos, hit - pos);
    out.append(input);
  }
  out.append(t, pos, std::string::npos);
  return out;
}

namespace {

// Where a message points: "<path>:<line>".
std::string at(const std::string& path, int64_t line) { return concat(path, ":", line); }

std::string get_string(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_string()) fail(where, ": \"", key, "\" must be a string, not ", v.type_name());
  return v.get<std::string>();
}

TaskHeader parse_header(const json& obj, const std::string& where, const std::string& path) {
  const json& t = obj.at("task");
  if (!t.is_object()) fail(where, ": \"task\" must be an object, not ", t.type_name());
  TaskHeader h;
  h.name = std::filesystem::path(path).stem().string();
  for (const auto& [key, value] : t.items()) {
    if (key == "name") {
      h.name = get_string(t, "name", where);
    } else if (key == "template") {
      h.prompt_template = get_string(t, "template", where);
      if (h.prompt_template.find("{input}") == std::string::npos)
        fail(where, ": \"template\" has no {input} placeholder");
    } else if (key == "few_shot") {
      h.few_shot = get_string(t, "few_shot", where);
    } else if (key == "choice_prefix") {
      h.choice_prefix = get_string(t, "choice_prefix", where);
    } else {
      fail(where, ": unknown task header key \"", key, "\" (allowed: name, template, few_shot, choice_prefix)");
    }
  }
  return h;
}

MatchKind parse_match(const std::string& s, const std::string& where) {
  if (s == "exact") return MatchKind::exact;
  if (s == "contains") return MatchKind::contains;
  if (s == "regex") return MatchKind::regex;
  fail(where, ": unknown match kind \"", s, "\" (allowed: exact, contains, regex)");
}

TaskExample parse_example(const json& obj, const std::string& where, const TaskHeader& header) {
  static const std::set<std::string> kKeys = {"id",     "input", "choices",    "label", "target",
                                              "match", "max_tokens", "tags", "meta"};
  for (const auto& [key, value] : obj.items())
    if (!kKeys.count(key))
      fail(where, ": unknown key \"", key,
           "\" (allowed: id, input, choices, label, target, match, max_tokens, tags, meta)");
  TaskExample ex;
  if (!obj.contains("id")) fail(where, ": missing \"id\"");
  ex.id = get_string(obj, "id", where);
  if (ex.id.empty()) fail(where, ": \"id\" is empty");
  if (!obj.contains("input")) fail(where, ": missing \"input\"");
  ex.input = get_string(obj, "input", where);
  ex.prompt = render_prompt(header, ex.input);

  if (obj.contains("tags")) {
    const json& tags = obj.at("tags");
    if (!tags.is_array()) fail(where, ": \"tags\" must be an array of strings, not ", tags.type_name());
    for (const json& t : tags) {
      if (!t.is_string()) fail(where, ": \"tags\" must be an array of strings; found ", t.type_name());
      ex.tags.push_back(t.get<std::string>());
    }
  }

  const bool has_choices = obj.contains("choices") || obj.contains("label");
  const bool has_target = obj.contains("target") || obj.contains("match") || obj.contains("max_tokens");
  if (has_choices && has_target)
    fail(where, ": an example is classification (choices, label) or generation (target, match, max_tokens), not both");
  if (!has_choices && !has_target)
    fail(where, ": neither \"choices\" + \"label\" (classification) nor \"target\" (generation)");

  if (has_choices) {
    ex.kind = TaskKind::classification;
    if (!obj.contains("choices")) fail(where, ": missing \"choices\"");
    if (!obj.contains("label")) fail(where, ": missing \"label\"");
    const json& choices = obj.at("choices");
    if (!choices.is_array()) fail(where, ": \"choices\" must be an array of strings, not ", choices.type_name());
    for (const json& c : choices) {
      if (!c.is_string()) fail(where, ": \"choices\" must be an array of strings; found ", c.type_name());
      const std::string s = c.get<std::string>();
      if (s.empty()) fail(where, ": a choice is empty");
      for (const std::string& prev : ex.choices)
        if (prev == s) fail(where, ": choice \"", s, "\" appears twice");
      ex.choices.push_back(s);
    }
    if (ex.choices.size() < 2) fail(where, ": \"choices\" needs at least 2 entries, has ", ex.choices.size());
    const std::string label = get_string(obj, "label", where);
    for (size_t i = 0; i < ex.choices.size(); ++i)
      if (ex.choices[i] == label) ex.label = static_cast<int64_t>(i);
    if (ex.label < 0) fail(where, ": label \"", label, "\" is not among the choices");
  } else {
    ex.kind = TaskKind::generation;
    if (!obj.contains("target")) fail(where, ": missing \"target\"");
    ex.target = get_string(obj, "target", where);
    if (ex.target.empty()) fail(where, ": \"target\" is empty");
    if (obj.contains("match")) ex.match = parse_match(get_string(obj, "match", where), where);
    if (obj.contains("max_tokens")) {
      const json& m = obj.at("max_tokens");
      if (!m.is_number_integer()) fail(where, ": \"max_tokens\" must be an integer, not ", m.type_name());
      ex.max_tokens = m.get<int64_t>();
      if (ex.max_tokens < 1 || ex.max_tokens > 4096) fail(where, ": \"max_tokens\" ", ex.max_tokens, " is not in 1..4096");
    }
    if (ex.match == MatchKind::regex) ex.regex = TextRegex::compile(ex.target, where);
  }
  return ex;
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

}  // namespace

TaskFile parse_task_text(std::string_view text, const std::string& path) {
  TaskFile tf;
  tf.path = path;
  tf.header.name = std::filesystem::path(path).stem().string();
  std::map<std::string, int64_t> id_line;  // id -> the line that defined it
  bool seen_content = false;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (is_blank(line)) continue;
    const std::string where = at(path, line_no);
    const json obj = parse_json(line, where);
    if (!obj.is_object()) fail(where, ": an example must be a JSON object, not ", obj.type_name());
    if (obj.size() == 1 && obj.contains("task")) {
      if (seen_content) fail(where, ": the {\"task\": ...} header must be the first line");
      tf.header = parse_header(obj, where, path);
      seen_content = true;
      continue;
    }
    seen_content = true;
    TaskExample ex = parse_example(obj, where, tf.header);
    ex.line = line_no;
    const auto [it, inserted] = id_line.emplace(ex.id, line_no);
    if (!inserted) fail(where, ": duplicate id \"", ex.id, "\" (first at line ", it->second, ")");
    tf.examples.push_back(std::move(ex));
  }
  if (tf.examples.empty()) fail(path, ": no examples");
  return tf;
}

TaskFile read_task_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open task file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, ": read error");
  return parse_task_text(ss.str(), path);
}

}  // namespace bitdial
