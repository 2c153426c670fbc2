// `bitdial eval` end to end on stories260K: the table, the JSON summary's figures against the
// library's, per-example rows in -o DIR, and one-line errors for bad inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fake_http.h"
#include "model/llama_model.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;

using json = nlohmann::json;

std::string model(const std::string& name) { return "'" + test::shared_path("models/" + name) + "'"; }

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree. She ran to the ball and picked it up. Her friend "
    "Tom came over and asked to play too. Lily was happy to share. They played with the ball all day long. "
    "When the sun went down, Lily's mom called her home. She told her mom about the ball and her fun day.\n";

constexpr const char* kTask =
    "{\"task\":{\"name\":\"mood\",\"template\":\"{input} The story was\"}}\n"
    "{\"id\":\"a1\",\"input\":\"Lily played in the park and found a ball.\",\"choices\":[\"happy\",\"sad\"],\"label\":\"happy\",\"tags\":[\"short\"]}\n"
    "{\"id\":\"a2\",\"input\":\"Tom lost his toy and cried.\",\"choices\":[\"happy\",\"sad\"],\"label\":\"sad\",\"tags\":[\"short\"]}\n"
    "{\"id\":\"a3\",\"input\":\"Once upon a time, there was a little girl named\",\"choices\":[\"Lily\",\"zebra\"],\"label\":\"Lily\",\"tags\":[\"names\"]}\n"
    "{\"id\":\"g1\",\"input\":\"Once upon a time\",\"target\":\"Lily\",\"match\":\"contains\",\"max_tokens\":12,\"tags\":[\"gen\"]}\n";


struct Fixture {
  test::TempDir tmp;
  std::string text = tmp.file("story.txt"), task = tmp.file("mood.jsonl");
  Fixture() {
    std::ofstream(text) << kStory;
    std::ofstream(task) << kTask;
  }
};

TEST(EvalCommand, JsonSummaryHasTextAndPairedTaskFigures) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r = test::run_bitdial("eval -m " + model("stories260K-llamacpp-Q4_K_M.gguf") + " -b " +
                                                  model("stories260K.gguf") + " --text '" + f.text + "' --task '" + f.task +
                                                  "' -c 32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const json& t = j["texts"][0];
  EXPECT_EQ(t["ctx"], 32);
  EXPECT_GT(t["chunks"].get<int>(), 1);
  EXPECT_EQ(t["scored_positions"].get<int>(), t["chunks"].get<int>() * (32 - 1 - 16));
  EXPECT_GT(t["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LT(t["kld"]["mean"].get<double>(), 0.5);
  EXPECT_LE(t["kld"]["median"].get<double>(), t["kld"]["p90"].get<double>());
  EXPECT_LE(t["kld"]["p99_9"].get<double>(), t["kld"]["max"].get<double>());
  EXPECT_GT(t["same_top1"]["value"].get<double>(), 0.5);
  const json& task = j["tasks"][0];
  EXPECT_EQ(task["examples"], 4);
  EXPECT_EQ(task["candidate"]["overall"]["n"], 4);
  EXPECT_EQ(task["paired"]["overall"]["n"], 4);
  EXPECT_EQ(task["paired"]["slices"].size(), 3u);  // gen, names, short
  EXPECT_EQ(task["paired"]["overall"]["accuracy_delta"]["resamples"], 10000);
}

TEST(EvalCommand, SameModelAsBaselineGivesZeroKlAndFullAgreement) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r = test::run_bitdial("eval -m " + model("stories260K.gguf") + " -b " + model("stories260K.gguf") +
                                                  " --text '" + f.text + "' --task '" + f.task + "' -c 32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_LT(j["texts"][0]["kld"]["max"].get<double>(), 1e-12);
  EXPECT_EQ(j["texts"][0]["same_top1"]["value"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["texts"][0]["ppl_ratio"]["value"].get<double>(), 1.0);
  const json& p = j["tasks"][0]["paired"]["overall"];
  EXPECT_EQ(p["agreement"]["value"].get<double>(), 1.0);
  EXPECT_EQ(p["accuracy_delta"]["value"].get<double>(), 0.0);
  EXPECT_EQ(p["mcnemar"]["p_value"].get<double>(), 1.0);
}

TEST(EvalCommand, OutDirHoldsSummaryAndOneRowPerExample) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const std::string dir = f.tmp.file("out");
  const test::CommandResult r =
      test::run_bitdial("eval -m " + model("stories260K.gguf") + " --task '" + f.task + "' -o '" + dir + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("task mood"), std::string::npos) << r.out;
  std::ifstream rows(dir + "/mood.examples.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(rows, line)) {
    const json row = json::parse(line);
    EXPECT_TRUE(row.contains("candidate"));
    ++n;
  }
  EXPECT_EQ(n, 4);
  EXPECT_TRUE(json::parse(std::ifstream(dir + "/summary.json")).contains("tasks"));
}

// Every example of the "huge" slice is longer than the model's 32-token context (a synth model with
// stories260K's vocabulary): each becomes an error row, and the slice is reported without an accuracy
// instead of aborting on 0 / 0.
TEST(EvalCommand, SliceWithNothingScoredHasNoAccuracy) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const std::string tiny = f.tmp.file("tiny.gguf");
  const test::CommandResult made = test::run_bitdial("synth -o '" + tiny + "' --vocab " + model("stories260K.gguf") +
                                                     " --n-embd 32 --n-layer 1 --n-head 2 --n-ff 64 --n-ctx 32 --type f32");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string huge;
  for (int i = 0; i < 10; ++i) huge += "Once upon a time, there was a little girl named Lily. ";
  std::ofstream(f.task, std::ios::app) << "{\"id\":\"h1\",\"input\":\"" << huge
                                       << "\",\"choices\":[\"happy\",\"sad\"],\"label\":\"happy\",\"tags\":[\"huge\"]}\n";
  const test::CommandResult table = test::run_bitdial("eval -m '" + tiny + "' --task '" + f.task + "'");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("n/a"), std::string::npos) << table.out;
  const test::CommandResult r = test::run_bitdial("eval -m '" + tiny + "' --task '" + f.task + "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool seen = false;
  const json summary = json::parse(r.out);
  for (const json& s : summary["tasks"][0]["candidate"]["slices"])
    if (s["tag"] == "huge") {
      seen = true;
      EXPECT_EQ(s["scored"], 0);
      EXPECT_FALSE(s.contains("accuracy")) << s;
    }
  EXPECT_TRUE(seen) << r.out;
}

TEST(EvalCommand, MalformedTaskLineIsOneLineErrorWithFileAndLine) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  std::ofstream(f.task, std::ios::app) << "{\"id\": \"x\", \"input\": \n";
  const test::CommandResult r = test::run_bitdial("eval -m " + model("stories260K.gguf") + " --task '" + f.task + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("mood.jsonl:6"), std::string::npos) << r.err;
}

