// Task file parsing: the two example kinds, the header's template and few-shot prefix, and one test
// per validation error, each checking that the message names "<file>:<line>".
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "eval/task_file.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::string write(const test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("task.jsonl");
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Parses text from a file and returns the error message ("" when it parsed).
std::string error_of(const std::string& text) {
  test::TempDir dir;
  const std::string path = write(dir, text);
  try {
    read_task_file(path);
  } catch (const Error& e) {
    std::string msg = e.what();
    // Callers compare against "task.jsonl:<line>: ..." without the temp folder.
    const size_t slash = msg.rfind('/', msg.find("task.jsonl"));
    return slash == std::string::npos ? msg : msg.substr(slash + 1);
  }
  return "";
}

const char* kGood = R"({"id":"t1","input":"my card was charged twice","choices":["billing","refund","technical"],"label":"billing","tags":["short"]})";

TEST(TaskFile, ParsesClassificationAndGenerationExamples) {
  test::TempDir dir;
  const std::string path = write(dir, std::string(kGood) + "\n" +
                                          R"({"id":"g1","input":"Q: 17+25=","target":"42","match":"exact","max_tokens":4,"tags":["math"]})" "\n");
  const TaskFile tf = read_task_file(path);
  ASSERT_EQ(tf.examples.size(), 2u);
  const TaskExample& c = tf.examples[0];
  EXPECT_EQ(c.kind, TaskKind::classification);
  EXPECT_EQ(c.line, 1);
  EXPECT_EQ(c.id, "t1");
  EXPECT_EQ(c.prompt, "my card was charged twice");
  EXPECT_EQ(c.choices.size(), 3u);
  EXPECT_EQ(c.label, 0);
  EXPECT_EQ(c.tags, std::vector<std::string>{"short"});
  const TaskExample& g = tf.examples[1];
  EXPECT_EQ(g.kind, TaskKind::generation);
  EXPECT_EQ(g.line, 2);
  EXPECT_EQ(g.target, "42");
  EXPECT_EQ(g.match, MatchKind::exact);
  EXPECT_EQ(g.max_tokens, 4);
  EXPECT_EQ(tf.header.name, "task");
  EXPECT_EQ(tf.header.choice_prefix, " ");
}

TEST(TaskFile, GenerationDefaultsToExactMatchAndSixteenTokens) {
  test::TempDir dir;
  const TaskFile tf = read_task_file(write(dir, R"({"id":"g","input":"x","target":"y"})"));
  EXPECT_EQ(tf.examples[0].match, MatchKind::exact);
  EXPECT_EQ(tf.examples[0].max_tokens, 16);
}

TEST(TaskFile, HeaderTemplateAndFewShotBuildThePrompt) {
  test::TempDir dir;
  const std::string path =
      write(dir, R"({"task":{"name":"intent","template":"Text: {input}\nLabel:","few_shot":"Text: hi\nLabel: greeting\n\n","choice_prefix":"  "}})"
                 "\n" + std::string(kGood) + "\n");
  const TaskFile tf = read_task_file(path);
  EXPECT_EQ(tf.header.name, "intent");
  EXPECT_EQ(tf.header.choice_prefix, "  ");
  ASSERT_EQ(tf.examples.size(), 1u);
  EXPECT_EQ(tf.examples[0].prompt, "Text: hi\nLabel: greeting\n\nText: my card was charged twice\nLabel:");
  EXPECT_EQ(tf.examples[0].line, 2);
}

TEST(TaskFile, TemplateReplacesEveryPlaceholder) {
  TaskHeader h;
  h.prompt_template = "{input} / {input}";
  EXPECT_EQ(render_prompt(h, "a"), "a / a");
}

TEST(TaskFile, BlankLinesAreSkippedAndLinesStillCounted) {
  test::TempDir dir;
  const TaskFile tf = read_task_file(write(dir, std::string("\n  \n") + kGood + "\n\n"));
  ASSERT_EQ(tf.examples.size(), 1u);
  EXPECT_EQ(tf.examples[0].line, 3);
}

TEST(TaskFile, MalformedJsonNamesFileAndLine) {
  EXPECT_EQ(error_of(std::string(kGood) + "\n{\"id\": \"x\",\n").rfind("task.jsonl:2: not valid JSON", 0), 0u)
      << error_of(std::string(kGood) + "\n{\"id\": \"x\",\n");
}

