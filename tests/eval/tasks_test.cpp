// The task runner on stories260K: choice log-likelihoods against a hand sum over Session logits, raw
// vs length-normalised predictions, greedy generation matched three ways, error rows, per-tag counts,
// thread-count independence, and the speed the issue asks for (1,000 classification examples).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/task_file.h"
#include "eval/task_runner.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "test_support.h"

namespace bitdial {
namespace {

const LlamaModel& stories() {
  static const LlamaModel m = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  return m;
}

TaskFile parse(const std::string& text) { return parse_task_text(text, "test.jsonl"); }

const char* kGirl = "Once upon a time, there was a little girl named";

std::string classification_line(const std::string& id, const std::string& input, const std::string& choices,
                                const std::string& label, const std::string& tags = "[]") {
  return R"({"id":")" + id + R"(","input":")" + input + R"(","choices":)" + choices + R"(,"label":")" + label +
         R"(","tags":)" + tags + "}\n";
}

TEST(Tasks, ObviousChoiceIsCorrect) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(classification_line("a", kGirl, R"(["Lily","zebra123"])", "Lily"));
  const ExampleResult r = runner.run_example(tf.examples[0], tf.header);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.predicted, 0);
  EXPECT_TRUE(r.correct);
  EXPECT_TRUE(r.correct_norm);
  EXPECT_GT(r.choice_logliks[0], r.choice_logliks[1]);
  EXPECT_GT(r.confidence, 0.99);
  EXPECT_NEAR(r.margin, 2 * r.confidence - 1, 1e-12);  // two choices: p1 - (1 - p1)
}

// Hand computation: encode the full text, take the tokens after the prompt's own encoding, and sum
// log softmax over the Session's logits at the preceding positions.
TEST(Tasks, ChoiceLoglikEqualsHandSumOverSessionLogits) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(classification_line("a", kGirl, R"(["Lily","Tom went"])", "Lily"));
  const ExampleResult r = runner.run_example(tf.examples[0], tf.header);
  ASSERT_TRUE(r.ok()) << r.error;
  const Tokenizer& tok = runner.tokenizer();
  const int64_t n_vocab = stories().hparams().n_vocab;
  for (size_t c = 0; c < 2; ++c) {
    const std::vector<int32_t> prompt = tok.encode(kGirl, true);
    const std::vector<int32_t> full = tok.encode(std::string(kGirl) + " " + tf.examples[0].choices[c], true);
    ASSERT_GT(full.size(), prompt.size());
    // With SentencePiece, " Lily" after "named" adds whole tokens: the prompt's ids are a prefix.
    ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), full.begin()));
    Session s(stories());
    const std::vector<float> logits = s.eval(full, true);
    double want = 0;
    for (size_t j = prompt.size(); j < full.size(); ++j) {
      const float* row = logits.data() + (j - 1) * static_cast<size_t>(n_vocab);
      double z = 0;
      for (int64_t v = 0; v < n_vocab; ++v) z += std::exp(static_cast<double>(row[v]));
      want += std::log(std::exp(static_cast<double>(row[full[j]])) / z);
    }
    EXPECT_NEAR(r.choice_logliks[c], want, 1e-9 * std::fabs(want) + 1e-12) << "choice " << c;
    EXPECT_EQ(r.choice_tokens[c], static_cast<int64_t>(full.size() - prompt.size()));
    EXPECT_DOUBLE_EQ(r.choice_logliks_norm[c], r.choice_logliks[c] / static_cast<double>(tf.examples[0].choices[c].size()));
  }
}

// An example's choices share one forward pass; each scores bitwise as when evaluated alone.
TEST(Tasks, ChoicesBatchedTogetherScoreAsEachAlone) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(classification_line("a", kGirl, R"(["Lily","Tom went to the park","a"])", "Lily"));
  const ExampleResult r = runner.run_example(tf.examples[0], tf.header);
  ASSERT_TRUE(r.ok()) << r.error;
  const Tokenizer& tok = runner.tokenizer();
  const std::vector<int32_t> prompt = tok.encode(kGirl, true);
  for (size_t c = 0; c < 3; ++c) {
    const ChoiceTokens ct = split_choice_tokens(prompt, tok.encode(std::string(kGirl) + " " + tf.examples[0].choices[c], true));
    EXPECT_EQ(r.choice_logliks[c], runner.continuation_loglik(ct.context, ct.continuation)) << "choice " << c;
  }
}

TEST(Tasks, ContinuationStartsWhereTokenSequencesDisagree) {
  const ChoiceTokens ct = split_choice_tokens({1, 5, 6, 7}, {1, 5, 9, 10});
  EXPECT_EQ(ct.context, (std::vector<int32_t>{1, 5}));
  EXPECT_EQ(ct.continuation, (std::vector<int32_t>{9, 10}));
}

