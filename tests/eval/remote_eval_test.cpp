// Task files scored on a model behind a fake OpenAI-compatible server: the fake tokenizes at spaces
// and scores tokens from a fixed table, so every prediction, confidence and match is known by hand;
// then run_evaluation with an endpoint on one side of the paired comparison.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/evaluation.h"
#include "eval/remote_model.h"
#include "eval/remote_task_runner.h"
#include "eval/task_file.h"
#include "fake_http.h"
#include "test_support.h"

namespace bitdial {
namespace {

using nlohmann::json;

// log p of a token whatever precedes it; every token is its own top-1 (greedy flags are not tested here).
const std::map<std::string, double> kLogprob = {{" sunny", -0.5}, {" rainy", -2.0},    {" ok", -1.0},
                                                {" excellent", -1.8}, {" big", -0.3}, {" dog", -0.4},
                                                {" cat", -1.5}};
constexpr double kUnknownLogprob = -4.0;
// Greedy completion of a prompt ending in "Count:"; any other prompt gets " nothing".
const std::vector<std::pair<std::string, double>> kCount = {{" one", -0.1}, {" two", -0.2}, {" three", -0.3}};

class FakeServer {
 public:
  bool no_logprobs = false;  // a server that ignores "logprobs"
  int n_requests = 0;

  std::string url() const { return http_.url(); }

 private:
  void handle(const json& body, httplib::Response& res) {
    const std::string prompt = body["prompt"];
    if (prompt.find("BOOM") != std::string::npos) {  // one example's request fails, the rest do not
      res.status = 500;
      res.set_content("internal error: model crashed", "text/plain");
      return;
    }
    json lp{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"text_offset", json::array()},
            {"top_logprobs", json::array()}};
    auto add = [&](const std::string& tok, json logprob, int64_t offset) {
      lp["tokens"].push_back(tok);
      lp["token_logprobs"].push_back(logprob);
      lp["text_offset"].push_back(offset);
      lp["top_logprobs"].push_back(logprob.is_null() ? json(nullptr) : json{{tok, logprob}});
    };
    std::string text;
    if (body.value("echo", false)) {  // scoring: the prompt's tokens, the first one unscored (ASCII only)
      text = prompt;
      int64_t offset = 0;
      for (const std::string& t : test::split_words(prompt)) {
        auto it = kLogprob.find(t);
        add(t, offset == 0 ? json(nullptr) : json(it == kLogprob.end() ? kUnknownLogprob : it->second), offset);
        offset += static_cast<int64_t>(t.size());
      }
    } else {
      const bool count = prompt.size() >= 6 && prompt.compare(prompt.size() - 6, 6, "Count:") == 0;
      const auto gen = count ? kCount : std::vector<std::pair<std::string, double>>{{" nothing", -1.0}};
      int64_t offset = static_cast<int64_t>(prompt.size());
      for (size_t i = 0; i < gen.size() && static_cast<int>(i) < body["max_tokens"].get<int>(); ++i) {
        add(gen[i].first, gen[i].second, offset);
        offset += static_cast<int64_t>(gen[i].first.size());
        text += gen[i].first;
      }
    }
    json choice{{"index", 0}, {"text", text}, {"finish_reason", "stop"}};
    choice["logprobs"] = no_logprobs ? json(nullptr) : lp;
    res.set_content(json{{"object", "text_completion"}, {"choices", {choice}}}.dump(), "application/json");
  }

  test::LocalHttpServer http_{"/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
                                 ++n_requests;
                                 handle(json::parse(req.body), res);
                               }};
};