TEST(TaskFile, MissingIdNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"input":"a","choices":["x","y"],"label":"x"})"), "task.jsonl:1: missing \"id\"");
}

TEST(TaskFile, MissingInputNamesFileAndLine) {
  EXPECT_EQ(error_of(std::string(kGood) + "\n" + R"({"id":"b","choices":["x","y"],"label":"x"})"),
            "task.jsonl:2: missing \"input\"");
}

TEST(TaskFile, DuplicateIdNamesBothLines) {
  EXPECT_EQ(error_of(std::string(kGood) + "\n\n" + kGood), "task.jsonl:3: duplicate id \"t1\" (first at line 1)");
}

TEST(TaskFile, LabelNotAmongChoicesNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["x","y"],"label":"z"})"),
            "task.jsonl:1: label \"z\" is not among the choices");
}

TEST(TaskFile, EmptyChoicesNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":[],"label":"z"})"),
            "task.jsonl:1: \"choices\" needs at least 2 entries, has 0");
}

TEST(TaskFile, SingleChoiceNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["z"],"label":"z"})"),
            "task.jsonl:1: \"choices\" needs at least 2 entries, has 1");
}

TEST(TaskFile, RepeatedChoiceNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["z","z"],"label":"z"})"),
            "task.jsonl:1: choice \"z\" appears twice");
}

TEST(TaskFile, UnknownMatchKindNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"g","input":"x","target":"y","match":"fuzzy"})"),
            "task.jsonl:1: unknown match kind \"fuzzy\" (allowed: exact, contains, regex)");
}

TEST(TaskFile, InvalidRegexNamesFileAndLine) {
  const std::string err = error_of(R"({"id":"g","input":"x","target":"(ab","match":"regex"})");
  EXPECT_EQ(err.rfind("task.jsonl:1: invalid regex /(ab/ at offset 3", 0), 0u) << err;
}

TEST(TaskFile, TagsMustBeAnArrayOfStrings) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["x","y"],"label":"x","tags":"short"})"),
            "task.jsonl:1: \"tags\" must be an array of strings, not string");
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["x","y"],"label":"x","tags":["ok",3]})"),
            "task.jsonl:1: \"tags\" must be an array of strings; found number");
}

TEST(TaskFile, UnknownKeyNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["x","y"],"lable":"x"})").rfind("task.jsonl:1: unknown key \"lable\"", 0),
            0u);
}

TEST(TaskFile, ExampleWithBothKindsIsRejected) {
  EXPECT_EQ(error_of(R"({"id":"a","input":"a","choices":["x","y"],"label":"x","target":"x"})").rfind("task.jsonl:1: an example is", 0),
            0u);
}

TEST(TaskFile, NonPositiveMaxTokensNamesFileAndLine) {
  EXPECT_EQ(error_of(R"({"id":"g","input":"x","target":"y","max_tokens":0})"),
            "task.jsonl:1: \"max_tokens\" 0 is not in 1..4096");
}

TEST(TaskFile, HeaderAfterAnExampleNamesFileAndLine) {
  EXPECT_EQ(error_of(std::string(kGood) + "\n" + R"({"task":{"name":"x"}})"),
            "task.jsonl:2: the {\"task\": ...} header must be the first line");
}

TEST(TaskFile, HeaderTemplateWithoutPlaceholderIsRejected) {
  EXPECT_EQ(error_of(std::string(R"({"task":{"template":"Text:"}})") + "\n" + kGood),
            "task.jsonl:1: \"template\" has no {input} placeholder");
}

TEST(TaskFile, FileWithoutExamplesIsRejected) {
  EXPECT_EQ(error_of("\n\n"), "task.jsonl: no examples");
}

TEST(TaskFile, MissingFileNamesThePath) {
  EXPECT_THROW(read_task_file("/nonexistent/task.jsonl"), Error);
}

TEST(TaskFile, RegexSearchesAnywhereInTheText) {
  const TextRegex re = TextRegex::compile("[0-9]+ apples", "test");
  EXPECT_TRUE(re.search("I have 12 apples."));
  EXPECT_FALSE(re.search("I have no apples."));
}

}  // namespace
}  // namespace bitdial
