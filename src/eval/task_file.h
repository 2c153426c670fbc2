// Task files for `bitdial eval --task F.jsonl` (DESIGN.md "Task data"): one JSON example a line, an
// optional {"task": {...}} header first. Parsing validates everything up front so a bad file fails
// before any model work, with every message naming "<file>:<line>".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial {

enum class TaskKind { classification, generation };
enum class MatchKind { exact, contains, regex };

const char* task_kind_name(TaskKind k);    // "classification" | "generation"
const char* match_kind_name(MatchKind m);  // "exact" | "contains" | "regex"

// A PCRE2 pattern compiled once (UTF + Unicode properties), searched anywhere in a text.
// Cheap to copy (shared, immutable) and safe to use from several threads.
class TextRegex {
 public:
  // Throws bitdial::Error "<where>: invalid regex /<pattern>/ at offset N: <why>".
  static TextRegex compile(const std::string& pattern, const std::string& where);
  // True when the pattern matches somewhere in text (text must be valid UTF-8; invalid bytes: false).
  bool search(std::string_view text) const;
  const std::string& pattern() const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> impl_;
};

// The optional first line {"task": {"name", "template", "few_shot", "choice_prefix"}}.
struct TaskHeader {
  std::string name;                 // default: the file name without folder and extension
  std::string prompt_template = "{input}";  // every "{input}" is replaced by the example's input
  std::string few_shot;             // prepended verbatim to every prompt
  // Put between the prompt and each choice when scoring (lm-evaluation-harness's target_delimiter),
  // so choices can be written bare ("billing") after a template ending in "Label:".
  std::string choice_prefix = " ";
};

struct TaskExample {
  int64_t line = 0;  // 1-based line in the file
  std::string id;
  std::string input;
  std::string prompt;  // few_shot + template(input): what the model is conditioned on
  std::vector<std::string> tags;
  TaskKind kind = TaskKind::classification;
  // classification: the choices (>= 2, distinct) and the index of the label among them
  std::vector<std::string> choices;
  int64_t label = -1;
  // generation: the target, how the greedy output is compared with it, and the token budget
  std::string target;
  MatchKind match = MatchKind::exact;
  int64_t max_tokens = 16;
  TextRegex regex;  // compiled target when match == regex
};

struct TaskFile {
  std::string path;
  TaskHeader header;
  std::vector<TaskExample> examples;  // file order
};

// Examples may carry these keys only (a typo such as "lable" is an error, not a silent default):
// id, input (strings, required); choices + label, or target [+ match, default "exact"] [+ max_tokens,
// 1..4096, default 16]; tags (array of strings); meta (anything, ignored). Blank lines are skipped.
// Throws bitdial::Error "<path>:<line>: <what>" (duplicate ids name both lines), or "<path>: no
// examples". `path` is only used in messages and for the default task name.
TaskFile parse_task_text(std::string_view text, const std::string& path);
// Reads the file and parses it; also throws "<path>: cannot open task file".
TaskFile read_task_file(const std::string& path);

// few_shot + template with every "{input}" replaced by input.
std::string render_prompt(const TaskHeader& header, std::string_view input);

}  // namespace bitdial