constexpr const char* kTask =
    "{\"task\":{\"name\":\"weather\"}}\n"
    "{\"id\":\"c1\",\"input\":\"the weather is\",\"choices\":[\"sunny\",\"rainy\"],\"label\":\"sunny\",\"tags\":[\"cls\"]}\n"
    "{\"id\":\"c2\",\"input\":\"how was it\",\"choices\":[\"ok\",\"excellent\"],\"label\":\"excellent\",\"tags\":[\"cls\"]}\n"
    "{\"id\":\"c3\",\"input\":\"a pet\",\"choices\":[\"big dog\",\"cat\"],\"label\":\"cat\",\"tags\":[\"cls\"]}\n"
    "{\"id\":\"g1\",\"input\":\"Count:\",\"target\":\"one two three\",\"max_tokens\":8,\"tags\":[\"gen\"]}\n"
    "{\"id\":\"g2\",\"input\":\"Count:\",\"target\":\"two\",\"match\":\"contains\",\"max_tokens\":1,\"tags\":[\"gen\"]}\n";

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST(RemoteTaskRunner, ClassificationPredictsByRawAndPerByteLoglikWithSoftmaxConfidence) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  const TaskReport r = run_remote_task(m, parse_task_text(kTask, "weather.jsonl"));
  ASSERT_EQ(r.examples.size(), 5u);
  const ExampleResult& c1 = r.examples[0];
  ASSERT_TRUE(c1.ok()) << c1.error;
  EXPECT_EQ(c1.choice_logliks, (std::vector<double>{-0.5, -2.0}));
  EXPECT_EQ(c1.choice_logliks_norm, (std::vector<double>{-0.5 / 5, -2.0 / 5}));
  EXPECT_EQ(c1.predicted, 0);
  EXPECT_TRUE(c1.correct && c1.correct_norm);
  EXPECT_NEAR(c1.confidence, sigmoid(1.5), 1e-12);
  EXPECT_NEAR(c1.margin, 2 * sigmoid(1.5) - 1, 1e-12);
  // " ok" wins on the sum, " excellent" per byte of the choice (the prefix space not counted).
  const ExampleResult& c2 = r.examples[1];
  EXPECT_EQ(c2.predicted, 0);
  EXPECT_EQ(c2.predicted_norm, 1);
  EXPECT_FALSE(c2.correct);
  EXPECT_TRUE(c2.correct_norm);
  EXPECT_NEAR(c2.confidence, sigmoid(0.8), 1e-12);
  const ExampleResult& c3 = r.examples[2];  // a two-token choice
  EXPECT_EQ(c3.choice_tokens, (std::vector<int64_t>{2, 1}));
  EXPECT_DOUBLE_EQ(c3.choice_logliks[0], -0.3 - 0.4);
  EXPECT_EQ(c3.label, 1);
  EXPECT_FALSE(c3.correct || c3.correct_norm);
}

TEST(RemoteTaskRunner, GenerationMatchesTheCompletionAndKeepsTokenProbabilities) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  const TaskReport r = run_remote_task(m, parse_task_text(kTask, "weather.jsonl"));
  const ExampleResult& g1 = r.examples[3];
  ASSERT_TRUE(g1.ok()) << g1.error;
  EXPECT_EQ(g1.output, " one two three");
  EXPECT_TRUE(g1.correct);  // exact after trimming
  EXPECT_EQ(g1.n_generated, 3);
  EXPECT_NEAR(g1.first_token_prob, std::exp(-0.1), 1e-12);
  EXPECT_NEAR(g1.mean_token_prob, (std::exp(-0.1) + std::exp(-0.2) + std::exp(-0.3)) / 3, 1e-12);
  EXPECT_EQ(r.examples[4].output, " one");  // max_tokens 1
  EXPECT_FALSE(r.examples[4].correct);
  // Overall: c1 and g1 right; c2 also right per byte.
  EXPECT_EQ(r.overall.n, 5);
  EXPECT_EQ(r.overall.n_correct, 2);
  EXPECT_EQ(r.overall.n_correct_norm, 3);
  ASSERT_EQ(r.slices.size(), 2u);
  EXPECT_EQ(r.slices[0].tag, "cls");
  EXPECT_EQ(r.slices[0].n_classification, 3);
}

TEST(RemoteTaskRunner, Http500OnOneExampleIsAnErrorRowAndTheOthersAreScored) {
  FakeServer server;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  const std::string text = std::string(kTask) +
                           "{\"id\":\"e1\",\"input\":\"BOOM\",\"choices\":[\"a\",\"b\"],\"label\":\"a\",\"tags\":[\"cls\"]}\n";
  const TaskReport r = run_remote_task(m, parse_task_text(text, "weather.jsonl"));
  ASSERT_EQ(r.examples.size(), 6u);
  const ExampleResult& e = r.examples[5];
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.id, "e1");
  EXPECT_NE(e.error.find("HTTP 500"), std::string::npos) << e.error;
  EXPECT_NE(e.error.find("choice 0"), std::string::npos) << e.error;
  EXPECT_EQ(r.overall.n_errors, 1);
  EXPECT_EQ(r.overall.n_scored(), 5);
  EXPECT_EQ(r.overall.n_correct, 2);
}