TEST(EvalCommand, TextShorterThanOneChunkIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r =
      test::run_bitdial("eval -m " + model("stories260K.gguf") + " --text '" + f.text + "' -c 4096");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("shorter than one chunk"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(EvalCommand, NothingToEvaluateIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  const test::CommandResult r = test::run_bitdial("eval -m " + model("stories260K.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(EvalCommand, UnreachableEndpointIsOneLineErrorNamingTheUrl) {
  Fixture f;
  const test::RefusingPort port;
  const std::string url = port.url();
  const test::CommandResult r = test::run_bitdial("eval -m " + url + " --model-name fake --task '" + f.task + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(url), std::string::npos) << r.err;
}

TEST(EvalCommand, RemoteModelWithTextAndNoTokenizerIsOneLineError) {
  Fixture f;
  const test::CommandResult r =
      test::run_bitdial("eval -m http://127.0.0.1:9/v1 --model-name fake --text '" + f.text + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("needs --tokenizer GGUF"), std::string::npos) << r.err;
}

// A fake endpoint serving the Q4_K_M model: exact PPL as the local run, KL labelled a top-K bound.
TEST(EvalCommand, RemoteCandidateTextGivesExactPplAndAKlBound) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const LlamaModel q4 = LlamaModel::load(test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf"));
  test::ModelCompletionServer server(q4);
  const std::string args = " -b " + model("stories260K.gguf") + " --text '" + f.text + "' -c 64 --logprobs 10";
  const test::CommandResult r = test::run_bitdial("eval -m " + server.url() + " --model-name q4" + args + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const test::CommandResult l = test::run_bitdial("eval -m " + model("stories260K-llamacpp-Q4_K_M.gguf") + args + " --json");
  ASSERT_EQ(l.exit_code, 0) << l.err;
  const json t = json::parse(r.out)["texts"][0], lt = json::parse(l.out)["texts"][0];
  EXPECT_EQ(t["kld_lower_bound"], true);
  EXPECT_EQ(t["kld_top_k"], 10);
  EXPECT_NEAR(t["ppl"]["value"].get<double>(), lt["ppl"]["value"].get<double>(), 1e-9);
  EXPECT_LE(t["kld"]["mean"].get<double>(), lt["kld"]["mean"].get<double>());
  const test::CommandResult table = test::run_bitdial("eval -m " + server.url() + " --model-name q4" + args);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("KL (top-10 bound) mean"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace bitdial
