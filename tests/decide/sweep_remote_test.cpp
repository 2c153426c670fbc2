// A sweep candidate served by an OpenAI-compatible endpoint: evaluated on the text through echoed
// log-probs (its KL a top-K lower bound), not benchmarked, priced at the cost the config states, and
// chosen when it is the cheapest passing one.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "decide/sweep.h"
#include "fake_http.h"
#include "model/llama_model.h"
#include "test_support.h"

namespace bitdial {
namespace {

using json = nlohmann::json;

std::string story_text() {
  std::string t;
  const char* names[] = {"Lily", "Tom", "Sue"};
  for (int i = 0; i < 12; ++i)
    t += std::string("Once upon a time, there was a little girl named ") + names[i % 3] +
         ". She liked to play with her ball in the park. She was very happy. ";
  return t;
}

TEST(SweepRemote, EndpointCandidateIsEvaluatedPricedFromConfigAndChosenWhenCheapest) {
  BITDIAL_REQUIRE_SHARED();
  const std::string base = test::shared_path("models/stories260K.gguf");
  const LlamaModel model = LlamaModel::load(base);
  test::ModelCompletionServer server(model);  // serves the baseline itself: its KL bound is ~0
  test::TempDir dir;
  std::ofstream(dir.file("eval.txt")) << story_text();
  std::ofstream(dir.file("s.yaml")) << "baseline: " << base << "\n"
                                    << "candidates:\n"
                                    << "  - preset: Q4_0\n"
                                    << "  - url: " << server.url() << "\n    model: fake\n    name: hosted\n"
                                    << "    cost_per_month: 1.5\n    latency_ms: 40\n"
                                    << "eval: {text: eval.txt, ctx: 64}\n"
                                    << "bench: {reps: 1}\n"
                                    << "traffic: {requests_per_day: 1000, prompt_tokens: 16, output_tokens: 4}\n"
                                    << "floors:\n  - kld_mean <= 0.001\n";
  SweepOptions o;
  o.config_path = dir.file("s.yaml");
  o.out_dir = dir.file("out");
  o.log = nullptr;
  const SweepOutcome r = run_sweep(o);
  EXPECT_EQ(r.chosen, "hosted");
  const json res = json::parse(read_file(dir.file("out/results.json")));
  const json& c = res["candidates"][1];
  EXPECT_EQ(c["kind"], "remote");
  EXPECT_TRUE(c["bench"].is_null());
  EXPECT_EQ(c["metrics"]["cost_per_month"]["value"], 1.5);
  EXPECT_LT(c["metrics"]["kld_mean"]["value"].get<double>(), 1e-4);
  EXPECT_FALSE(c["metrics"]["kld_mean"].contains("lo")) << "a lower bound carries no interval";
  EXPECT_TRUE(c["eval"]["texts"][0]["kld_lower_bound"].get<bool>());
  EXPECT_NE(read_file(dir.file("out/serve.yaml")).find("url: \"" + server.url()), std::string::npos);
}

}  // namespace
}  // namespace bitdial
