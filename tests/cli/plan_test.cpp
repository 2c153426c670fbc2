// `bitdial plan` from the command line: the seed table for a 70B model, the human table, a model
// file with an exact preset plan, a --hardware file, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "formats/gguf.h"
#include "quant/quantize_model.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::run_bitdial;

void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

const nlohmann::json* row(const nlohmann::json& j, const std::string& name) {
  for (const auto& h : j["hardware"])
    if (h["name"] == name) return &h;
  return nullptr;
}

TEST(PlanCli, SeedTableFallsOutFor70B) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"32", 280'000'000'000u}, {"16", 140'000'000'000u}, {"8", 70'000'000'000u}, {"4", 35'000'000'000u}};
  for (const auto& [bits, bytes] : cases) {
    const auto r = run_bitdial(std::string("plan --params 70B --bits ") + bits + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["weights"]["bytes"].get<uint64_t>(), bytes) << bits;
    EXPECT_DOUBLE_EQ(j["weights"]["gb"].get<double>(), double(bytes) / 1e9) << bits;
  }
}

TEST(PlanCli, Int4SeventyBDoesNotFitOnOneRtx4090) {
  const auto r = run_bitdial("plan --params 70B --bits 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const nlohmann::json* rtx = row(j, "RTX-4090");
  ASSERT_NE(rtx, nullptr);
  EXPECT_FALSE((*rtx)["fits_one"].get<bool>());
  EXPECT_GE((*rtx)["devices"].get<int64_t>(), 2);
  EXPECT_TRUE((*row(j, "A100-80GB"))["fits_one"].get<bool>());
}

TEST(PlanCli, HumanTableShowsTheBreakdownAndEveryRow) {
  const auto r = run_bitdial("plan --params 70B --type Q4_K_M --context 8192 --batch 16 --kv q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"Llama 3.1 70B", "weights", "KV cache", "q8_0, context 8192 x batch 16", "overhead", "total",
                        "cpu-here", "L4", "A10G", "A100-40GB", "A100-80GB", "H100", "RTX-4090"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(PlanCli, ModelFileWithTypeUsesTheExactQuantizationPlan) {
  test::TempDir dir;
  const std::string path = test::write_tiny_f32_model(dir, 3, 0.02f);
  const auto r = run_bitdial("plan '" + path + "' --type Q8_0 --context 128 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  QuantRecipe recipe;
  recipe.preset = "Q8_0";
  EXPECT_EQ(j["weights"]["bytes"].get<uint64_t>(), plan_model_quantization(GgufFile::open(path), recipe).tensor_bytes);
  EXPECT_EQ(j["shape"]["n_layer"], 2);
  EXPECT_EQ(j["kv_cache"]["bytes"].get<uint64_t>(), uint64_t{2} * 2 * 128 * 1 * 2 * 16 * 2);
}

TEST(PlanCli, HardwareFileOverridesAPriceAndAddsARow) {
  test::TempDir dir;
  const std::string hw = dir.file("hw.yaml");
  write_file_atomic(hw, "hardware:\n  - {name: L4, dollars_per_hour: 0.25}\n"
                        "  - {name: Big, memory_gb: 1000, bandwidth_gb_s: 1, tflops_fp16: 1, tops_int8: 1, dollars_per_hour: 9}\n");
  const auto r = run_bitdial("plan --params 70B --bits 16 --json --hardware '" + hw + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const nlohmann::json* l4 = row(j, "L4");
  ASSERT_NE(l4, nullptr);
  EXPECT_DOUBLE_EQ((*l4)["dollars_per_hour"].get<double>(), 0.25 * (*l4)["devices"].get<double>());
  ASSERT_NE(row(j, "Big"), nullptr);
  EXPECT_TRUE((*row(j, "Big"))["fits_one"].get<bool>());
}

TEST(PlanCli, BadHardwareFileNamesFileAndLine) {
  test::TempDir dir;
  const std::string hw = dir.file("hw.yaml");
  write_file_atomic(hw, "hardware:\n  - {name: L4, memory_gb: -3}\n");
  expect_one_line_error(run_bitdial("plan --params 7B --bits 4 --hardware '" + hw + "'"), "hw.yaml:2");
}

TEST(PlanCli, UnknownUnitSuffixIsAOneLineError) {
  expect_one_line_error(run_bitdial("plan --params 70X --bits 4"), "unknown unit suffix 'X'");
}

TEST(PlanCli, BitsAndTypeTogetherIsAOneLineError) {
  expect_one_line_error(run_bitdial("plan --params 70B --bits 4 --type Q4_K_M"), "--bits and --type");
}

TEST(PlanCli, UnknownTypeIsAOneLineError) {
  expect_one_line_error(run_bitdial("plan --params 70B --type Q9_Z"), "Q9_Z");
}

TEST(PlanCli, MissingFileIsAOneLineError) {
  expect_one_line_error(run_bitdial("plan /nonexistent/model.gguf"), "/nonexistent/model.gguf");
}

TEST(PlanCli, NeitherModelNorParamsIsAOneLineError) {
  expect_one_line_error(run_bitdial("plan --bits 4"), "--params");
}

TEST(PlanCli, HelpHasExamples) {
  const auto r = run_bitdial("plan --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("bitdial plan --params 70B --bits 4"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bitdial
