// `bitdial quantize` with calibration: --imatrix, --method gptq|awq and the size-budget solver on the real
// stories260K model. Each method writes a loadable file of the planned size whose damage on the calibration
// text is below plain rounding's; a budget is never exceeded and its table is reusable; bad combinations
// exit 1 with one line and leave nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/sensitivity.h"
#include "test_support.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

std::string stories() { return test::shared_path("models/stories260K.gguf"); }

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

std::vector<char> bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A few hundred tokens of TinyStories-like text (the model's own domain), varied so chunks differ.
std::string write_calibration(const test::TempDir& dir) {
  const char* names[] = {"Lily", "Tom", "Sue", "Ben", "Max"};
  const char* things[] = {"ball", "cat", "tree", "cake", "boat", "dog"};
  std::string text;
  for (int i = 0; i < 30; ++i) {
    const std::string n = names[i % 5], t = things[(i * 7) % 6];
    text += "Once upon a time, there was a little girl named " + n + ". She liked to play with her " + t +
            " in the park. One day, " + n + " saw a big " + things[(i + 1) % 6] + ". She was very happy. ";
  }
  const std::string path = dir.file("calib.txt");
  std::ofstream(path) << text;
  return path;
}

// Mean KL of a written file against the F32 model on the calibration text (ctx 64, all positions).
double damage_of(const std::string& path, const std::string& calib_path) {
  const LlamaModel base = LlamaModel::load(stories());
  const CalibrationSet calib = load_calibration(base, calib_path, 64, 6);
  const KlReference ref(base, calib);
  return ref.mean_kl(LlamaModel::load(path));
}

TEST(QuantizeMethods, GptqAndAwqLowerTheDamageOfPlainRoundingAtTheSameSize) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string calib = write_calibration(dir);
  const std::string common = " --type Q4_0 --override output.weight=q4_0 --ctx 64 --calib-chunks 8";
  ASSERT_EQ(test::run_bitdial("quantize " + stories() + " " + dir.file("rtn.gguf") + common).exit_code, 0);
  for (const char* m : {"gptq", "awq"}) {
    const test::CommandResult r =
        test::run_bitdial("quantize " + stories() + " " + dir.file(std::string(m) + ".gguf") + common + " --method " + m + " --calib " + calib);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string(m) + ": "), std::string::npos) << r.out;
    EXPECT_EQ(fs::file_size(dir.file(std::string(m) + ".gguf")), fs::file_size(dir.file("rtn.gguf")));
  }
  const double rtn = damage_of(dir.file("rtn.gguf"), calib);
  EXPECT_LT(damage_of(dir.file("gptq.gguf"), calib), 0.9 * rtn);
  EXPECT_LT(damage_of(dir.file("awq.gguf"), calib), 0.9 * rtn);
}

TEST(QuantizeMethods, ImatrixWeightsAreUsedAndAForeignImatrixIsRefused) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string calib = write_calibration(dir);
  ASSERT_EQ(test::run_bitdial("imatrix " + stories() + " --calib " + calib + " --ctx 64 -o " + dir.file("im.gguf")).exit_code, 0);
  const std::string q = "quantize " + stories() + " ";
  ASSERT_EQ(test::run_bitdial(q + dir.file("a.gguf") + " --type Q4_0").exit_code, 0);
  ASSERT_EQ(test::run_bitdial(q + dir.file("b.gguf") + " --type Q4_0 --imatrix " + dir.file("im.gguf")).exit_code, 0);
  EXPECT_NE(bytes_of(dir.file("a.gguf")), bytes_of(dir.file("b.gguf")));  // the weights changed the rounding
  // An imatrix of another model (a tiny synth with other widths) is refused before anything is written.
  ASSERT_EQ(test::run_bitdial("synth --n-embd 32 --n-layer 1 --n-head 2 --n-ff 64 -o " + dir.file("other.gguf")).exit_code, 0);
  ASSERT_EQ(test::run_bitdial("imatrix " + dir.file("other.gguf") + " --calib " + calib + " --ctx 64 -o " + dir.file("im2.gguf")).exit_code, 0);
  const test::CommandResult r = test::run_bitdial(q + dir.file("c.gguf") + " --type Q4_0 --imatrix " + dir.file("im2.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("does not match model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("c.gguf")));
}

TEST(QuantizeMethods, BudgetIsNeverExceededAndItsTableIsReused) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string calib = write_calibration(dir);
  const std::string args = " --type Q4_K_M --budget-bytes 290000 --calib " + calib + " --ctx 64 --budget-chunks 2 --budget-table " +
                           dir.file("table.json") + " --budget-types q4_0,q5_0,q8_0,f16";
  const test::CommandResult first = test::run_bitdial("quantize " + stories() + " " + dir.file("a.gguf") + args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_LE(fs::file_size(dir.file("a.gguf")), 290000u);
  EXPECT_NE(first.out.find("predicted damage"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("measured"), std::string::npos) << first.out;
  ASSERT_TRUE(fs::exists(dir.file("table.json")));
  const test::CommandResult second = test::run_bitdial("quantize " + stories() + " " + dir.file("b.gguf") + args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("table reused"), std::string::npos) << second.out;
  EXPECT_EQ(bytes_of(dir.file("a.gguf")), bytes_of(dir.file("b.gguf")));
}

TEST(QuantizeMethods, ABudgetBelowTheSmallestSizeExitsOneAndWritesNothing) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string calib = write_calibration(dir);
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + dir.file("a.gguf") +
                                                  " --type Q4_0 --budget-bytes 150000 --calib " + calib + " --ctx 64 --budget-chunks 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--budget-bytes 150000 is below the smallest possible size"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("a.gguf")));
}

TEST(QuantizeMethods, CalibrationShorterThanOneContextExitsOne) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  std::ofstream(dir.file("short.txt")) << "Once upon a time.";
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + dir.file("a.gguf") +
                                                  " --type Q4_0 --method gptq --calib " + dir.file("short.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("calibration text shorter than one context"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("a.gguf")));
}

TEST(QuantizeMethods, DryRunWithABudgetPrintsTheAllocationAndWritesNothing) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string calib = write_calibration(dir);
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + dir.file("a.gguf") +
                                                  " --type Q4_0 --budget-bpw 7.5 --calib " + calib +
                                                  " --ctx 64 --budget-chunks 1 --budget-types q4_0,q8_0,f16 --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("predicted damage"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("measured"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("a.gguf")));
}

}  // namespace
}  // namespace bitdial