// A long, fluent choice has the lower total log-likelihood (15 tokens, about -5.0 nats) but the higher
// per byte (about -0.11) than a short, unlikely name (3 tokens, about -4.4 nats, -1.5 per byte).
TEST(Tasks, NormalisedAndRawPredictionsDiffer) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const std::string fluent = "Lily. She loved to play with her toys. One day";
  const TaskFile tf = parse(classification_line("a", kGirl, R"([")" + fluent + R"(","Sue"])", fluent));
  const ExampleResult r = runner.run_example(tf.examples[0], tf.header);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.predicted, 1);
  EXPECT_EQ(r.predicted_norm, 0);
  EXPECT_FALSE(r.correct);
  EXPECT_TRUE(r.correct_norm);

  TaskReport report;
  report.examples = {r};
  aggregate(report);
  EXPECT_EQ(report.overall.accuracy(), 0.0);
  EXPECT_EQ(report.overall.accuracy_norm(), 1.0);
}

// stories260K continues "Once upon a time" greedily with ", there was a little girl named Lily."
// (pinned against llama.cpp in ../shared/reference/stories260K.greedy.txt).
TEST(Tasks, GenerationMatchesExactContainsAndRegex) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(
      R"({"id":"exact","input":"Once upon a time","target":", there was a little girl named Lily.","match":"exact","max_tokens":11})" "\n"
      R"({"id":"contains","input":"Once upon a time","target":"little girl","max_tokens":11,"match":"contains"})" "\n"
      R"({"id":"regex","input":"Once upon a time","target":"named [A-Z][a-z]+\\.","match":"regex","max_tokens":11})" "\n"
      R"({"id":"miss","input":"Once upon a time","target":"dragon","match":"contains","max_tokens":11})" "\n");
  const TaskReport report = runner.run(tf);
  ASSERT_EQ(report.examples.size(), 4u);
  for (const ExampleResult& r : report.examples) ASSERT_TRUE(r.ok()) << r.id << ": " << r.error;
  EXPECT_EQ(report.examples[0].output, ", there was a little girl named Lily.");
  EXPECT_TRUE(report.examples[0].correct);
  EXPECT_TRUE(report.examples[1].correct);
  EXPECT_TRUE(report.examples[2].correct);
  EXPECT_FALSE(report.examples[3].correct);
  EXPECT_EQ(report.overall.n_generation, 4);
  EXPECT_EQ(report.overall.n_generation_correct, 3);
  const ExampleResult& g = report.examples[0];
  EXPECT_EQ(g.n_generated, 11);
  EXPECT_GT(g.first_token_prob, 0.0);
  EXPECT_LE(g.first_token_prob, 1.0);
  EXPECT_GT(g.mean_token_prob, 0.0);
  EXPECT_LE(g.mean_token_prob, 1.0);
}

TEST(Tasks, GenerationStopsAtMaxTokens) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(R"({"id":"g","input":"Once upon a time","target":",","max_tokens":1})");
  const ExampleResult r = runner.run_example(tf.examples[0], tf.header);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.n_generated, 1);
  EXPECT_EQ(r.output, ",");
  EXPECT_TRUE(r.correct);
  EXPECT_EQ(r.first_token_prob, r.mean_token_prob);
}

TEST(Tasks, ExampleLongerThanContextBecomesErrorRowAndOthersRun) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories(), {.n_ctx = 32});
  std::string long_input;
  for (int i = 0; i < 40; ++i) long_input += "the dog ran and ";
  const TaskFile tf = parse(classification_line("short1", kGirl, R"(["Lily","zebra123"])", "Lily") +
                            classification_line("long", long_input, R"(["Lily","zebra123"])", "Lily") +
                            R"({"id":"longgen","input":")" + long_input + R"(","target":"x"})" "\n" +
                            classification_line("short2", kGirl, R"(["Lily","zebra123"])", "Lily"));
  const TaskReport report = runner.run(tf);
  ASSERT_EQ(report.examples.size(), 4u);
  EXPECT_TRUE(report.examples[0].ok());
  EXPECT_NE(report.examples[1].error.find("the context holds 32"), std::string::npos) << report.examples[1].error;
  EXPECT_TRUE(report.examples[1].choice_logliks.empty());
  EXPECT_NE(report.examples[2].error.find("the context holds 32"), std::string::npos) << report.examples[2].error;
  EXPECT_TRUE(report.examples[3].ok());
  EXPECT_TRUE(report.examples[3].correct);
  EXPECT_EQ(report.overall.n, 4);
  EXPECT_EQ(report.overall.n_errors, 2);
  EXPECT_EQ(report.overall.n_scored(), 2);
  EXPECT_EQ(report.overall.accuracy(), 1.0);
}

