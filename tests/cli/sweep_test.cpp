// `bitdial sweep` end to end on the real stories260K model: quantize candidates (RTN, GPTQ, AWQ),
// an existing llama.cpp file, evaluation on a generated text and task file with slices, benchmarks,
// floors, the decision and its four outputs; the cache serves a second run, a killed run resumes, one
// more candidate computes only itself; bad configs exit 1 naming file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "test_support.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kNames[] = {"Lily", "Tom", "Sue", "Ben", "Max"};
const char* kThings[] = {"ball", "cat", "tree", "cake", "boat", "dog"};

// TinyStories-like text (the model's own domain), varied so chunks differ; `salt` gives another text.
std::string story_text(int n, int salt) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    const std::string who = kNames[(i + salt) % 5], t = kThings[(i * 7 + salt) % 6];
    text += "Once upon a time, there was a little girl named " + who + ". She liked to play with her " + t +
            " in the park. One day, " + who + " saw a big " + kThings[(i + 1 + salt) % 6] + ". She was very happy. ";
  }
  return text;
}

// Classification examples with slices (short inputs, feelings, names) and two generation examples.
std::string task_jsonl() {
  std::string s = "{\"task\":{\"name\":\"stories\",\"template\":\"{input}\"}}\n";
  int id = 0;
  const auto add = [&](const std::string& input, const std::string& a, const std::string& b, const std::string& tag) {
    s += "{\"id\":\"e" + std::to_string(++id) + "\",\"input\":\"" + input + "\",\"choices\":[\"" + a + "\",\"" + b +
         "\"],\"label\":\"" + a + "\",\"tags\":[\"" + tag + "\"]}\n";
  };
  for (const char* n : kNames) {
    add(std::string(n) + " got a new toy. She was very", "happy", "sad", "feelings");
    add(std::string(n) + " lost the toy and cried. She was very", "sad", "happy", "feelings");
  }
  add("Once upon a time, there was a little girl named", "Lily", "table", "names");
  add("Once upon a time, there was a little boy named", "Tom", "spoon", "names");
  add("Once upon a", "time", "dog", "short");
  add("The sun was", "shining", "eating", "short");
  add("They were", "happy", "table", "short");
  s += "{\"id\":\"g1\",\"input\":\"Once upon a time,\",\"target\":\"there\",\"match\":\"contains\",\"max_tokens\":4}\n";
  return s;
}

// A sweep folder: data files and a config with the given candidate lines (YAML list items).
struct SweepFixture {
  test::TempDir dir;
  explicit SweepFixture(const std::string& candidates, const std::string& floors = "  - kld_mean <= 0.08\n  - accuracy_delta >= -0.2\n") {
    std::ofstream(dir.file("calib.txt")) << story_text(30, 0);
    std::ofstream(dir.file("eval.txt")) << story_text(12, 3);
    std::ofstream(dir.file("tasks.jsonl")) << task_jsonl();
    write_config("sweep.yaml", candidates, floors);
  }
  void write_config(const std::string& name, const std::string& candidates, const std::string& floors) const {
    std::ofstream(dir.file(name)) << "baseline: " << test::shared_path("models/stories260K.gguf") << "\n"
                                  << "candidates:\n"
                                  << candidates << "calibration: {text: calib.txt, ctx: 64, chunks: 6}\n"
                                  << "eval: {text: eval.txt, task: tasks.jsonl, ctx: 64, resamples: 500}\n"
                                  << "bench: {reps: 1}\n"
                                  << "traffic: {requests_per_day: 100000, prompt_tokens: 32, output_tokens: 8}\n"
                                  << "threads: 2\n"
                                  << "floors:\n"
                                  << floors << "mode: ci\n";
  }
  test::CommandResult sweep(const std::string& extra = "") const {
    return test::run_bitdial("sweep " + dir.file("sweep.yaml") + " -o " + dir.file("out") + " " + extra);
  }
  json results() const { return json::parse(read_file(dir.file("out/results.json"))); }
};

// "stages: 3 computed, 5 cached" -> {3, 5}
std::pair<int, int> stage_counts(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(stages: (\d+) computed, (\d+) cached)"))) return {-1, -1};
  return {std::stoi(m[1]), std::stoi(m[2])};
}

const char* kFiveCandidates =
    "  - preset: Q8_0\n"
    "  - preset: Q4_K_M\n"
    "  - presets: [Q4_0]\n    methods: [gptq, awq]\n"
    "  - preset: Q2_K\n";

