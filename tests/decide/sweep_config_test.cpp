// load_sweep_config on small configs written into a temporary folder: candidate expansion and names,
// path resolution, and one test per rejected input, each checking the file:line of the message.
#include "decide/sweep_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

namespace bitdial {
namespace {

using test::contains;

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A folder holding the files a config names (their contents are never read by the loader), and
// sweep.yaml = the common head (baseline + eval text) followed by `rest`.
struct ConfigDir {
  TempDir dir;
  ConfigDir() {
    write(dir.file("base.gguf"), "x");
    write(dir.file("eval.txt"), "x");
    write(dir.file("calib.txt"), "x");
    write(dir.file("task.jsonl"), "x");
  }
  std::string config(const std::string& rest) const {
    const std::string path = dir.file("sweep.yaml");
    write(path, "baseline: base.gguf\neval:\n  text: eval.txt\n" + rest);
    return path;
  }
};


TEST(LoadSweepConfig, PresetsTimesMethodsExpandToNamedCandidates) {
  ConfigDir d;
  const SweepConfig cfg = load_sweep_config(d.config(
      "calibration:\n  text: calib.txt\n"
      "candidates:\n  - presets: [Q4_K_M, q8_0]\n    methods: [rtn, GPTQ]\n"));
  ASSERT_EQ(cfg.candidates.size(), 4u);
  EXPECT_EQ(cfg.candidates[0].name, "q4_k_m-rtn");
  EXPECT_EQ(cfg.candidates[1].name, "q4_k_m-gptq");
  EXPECT_EQ(cfg.candidates[2].name, "q8_0-rtn");
  EXPECT_EQ(cfg.candidates[3].name, "q8_0-gptq");
  EXPECT_EQ(cfg.candidates[2].preset, "Q8_0");  // canonical spelling
  EXPECT_EQ(cfg.candidates[1].method, "gptq");
  for (const CandidateSpec& s : cfg.candidates) {
    EXPECT_EQ(s.kind, CandidateSpec::Kind::quantize);
    EXPECT_EQ(s.line, 7);  // the list item's line
  }
}

TEST(LoadSweepConfig, BudgetCandidateNameStartsWithTheBitsPerWeight) {
  ConfigDir d;
  const SweepConfig cfg = load_sweep_config(
      d.config("calibration:\n  text: calib.txt\ncandidates:\n  - budget_bpw: 4.5\n    preset: Q4_K_M\n"));
  ASSERT_EQ(cfg.candidates.size(), 1u);
  EXPECT_EQ(cfg.candidates[0].name, "bpw4.5-q4_k_m-rtn");
  ASSERT_TRUE(cfg.candidates[0].budget_bpw.has_value());
  EXPECT_DOUBLE_EQ(*cfg.candidates[0].budget_bpw, 4.5);
}

TEST(LoadSweepConfig, RelativePathsResolveAgainstTheConfigFolderAndComeBackAbsolute) {
  ConfigDir d;
  write(d.dir.file("models/cand.gguf"), "x");
  const SweepConfig cfg = load_sweep_config(d.config("candidates:\n  - file: ./models/../models/cand.gguf\n"));
  const fs::path folder = fs::absolute(d.dir.path()).lexically_normal();
  EXPECT_TRUE(fs::path(cfg.baseline).is_absolute());
  EXPECT_EQ(cfg.baseline, (folder / "base.gguf").string());
  EXPECT_EQ(cfg.eval_text, (folder / "eval.txt").string());
  ASSERT_EQ(cfg.candidates.size(), 1u);
  EXPECT_EQ(cfg.candidates[0].kind, CandidateSpec::Kind::file);
  EXPECT_EQ(cfg.candidates[0].path, (folder / "models/cand.gguf").string());
  EXPECT_EQ(cfg.candidates[0].name, "cand");  // the file's stem
}

TEST(LoadSweepConfig, DuplicateNamesFailNamingTheLine) {
  ConfigDir d;
  const std::string path = d.config("candidates:\n  - preset: Q4_K_M\n  - preset: q4_k_m\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":6:")) << err;
  EXPECT_TRUE(contains(err, "two candidates are named 'q4_k_m-rtn'")) << err;
}

TEST(LoadSweepConfig, UnknownPresetFailsWithFileAndLine) {
  ConfigDir d;
  const std::string path = d.config("candidates:\n  - preset: Q4_K_M\n  - preset: Q3_X\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":6:")) << err;
  EXPECT_TRUE(contains(err, "Q3_X")) << err;
}

TEST(LoadSweepConfig, EmptyPresetsListFailsInsteadOfMakingNoCandidates) {
  ConfigDir d;
  const std::string path = d.config("candidates:\n  - presets: []\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":5:")) << err;
  EXPECT_TRUE(contains(err, "'presets' is an empty list")) << err;
}

TEST(LoadSweepConfig, TaskGivenAsAListFailsWithTheOneTaskFileMessage) {
  ConfigDir d;
  const std::string path = d.dir.file("sweep.yaml");
  write(path, "baseline: base.gguf\neval:\n  task: [task.jsonl, task.jsonl]\ncandidates:\n  - preset: Q4_K_M\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":3:")) << err;
  EXPECT_TRUE(contains(err, "one task file per sweep")) << err;
}

TEST(LoadSweepConfig, UrlCandidateRequiresModel) {
  ConfigDir d;
  const std::string path = d.config("candidates:\n  - url: http://localhost:8080\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":5:")) << err;
  EXPECT_TRUE(contains(err, "needs 'model'")) << err;
}

TEST(LoadSweepConfig, UnknownModeFails) {
  ConfigDir d;
  const std::string path = d.config("mode: maybe\ncandidates:\n  - preset: Q4_K_M\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":4:")) << err;
  EXPECT_TRUE(contains(err, "'mode' must be ci or point")) << err;
}

TEST(LoadSweepConfig, ZeroUtilizationFails) {
  ConfigDir d;
  const std::string path = d.config("traffic:\n  utilization: 0\ncandidates:\n  - preset: Q4_K_M\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":5:")) << err;
  EXPECT_TRUE(contains(err, "'utilization' must be in (0, 1]")) << err;
}

TEST(LoadSweepConfig, GptqCandidateWithoutCalibrationTextFails) {
  ConfigDir d;
  const std::string path = d.config("candidates:\n  - preset: Q4_K_M\n    method: gptq\n");
  const std::string err = error_of([&] { load_sweep_config(path); });
  EXPECT_TRUE(contains(err, path + ":5:")) << err;
  EXPECT_TRUE(contains(err, "candidate 'q4_k_m-gptq' needs calibration text")) << err;
}

}  // namespace
}  // namespace bitdial