TEST(Tasks, AggregatesCountsPerTag) {
  BITDIAL_REQUIRE_SHARED();
  TaskRunner runner(stories());
  const TaskFile tf = parse(classification_line("a", kGirl, R"(["Lily","zebra123"])", "Lily", R"(["short","names"])") +
                            classification_line("b", kGirl, R"(["Lily","zebra123"])", "zebra123", R"(["names","names"])") +
                            R"({"id":"g","input":"Once upon a time","target":"girl","match":"contains","max_tokens":10,"tags":["short"]})" "\n" +
                            classification_line("c", kGirl, R"(["Lily","zebra123"])", "Lily"));
  const TaskReport report = runner.run(tf);
  EXPECT_EQ(report.overall.n, 4);
  EXPECT_EQ(report.overall.n_classification, 3);
  EXPECT_EQ(report.overall.n_generation, 1);
  EXPECT_EQ(report.overall.n_correct, 3);
  EXPECT_DOUBLE_EQ(report.overall.accuracy(), 0.75);
  ASSERT_EQ(report.slices.size(), 2u);
  const SliceStats& names = report.slices[0];
  EXPECT_EQ(names.tag, "names");
  EXPECT_EQ(names.n, 2);  // "b" lists the tag twice but counts once
  EXPECT_EQ(names.n_classification_correct, 1);
  EXPECT_DOUBLE_EQ(names.accuracy(), 0.5);
  const SliceStats& shrt = report.slices[1];
  EXPECT_EQ(shrt.tag, "short");
  EXPECT_EQ(shrt.n, 2);
  EXPECT_EQ(shrt.n_classification, 1);
  EXPECT_EQ(shrt.n_generation, 1);
  EXPECT_EQ(shrt.n_correct, 2);
  EXPECT_DOUBLE_EQ(shrt.accuracy(), 1.0);
}

std::string thousand_examples() {
  const char* moods[] = {"happy", "sad", "angry"};
  const char* subjects[] = {"Lily", "Tom", "The dog", "The little bird", "Mom", "Ben"};
  std::string text = R"({"task":{"name":"mood","template":"{input} The story was"}})" "\n";
  for (int i = 0; i < 1000; ++i) {
    const std::string input = std::string(subjects[i % 6]) + " played in the park all day and " +
                              (i % 2 ? "found a ball." : "lost a toy.");
    std::string id = "m";  // not "m" + to_string(i): GCC 12 reports a false -Wrestrict on that
    id += std::to_string(i);
    text += classification_line(id, input, R"(["happy","sad","angry"])", moods[i % 3],
                                i % 2 ? R"(["found"])" : R"(["lost"])");
  }
  return text;
}

TEST(Tasks, ResultsDoNotDependOnThreadCountOrParallelMode) {
  BITDIAL_REQUIRE_SHARED();
  TaskFile tf = parse(thousand_examples());
  tf.examples.resize(20);
  using P = TaskRunOptions::Parallel;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const TaskReport one = TaskRunner(stories()).run(tf);
  omp_set_num_threads(3);
  const TaskReport across = TaskRunner(stories(), {.parallel = P::examples}).run(tf);
  EXPECT_EQ(omp_get_max_threads(), 3);  // the runner's per-thread setting does not leak out
  const TaskReport within = TaskRunner(stories(), {.parallel = P::within_example}).run(tf);
  omp_set_num_threads(saved);
  for (size_t i = 0; i < tf.examples.size(); ++i) {
    EXPECT_EQ(across.examples[i].id, tf.examples[i].id);
    for (size_t c = 0; c < 3; ++c) {
      EXPECT_EQ(one.examples[i].choice_logliks[c], across.examples[i].choice_logliks[c]) << i << " " << c;
      EXPECT_EQ(one.examples[i].choice_logliks[c], within.examples[i].choice_logliks[c]) << i << " " << c;
    }
  }
}

TEST(Tasks, ProgressReportsEveryExampleOnce) {
  BITDIAL_REQUIRE_SHARED();
  TaskFile tf = parse(thousand_examples());
  tf.examples.resize(10);
  std::vector<size_t> seen;
  TaskRunner(stories(), {.parallel = TaskRunOptions::Parallel::examples}).run(tf, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 10u);
    seen.push_back(done);
  });
  ASSERT_EQ(seen.size(), 10u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
}

// A thousand-example file runs to the end with every example scored (its speed is measured by
// bench/eval_tasks_bench.cpp, not here).
TEST(Tasks, ThousandClassificationExamplesAllScored) {
  BITDIAL_REQUIRE_SHARED();
  const TaskReport report = TaskRunner(stories()).run(parse(thousand_examples()));
  EXPECT_EQ(report.overall.n_errors, 0);
  EXPECT_EQ(report.overall.n, 1000);
  EXPECT_EQ(report.overall.n_classification, 1000);
}

}  // namespace
}  // namespace bitdial