TEST(SweepCommand, WritesResultsDecisionReportAndServeConfigForEveryCandidate) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f(std::string(kFiveCandidates) + "  - file: " + test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf") +
                 "\n    name: llamacpp-q4_k_m\n");
  const test::CommandResult r = f.sweep();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"results.json", "decision.md", "report.html", "serve.yaml"})
    EXPECT_TRUE(fs::exists(f.dir.file(std::string("out/") + name))) << name;
  const json res = f.results();
  ASSERT_EQ(res["candidates"].size(), 6u);
  for (const json& c : res["candidates"]) {
    EXPECT_TRUE(c["metrics"].contains("kld_mean")) << c["name"];
    EXPECT_TRUE(c["metrics"].contains("accuracy_delta")) << c["name"];
    EXPECT_TRUE(c["metrics"].contains("slice[short].accuracy")) << c["name"];
    EXPECT_TRUE(c["metrics"].contains("cost_per_month")) << c["name"];
    EXPECT_EQ(c["floors"].size(), 2u) << c["name"];
  }
  EXPECT_EQ(res["candidates"][2]["method"], "gptq");
  EXPECT_EQ(res["candidates"][3]["method"], "awq");
  // The decision names a candidate that passes, or the best effort when none does.
  const json& d = res["decision"];
  const std::string pick = d["status"] == "chosen" ? d["chosen"].get<std::string>() : d["best_effort"].get<std::string>();
  bool found = false;
  for (const json& c : res["candidates"])
    if (c["name"] == pick) found = d["status"] != "chosen" || c["passes"].get<bool>();
  EXPECT_TRUE(found) << d.dump();
  EXPECT_NE(read_file(f.dir.file("out/decision.md")).find(pick), std::string::npos);
  EXPECT_NE(read_file(f.dir.file("out/serve.yaml")).find("baseline"), std::string::npos);
}

TEST(SweepCommand, SecondRunIsServedEntirelyFromTheCache) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f("  - preset: Q8_0\n  - preset: Q4_0\n    method: gptq\n");
  const test::CommandResult first = f.sweep();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(stage_counts(first.out).second, 0);
  const json a = f.results();
  const test::CommandResult second = f.sweep();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(stage_counts(second.out).first, 0) << second.out;
  const json b = f.results();
  EXPECT_EQ(a["decision"], b["decision"]);
  EXPECT_EQ(a["candidates"][1]["metrics"], b["candidates"][1]["metrics"]);
  EXPECT_TRUE(b["candidates"][1]["cached"].get<bool>());
}

TEST(SweepCommand, OneMoreCandidateComputesOnlyItsOwnStages) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f("  - preset: Q8_0\n");
  ASSERT_EQ(f.sweep().exit_code, 0);
  f.write_config("sweep.yaml", "  - preset: Q8_0\n  - preset: Q4_0\n    method: awq\n", "  - kld_mean <= 0.08\n");
  const test::CommandResult changed = f.sweep();
  EXPECT_EQ(changed.exit_code, 1) << "another config's folder needs --resume";
  EXPECT_NE(changed.err.find("--resume"), std::string::npos) << changed.err;
  const test::CommandResult r = f.sweep("--resume");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // quantize, eval and bench of the new one; the baseline's stages and the importance matrix are shared.
  EXPECT_EQ(stage_counts(r.out).first, 3) << r.out << r.err;
  EXPECT_EQ(f.results()["candidates"].size(), 2u);
}

TEST(SweepCommand, RunKilledMidwayResumesFromItsFinishedStages) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f(kFiveCandidates);
  // Kill -9 the sweep as soon as its sixth stage is done.
  const std::string log = f.dir.file("log");
  const std::string cmd = "'" + std::string(BITDIAL_BINARY) + "' sweep '" + f.dir.file("sweep.yaml") + "' -o '" +
                          f.dir.file("out") + "' >/dev/null 2>'" + log + "' & pid=$!; " +
                          "for i in $(seq 1 1200); do grep -q 'sweep \\[6/' '" + log +
                          "' 2>/dev/null && break; sleep 0.05; done; kill -9 $pid; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_NE(read_file(log).find("sweep [6/"), std::string::npos) << read_file(log);
  EXPECT_FALSE(fs::exists(f.dir.file("out/results.json")));
  const test::CommandResult r = f.sweep();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto [computed, cached] = stage_counts(r.out);
  EXPECT_GE(cached, 6) << r.out;
  EXPECT_GT(computed, 0) << r.out;
  for (const auto& e : fs::recursive_directory_iterator(f.dir.file("out")))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(SweepCommand, UnknownConfigKeyFailsNamingFileAndLine) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f("  - preset: Q8_0\n    metod: gptq\n");
  const test::CommandResult r = f.sweep();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sweep.yaml:4: unknown key 'metod'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.dir.file("out")));
}

TEST(SweepCommand, UnknownFloorMetricFailsBeforeAnyWork) {
  BITDIAL_REQUIRE_SHARED();
  SweepFixture f("  - preset: Q8_0\n", "  - acuracy_delta >= -0.01\n");
  const test::CommandResult r = f.sweep();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sweep.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("acuracy"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_FALSE(fs::exists(f.dir.file("out")));
}

TEST(SweepCommand, MissingBaselineFileFailsNamingIt) {
  test::TempDir dir;
  std::ofstream(dir.file("s.yaml")) << "baseline: nowhere.gguf\ncandidates:\n  - preset: Q8_0\neval: {text: x.txt}\n";
  const test::CommandResult r = test::run_bitdial("sweep " + dir.file("s.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("s.yaml:1: 'baseline'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nowhere.gguf does not exist"), std::string::npos) << r.err;
}

TEST(SweepCommand, CalibratedCandidateWithoutCalibrationTextFails) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  std::ofstream(dir.file("e.txt")) << story_text(4, 0);
  std::ofstream(dir.file("s.yaml")) << "baseline: " << test::shared_path("models/stories260K.gguf")
                                    << "\ncandidates:\n  - preset: Q4_0\n    method: gptq\neval: {text: e.txt}\n";
  const test::CommandResult r = test::run_bitdial("sweep " + dir.file("s.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("s.yaml:3: candidate 'q4_0-gptq' needs calibration text"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bitdial
