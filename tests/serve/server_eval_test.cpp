// `bitdial eval --model http://127.0.0.1:PORT/v1` against `bitdial serve` gives the figures of
// evaluating the GGUF file directly: perplexity from echoed token log-probs, task accuracy per slice
// from echoed continuations and greedy generations.
#include <gtest/gtest.h>

#include <string>

#include "live_server.h"

namespace bitdial::test {
namespace {

using nlohmann::json;

TEST(ServerEval, EvalThroughTheServerEqualsEvalOfTheFile) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  LiveServer server(cfg);
  const std::string src = BITDIAL_SOURCE_DIR;
  const std::string inputs = " --text " + src + "/examples/stories/eval.txt --task " + src + "/examples/stories/tasks.jsonl --ctx 128 --json -t 1";
  const CommandResult local = run_bitdial("eval -m " + stories_model() + inputs);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const CommandResult remote = run_bitdial("eval -m " + server.url() + " --model-name baseline --tokenizer " + stories_model() + inputs);
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  const json a = json::parse(local.out), b = json::parse(remote.out);
  EXPECT_EQ(a["texts"][0]["scored_positions"], b["texts"][0]["scored_positions"]);
  EXPECT_NEAR(a["texts"][0]["ppl"]["value"].get<double>(), b["texts"][0]["ppl"]["value"].get<double>(), 1e-9);
  EXPECT_NEAR(a["texts"][0]["ppl"]["se"].get<double>(), b["texts"][0]["ppl"]["se"].get<double>(), 1e-9);
  const json& ta = a["tasks"][0]["candidate"];
  const json& tb = b["tasks"][0]["candidate"];
  EXPECT_EQ(ta["overall"]["accuracy"], tb["overall"]["accuracy"]);
  EXPECT_EQ(ta["overall"]["accuracy_norm"], tb["overall"]["accuracy_norm"]);
  ASSERT_EQ(ta["slices"].size(), tb["slices"].size());
  for (size_t i = 0; i < ta["slices"].size(); ++i) EXPECT_EQ(ta["slices"][i]["accuracy"], tb["slices"][i]["accuracy"]) << ta["slices"][i]["tag"];
}

}  // namespace
}  // namespace bitdial::test