TEST(RemoteTaskRunner, UnreachableEndpointThrowsNamingTheUrl) {
  test::RefusingPort port;
  auto m = RemoteModel::connect(port.url(), "fake", "");
  const std::string msg = test::error_of([&] { run_remote_task(m, parse_task_text(kTask, "weather.jsonl")); });
  EXPECT_NE(msg.find(port.url()), std::string::npos) << msg;
}

TEST(RemoteTaskRunner, EndpointWithoutLogprobsThrowsBeforeAnyExample) {
  FakeServer server;
  server.no_logprobs = true;
  auto m = RemoteModel::connect(server.url(), "fake", "");
  const std::string msg = test::error_of([&] { run_remote_task(m, parse_task_text(kTask, "weather.jsonl")); });
  EXPECT_NE(msg.find("returned no log-probs"), std::string::npos) << msg;
  EXPECT_EQ(server.n_requests, 1);  // the probe only
}

struct TaskDir {
  test::TempDir tmp;
  std::string task = tmp.file("weather.jsonl");
  TaskDir() { std::ofstream(task) << kTask; }
};

// Texts go to an endpoint as token ids, so a remote model alone needs a tokenizer file.
TEST(RemoteEvaluation, TextWithOnlyARemoteModelNeedsATokenizer) {
  TaskDir d;
  EvalOptions o;
  o.model = "http://127.0.0.1:9/v1";
  o.model_name = "fake";
  o.texts = {d.task};
  o.progress = nullptr;
  const std::string msg = test::error_of([&] { run_evaluation(o); });
  EXPECT_NE(msg.find("needs --tokenizer GGUF"), std::string::npos) << msg;
}

TEST(RemoteEvaluation, RemoteModelWithoutANameIsAnError) {
  TaskDir d;
  EvalOptions o;
  o.model = "http://127.0.0.1:9/v1";
  o.tasks = {d.task};
  o.progress = nullptr;
  const std::string msg = test::error_of([&] { run_evaluation(o); });
  EXPECT_NE(msg.find("--model-name"), std::string::npos) << msg;
}

TEST(RemoteEvaluation, SameEndpointOnBothSidesAgreesEverywhere) {
  FakeServer server;
  TaskDir d;
  EvalOptions o;
  o.model = o.baseline = server.url();
  o.model_name = "fake";  // the baseline takes it too
  o.tasks = {d.task};
  o.resamples = 100;
  o.progress = nullptr;
  const EvalOutput out = run_evaluation(o);
  EXPECT_EQ(out.summary["model"], "remote:fake@" + server.url());
  const auto& p = out.summary["tasks"][0]["paired"]["overall"];
  EXPECT_EQ(p["n"], 5);
  EXPECT_EQ(p["agreement"]["value"].get<double>(), 1.0);
  EXPECT_EQ(p["accuracy_delta"]["value"].get<double>(), 0.0);
}

TEST(RemoteEvaluation, RemoteCandidateAgainstLocalBaselineHasAPairedSection) {
  BITDIAL_REQUIRE_SHARED();
  FakeServer server;
  TaskDir d;
  EvalOptions o;
  o.model = server.url();
  o.model_name = "fake";
  o.baseline = test::shared_path("models/stories260K.gguf");
  o.tasks = {d.task};
  o.resamples = 100;
  o.progress = nullptr;
  const EvalOutput out = run_evaluation(o);
  EXPECT_EQ(out.summary["baseline"], o.baseline);
  const auto& t = out.summary["tasks"][0];
  EXPECT_EQ(t["candidate"]["overall"]["accuracy"]["k"], 2);
  EXPECT_EQ(t["baseline"]["overall"]["n"], 5);
  EXPECT_EQ(t["paired"]["overall"]["n"].get<int>() + t["paired"]["overall"]["errors"].get<int>(), 5);
  EXPECT_EQ(t["paired"]["slices"].size(), 2u);  // cls, gen
  ASSERT_EQ(out.examples[0].size(), 5u);
  EXPECT_TRUE(out.examples[0][0].contains("baseline"));
  EXPECT_EQ(out.examples[0][0]["candidate"]["predicted"], 0);
}

}  // namespace
}  // namespace bitdial
