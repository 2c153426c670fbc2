// `bitdial inspect`: tables and JSON for real GGUF files, one-line errors for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::run_bitdial;
using test::shared_path;

TEST(InspectCli, JsonOfStories260KHasTotalsAndTensorTable) {
  BITDIAL_REQUIRE_SHARED();
  const auto r = run_bitdial("inspect --json '" + shared_path("models/stories260K.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
  EXPECT_EQ(j["metadata"]["llama.block_count"], 5);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["length"], 512);  // summarised, not dumped
  EXPECT_EQ(j["tensors"].size(), 48u);
  int64_t params = 0;
  uint64_t bytes = 0;
  for (const auto& t : j["tensors"]) {
    int64_t n = 1;
    for (int64_t d : t["shape"]) n *= d;
    params += n;
    bytes += t["bytes"].get<uint64_t>();
    EXPECT_EQ(t["type"], "f32");
  }
  EXPECT_EQ(j["totals"]["parameters"], params);
  EXPECT_EQ(j["totals"]["bytes"], bytes);
  EXPECT_EQ(j["totals"]["bits_per_weight"], 32.0);
}

TEST(InspectCli, LlamaCppMixedFileShowsEveryType) {
  BITDIAL_REQUIRE_SHARED();
  const auto r = run_bitdial("inspect --json '" + shared_path("models/stories260K-llamacpp-Q4_K_M.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& by_type = j["totals"]["by_type"];
  for (const char* t : {"q5_0", "q8_0", "f32"}) EXPECT_TRUE(by_type.contains(t)) << t;
  const double bpw = j["totals"]["bits_per_weight"];
  EXPECT_GT(bpw, 4.0);
  EXPECT_LT(bpw, 16.0);
}

TEST(InspectCli, Q6KFileListsQ6KTensors) {
  BITDIAL_REQUIRE_SHARED();
  for (const char* q : {"Q6_K", "Q2_K"}) {
    const auto r = run_bitdial(std::string("inspect --json '") + shared_path("models/stories260K-llamacpp-") + q + ".gguf'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GE(j["totals"]["by_type"].size(), 2u) << q;
  }
}

TEST(InspectCli, TextViewHasTableAndTotals) {
  BITDIAL_REQUIRE_SHARED();
  const auto r = run_bitdial("inspect '" + shared_path("models/stories260K.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.0.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("tokenizer.ggml.tokens = [string x 512]"), std::string::npos);
  EXPECT_NE(r.out.find("totals: 48 tensors"), std::string::npos);
}

TEST(InspectCli, BrokenFileIsExitOneWithOneLine) {
  test::TempDir dir;
  write_file_atomic(dir.file("bad.gguf"), std::string("GGUF\x03\0\0\0", 8));
  const auto r = run_bitdial("inspect '" + dir.file("bad.gguf") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.gguf: truncated"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(InspectCli, MissingFileIsExitOne) {
  const auto r = run_bitdial("inspect /nonexistent/model.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(InspectCli, MissingArgumentIsUsageError) {
  const auto r = run_bitdial("inspect");
  EXPECT_EQ(r.exit_code, 1);
}

TEST(InspectCli, HelpHasExamples) {
  const auto r = run_bitdial("inspect --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("examples:"), std::string::npos);
}

}  // namespace
}  // namespace bitdial
